"""IIS and Exchange logs: tail every log exactly once, judge every record with Sigma.

Poll-driven (appends to a log that IIS or Exchange holds open often raise no OS event),
with watchdog on the log folders as a hint that cuts the wait. Each file's checkpoint is
committed in the same transaction as the events its lines produced, so a restart or a
crash neither loses nor repeats a line.

On first start the logs written within the look-back are hunted backwards (fast path,
events marked retro), then tailed from their end; when the rule set changes, the same
look-back is hunted again with the new rules.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from agent.accounts.baseline import AccountBaseline, Thresholds
from agent.events import new_event
from agent.hunt import hunt_paths
from agent.logrecord import LogRecord
from agent.logs.formats import LogFormat, detect_format
from agent.logs.locations import discover
from agent.logs.tailer import Checkpoint, FileTailer
from agent.platform.shared_open import open_shared
from agent.sigma import SigmaRuleSet
from agent.sigma.correlation import CorrelationFinding, Correlator
from agent.spool import Spool
from agent.state import StateDB
from protos import exwatch_pb2 as pb

log = logging.getLogger("exwatch.agent.logs")

SENSOR = "logs"
DISCOVER_SECONDS = 10.0


def record_event(
    record: LogRecord,
    ruleset: SigmaRuleSet,
    *,
    retro: bool = False,
    ship_all: bool = False,
    correlator: Correlator | None = None,
) -> pb.Event | None:
    """The wire event for one record: detections always, other records only if asked.
    Every match (also of rules that only feed correlation rules) goes to ``correlator``."""
    detections = ruleset.match(record, silent=correlator is not None)
    if correlator is not None:
        for detection in detections:
            correlator.observe(record, detection)
        detections = [d for d in detections if ruleset.emits(d.rule_id)]
    if not detections and not ship_all:
        return None
    event = new_event(matches=detections, retro=retro)
    event.log.CopyFrom(
        pb.LogRecordEvent(
            source=record.source, file=record.file, line=record.line, fields=dict(record.fields)
        )
    )
    return event


class _Hint(FileSystemEventHandler):
    def __init__(self, monitor: LogMonitor) -> None:
        self.monitor = monitor

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return  # our own reads: reacting to them would poll in a loop
        if event.event_type in ("created", "moved"):
            self.monitor._rediscover.set()  # a new log (rotation): look for it now
        self.monitor._wake.set()


class LogMonitor:
    def __init__(
        self,
        globs: Mapping[LogFormat, list[str]],
        db: StateDB,
        spool: Spool,
        ruleset: SigmaRuleSet,
        *,
        poll_seconds: float = 1.0,
        lookback_days: float = 7.0,
        ship_all: bool = False,
        legacy_logons: Thresholds | None = None,
    ) -> None:
        self.globs = dict(globs)
        self.db = db
        self.spool = spool
        self.ruleset = ruleset
        # Correlation state (windows of spray and brute-force counts) lives in memory only.
        self._correlator = ruleset.correlator(defer=False)
        # Per-account log-on counts (legacy log-ons by modern accounts), in the state DB;
        # fed by live lines only: retro-hunts neither feed nor report it.
        self._accounts = AccountBaseline(db, legacy_logons) if legacy_logons else None
        self.poll_seconds = poll_seconds
        self.lookback_s = lookback_days * 86400
        self.ship_all = ship_all
        self._tailers: dict[str, FileTailer] = {}
        self._refused: set[str] = set()
        self._files: list[tuple[Path, LogFormat]] = []
        self._wake = threading.Event()
        self._rediscover = threading.Event()
        self._rehunt = threading.Event()
        self._backlog = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._observer: BaseObserver | None = None
        self.ready = threading.Event()  # start-up hunt done, change hints armed
        # Set by the budget governor: the share of time a retro-hunt may run (1: all of it)
        # and how many times longer polls wait (over 1: change hints are ignored as well).
        self.hunt_duty = 1.0
        self.poll_slowdown = 1.0
        self._hunt_ran_since = 0.0
        self.records_read = 0
        self.detections = 0
        self.malformed = 0
        self.problem = ""
        with db.transaction() as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS log_checkpoints "
                "(path TEXT PRIMARY KEY, state TEXT NOT NULL)"
            )

    def set_rules(self, ruleset: SigmaRuleSet) -> None:
        """New rules: judge with them from now on, and hunt the look-back with them."""
        self.ruleset = ruleset
        self._rehunt.set()
        self._wake.set()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="exwatch-logs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join()
        if self._observer:
            self._observer.stop()
            self._observer.join()
        if self._accounts is not None:
            with self.db.transaction() as conn:
                self._accounts.save(conn, force=True)

    def sensor_status(self) -> pb.SensorStatus:
        if self.problem:
            return pb.SensorStatus(name=SENSOR, state=pb.SENSOR_STATE_DEGRADED, detail=self.problem)
        return pb.SensorStatus(
            name=SENSOR,
            state=pb.SENSOR_STATE_OK,
            detail=f"{len(self._files)} logs; {self.records_read} records, "
            f"{self.detections} detections, {self.malformed} malformed",
        )

    def _watch_folders(self) -> None:
        """watchdog on the log folders: only a hint to poll now, never the source of truth."""
        folders: set[Path] = set()
        for pattern in (g for globs in self.globs.values() for g in globs):
            base = Path(pattern)
            while any(ch in base.name for ch in "*?[") or not base.is_dir():
                if base.parent == base:
                    break
                base = base.parent
            if base.is_dir():
                folders.add(base)
        folders = {f for f in folders if not any(f != o and f.is_relative_to(o) for o in folders)}
        if not folders:
            return
        observer = Observer()
        observer.name = "exwatch-logs-observer"
        for folder in folders:
            try:
                observer.schedule(_Hint(self), str(folder), recursive=True)
            except OSError as exc:
                log.info("no change hints for %s (%s); polling only", folder, exc)
        observer.start()
        self._observer = observer

    # ------------------------------------------------------------------ checkpoints

    def _checkpoints(self) -> dict[str, Checkpoint]:
        with self.db.reading() as c:
            rows = c.execute("SELECT path, state FROM log_checkpoints").fetchall()
        out = {}
        for path, state in rows:
            try:
                out[path] = Checkpoint(**json.loads(state))
            except (TypeError, ValueError):
                log.warning("discarding unreadable checkpoint of %s", path)
        return out

    @staticmethod
    def _save(conn: sqlite3.Connection, checkpoint: Checkpoint) -> None:
        conn.execute(
            "INSERT INTO log_checkpoints (path, state) VALUES (?, ?) "
            "ON CONFLICT(path) DO UPDATE SET state = excluded.state",
            (checkpoint.path, json.dumps(dataclasses.asdict(checkpoint))),
        )

    # ------------------------------------------------------------------ work

    def _run(self) -> None:
        try:
            self._discover()
            self._startup_hunt()
        except Exception as exc:
            log.exception("log start-up failed")
            self.problem = f"start-up failed: {exc}"
        self._watch_folders()
        self.ready.set()
        next_discover = time.monotonic() + DISCOVER_SECONDS
        while not self._stop.is_set():
            try:
                if self._rehunt.is_set():
                    self._rehunt.clear()
                    self._startup_hunt()
                if time.monotonic() >= next_discover or self._rediscover.is_set():
                    self._rediscover.clear()
                    self._discover()
                    next_discover = time.monotonic() + DISCOVER_SECONDS
                self._poll_all()
            except Exception as exc:  # one bad file must not stop the sensor
                log.exception("log polling error")
                self.problem = str(exc)
            if self.poll_slowdown > 1:  # over budget: neither hints nor a backlog cut the wait
                self._stop.wait(self.poll_seconds * self.poll_slowdown)
            elif not self._backlog:  # a file with more to read: no pause before the next read
                self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def _discover(self) -> None:
        """Every log file the globs find, minus anything that is not text of its format
        (a binary named like a log, a sparse file) - counted, never tailed."""
        found: list[tuple[Path, LogFormat]] = []
        for fmt, globs in self.globs.items():
            for path in discover(globs):
                if str(path) not in self._tailers and not self._is_log(path, fmt):
                    continue
                found.append((path, fmt))
        self._files = found

    def _is_log(self, path: Path, fmt: LogFormat) -> bool:
        try:
            with open_shared(path) as fh:
                head = fh.read(4096)
        except OSError:
            return False
        if detect_format(path, head) is None and head:
            if str(path) not in self._refused:
                self._refused.add(str(path))
                self.malformed += 1
                log.warning("%s is named like a %s log but is not one; skipped", path, fmt.value)
            return False
        return True

    def _startup_hunt(self) -> None:
        """Hunt what the logs already hold (within the look-back) when this agent has never
        read them, or when its rules changed since it last did; then tail from the end."""
        version_key = "logs_rules_version"
        seen = self._checkpoints()
        first = not seen
        rules_changed = self.db.get_meta(version_key) not in ("", self.ruleset.version)
        if not (first or rules_changed):
            return
        cutoff = time.time() - self.lookback_s
        recent = [p for p, _ in self._files if _mtime(p) >= cutoff]
        # On first start IIS goes on writing meanwhile: the hunt reads each file up to the end
        # of its last complete line now, and tailing begins exactly there. (After new rules
        # the tailer's own checkpoints stand; the hunt reads to the end.)
        ends = {}
        if first:
            ends = {path: FileTailer(path, fmt, None).end_checkpoint() for path, fmt in self._files}
        if recent:
            found = 0
            events: list[pb.Event] = []
            self._hunt_ran_since = time.monotonic()
            try:
                hunt = hunt_paths(
                    recent,
                    self.ruleset,
                    on_bytes=self._pace_hunt,
                    limits={path: ends[path].offset for path in recent} if first else None,
                )
                for finding in hunt:
                    if isinstance(finding, CorrelationFinding):
                        events.append(finding.to_event(retro=True))
                        found += 1
                        continue
                    event = new_event(matches=[finding.detection], retro=True)
                    record = finding.record
                    event.log.CopyFrom(
                        pb.LogRecordEvent(
                            source=record.source,
                            file=record.file,
                            line=finding.line,
                            fields=dict(record.fields),
                        )
                    )
                    events.append(event)
                    found += 1
                    if len(events) >= 500:
                        self.spool.put(events)
                        events = []
            except _HuntStopped:
                pass  # the agent is stopping
            self.spool.put(events)
            if self._stop.is_set():
                # A service stop must not wait for years of logs. Nothing is marked as hunted,
                # so the next start hunts again (what was found is sent now; found again
                # then, it joins the same incident).
                log.info("retro-hunt interrupted by stop after %d detections", found)
                return
            why = "first start" if first else "rules changed"
            log.info("retro-hunt (%s) over %d logs: %d detections", why, len(recent), found)
        if first:
            # Everything that exists now was hunted (or is older than the look-back):
            # tail from the end of every file.
            with self.db.transaction() as conn:
                for checkpoint in ends.values():
                    self._save(conn, checkpoint)
        with self.db.transaction() as conn:
            StateDB.set_meta(conn, version_key, self.ruleset.version)

    def _pace_hunt(self, _bytes: int) -> None:
        """Between two chunks of a retro-hunt: end it when the agent stops, and rest long
        enough to keep to ``hunt_duty``."""
        if self._stop.is_set():
            raise _HuntStopped
        if self.hunt_duty >= 1:
            return
        ran = time.monotonic() - self._hunt_ran_since
        if ran >= 0.1:
            self._stop.wait(ran * (1 / self.hunt_duty - 1))
            self._hunt_ran_since = time.monotonic()

    def _poll_all(self) -> None:
        checkpoints: dict[str, Checkpoint] | None = None
        self._backlog = False
        if self._correlator.rules is not self.ruleset.correlations:  # new rules, new state
            self._correlator = self.ruleset.correlator(defer=False)
        for path, fmt in self._files:
            if self._stop.is_set():
                return
            key = str(path)
            tailer = self._tailers.get(key)
            if tailer is None:
                if checkpoints is None:
                    checkpoints = self._checkpoints()
                tailer = self._tailers[key] = FileTailer(path, fmt, checkpoints.get(key))
            before = tailer.checkpoint
            result = tailer.poll()
            self._backlog |= result.more
            self.malformed += result.malformed
            for error in result.errors:
                log.warning("%s: %s", path, error)
            if not result.records and result.checkpoint == before:
                continue
            events = []
            for record in result.records:
                event = record_event(
                    record, self.ruleset, ship_all=self.ship_all, correlator=self._correlator
                )
                if event is not None:
                    events.append(event)
                    self.detections += bool(event.matches)
                if self._accounts is not None:
                    self._accounts.observe(record)
            reports = [r.to_event() for r in self._correlator.drain()]
            if self._accounts is not None:
                reports += [f.to_event() for f in self._accounts.drain()]
            events += reports
            self.detections += len(reports)
            self.records_read += len(result.records)
            with self.db.transaction() as conn:
                self.spool.append(conn, events)
                self._save(conn, result.checkpoint)
                if self._accounts is not None:  # with its reports, or now and then
                    self._accounts.save(conn)
            if events:
                self.spool.notify()
        self.problem = ""


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


class _HuntStopped(Exception):
    """Raised between two chunks of a retro-hunt when the agent stops."""
