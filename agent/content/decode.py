"""Views of a file's bytes for the rules to see through encodings and cheap obfuscation.

The rules are written against ASCII-compatible text. Two things defeat that:

* UTF-16 (what PowerShell's ``Out-File`` and some editors write). ASP.NET happily compiles a
  UTF-16 page, so a shell saved that way must still be seen. It is transcoded to UTF-8.
* Token splitting that the language undoes at run time: ``"cm" + "d.exe"``, ``'ev'.'al'``,
  ``"WScr" & "ipt.Shell"``, ``Chr(101) & Chr(118)``, ``String.fromCharCode(...)``,
  ``\\u0065val``, ``Process/**/.Start``, VBScript ``_`` line continuations.
  A normalised copy with those undone is scanned as well.
* Names under another name: the request object (``HttpRequest r = ctx.Request;``, VB
  ``Dim r As HttpRequest = Request``), whose ``r.Form``/``r[...]`` hide ``Request`` from the
  rules, and C# type aliases (``using Exe = System.Diagnostics.Process;``). The normalised
  copy spells each alias out where it is used.

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


# + (C#, JScript), & (VB), . (PHP; between two literals nowhere else valid). The first
# quote must close a literal: one that follows a delimiter opens one, as in ", "." or ("&").
_CONCAT = re.compile(
    rb"([\"'])(?<![\s(,=\[{:;!|?][\"'])[ \t]*(?:\+|&|\.)[ \t]*(?:_[ \t]*\r?\n[ \t]*)?\1"
)
_VB_CONTINUATION = re.compile(rb"[ \t]_[ \t]*\r?\n[ \t]*")
_BLOCK_COMMENT = re.compile(rb"/\*[^\n]{0,200}?\*/")
_UNICODE_ESCAPE = re.compile(rb"\\u00([2-7][0-9a-fA-F])")
_HEX_ESCAPE = re.compile(rb"\\x([2-7][0-9a-fA-F])")
# Chr(101), ChrW(&H65), Chr(50+51): a code, in hex, or a sum or difference of two.
_CHR = re.compile(
    rb"\bchr[wb]?\s*\(\s*(&h[0-9a-f]{1,2}|\d{1,3}(?:\s*[+\-]\s*\d{1,3})?)\s*\)", re.IGNORECASE
)
_FROM_CHAR_CODE = re.compile(
    rb"String\s*\.\s*fromCharCode\s*\(\s*([\d\s,]{1,2000})\)", re.IGNORECASE
)


def _printable(code: int) -> bytes | None:
    # Quotes and backslashes stay encoded: decoding them would change the string structure.
    if 0x20 <= code < 0x7F and code not in (0x22, 0x27, 0x5C):
        return bytes([code])
    return None


def _escape(match: re.Match[bytes]) -> bytes:
    return _printable(int(match.group(1), 16)) or match.group(0)


def _chr_code(expr: bytes) -> int:
    if expr[:2].lower() == b"&h":
        return int(expr[2:], 16)
    parts = re.split(rb"\s*([+\-])\s*", expr)
    code = int(parts[0])
    if len(parts) == 3:
        code = code + int(parts[2]) if parts[1] == b"+" else code - int(parts[2])
    return code


def _chr(match: re.Match[bytes]) -> bytes:
    char = _printable(_chr_code(match.group(1)))
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


# C# character and byte arrays of literals: new char[] { 'c', 'm', 'd' },
# new byte[] { 99, 109, 100 }, (char)0x63 ... (a trailing comma is legal C#).
_ARRAY_LITERAL = re.compile(
    rb"new\s+(?:char|byte)\s*\[\s*\d*\s*\]\s*\{([^{}]{1,4000})\}", re.IGNORECASE
)
_ARRAY_ELEMENT = re.compile(
    rb"\s*(?:\(\s*(?:char|byte)\s*\)\s*)?(?:'([^'\\])'|0x([0-9a-f]{1,2})|(\d{1,3}))\s*",
    re.IGNORECASE,
)
_NEW_STRING = re.compile(rb"new\s+(?:System\.)?string\s*\(\s*(\"[^\"\n]*\")\s*\)", re.IGNORECASE)
_LITERAL = rb"(?:\"[^\"\n]*\"|'[^'\n]*')"
_LITERAL_LIST = rb"(" + _LITERAL + rb"(?:\s*,\s*" + _LITERAL + rb")+)"  # "a", "b", ...
# string.Concat("a", "b"), string.Join("", "a", "b"), JScript ["a", "b"].join(""),
# sb.Append("a").Append("b"): pieces of one literal, joined at run time.
_JOINED_LITERALS = re.compile(
    rb"\bstring\s*\.\s*(?:Concat\s*\(|Join\s*\(\s*(?:\"\"|'')\s*,)\s*"
    + _LITERAL_LIST
    + rb"\s*\)|\[\s*"
    + _LITERAL_LIST
    + rb"\s*\]\s*\.\s*join\s*\(\s*(?:\"\"|'')\s*\)",
    re.IGNORECASE,
)
_APPEND_CHAIN = re.compile(
    rb"\.\s*Append\s*\(\s*("
    + _LITERAL
    + rb"\s*\)(?:\s*\.\s*Append\s*\(\s*"
    + _LITERAL
    + rb"\s*\))+)"
)
_LITERAL_PIECE = re.compile(_LITERAL)
# C# verbatim identifiers and strings: @Request.@Form[@"q"] is Request.Form["q"].
_VERBATIM_AT = re.compile(rb"@(?<=[\s(\[{=,;:!+&|?.]@)(?=[A-Za-z_\"])")


def _array_literal(match: re.Match[bytes]) -> bytes:
    parts = match.group(1).split(b",")
    if parts and not parts[-1].strip():
        parts.pop()
    out = bytearray()
    for part in parts:
        element = _ARRAY_ELEMENT.fullmatch(part)
        if element is None:
            return match.group(0)
        char, hexa, dec = element.groups()
        code = char[0] if char else int(hexa, 16) if hexa else int(dec)
        printable = _printable(code)
        if printable is None:
            return match.group(0)
        out += printable
    return b'"' + bytes(out) + b'"'


def _join_literals(pieces: bytes) -> bytes | None:
    joined = b"".join(piece[1:-1] for piece in _LITERAL_PIECE.findall(pieces))
    return None if b'"' in joined else b'"' + joined + b'"'


def _joined_literals(match: re.Match[bytes]) -> bytes:
    return _join_literals(match.group(1) or match.group(2)) or match.group(0)


def _append_chain(match: re.Match[bytes]) -> bytes:
    joined = _join_literals(match.group(1))
    return b".Append(" + joined + b")" if joined else match.group(0)


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
    if b"@" in out:
        out = _VERBATIM_AT.sub(b"", out)
    out = _CHR.sub(_chr, out)
    out = _FROM_CHAR_CODE.sub(_from_char_code, out)
    if b"char" in out or b"byte" in out:
        out = _ARRAY_LITERAL.sub(_array_literal, out)
        out = _NEW_STRING.sub(rb"\1", out)
    # Repeat the join: "a" & "b" & "c" needs two passes when matches overlap at a shared quote.
    for _ in range(4):
        joined = _CONCAT.sub(b"", out)
        if joined == out:
            break
        out = joined
    if b"oin" in out or b"oncat" in out:  # Join/join/Concat
        out = _JOINED_LITERALS.sub(_joined_literals, out)
    if b"Append" in out:
        out = _APPEND_CHAIN.sub(_append_chain, out)
    return out


# An alias of the request object or one of its collections: `name = [ctx.|HttpContext.
# Current.]Request[.Form]` ending the statement (`;` in C#, the line in VB), with VB's
# `As Type` between name and `=`. Found from the end: `_REQUEST_END`, then the name before.
_REQUEST_END = re.compile(
    rb"Request(\.(?:Form|Params|QueryString|Headers|Cookies))?[ \t]*(?:;|\r?\n)", re.IGNORECASE
)
_REQUEST_ALIAS = re.compile(
    rb"\b([A-Za-z_]\w{0,30})(?:[ \t]+As[ \t]+[\w.]{1,60})?[ \t]*=[ \t]*"
    rb"(?:[A-Za-z_][\w.]{0,60}\.)?\Z",
    re.IGNORECASE,
)
# A C# type alias: `using Exe = System.Diagnostics.Process;`.
_USING_ALIAS = re.compile(
    rb"using[ \t]+([A-Za-z_]\w{0,30})[ \t]*=[ \t]*([A-Za-z_][\w.]{0,120})[ \t]*;"
)
_MAX_ALIASES = 8
# Uses spelled out per alias: a shell needs a handful; the cap bounds how much a hostile
# file (one alias, millions of uses) can make the view grow.
_MAX_ALIAS_USES = 1000


def _spell_out(text: bytes, name: bytes, target: bytes) -> bytes:
    use = re.compile(rb"(?<![\w.])" + re.escape(name) + rb"(?=[ \t]*[.\[({])")
    return use.sub(lambda _: target, text, count=_MAX_ALIAS_USES)


def resolve_aliases(text: bytes) -> bytes:
    """Aliases spelled out where they are used, their declarations left alone: of the
    request object (``r.Form`` -> ``Request.Form``, ``r["x"]``, VB ``r("x")``) or one of its
    collections (``f = Request.Form;`` makes ``f["pwd"]`` read ``Request.Form["pwd"]``), and C# type
    aliases (``Exe.Start(`` -> ``System.Diagnostics.Process.Start(``)."""
    aliases: dict[bytes, bytes] = {}
    if b"Request" in text:
        # Found from each "Request;" back to its line's start: a search for the name first
        # would try every word of the file.
        for end in _REQUEST_END.finditer(text):
            start = max(text.rfind(b"\n", 0, end.start()) + 1, end.start() - 200)
            alias = _REQUEST_ALIAS.search(text, start, end.start())
            if alias:
                aliases[alias.group(1)] = b"Request" + (end.group(1) or b"")
    if b"using" in text:
        aliases.update((m.group(1), m.group(2)) for m in _USING_ALIAS.finditer(text))
    aliases.pop(b"Request", None)
    for name in sorted(aliases)[:_MAX_ALIASES]:
        text = _spell_out(text, name, aliases[name])
    return text


# runat/Runat/RUNAT; then the ASP.NET classes that hold code without any of those: code-behind
# pages (C# `: Page`, `System.Web.UI.Page`, VB `Inherits Page`), handlers and modules.
_SERVER_MARKERS = (b"<%", b"unat", b"UNAT", b"<?php", b"<?PHP", b"<jsp:")
_CLASS_MARKERS = (b"Web.UI.Page", b"Inherits Page", b"IHttpHandler", b"IHttpModule")
_CLASS_HEAD = 16 * 1024  # a class declaration comes after the usings, near the top


def has_server_code(text: bytes) -> bool:
    """Server-side code markers. Without one (plain .js, .css, .cs) nothing runs token
    splitting on the server, so normalising would only cost time (it is Python regex work).
    Plain substring tests: a case-insensitive regex search costs more than the whole YARA scan."""
    head = text[:_CLASS_HEAD]
    return any(m in text for m in _SERVER_MARKERS) or any(m in head for m in _CLASS_MARKERS)


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
        normalized = resolve_aliases(normalize(text))
        if normalized != text:
            result.append(normalized)
    return result
