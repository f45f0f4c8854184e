"""OAB generator lines: the message, and the temporary file of CVE-2021-26858."""

from __future__ import annotations

from agent.logs.formats import LogFormat
from agent.logs.oab import temporary_file_path
from agent.logs.parse import LineParser

MALICIOUS = (
    "2021-03-03T05:12:44.114Z,OABGen,Download failed and temporary file "
    "'C:\\inetpub\\wwwroot\\aspnet_client\\discover.aspx' needs to be removed."
)


def test_plain_text_lines_expose_message_and_path() -> None:
    r = LineParser(LogFormat.OAB, "oab.LOG").feed(MALICIOUS + "\r\n", 3)
    assert r is not None
    assert r.source == "oab"
    assert r.fields["message"] == MALICIOUS
    assert r.fields["path"] == "C:\\inetpub\\wwwroot\\aspnet_client\\discover.aspx"


def test_other_lines_have_an_empty_path() -> None:
    r = LineParser(LogFormat.OAB, "oab.LOG").feed("OAB generation started", 1)
    assert r is not None
    assert r.fields == {"message": "OAB generation started", "path": ""}


def test_declared_csv_columns_are_exposed_too() -> None:
    p = LineParser(LogFormat.OAB, "oab.LOG")
    assert p.feed("#Fields: TimeStamp,Source,Message", 1) is None
    r = p.feed(MALICIOUS, 2)
    assert r is not None
    assert r.fields["Source"] == "OABGen"
    assert r.fields["path"].endswith("discover.aspx")
    odd = p.feed("a line that is not CSV", 3)  # still a record: the text is what matters
    assert odd is not None
    assert odd.fields["message"] == "a line that is not CSV"


def test_temporary_file_path_variants() -> None:
    tail = " needs to be removed."
    assert temporary_file_path("Download failed and temporary file 'C:\\a b\\x'" + tail) == (
        "C:\\a b\\x"
    )
    assert temporary_file_path("Download failed and temporary file C:\\x" + tail) == "C:\\x"
    assert temporary_file_path("Download failed and temporary file 'C:\\x'") is None
    assert temporary_file_path("nothing") is None
