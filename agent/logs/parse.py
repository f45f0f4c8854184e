"""``LineParser``: one stateful parser per log file, whatever its format.

Callers (the tailer, the hunt command) feed physical lines in file order. Header lines
update the parser's state and give None; data lines give a ``LogRecord`` with the log's
native column names; a line that cannot be parsed raises ``MalformedLine`` and leaves the
state as it was, so the caller can count it and go on.

Decisions (details in each format's module):
- W3C (``w3c.py``): before any ``#Fields:`` the IIS default field list applies
  (``IIS_DEFAULT_FIELDS``); ``-`` becomes ""; values are otherwise kept as written.
- Exchange CSV (``exchange_csv.py``): a quoted value holding a line break is joined with
  the following lines into one record (numbered with its first line, break stored as
  ``\n``); ``pending`` is True meanwhile and the tailer never checkpoints inside it.
  ECP ``EventData`` pairs become extra ``S:KEY`` fields.
- OAB (``oab.py``): ``message`` (the line) and ``path`` (the temporary file, or "").
"""

from __future__ import annotations

from typing import Protocol

from agent.logrecord import LogRecord
from agent.logs.exchange_csv import ExchangeCsvParser, ecp_pairs
from agent.logs.formats import LogFormat
from agent.logs.oab import OabParser
from agent.logs.w3c import IIS_DEFAULT_FIELDS, W3CParser

__all__ = ["IIS_DEFAULT_FIELDS", "LineParser", "ecp_pairs"]


class _FormatParser(Protocol):
    @property
    def fields(self) -> tuple[str, ...]: ...
    @property
    def pending(self) -> bool: ...
    @property
    def header_line(self) -> str: ...
    def reset_pending(self) -> None: ...
    def feed(self, line: str, line_no: int) -> LogRecord | None: ...


def _make(fmt: LogFormat, file: str) -> _FormatParser:
    if fmt is LogFormat.IIS:
        return W3CParser(file)
    if fmt is LogFormat.OAB:
        return OabParser(file)
    return ExchangeCsvParser(str(fmt), file, split_event_data=fmt is LogFormat.ECP)


class LineParser:
    """Parse the lines of one file of format ``fmt``; ``file`` names it in records/errors."""

    __slots__ = ("_impl", "file", "fmt")

    def __init__(self, fmt: LogFormat, file: str) -> None:
        self.fmt = fmt
        self.file = file
        self._impl = _make(fmt, file)

    def feed(self, line: str, line_no: int) -> LogRecord | None:
        """Header line: update state, None. Data line: its record (None while a CSV value
        quoted across lines is still open). Unparseable: raise ``MalformedLine``."""
        return self._impl.feed(line, line_no)

    @property
    def fields(self) -> tuple[str, ...]:
        """The active column names (W3C: the IIS defaults until a ``#Fields:`` line)."""
        return self._impl.fields

    @property
    def header_line(self) -> str:
        """The ``#Fields:`` line in force, as written ("" before any): what a checkpoint
        stores so that a parser rebuilt after a restart maps columns exactly as before."""
        return self._impl.header_line

    @property
    def pending(self) -> bool:
        """True while part of a multi-line record is buffered (never checkpoint then)."""
        return self._impl.pending

    def reset_pending(self) -> None:
        """Drop a buffered partial record (the caller will re-feed it from its start)."""
        self._impl.reset_pending()

    def reset(self) -> None:
        """Back to the state of a fresh parser (file truncated or replaced)."""
        self._impl = _make(self.fmt, self.file)
