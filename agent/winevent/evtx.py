"""Read exported ``.evtx`` files offline (for ``exwatch-agent hunt``), on any OS.

The ``evtx`` package (a Rust parser with abi3 wheels) renders each record to the same XML
that EvtRender produces, so offline records go through the very parser and mapping the live
source uses. A damaged record is counted and skipped; the file goes on.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evtx import PyEvtxParser

from agent.errors import AgentError
from agent.winevent.mapping import MappedRecord, map_event
from agent.winevent.xml import EventXmlError, WinEvent, parse_event_xml

__all__ = ["EvtxError", "EvtxReader"]

log = logging.getLogger("exwatch.agent.evtx")


class EvtxError(AgentError):
    """An .evtx file cannot be opened or is not an event log file."""


@dataclass(slots=True)
class EvtxStats:
    records: int = 0
    malformed: int = 0  # records the parser or our XML check refused


class EvtxReader:
    """Iterate one .evtx file as :class:`WinEvent` (``events``) or rule records (``mapped``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stats = EvtxStats()

    def _records(self) -> Iterator[dict[str, Any]]:
        try:
            # One thread: a hunt runs on a production Exchange server, next to Exchange.
            parser = PyEvtxParser(str(self.path), number_of_threads=1, skip_errors=True)
        except (OSError, RuntimeError) as exc:
            raise EvtxError(f"{self.path}: not a readable .evtx file: {exc}") from exc
        with warnings.catch_warnings(record=True) as caught:
            # skip_errors reports each damaged record as a RuntimeWarning and goes on; count
            # them rather than let the warning filter turn one bad record into a failed hunt.
            warnings.simplefilter("always", RuntimeWarning)
            try:
                for record in parser.records():
                    if caught:
                        self._count_damaged(caught)
                    if isinstance(record, dict):
                        yield record
            except RuntimeError as exc:  # damage past what skip_errors can step over
                self.stats.malformed += 1
                log.warning("%s: stopped reading: %s", self.path, exc)
            if caught:
                self._count_damaged(caught)

    def _count_damaged(self, caught: list[warnings.WarningMessage]) -> None:
        for w in caught:
            self.stats.malformed += 1
            log.warning("%s: damaged record skipped: %s", self.path, w.message)
        caught.clear()

    def events(self) -> Iterator[WinEvent]:
        for record in self._records():
            self.stats.records += 1
            try:
                yield parse_event_xml(str(record.get("data", "")))
            except EventXmlError as exc:
                self.stats.malformed += 1
                log.warning("%s: record %s: %s", self.path, record.get("event_record_id", "?"), exc)

    def mapped(self) -> Iterator[MappedRecord]:
        """Only the records a rule set reads (process creation, UM, cmdlets, Application)."""
        for event in self.events():
            mapped = map_event(event)
            if mapped is not None:
                yield mapped
