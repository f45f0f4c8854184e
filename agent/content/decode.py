"""Views of a file's bytes for the rules to see through encodings and cheap obfuscation.

The rules are written against ASCII-compatible text. Two things defeat that:

* UTF-16 (what PowerShell's ``Out-File`` and some editors write). ASP.NET happily compiles a
  UTF-16 page, so a shell saved that way must still be seen. It is transcoded to UTF-8.
* Token splitting that the language undoes at run time: ``"cm" + "d.exe"``, ``'ev'.'al'``,
  ``"WScr" & "ipt.Shell"``, ``Chr(101) & Chr(118)``, ``String.fromCharCode(...)``,
  ``\\u0065val``, ``Process/**/.Start``, VBScript ``_`` line continuations.
  A normalised copy with those undone is scanned as well.
* The request object under another name (``HttpRequest r = ctx.Request;``, VB
  ``Dim r As HttpRequest = Request``): every ``r.Form``/``r[...]`` hides ``Request`` from the
  rules. The normalised copy spells such an alias out as ``Request``.

The raw bytes are always scanned too (binary-magic rules and third-party rules need them).
"""

from __future__ import annotations

import codecs
import re

# Normalising is regex work in Python; past this size only the raw view is scanned.
NORMALIZE_LIMIT = 4 * 1024 * 1024

_SAMPLE = 2048


def utf16_codec(data: bytes) -> str | None:
    """``"utf-16-le"``/``"utf-16-be"`` if ``data`` looks like UTF-16 text (BOM or NUL pattern)."""
    if data.startswith(codecs.BOM_UTF32_LE):  # FF FE 00 00: UTF-32, not handled
        return None
    if data.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le"
    if data.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be"
    sample = data[:_SAMPLE]
    if len(sample) < 16:
        return None
    even, odd = sample[0::2], sample[1::2]
    # ASCII-range text in UTF-16 has a NUL in every other byte and (almost) none in the others.
    if odd.count(0) > 0.7 * len(odd) and even.count(0) < 0.05 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.7 * len(even) and odd.count(0) < 0.05 * len(odd):
        return "utf-16-be"
    return None


def transcode_utf16(data: bytes, codec: str) -> bytes:
    """UTF-16 bytes as UTF-8 without a BOM; undecodable units become U+FFFD."""
    body = data[2:] if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE) else data
    if len(body) % 2:
        body = body[:-1]
    return body.decode(codec, errors="replace").encode("utf-8")


def looks_binary(data: bytes) -> bool:
    """Many NULs near the start: not text, so normalising it is pointless."""
    sample = data[:_SAMPLE]
    return sample.count(0) > len(sample) // 20


# + (C#, JScript), & (VB), . (PHP; between two literals nowhere else valid).
_CONCAT = re.compile(rb"([\"'])[ \t]*(?:\+|&|\.)[ \t]*(?:_[ \t]*\r?\n[ \t]*)?\1")
_VB_CONTINUATION = re.compile(rb"[ \t]_[ \t]*\r?\n[ \t]*")
_BLOCK_COMMENT = re.compile(rb"/\*[^\n]{0,200}?\*/")
_UNICODE_ESCAPE = re.compile(rb"\\u00([2-7][0-9a-fA-F])")
_HEX_ESCAPE = re.compile(rb"\\x([2-7][0-9a-fA-F])")
_CHR = re.compile(rb"\bchr[wb]?\s*\(\s*(\d{2,3})\s*\)", re.IGNORECASE)
_FROM_CHAR_CODE = re.compile(rb"String\s*\.\s*fromCharCode\s*\(\s*([\d\s,]{1,2000})\)",
                             re.IGNORECASE)


def _printable(code: int) -> bytes | None:
    # Quotes and backslashes stay encoded: decoding them would change the string structure.
    if 0x20 <= code < 0x7F and code not in (0x22, 0x27, 0x5C):
        return bytes([code])
    return None


def _escape(match: re.Match[bytes]) -> bytes:
    return _printable(int(match.group(1), 16)) or match.group(0)


