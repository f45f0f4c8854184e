"""IIS W3C lines: native names, '-' as empty, '+' kept, exact single-space split."""

from __future__ import annotations

import pytest

from agent.errors import MalformedLine
from agent.logs.formats import LogFormat
from agent.logs.parse import LineParser

HEADER = [
    "#Software: Microsoft Internet Information Services 10.0",
    "#Version: 1.0",
    "#Date: 2023-12-25 11:00:00",
    "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
    "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken",
]
WEBSHELL = (
    "2023-12-25 11:54:21 10.10.130.5 GET /owa/auth/aKdMadOeT.aspx cmd=whoami 443 - 1.2.3.4 "
    "Mozilla/5.0+(Windows+NT+10.0) - 200 0 0 142"
)


def parser() -> LineParser:
    p = LineParser(LogFormat.IIS, "u_ex231225.log")
    for n, line in enumerate(HEADER, 1):
        assert p.feed(line + "\r\n", n) is None
    return p


def test_a_webshell_request_keeps_native_names_and_values() -> None:
    r = parser().feed(WEBSHELL + "\r\n", 5)
    assert r is not None
    assert r.fields["cs-uri-stem"] == "/owa/auth/aKdMadOeT.aspx"
    assert r.fields["cs-uri-query"] == "cmd=whoami"
    assert r.fields["cs-username"] == ""  # '-'
    assert r.fields["cs(User-Agent)"] == "Mozilla/5.0+(Windows+NT+10.0)"  # matcher decodes '+'
    assert r.fields["sc-status"] == "200"
    assert (r.source, r.file, r.line, r.raw) == ("iis", "u_ex231225.log", 5, WEBSHELL)


def test_directives_are_state_not_records() -> None:
    p = parser()
    assert p.fields[4] == "cs-uri-stem"
    assert p.header_line == HEADER[-1]


def test_unicode_spaces_inside_a_value_do_not_split_it() -> None:
    # IIS writes the decoded URL as UTF-8: NBSP or U+2028 must not make the line "malformed".
    p = LineParser(LogFormat.IIS, "f")
    p.feed("#Fields: cs-method cs-uri-stem sc-status", 1)
    r = p.feed("GET /owa/auth/a\u00a0b\u2028.aspx 200", 2)
    assert r is not None
    assert r.fields["cs-uri-stem"] == "/owa/auth/a\u00a0b\u2028.aspx"


def test_fields_change_mid_file_after_an_iis_restart() -> None:
    p = parser()
    assert p.feed(WEBSHELL, 5) is not None
    p.feed("#Software: Microsoft Internet Information Services 10.0", 6)
    p.feed("#Fields: date time cs-uri-stem cs(Cookie) sc-status", 7)
    r = p.feed("2023-12-25 12:00:00 /ecp/y.js X-BEResource=localhost/owa/auth/logon.aspx?~3 500", 8)
    assert r is not None
    assert r.fields == {
        "date": "2023-12-25",
        "time": "12:00:00",
        "cs-uri-stem": "/ecp/y.js",
        "cs(Cookie)": "X-BEResource=localhost/owa/auth/logon.aspx?~3",
        "sc-status": "500",
    }
    with pytest.raises(MalformedLine, match="15 values for 5 columns"):
        p.feed(WEBSHELL, 9)  # an old-layout line after the new header


def test_a_malformed_line_leaves_the_state_alone() -> None:
    p = parser()
    with pytest.raises(MalformedLine) as info:
        p.feed("garbage", 5)
    assert (info.value.file, info.value.line) == ("u_ex231225.log", 5)
    assert p.feed(WEBSHELL, 6) is not None


def test_blank_lines_and_bom_are_ignored() -> None:
    p = LineParser(LogFormat.IIS, "f")
    assert p.feed("\r\n", 1) is None
    assert p.feed("\ufeff#Fields: a b", 2) is None
    r = p.feed("1 2", 3)
    assert r is not None
    assert r.fields == {"a": "1", "b": "2"}


def test_a_huge_fields_header_is_refused() -> None:
    with pytest.raises(MalformedLine, match="unusable"):
        LineParser(LogFormat.IIS, "f").feed("#Fields: " + " ".join(f"f{i}" for i in range(600)), 1)
