"""Line parsers: W3C with changing #Fields, Exchange CSV quoting, ECP EventData, OAB."""

from __future__ import annotations

import pytest

from agent.errors import MalformedLine
from agent.logs.formats import LogFormat
from agent.logs.parse import IIS_DEFAULT_FIELDS, LineParser, ecp_pairs


def test_w3c_fields_decide_columns_and_may_change_mid_file() -> None:
    p = LineParser(LogFormat.IIS, "u_ex.log")
    assert p.feed("\ufeff#Software: Microsoft Internet Information Services 10.0", 1) is None
    assert p.feed("#Fields: time c-ip cs-method cs-uri-stem sc-status", 2) is None
    r = p.feed("10:00:00 203.0.113.7 POST /owa/auth/x.aspx 200\r\n", 3)
    assert r is not None
    assert r.fields == {
        "time": "10:00:00",
        "c-ip": "203.0.113.7",
        "cs-method": "POST",
        "cs-uri-stem": "/owa/auth/x.aspx",
        "sc-status": "200",
    }
    assert (r.source, r.line) == ("iis", 3)
    p.feed("#Fields: cs-uri-stem cs-uri-query", 4)
    r2 = p.feed("/ecp/y.js -", 5)
    assert r2 is not None
    assert r2.fields == {"cs-uri-stem": "/ecp/y.js", "cs-uri-query": ""}  # "-" is empty


def test_w3c_without_header_uses_iis_defaults() -> None:
    values = [
        "2026-01-01",
        "10:00:00",
        "10.0.0.5",
        "GET",
        "/owa/",
        "-",
        "443",
        "-",
        "1.2.3.4",
        "Mozilla/5.0+(Windows)",
        "-",
        "200",
        "0",
        "0",
        "15",
    ]
    r = LineParser(LogFormat.IIS, "f").feed(" ".join(values), 1)
    assert r is not None
    assert tuple(r.fields) == IIS_DEFAULT_FIELDS
    assert r.fields["cs(User-Agent)"] == "Mozilla/5.0+(Windows)"


@pytest.mark.parametrize(
    ("fmt", "lines", "reason"),
    [
        (LogFormat.IIS, ["#Fields: a b", "1 2 3"], "3 values for 2 columns"),
        (LogFormat.HTTPPROXY, ["x,y"], "before any #Fields"),
        (LogFormat.HTTPPROXY, ["#Fields: a,b", '"x"y,b'], "bad CSV"),
        (LogFormat.HTTPPROXY, ["#Fields: a,b", "1,2,3"], "3 values for 2 columns"),
        (LogFormat.IIS, ["#Fields:"], "unusable #Fields"),
    ],
)
def test_malformed_lines_raise_malformed_line(
    fmt: LogFormat, lines: list[str], reason: str
) -> None:
    p = LineParser(fmt, "f.log")
    for n, line in enumerate(lines[:-1], 1):
        p.feed(line, n)
    with pytest.raises(MalformedLine, match=reason) as info:
        p.feed(lines[-1], len(lines))
    assert info.value.file == "f.log"


def test_exchange_csv_quoting_and_ecp_event_data() -> None:
    p = LineParser(LogFormat.ECP, "ECPServer.LOG")
    p.feed("#Fields: TimeStamp,ServerName,EventId,EventData", 1)
    line = (
        '2023-01-11T00:02:33.966Z,EXCH01,ECP.Request,"S:TIME=13;S:CMD=Set-OabVirtualDirectory.'
        'ExternalUrl=\'http://f/<script language=""JScript"">a;b</script>\';S:URL=/ecp/DDI/x"'
    )
    r = p.feed(line, 2)
    assert r is not None
    assert r.fields["ServerName"] == "EXCH01"
    assert r.fields["S:CMD"] == (
        "Set-OabVirtualDirectory.ExternalUrl='http://f/<script language=\"JScript\">a;b</script>'"
    )
    assert r.fields["S:URL"] == "/ecp/DDI/x"
    assert ecp_pairs("S:A=1;S:B=x;y;S:C=") == {"S:A": "1", "S:B": "x;y", "S:C": ""}


def test_oab_generator_lines_expose_the_temporary_file() -> None:
    p = LineParser(LogFormat.OAB, "oab.LOG")
    r = p.feed(
        "Download failed and temporary file 'C:\\inetpub\\wwwroot\\aspnet_client\\d.aspx' "
        "needs to be removed.",
        7,
    )
    assert r is not None
    assert r.fields["path"] == "C:\\inetpub\\wwwroot\\aspnet_client\\d.aspx"
