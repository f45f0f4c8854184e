"""Fuzzing the line parsers: only MalformedLine may escape, and written records round-trip."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.errors import MalformedLine
from agent.logs.formats import LogFormat
from agent.logs.parse import LineParser

any_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=80)
header_or_text = st.one_of(
    any_text,
    any_text.map(lambda s: "#Fields: " + s),
    any_text.map(lambda s: '"' + s),
    any_text.map(lambda s: "\ufeff" + s),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(header_or_text, max_size=12))
def test_any_line_either_parses_or_is_malformed(lines: list[str]) -> None:
    for fmt in LogFormat:
        p = LineParser(fmt, "f")
        for n, line in enumerate(lines, 1):
            with contextlib.suppress(MalformedLine):  # the only error a line may cause
                record = p.feed(line, n)
                if record is not None:
                    assert all(isinstance(v, str) for v in record.fields.values())


# ---------------------------------------------------------------- W3C round trip

W3C_FIELDS = ["date", "time", "cs-method", "cs-uri-stem", "cs(User-Agent)", "sc-status"]
# Anything IIS could write in a value: no ASCII space (it writes '+'), no line break.
w3c_value = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters=" \r\n"), max_size=20
).filter(lambda v: v != "-")


def write_w3c(values: list[str]) -> str:
    return " ".join(v if v else "-" for v in values)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(w3c_value, min_size=6, max_size=6), min_size=1, max_size=6))
def test_w3c_round_trip(rows: list[list[str]]) -> None:
    p = LineParser(LogFormat.IIS, "f")
    p.feed("#Fields: " + " ".join(W3C_FIELDS), 1)
    for n, row in enumerate(rows, 2):
        row = ["2026-01-01" + row[0], *row[1:]]  # a line starting with '#' is a directive
        record = p.feed(write_w3c(row) + "\r\n", n)
        assert record is not None
        assert dict(record.fields) == dict(zip(W3C_FIELDS, row, strict=True))


# ---------------------------------------------------------------- CSV round trip

CSV_FIELDS = ["DateTime", "UrlStem", "AnchorMailbox", "UserAgent"]
# Values may hold commas, quotes and line breaks (written as \r\n like Exchange would).
csv_value = st.text(
    st.one_of(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r"),
              st.sampled_from([",", '"', "\n", ";", "#"])),
    max_size=25,
)  # fmt: skip


def write_csv(values: list[str]) -> str:
    """RFC 4180 as Exchange writes it: quote only what needs it, double inner quotes."""
    out = []
    for v in values:
        if any(c in v for c in ',"\n'):
            v = '"' + v.replace('"', '""') + '"'
        out.append(v)
    return ",".join(out).replace("\n", "\r\n") + "\r\n"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(csv_value, min_size=4, max_size=4), min_size=1, max_size=5))
def test_csv_round_trip_through_physical_lines(rows: list[list[str]]) -> None:
    p = LineParser(LogFormat.HTTPPROXY, "f")
    p.feed("#Fields: " + ",".join(CSV_FIELDS), 1)
    n = 1
    for row in rows:
        row = ["2026-01-01T00:00:00Z" + row[0], *row[1:]]
        physical = write_csv(row).split("\r\n")[:-1]
        first = n + 1
        for i, line in enumerate(physical):
            n += 1
            record = p.feed(line + "\r\n", n)
            if i < len(physical) - 1:
                assert record is None
                assert p.pending
        assert record is not None
        assert record.line == first
        assert dict(record.fields) == dict(zip(CSV_FIELDS, row, strict=True))
