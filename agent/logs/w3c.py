"""IIS W3C extended log lines: ``#Fields:`` names the space-separated columns.

IIS writes ``-`` for an empty value and ``+`` for a space inside ``cs(User-Agent)``, so
no value contains a literal space and ``str.split(" ")`` is the whole tokenizer. Not
``str.split()``: that also splits on Unicode spaces (NBSP, U+2028) which IIS writes raw
inside a UTF-8 URL, and an attacker could use them to make his line "malformed".

Values are kept as written (``+`` stays ``+``): the Sigma matcher decodes ``+`` and ``%XX``
itself, and the record must stay the evidence the log holds.
"""

from __future__ import annotations

from agent.errors import MalformedLine
from agent.logrecord import LogRecord

__all__ = ["IIS_DEFAULT_FIELDS", "MAX_FIELDS", "W3CParser"]

# IIS's default W3C field selection (IIS 7+, as in the reference's §1 table). Used for data
# lines seen before any ``#Fields:`` directive, e.g. a tail started past a header we could
# not find. A line with another column count is malformed rather than guessed at.
IIS_DEFAULT_FIELDS: tuple[str, ...] = (
    "date", "time", "s-ip", "cs-method", "cs-uri-stem", "cs-uri-query", "s-port",
    "cs-username", "c-ip", "cs(User-Agent)", "cs(Referer)", "sc-status", "sc-substatus",
    "sc-win32-status", "time-taken",
)

MAX_FIELDS = 512  # a "#Fields:" longer than this is junk, not a header
MAX_DIRECTIVES = 16  # #Software, #Version, #Date ...: never let comments grow memory


class W3CParser:
    """State (the active column list) plus a per-line split into a dict."""

    __slots__ = ("_fields", "_file", "directives", "header_line")

    def __init__(self, file: str) -> None:
        self._file = file
        self.directives: dict[str, str] = {}
        self._fields: tuple[str, ...] = IIS_DEFAULT_FIELDS
        self.header_line = ""  # the "#Fields:" line in force, as written ("" = defaults)

    @property
    def fields(self) -> tuple[str, ...]:
        return self._fields

    @property
    def pending(self) -> bool:
        """W3C records are always one line; never half a record in hand."""
        return False

    def reset_pending(self) -> None:
        """Nothing to forget: see ``pending``."""

    def feed(self, line: str, line_no: int) -> LogRecord | None:
        line = line.rstrip("\r\n")
        if line[:1] == "\ufeff":
            line = line[1:]
        if not line:
            return None
        if line[0] == "#":
            self._directive(line, line_no)
            return None
        values = line.split(" ")
        fields = self._fields
        if len(values) != len(fields):
            raise MalformedLine(
                f"{len(values)} values for {len(fields)} columns", file=self._file, line=line_no
            )
        return LogRecord(
            "iis",
            {k: ("" if v == "-" else v) for k, v in zip(fields, values, strict=True)},
            self._file, line_no, line,
        )

    def _directive(self, line: str, line_no: int) -> None:
        key, sep, value = line[1:].partition(":")
        if not sep:
            return  # a bare comment: IIS never writes one, but it is harmless
        key = key.strip()
        if key == "Fields":
            names = tuple(value.split())
            if not names or len(names) > MAX_FIELDS:
                raise MalformedLine("unusable #Fields header", file=self._file, line=line_no)
            self._fields = names
            self.header_line = line
        elif key in self.directives or len(self.directives) < MAX_DIRECTIVES:
            self.directives[key] = value.strip()