def _chr(match: re.Match[bytes]) -> bytes:
    char = _printable(int(match.group(1)))
    return b'"' + char + b'"' if char else match.group(0)


def _from_char_code(match: re.Match[bytes]) -> bytes:
    out = bytearray()
    for part in match.group(1).split(b","):
        part = part.strip()
        char = _printable(int(part)) if part.isdigit() and len(part) <= 3 else None
        if char is None:
            return match.group(0)
        out += char
    return b'"' + bytes(out) + b'"'


def normalize(text: bytes) -> bytes:
    """Undo run-time token splitting (see module docstring). Pure, bounded regex passes."""
    out = text
    if b"\\u00" in out:
        out = _UNICODE_ESCAPE.sub(_escape, out)
    if b"\\x" in out:
        out = _HEX_ESCAPE.sub(_escape, out)
    if b"/*" in out:
        out = _BLOCK_COMMENT.sub(b"", out)
    if b"_" in out:
        out = _VB_CONTINUATION.sub(b" ", out)
    out = _CHR.sub(_chr, out)
    out = _FROM_CHAR_CODE.sub(_from_char_code, out)
    # Repeat the join: "a" & "b" & "c" needs two passes when matches overlap at a shared quote.
    for _ in range(4):
        joined = _CONCAT.sub(b"", out)
        if joined == out:
            break
        out = joined
    return out


# An alias of the request object: `name = [ctx.|HttpContext.Current.]Request` ending the
# statement (`;` in C#, the line in VB), with VB's `As Type` between name and `=`.
_REQUEST_ALIAS = re.compile(
    rb"\b([A-Za-z_]\w{0,30})(?:[ \t]+As[ \t]+[\w.]{1,60})?[ \t]*=[ \t]*"
    rb"(?:[A-Za-z_][\w.]{0,60}\.)?Request[ \t]*(?:;|\r?\n)",
    re.IGNORECASE,
)
_ALIAS_HINTS = (b"Request;", b"Request\n", b"Request\r\n", b"Request ;")
_MAX_ALIASES = 8


def resolve_request_aliases(text: bytes) -> bytes:
    """Each alias of the request object rewritten as ``Request`` where it is used
    (``r.Form`` -> ``Request.Form``, ``r["x"]``, VB ``r("x")``), its declaration left alone."""
    if not any(hint in text for hint in _ALIAS_HINTS):
        return text
    names = {m.group(1) for m in _REQUEST_ALIAS.finditer(text)} - {b"Request"}
    for name in sorted(names)[:_MAX_ALIASES]:
        use = re.compile(rb"(?<![\w.])" + re.escape(name) + rb"(?=[ \t]*[.\[(])")
        text = use.sub(b"Request", text)
    return text


# runat/Runat/RUNAT; then the ASP.NET classes that hold code without any of those: code-behind
# pages (C# `: Page`, `System.Web.UI.Page`, VB `Inherits Page`), handlers and modules.
_SERVER_MARKERS = (
    b"<%", b"unat", b"UNAT", b"<?php", b"<?PHP", b"<jsp:",
    b"Web.UI.Page", b"Inherits Page", b"IHttpHandler", b"IHttpModule",
)  # fmt: skip


def has_server_code(text: bytes) -> bool:
    """Server-side code markers. Without one (plain .js, .css, .cs) nothing runs token
    splitting on the server, so normalising would only cost time (it is Python regex work).
    Plain substring tests: a case-insensitive regex search costs more than the whole YARA scan."""
    return any(marker in text for marker in _SERVER_MARKERS)


def views(data: bytes) -> list[bytes]:
    """The byte strings to scan for ``data``: raw first, then any distinct decoded views."""
    result = [data]
    text = data
    codec = utf16_codec(data)
    if codec is not None:
        text = transcode_utf16(data, codec)
        result.append(text)
    elif looks_binary(data):
        return result
    if len(text) <= NORMALIZE_LIMIT and has_server_code(text):
        normalized = resolve_request_aliases(normalize(text))
        if normalized != text:
            result.append(normalized)
    return result
