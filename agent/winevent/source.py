"""Live Windows event channels as agent events: process creation, UM crashes, cmdlets.

``event_from_xml`` is the whole pipeline for one event (parse, map, detect, wire event) and is
shared with the offline ``.evtx`` reader. :class:`EventLogSource` runs it over live channel
subscriptions from ``agent.platform.windows_events``, and persists each channel's bookmark
after the events before it were handed to ``emit`` (the spool), so a restart resumes where it
stopped: at least once, never skipping. A crash between ``emit`` and the bookmark write
repeats at most one batch.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.detection import Detection
from agent.errors import AgentError
from agent.events import new_event
from agent.platform.windows_events import (
    EventLogApi,
    Subscription,
    require_windows,
    windows_event_api,
)
from agent.winevent.mapping import MappedRecord, map_event
from agent.winevent.xml import EventXmlError, parse_event_xml
from protos import exwatch_pb2 as pb

__all__ = [
    "DEFAULT_CHANNELS",
    "BookmarkStore",
    "ChannelQuery",
    "EventDetect",
    "EventLogSource",
    "EventLogStats",
    "event_from_record",
    "event_from_xml",
]

log = logging.getLogger("exwatch.agent.eventlog")

SENSOR = "eventlog"
LOG_SOURCE = "eventlog"  # LogRecordEvent.source of non-process events

# The rule channel (Sigma logsource) and the record's fields -> the rules that matched.
# ``SigmaRuleSet.match_event`` has exactly this shape.
EventDetect = Callable[[str, Mapping[str, str]], list[Detection]]
Emit = Callable[[list[pb.Event]], None]


@dataclass(frozen=True, slots=True)
class ChannelQuery:
    """One channel and the XPath filter the Event Log service applies before we see anything."""

    channel: str
    xpath: str = "*"


# Filtering in the service keeps the agent from rendering the thousands of Security events an
# Exchange server writes per minute that no rule reads.
DEFAULT_CHANNELS: tuple[ChannelQuery, ...] = (
    ChannelQuery("Security", "*[System[(EventID=4688)]]"),
    ChannelQuery("Microsoft-Windows-Sysmon/Operational", "*[System[(EventID=1)]]"),
    ChannelQuery(
        "Application", "*[System[Provider[@Name='MSExchange Unified Messaging'] and (Level=2)]]"
    ),
    ChannelQuery("MSExchange Management", "*[System[(EventID=1 or EventID=6)]]"),
)


def event_from_record(mapped: MappedRecord, matches: Iterable[Detection] = ()) -> pb.Event:
    """The wire event: a ProcessEvent for process creation, else a LogRecordEvent whose
    ``file`` is the channel and ``line`` the EventRecordID."""
    event = new_event(matches=matches)
    if mapped.process is not None:
        event.process.CopyFrom(mapped.process)
    else:
        event.log.CopyFrom(
            pb.LogRecordEvent(
                source=LOG_SOURCE,
                file=mapped.event.channel,
                line=max(mapped.event.record_id, 0),
                fields=mapped.fields,
            )
        )
    return event


def event_from_xml(xml: str | bytes, detect: EventDetect | None = None) -> pb.Event | None:
    """Parse, map and judge one rendered event. None for events no rule set reads.

    Raises :class:`EventXmlError` for XML that is malformed or hostile; a ``detect`` that
    raises propagates (the caller counts it and keeps the event).
    """
    mapped = map_event(parse_event_xml(xml))
    if mapped is None:
        return None
    matches = detect(mapped.logsource, mapped.fields) if detect is not None else []
    return event_from_record(mapped, matches)


class BookmarkStore:
    """Channel -> bookmark XML, in one JSON file replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._bookmarks: dict[str, str] = {}
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            loaded = {}
        except (OSError, ValueError) as exc:
            # A torn or foreign file costs a resume point, not the sensor.
            log.warning("ignoring unreadable event-log bookmarks %s: %s", path, exc)
            loaded = {}
        if isinstance(loaded, dict):
            self._bookmarks = {str(k): str(v) for k, v in loaded.items() if isinstance(v, str)}

    def get(self, channel: str) -> str | None:
        return self._bookmarks.get(channel)

    def set(self, channel: str, bookmark_xml: str) -> None:
        self._bookmarks[channel] = bookmark_xml

    def forget(self, channel: str) -> None:
        self._bookmarks.pop(channel, None)

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(self._bookmarks, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.path)


@dataclass(slots=True)
class EventLogStats:
    events: int = 0  # rendered events read
    emitted: int = 0
    ignored: int = 0  # read but no rule set reads them
    malformed: int = 0
    detect_errors: int = 0
    emit_errors: int = 0
    subscribe_errors: int = 0


