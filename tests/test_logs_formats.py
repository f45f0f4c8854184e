"""detect_format: header first, name second, binary never."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.logs.formats import LogFormat, detect_format

EX = Path("C:/Program Files/Microsoft/Exchange Server/V15/Logging")
IIS_HEAD = b"#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n"


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        (Path("C:/inetpub/logs/LogFiles/W3SVC1/u_ex260101.log"), LogFormat.IIS),
        (Path("C:/inetpub/logs/LogFiles/W3SVC2/U_EX26010113.LOG"), LogFormat.IIS),
        (EX / "HttpProxy/Owa/HttpProxy_2026010110-1.LOG", LogFormat.HTTPPROXY),
        (EX / "ECP/Server/ECPServer2026010110-1.LOG", LogFormat.ECP),
        (EX / "OABGeneratorLog/OABGenerator_20260101-1.LOG", LogFormat.OAB),
        (EX / "CmdletInfra/Powershell-Proxy/Http/Rps_Http_2026010110-1.LOG", LogFormat.RPS_HTTP),
        (EX / "CmdletInfra/Powershell-Proxy/Cmdlet/Rps_Cmdlet_2026010110-1.LOG", LogFormat.CMDLET),
        (EX / "CmdletInfra/LocalPowerShell/Cmdlet/LocalPowerShell_Cmdlet_2026010110-1.LOG",
         LogFormat.CMDLET),
        (Path("C:/Windows/notes.txt"), None),
    ],
)  # fmt: skip
def test_an_empty_file_is_judged_by_its_name(path: Path, fmt: LogFormat | None) -> None:
    assert detect_format(path, b"") is fmt


@pytest.mark.parametrize(
    ("head", "fmt"),
    [
        (IIS_HEAD, LogFormat.IIS),
        (b"\xef\xbb\xbf#Software: Microsoft Exchange Server\r\n#Log-type: HttpProxy Logs\r\n",
         LogFormat.HTTPPROXY),
        (b"#Software: Microsoft Exchange Server\r\n#Log-type: ECP Server Log\r\n", LogFormat.ECP),
        (b"#Fields: date time cs-method cs-uri-stem sc-status\r\n", LogFormat.IIS),
        (b"#Fields: DateTime,UrlStem,AnchorMailbox\r\n", LogFormat.HTTPPROXY),
        (b"#Fields: TimeStamp,ServerName,EventId,EventData\r\n", LogFormat.ECP),
    ],
)  # fmt: skip
def test_the_header_wins_over_the_name(head: bytes, fmt: LogFormat) -> None:
    assert detect_format(Path("renamed.txt"), head) is fmt


def test_headerless_text_falls_back_to_the_name() -> None:
    path = Path("C:/inetpub/logs/LogFiles/W3SVC1/u_ex260101.log")
    assert detect_format(path, b"2026-01-01 10:00:00 GET / - 443\r\n") is LogFormat.IIS


@pytest.mark.parametrize(
    "head",
    [
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00",  # a PE file
        bytes(4096),  # the start of a sparse file
        bytes(range(256)) * 4,
        b"#Software: Microsoft Internet Information Services\r\n\xff\xfe\xfd garbage",
        b"\x01\x02\x03\x04\x05" * 100 + b"#Fields: a",
    ],
)
def test_binary_content_is_no_log_whatever_its_name(head: bytes) -> None:
    assert detect_format(Path("C:/inetpub/logs/LogFiles/W3SVC1/u_ex260101.log"), head) is None


def test_a_multibyte_character_cut_at_the_end_of_the_head_is_still_text() -> None:
    head = IIS_HEAD + "#Date: caf\u00e9".encode()[:-1]
    assert detect_format(Path("u_ex260101.log"), head) is LogFormat.IIS
