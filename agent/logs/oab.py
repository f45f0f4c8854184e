"""OAB generator log lines: free text, of which one message matters.

CVE-2021-26858 leaves ``Download failed and temporary file '<path>' needs to be removed``
with the attacker's target as ``<path>``; we expose it as the ``path`` field (empty on
other lines, so every record has the same columns) so a rule can test where it points.
Every data line is also exposed whole as ``message``. If the file carries a ``#Fields:``
header and a line splits into that many CSV values, the columns are exposed under their
own names as well (the text match must work either way).
"""

from __future__ import annotations

import csv

from agent.errors import MalformedLine
from agent.logrecord import LogRecord

__all__ = ["DOWNLOAD_FAILED", "OabParser", "temporary_file_path"]

DOWNLOAD_FAILED = "Download failed and temporary file "
_NEEDS_REMOVAL = " needs to be removed"


def temporary_file_path(text: str) -> str | None:
    """The ``<path>`` of a "temporary file '<path>' needs to be removed" message, else None."""
    start = text.find(DOWNLOAD_FAILED)
    if start < 0:
        return None
    start += len(DOWNLOAD_FAILED)
    end = text.find(_NEEDS_REMOVAL, start)
    if end < 0:
        return None
    path = text[start:end].strip()
    if len(path) >= 2 and path[0] == path[-1] and path[0] in "'\"":
        path = path[1:-1]
    return path


class OabParser:
    """Header state is kept only to name CSV columns when the file declares them."""

    __slots__ = ("_fields", "_file", "directives", "header_line")

    def __init__(self, file: str) -> None:
        self._file = file
        self._fields: tuple[str, ...] = ()
        self.directives: dict[str, str] = {}
        self.header_line = ""

    @property
    def fields(self) -> tuple[str, ...]:
        return self._fields

    @property
    def pending(self) -> bool:
        return False

    def reset_pending(self) -> None:
        """Text lines are never split across reads by the parser."""

    def feed(self, line: str, line_no: int) -> LogRecord | None:
        line = line.rstrip("\r\n")
        if line[:1] == "\ufeff":
            line = line[1:]
        if not line.strip():
            return None
        if line[0] == "#":
            key, sep, value = line[1:].partition(":")
            if sep and key.strip() == "Fields":
                self._fields = tuple(name.strip() for name in value.split(",") if name.strip())
                self.header_line = line
            elif sep and len(self.directives) < 16:
                self.directives[key.strip()] = value.strip()
            return None
        if "\x00" in line:
            raise MalformedLine("NUL byte in text line", file=self._file, line=line_no)
        fields: dict[str, str] = {}
        if self._fields:
            try:
                rows = list(csv.reader((line,)))
            except csv.Error:
                rows = []
            if len(rows) == 1 and len(rows[0]) == len(self._fields):
                fields.update(zip(self._fields, rows[0], strict=True))
        fields["message"] = line
        fields["path"] = temporary_file_path(line) or ""
        return LogRecord("oab", fields, self._file, line_no, line)
