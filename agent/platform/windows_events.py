"""Live Windows Event Log subscriptions: the only event-log code that needs Windows.

Pull model: ``EvtSubscribe`` with a signal event (set when the channel has new events), then
``EvtNext`` to drain and ``EvtRender`` to XML. A bookmark follows the last event handed out;
its XML is what the caller persists so that a restart resumes after it. Everything that
interprets an event lives in ``agent.winevent`` and is tested on any OS; this module only
moves strings out of the API.

Importing this module works everywhere; :func:`windows_event_api` raises
:class:`EventLogUnavailable` off Windows.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Protocol

from agent.errors import AgentError

__all__ = [
    "EventLogApi",
    "EventLogUnavailable",
    "Subscription",
    "require_windows",
    "windows_event_api",
]


class EventLogUnavailable(AgentError):
    """The live Windows Event Log cannot be used here (not Windows, or pywin32 missing)."""


class Subscription(Protocol):
    """One channel subscription."""

    channel: str

    def next_batch(self, max_events: int) -> tuple[list[str], str]:
        """Up to ``max_events`` rendered events (XML) and the bookmark XML after the last one;
        ``([], "")`` when none is waiting."""
        ...

    def close(self) -> None: ...


class EventLogApi(Protocol):
    def subscribe(
        self, channel: str, xpath: str, bookmark_xml: str | None, *, from_oldest: bool
    ) -> Subscription:
        """Start after ``bookmark_xml`` when given; else at the oldest retained event
        (``from_oldest``) or with the next event written."""
        ...

    def wait_any(self, subscriptions: Sequence[Subscription], timeout: float) -> None:
        """Return when any subscription may have events, or after ``timeout`` seconds."""
        ...


def require_windows(what: str) -> None:
    if sys.platform != "win32":
        raise EventLogUnavailable(
            f"{what} needs Windows (the Windows Event Log API); this host runs {sys.platform}. "
            "Exported .evtx files can be read on any OS with `exwatch-agent hunt`."
        )


def windows_event_api() -> EventLogApi:
    """The live API. Raises :class:`EventLogUnavailable` off Windows or without pywin32."""
    require_windows("reading Windows event channels live")
    if sys.platform == "win32":  # repeated so that type checkers on other OSes skip the body
        try:
            return _WindowsEventApi()
        except ImportError as exc:
            raise EventLogUnavailable(f"pywin32 is not installed: {exc}") from exc
    raise AssertionError("unreachable")


if sys.platform == "win32":
    import pywintypes
    import win32api
    import win32event
    import win32evtlog
    import winerror

    # EvtNext reports "nothing waiting" as one of these rather than an empty result.
    _NOTHING_WAITING = (winerror.ERROR_NO_MORE_ITEMS, winerror.ERROR_TIMEOUT)

    class _WindowsSubscription:
        def __init__(
            self, channel: str, xpath: str, bookmark_xml: str | None, *, from_oldest: bool
        ) -> None:
            self.channel = channel
            # Auto-reset event: set by the service when events arrive, cleared by our wait.
            self.signal = win32event.CreateEvent(None, False, False, None)
            if bookmark_xml:
                self._bookmark = win32evtlog.EvtCreateBookmark(bookmark_xml)
                # Not EvtSubscribeStrict: if the bookmarked event was cleared, start at the
                # oldest event still there instead of failing.
                flags = win32evtlog.EvtSubscribeStartAfterBookmark
                start_after = self._bookmark
            else:
                self._bookmark = win32evtlog.EvtCreateBookmark(None)
                flags = (
                    win32evtlog.EvtSubscribeStartAtOldestRecord
                    if from_oldest
                    else win32evtlog.EvtSubscribeToFutureEvents
                )
                start_after = None
            self._handle = win32evtlog.EvtSubscribe(
                channel, flags, SignalEvent=self.signal, Query=xpath, Bookmark=start_after
            )

        def next_batch(self, max_events: int) -> tuple[list[str], str]:
            try:
                handles = win32evtlog.EvtNext(self._handle, max_events, 0, 0)
            except pywintypes.error as exc:
                if exc.winerror in _NOTHING_WAITING:
                    return [], ""
                raise
            if not handles:
                return [], ""
            xml = [win32evtlog.EvtRender(h, win32evtlog.EvtRenderEventXml) for h in handles]
            win32evtlog.EvtUpdateBookmark(self._bookmark, handles[-1])
            bookmark = win32evtlog.EvtRender(self._bookmark, win32evtlog.EvtRenderBookmark)
            return xml, str(bookmark)

        def close(self) -> None:
            # PyEVT_HANDLE closes (EvtClose) on Close() or when collected; the stubs omit
            # Close(), so reach it by name rather than wait for the collector.
            for handle in (self._handle, self._bookmark):
                getattr(handle, "Close")()  # noqa: B009
            win32api.CloseHandle(self.signal)

    class _WindowsEventApi:
        def subscribe(
            self, channel: str, xpath: str, bookmark_xml: str | None, *, from_oldest: bool
        ) -> Subscription:
            return _WindowsSubscription(channel, xpath, bookmark_xml, from_oldest=from_oldest)

        def wait_any(self, subscriptions: Sequence[Subscription], timeout: float) -> None:
            signals = [s.signal for s in subscriptions if isinstance(s, _WindowsSubscription)]
            if signals:
                win32event.WaitForMultipleObjects(signals, False, int(timeout * 1000))
