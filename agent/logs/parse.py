"""Line parsers for IIS W3C, the Exchange CSV logs and the OAB generator log.

A parser is stateful per file: ``#Fields:`` decides the columns (W3C may change them
mid-file, whenever IIS restarts logging) and every data line is mapped to the log's own
column names. Malformed lines raise MalformedLine, which the caller counts and skips.

Design choices:
- A W3C line seen before any ``#Fields:`` uses IIS's default field list.
- Exchange CSV is parsed line by line; a quoted field containing a newline is not joined
  with the next line (Exchange escapes those; a line with an unbalanced quote is malformed).
- ECP server ``EventData`` (``S:KEY=VALUE;...``) is exploded into extra ``S:KEY`` fields.
"""

from __future__ import annotations

import csv
import re

from agent.errors import MalformedLine
from agent.logrecord import LogRecord
from agent.logs.formats import LogFormat

__all__ = ["IIS_DEFAULT_FIELDS", "LineParser"]

# What IIS writes when the site's logging fields were never customised.
IIS_DEFAULT_FIELDS = [
    "date", "time", "s-ip", "cs-method", "cs-uri-stem", "cs-uri-query", "s-port", "cs-username",
    "c-ip", "cs(User-Agent)", "cs(Referer)", "sc-status", "sc-substatus", "sc-win32-status",
    "time-taken",
]  # fmt: skip
_OAB_TEMP_FILE = re.compile(r"temporary file '([^']*)' needs to be removed", re.IGNORECASE)
_ECP_PAIR = re.compile(r"(S:[A-Za-z0-9_.]+)=")
MAX_FIELDS = 512


class LineParser:
    """Feed it a file's lines in order; it returns a LogRecord for each data line."""

    def __init__(self, fmt: LogFormat, file: str) -> None:
        self.fmt = fmt
        self.file = file
        self.columns: list[str] | None = list(IIS_DEFAULT_FIELDS) if fmt is LogFormat.IIS else None

    def feed(self, line: str, line_no: int) -> LogRecord | None:
        line = line.rstrip("\r\n").lstrip("\ufeff")
        if not line:
            return None
        if line.startswith("#"):
            self._header(line, line_no)
            return None
        if self.fmt is LogFormat.OAB:
            match = _OAB_TEMP_FILE.search(line)
            fields = {"message": line, "path": match.group(1) if match else ""}
            return LogRecord(self.fmt.value, fields, self.file, line_no, line)
        if self.columns is None:
            raise MalformedLine("data line before any #Fields header", file=self.file, line=line_no)
        values = self._split(line, line_no)
        if len(values) != len(self.columns):
            raise MalformedLine(
                f"{len(values)} values for {len(self.columns)} columns",
                file=self.file,
                line=line_no,
            )
        if self.fmt is LogFormat.IIS:
            fields = {k: ("" if v == "-" else v) for k, v in zip(self.columns, values, strict=True)}
        else:
            fields = dict(zip(self.columns, values, strict=True))
            if self.fmt is LogFormat.ECP and fields.get("EventData"):
                fields.update(ecp_pairs(fields["EventData"]))
        return LogRecord(self.fmt.value, fields, self.file, line_no, line)

    def _header(self, line: str, line_no: int) -> None:
        key, _, value = line[1:].partition(":")
        if key.strip().lower() != "fields":
            return
        value = value.strip()
        if self.fmt is LogFormat.IIS:
            columns = value.split()
        else:
            columns = [c.strip() for c in next(csv.reader([value]), [])]
        if not columns or len(columns) > MAX_FIELDS:
            raise MalformedLine("unusable #Fields header", file=self.file, line=line_no)
        self.columns = columns

    def _split(self, line: str, line_no: int) -> list[str]:
        if self.fmt is LogFormat.IIS:
            return line.split(" ")
        if '"' not in line:
            return line.split(",")  # the common case, ten times faster than csv
        if line.count('"') % 2:
            raise MalformedLine("unbalanced quotes", file=self.file, line=line_no)
        try:
            return next(csv.reader([line], strict=True))
        except csv.Error as exc:
            raise MalformedLine(f"bad CSV: {exc}", file=self.file, line=line_no) from None


def ecp_pairs(event_data: str) -> dict[str, str]:
    """``S:TIME=13;S:CMD=Set-X.ExternalUrl='a;b';S:URL=/ecp/...`` → {"S:TIME": "13", ...}.

    Values may themselves hold ``;`` (a script in a URL does), so a value runs until the
    next ``;S:KEY=`` rather than the next ``;``."""
    out: dict[str, str] = {}
    starts = [
        m
        for m in _ECP_PAIR.finditer(event_data)
        if m.start() == 0 or event_data[m.start() - 1] == ";"
    ]
    for i, m in enumerate(starts):
        end = starts[i + 1].start() - 1 if i + 1 < len(starts) else len(event_data)
        out[m.group(1)] = event_data[m.end() : end]
    return out
