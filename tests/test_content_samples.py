"""Generated webshell samples shared by the content tests (binary headers, encodings).

Written by the exwatch project; see tests/data/webshells/README.md.
"""

from __future__ import annotations

import codecs
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
WEBSHELLS = DATA / "webshells"
BENIGN = DATA / "benign_web"

CHOPPER = b'<%@ Page Language="Jscript"%><%eval(Request.Item["z"],"unsafe");%>'


def pst_export_shell() -> bytes:
    """A ProxyShell-style mailbox export: PST header, binary pages, then the page directive."""
    header = b"!BDN" + bytes([0x8E, 0x3A, 0x53, 0x4D, 0x0E, 0x00, 0x17, 0x00, 0x01, 0x01])
    junk = bytes((i * 37 + 11) % 256 for i in range(4096))
    return header + junk + b'<%@ Page Language="C#" %><% Response.Write(DateTime.Now); %>' + junk


def der_export_shell() -> bytes:
    """A certificate-request export whose subject carries the directive (starts 0x30 0x82)."""
    body = b"\x02\x01\x00\x30\x5e\x31\x5c\x30\x5a\x06\x03\x55\x04\x03\x0c\x53"
    page = b'<%@ Page Language="Jscript"%><%Response.Write(1)%>'
    return b"\x30\x82\x02\x10" + body + page + bytes(64)


def dropper_prefix_shell() -> bytes:
    """Binary bytes before an otherwise harmless-looking page (a dropper/export artefact)."""
    page = b'<%@ Page Language="C#" %><% Response.Write("ok"); %>'
    return b"\x00\x9f\x12\xfe\x01\x02\x03\x04" + page


def gif_polyglot_shell() -> bytes:
    page = b'<%@ Page Language="C#" %><% Response.Write("x"); %>'
    return b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + page


def encodings(text: bytes) -> dict[str, bytes]:
    """The same page as UTF-8 with BOM and UTF-16 LE/BE with and without BOM."""
    s = text.decode("utf-8")
    return {
        "utf8-bom": codecs.BOM_UTF8 + text,
        "utf16le-bom": codecs.BOM_UTF16_LE + s.encode("utf-16-le"),
        "utf16be-bom": codecs.BOM_UTF16_BE + s.encode("utf-16-be"),
        "utf16le": s.encode("utf-16-le"),
        "utf16be": s.encode("utf-16-be"),
    }


def test_generated_samples_have_their_magic() -> None:
    assert pst_export_shell()[:4] == b"!BDN"
    assert der_export_shell()[:2] == b"\x30\x82"
    assert gif_polyglot_shell().startswith(b"GIF89a")
    assert dropper_prefix_shell()[0] == 0
    assert set(encodings(CHOPPER)) == {"utf8-bom", "utf16le-bom", "utf16be-bom", "utf16le",
                                       "utf16be"}