class EventLogSource:
    """Subscribes to the configured channels and emits what rules can read.

    Construction raises :class:`~agent.platform.windows_events.EventLogUnavailable` (an
    ``AgentError``) off Windows unless ``api`` is given.
    """

    def __init__(
        self,
        emit: Emit,
        *,
        bookmarks_path: Path,
        channels: Sequence[ChannelQuery] = DEFAULT_CHANNELS,
        detect: EventDetect | None = None,
        from_oldest: bool = False,
        batch_size: int = 64,
        wait_seconds: float = 0.5,
        api: EventLogApi | None = None,
    ) -> None:
        if api is None:
            require_windows("the event-log source")
            api = windows_event_api()
        if not channels:
            raise AgentError("event-log source: no channels configured")
        self.api = api
        self.emit = emit
        self.detect = detect
        self.channels = tuple(channels)
        self.from_oldest = from_oldest
        self.batch_size = batch_size
        self.wait_seconds = wait_seconds
        self.bookmarks = BookmarkStore(bookmarks_path)
        self.stats = EventLogStats()
        self.problems: dict[str, str] = {}  # channel -> why it is not subscribed
        self._subs: list[Subscription] = []
        self._detect_failed: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("event-log source already started")
        self._stop.clear()
        for query in self.channels:
            sub = self._subscribe(query)
            if sub is not None:
                self._subs.append(sub)
        self._thread = threading.Thread(target=self._run, name="exwatch-eventlog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for sub in self._subs:
            with contextlib.suppress(Exception):
                sub.close()
        self._subs.clear()

    def sensor_status(self) -> pb.SensorStatus:
        if self.problems:
            detail = "; ".join(f"{c}: {why}" for c, why in sorted(self.problems.items()))
            every = len(self.problems) >= len(self.channels)
            state = pb.SENSOR_STATE_FAILED if every else pb.SENSOR_STATE_DEGRADED
            return pb.SensorStatus(name=SENSOR, state=state, detail=detail)
        s = self.stats
        detail = f"{len(self.channels)} channels; {s.emitted} events, {s.malformed} malformed"
        return pb.SensorStatus(name=SENSOR, state=pb.SENSOR_STATE_OK, detail=detail)

    def _subscribe(self, query: ChannelQuery) -> Subscription | None:
        bookmark = self.bookmarks.get(query.channel)
        try:
            sub = self.api.subscribe(
                query.channel, query.xpath, bookmark, from_oldest=self.from_oldest
            )
        except Exception as exc:
            if bookmark is None:
                # The channel is missing (no Sysmon) or we may not read it (Security needs
                # LocalSystem or the Event Log Readers group): report it, keep the others.
                self.stats.subscribe_errors += 1
                self.problems[query.channel] = f"cannot subscribe: {exc}"
                log.warning("event channel %s: cannot subscribe: %s", query.channel, exc)
                return None
            log.warning(
                "event channel %s: saved bookmark refused (%s); starting anew", query.channel, exc
            )
            self.bookmarks.forget(query.channel)
            return self._subscribe(query)
        self.problems.pop(query.channel, None)
        return sub

    # ------------------------------------------------------------------ worker

    def _run(self) -> None:
        while not self._stop.is_set():
            busy = False
            for sub in self._subs:
                if self._stop.is_set():
                    break
                try:
                    busy |= self.drain_once(sub)
                except Exception:
                    log.exception("event channel %s: read failed", sub.channel)
            if not busy and not self._stop.is_set():
                self.api.wait_any(self._subs, self.wait_seconds)
                if not self._subs:
                    self._stop.wait(self.wait_seconds)

    def drain_once(self, sub: Subscription) -> bool:
        """Read one batch from ``sub``, emit it, then move its bookmark. True if it read any."""
        xml_batch, bookmark = sub.next_batch(self.batch_size)
        if not xml_batch:
            return False
        events = self.convert(xml_batch, sub.channel)
        if events:
            try:
                self.emit(events)
            except Exception:
                # Not moving the bookmark means these are read again after a restart.
                self.stats.emit_errors += 1
                log.exception("could not hand %d event-log events to the spool", len(events))
                return True
            self.stats.emitted += len(events)
        if bookmark:
            self.bookmarks.set(sub.channel, bookmark)
            try:
                self.bookmarks.save()
            except OSError as exc:
                log.warning("cannot save event-log bookmarks: %s", exc)
        return True

    def convert(self, xml_batch: Iterable[str], channel: str) -> list[pb.Event]:
        """Wire events for a batch of rendered XML; bad events counted and skipped."""
        out: list[pb.Event] = []
        for xml in xml_batch:
            self.stats.events += 1
            try:
                mapped = map_event(parse_event_xml(xml))
            except EventXmlError as exc:
                self.stats.malformed += 1
                log.warning("event channel %s: %s", channel, exc)
                continue
            if mapped is None:
                self.stats.ignored += 1
                continue
            out.append(event_from_record(mapped, self._detect(mapped)))
        return out

    def _detect(self, mapped: MappedRecord) -> list[Detection]:
        if self.detect is None:
            return []
        try:
            return self.detect(mapped.logsource, mapped.fields)
        except Exception:
            self.stats.detect_errors += 1
            # Once per logsource: a rule engine that refuses a logsource would flood the log.
            if mapped.logsource not in self._detect_failed:
                self._detect_failed.add(mapped.logsource)
                log.exception("rules failed on a %s event", mapped.logsource)
            return []
