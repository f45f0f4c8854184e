"""Exchange's own CSV logs: HttpProxy, ECP server, Rps_Http and the cmdlet logs.

Every file starts with ``#Software/#Version/#Log-type/#Date/#Fields:`` lines (the first
one after a UTF-8 BOM); ``#Fields:`` is a comma-separated column list. Some (the cmdlet
infrastructure's Rps_Http and Rps_Cmdlet) put the same column list first as a bare CSV
header row; such a row, met before any ``#Fields:``, sets the columns too. Values follow
RFC 4180: a value holding a comma, quote or line break is quoted and its quotes doubled.

Quoted line breaks: a physical line with an odd number of ``"`` leaves a quoted value
open, so the parser keeps it and returns None until the quote closes, then yields one
record numbered with its *first* line and with the break stored as ``\\n``. The tailer
never checkpoints inside such a record (see ``pending``). A record still open after
``MAX_CONTINUATION_LINES`` lines or ``MAX_RECORD_CHARS`` characters is malformed.
"""

from __future__ import annotations

import csv
import re

from agent.errors import MalformedLine
from agent.logrecord import LogRecord

__all__ = [
    "MAX_CONTINUATION_LINES", "MAX_FIELDS", "MAX_RECORD_CHARS", "ExchangeCsvParser", "ecp_pairs",
]

MAX_CONTINUATION_LINES = 64
MAX_RECORD_CHARS = 1024 * 1024
MAX_FIELDS = 512  # a "#Fields:" longer than this is junk, not a header
MAX_DIRECTIVES = 16

# A piece of ECP ``EventData`` that starts a new pair: a short type tag (S:, I32:, F:,
# Dbl: ...), a key, '='. A piece that doesn't is part of the previous value, which held
# a ';' (as an injected ``<script>...;}</script>`` does).
_PAIR_START = re.compile(r"[A-Za-z][A-Za-z0-9]{0,7}:[A-Za-z_][^=;:\s]*=")

# A bare header row: three or more column names, nothing a data row would hold (timestamps
# carry ':' and '.', which no column name does).
_HEADER_ROW = re.compile(r"[A-Za-z][\w\-()]{0,63}(?:,[A-Za-z][\w\-()]{0,63}){2,}")


def ecp_pairs(data: str) -> dict[str, str]:
    """``S:CMD=x;S:URL=y`` as ``{'S:CMD': 'x', 'S:URL': 'y'}``; a later repeat wins."""
    pairs: dict[str, str] = {}
    key = ""
    parts: list[str] = []
    for piece in data.split(";"):
        match = _PAIR_START.match(piece)
        if match is None:
            if key:
                parts.append(piece)
            continue
        if key:
            pairs[key] = ";".join(parts)
        key = piece[: match.end() - 1]
        parts = [piece[match.end():]]
    if key:
        # A trailing ';' (Exchange ends the list with one) is an empty piece, not value.
        while len(parts) > 1 and parts[-1] == "":
            parts.pop()
        pairs[key] = ";".join(parts)
    return pairs


class ExchangeCsvParser:
    """Column state from ``#Fields:`` plus RFC-4180 splitting, one record per feed()."""

    __slots__ = (
        "_buffer", "_buffer_chars", "_buffer_line", "_fields", "_file", "_source",
        "_split_event_data", "directives", "header_line",
    )

    def __init__(self, source: str, file: str, *, split_event_data: bool = False) -> None:
        self._source = source
        self._file = file
        self._split_event_data = split_event_data
        self._fields: tuple[str, ...] = ()
        self.directives: dict[str, str] = {}
        self.header_line = ""  # the "#Fields:" line in force, as written
        self._buffer: list[str] = []
        self._buffer_chars = 0
        self._buffer_line = 0

    @property
    def fields(self) -> tuple[str, ...]:
        return self._fields

    @property
    def pending(self) -> bool:
        """True while a quoted value spans lines and its record is not complete yet."""
        return bool(self._buffer)

    def reset_pending(self) -> None:
        """Forget a half record; the tailer re-reads it from its first line next time."""
        self._buffer = []
        self._buffer_chars = 0

    def feed(self, line: str, line_no: int) -> LogRecord | None:
        line = line.rstrip("\r\n")
        if self._buffer:
            return self._continue(line, line_no)
        if line[:1] == "\ufeff":
            line = line[1:]
        if not line:
            return None
        if line[0] == "#":
            self._directive(line, line_no)
            return None
        if not self._fields and _HEADER_ROW.fullmatch(line):
            self._set_fields(line.split(","), line, line_no)
            return None
        if line.count('"') % 2:
            self._buffer = [line]
            self._buffer_chars = len(line)
            self._buffer_line = line_no
            return None
        return self._record(line, line_no)

    def _continue(self, line: str, line_no: int) -> LogRecord | None:
        self._buffer.append(line)
        self._buffer_chars += len(line) + 1
        first = self._buffer_line
        if line.count('"') % 2:  # this line closes the open quote
            text = "\n".join(self._buffer)
            self.reset_pending()
            return self._record(text, first)
        if len(self._buffer) > MAX_CONTINUATION_LINES or self._buffer_chars > MAX_RECORD_CHARS:
            self.reset_pending()
            raise MalformedLine(
                f"quoted value still open after line {line_no}", file=self._file, line=first
            )
        return None

    def _record(self, text: str, line_no: int) -> LogRecord:
        fields = self._fields
        if not fields:
            raise MalformedLine("data line before any #Fields header", file=self._file,
                                line=line_no)
        if '"' in text:
            try:
                rows = list(csv.reader((text,), strict=True))
            except csv.Error as exc:
                raise MalformedLine(f"bad CSV quoting: {exc}", file=self._file,
                                    line=line_no) from None
            values = rows[0] if len(rows) == 1 else []
        else:
            values = text.split(",")
        if len(values) != len(fields):
            raise MalformedLine(
                f"{len(values)} values for {len(fields)} columns", file=self._file, line=line_no
            )
        record = dict(zip(fields, values, strict=True))
        if self._split_event_data:
            data = record.get("EventData")
            if data:
                for key, value in ecp_pairs(data).items():
                    record.setdefault(key, value)
        return LogRecord(self._source, record, self._file, line_no, text)

    def _directive(self, line: str, line_no: int) -> None:
        key, sep, value = line[1:].partition(":")
        if not sep:
            return
        key = key.strip()
        if key == "Fields":
            self._set_fields(value.split(","), line, line_no)
        elif key in self.directives or len(self.directives) < MAX_DIRECTIVES:
            self.directives[key] = value.strip()

    def _set_fields(self, names: list[str], line: str, line_no: int) -> None:
        fields = tuple(name.strip() for name in names)
        if not any(fields) or len(fields) > MAX_FIELDS:
            raise MalformedLine("unusable #Fields header", file=self._file, line=line_no)
        self._fields = fields
        self.header_line = line
