"""The views the content rules see: normalising token splits and request-object aliases."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.content.decode import normalize, resolve_aliases, views


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (b'x = "cm" + "d.exe"', b'x = "cmd.exe"'),
        (b'CreateObject("WScr" & "ipt." & "Shell")', b'CreateObject("WScript.Shell")'),
        (b"Chr(101) & Chr(118)", b'"ev"'),
        (b"Process/**/.Start(x)", b"Process.Start(x)"),
        (b"\\u0065val(x)", b"eval(x)"),
        (b"String.fromCharCode(101,118,97,108)", b'"eval"'),
        (b'a = "x" _\r\n & "y"', b'a = "xy"'),
        (b"$f = 'cr'.'eat'.'e_fun'.'ction';", b"$f = 'create_function';"),
        # a literal that is itself an operator stays: it opens after a delimiter
        (b'string.Concat("Sys", "tem.", ".")', b'"System.."'),
        (b'x = "+" + y; z = Split(s, "&")', b'x = "+" + y; z = Split(s, "&")'),
        (b"new string(new char[] { 'c', (char)0x6d, (char)100, })", b'"cmd"'),
        (b"new byte[] { 83, 121, 115 }", b'"Sys"'),
        (b'sb.Append("Sy").Append("st").Append("em")', b'sb.Append("System")'),
        (b'var k = ["ev", "al"].join("");', b'var k = "eval";'),
        (b"ChrW(2+67) & Chr(&H78) & ChrW(110-9)", b'"Exe"'),
        (
            b'@Request.@Form[@"q"] mail@contoso.com <%@ Page',
            b'@Request.Form["q"] mail@contoso.com <%@ Page',
        ),
    ],
)
def test_normalize_undoes_token_splitting(text: bytes, want: bytes) -> None:
    assert normalize(text) == want


@pytest.mark.parametrize(
    ("text", "want"),
    [
        # C#: typed, var, from the context, from HttpContext.Current
        (
            b'HttpRequest r = ctx.Request;\nvar s = r.Headers["X"];',
            b'HttpRequest r = ctx.Request;\nvar s = Request.Headers["X"];',
        ),
        (
            b'var q = HttpContext.Current.Request;\nq["a"] + q.Form["b"]',
            b'var q = HttpContext.Current.Request;\nRequest["a"] + Request.Form["b"]',
        ),
        # VB: As Type, and the call syntax r("x")
        (
            b'Dim r As HttpRequest = Request\r\ncmd = r("c")\r\n',
            b'Dim r As HttpRequest = Request\r\ncmd = Request("c")\r\n',
        ),
        # a collection of the request
        (
            b'NameValueCollection f = HttpContext.Current.Request.Form;\nvar p = f["oldPwd"];',
            b"NameValueCollection f = HttpContext.Current.Request.Form;\n"
            b'var p = Request.Form["oldPwd"];',
        ),
        # C# type aliases
        (
            b"using Exe = System.Diagnostics.Process;\nvar p = Exe.Start(si); var i = new Exe(x);",
            b"using Exe = System.Diagnostics.Process;\n"
            b"var p = System.Diagnostics.Process.Start(si);"
            b" var i = new System.Diagnostics.Process(x);",
        ),
        # a field assigned without a type
        (
            b"req = context.Request;\nStream s = req.InputStream;",
            b"req = context.Request;\nStream s = Request.InputStream;",
        ),
    ],
)
def test_request_aliases_are_spelled_out(text: bytes, want: bytes) -> None:
    assert resolve_aliases(text) == want


@pytest.mark.parametrize(
    "text",
    [
        b'var r = Request.Form["a"];\nr.Trim();',  # a value read from the request, not the object
        b"var r = MyRequest;\nr.Send();",  # another object whose name ends in Request
        b"var r = ctx.Request.Url;\nr.Host",
        b"x.r = ctx.Request;\nfoo.r.Form",  # a member named like the alias
    ],
)
def test_non_aliases_are_left_alone(text: bytes) -> None:
    assert resolve_aliases(text) == text


def test_an_alias_reaches_the_rules_only_in_server_code() -> None:
    handler = (
        b"public class H : IHttpHandler {\nHttpRequest r = c.Request;\nvar b = r.InputStream; }"
    )
    assert views(handler)[-1].endswith(b"var b = Request.InputStream; }")
    plain_js = b"var r = this.Request;\nr.open();"
    assert views(plain_js) == [plain_js]


def test_code_behind_is_normalised() -> None:
    vb = (
        b"Partial Class P\r\n    Inherits System.Web.UI.Page\r\n"
        b'    x = CreateObject("WScript" & "." & "Shell")\r\n'
    )
    assert b'CreateObject("WScript.Shell")' in views(vb)[-1]


def test_utf16_page_is_transcoded_then_normalised() -> None:
    page = '<%@ Page Language="C#"%><% var p = "cm" + "d"; %>'
    data = codecs.BOM_UTF16_LE + page.encode("utf-16-le")
    got = views(data)
    assert got[0] == data
    assert got[1] == page.encode()
    assert got[2] == b'<%@ Page Language="C#"%><% var p = "cmd"; %>'


@given(st.binary(max_size=4096))
def test_views_take_any_bytes(data: bytes) -> None:
    got = views(data)
    assert got[0] == data
    assert len(set(got)) == len(got) <= 3  # raw, transcoded, normalised: each only if new


@given(st.text(alphabet='Request=;.[]()\r\n \tvarHttpDimAs"xr_', max_size=400))
def test_alias_resolution_takes_any_text(text: str) -> None:
    data = text.encode()
    out = resolve_aliases(data)
    # Uses are rewritten in place: lines stay lines, and nothing changes without an alias.
    assert out.count(b"\n") == data.count(b"\n")
    if b"request" not in data.lower() and b"using" not in data:
        assert out == data


_TOKENS = [
    '"',
    "'",
    "+",
    "&",
    ".",
    ",",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ";",
    "@",
    " ",
    "\n",
    "_",
    "new char[] {",
    "new byte[] {",
    "(char)0x41",
    "65",
    "'a'",
    "new string(",
    "string.Concat(",
    'String.Join("",',
    '.join("")',
    ".Append(",
    "ChrW(",
    "&H41",
    "2+67",
    "Chr(",
    "using X = ",
    "Request",
    "req",
    "=",
    "\\u0065",
    "\\x41",
    "/*",
    "*/",
    "String.fromCharCode(",
]


@given(st.lists(st.sampled_from(_TOKENS), max_size=80))
def test_normalize_and_aliases_take_any_token_soup(tokens: list[str]) -> None:
    text = "".join(tokens).encode()
    normalized = normalize(text)
    # Every pass only joins or decodes: the view never grows (aliases aside, capped apart).
    assert len(normalized) <= len(text)
    assert isinstance(resolve_aliases(normalized), bytes)
    assert views(b"<%" + text)[0] == b"<%" + text


@pytest.mark.parametrize(
    "data",
    [
        b"<% string.Concat(" + b'"a", ' * 50_000,  # never closed
        b"<% [" + b'"a", ' * 50_000,
        b"<% sb" + b'.Append("a")' * 50_000,
        b"<% new char[] {" + b"'a'," * 50_000 + b"}",  # longer than an array literal may be
        b"<% " + b"x = Request;\n" * 20_000,  # more aliases than are spelled out
        b"<% " + b'"+"' * 50_000,
        # one long alias used everywhere: the view may not grow without bound
        b"<% using X = System.Diagnostics." + b"A" * 100 + b";\n" + b"X.a " * 200_000,
    ],
    ids=["concat", "join", "append", "char-array", "aliases", "quotes", "alias-uses"],
)
def test_pathological_pages_are_viewed_not_choked_on(data: bytes) -> None:
    got = views(data)
    assert got[0] == data
    assert all(len(view) <= len(data) + 200_000 for view in got)
