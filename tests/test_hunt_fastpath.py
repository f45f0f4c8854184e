"""The hunt's raw-chunk prefilter finds exactly what parsing and matching every line finds.

Lines are generated around the built-in rules' own literals and then disguised the ways
percent-decoding and case-folding undo (escapes of any character, double and triple encoding,
upper/lower hex, ``+`` for spaces, characters that case-fold to ASCII), mixed with hostile
bytes (``%0a``, ``%2c``, stray ``%``, invalid UTF-8, BOMs). The reference path parses every
line with the real parser and matches it; the fast path is :func:`agent.hunt.hunt_file`.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from agent.errors import MalformedLine
from agent.hunt import hunt_file
from agent.hunt_prefilter import CASEFOLD_TO_ASCII, LinePrefilter, ascii_literal, line_view
from agent.logs.formats import LogFormat
from agent.logs.parse import LineParser
from agent.sigma import SigmaRuleSet
from agent.sigma.matcher import normalize_folded

IIS_FIELDS = (
    "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
    "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken"
)
IIS_HEADER = [
    b"#Software: Microsoft Internet Information Services 10.0",
    b"#Fields: " + IIS_FIELDS.encode(),
]
PROXY_FIELDS = [
    "DateTime", "RequestId", "Protocol", "UrlHost", "UrlStem", "AuthenticatedUser",
    "AnchorMailbox", "UserAgent", "ClientIpAddress", "HttpStatus", "Method", "UrlQuery",
    "RoutingHint", "GenericInfo",
]  # fmt: skip
PROXY_HEADER = [
    b"#Software: Microsoft Exchange Server",
    b"#Fields: " + ",".join(PROXY_FIELDS).encode(),
]

STEMS = [
    "/owa/auth/logon.aspx", "/owa/auth/x.aspx", "/owa/auth/current/themes/a.ashx", "/ecp/y.js",
    "/ecp/default.flt", "/ecp/main.css", "/owa/auth/x.js", "/aspnet_client/system_web/log.aspx",
    "/ecp/auth/a.asmx", "/oab/a.asp", "/autodiscover/autodiscover.json",
    "/autodiscover/autodiscover.json@evil.com/mapi/nspi/", "/owa/user@contoso.com/powershell",
    "/powershell", "/mapi/nspi/", "/EWS/Exchange.asmx", "/ecp/DDI/DDIService.svc/SetObject",
    "/Microsoft-Server-ActiveSync/default.eas", "/owa/", "/rpc/rpcproxy.dll",
]  # fmt: skip
QUERIES = [
    "-", "@evil.com/mapi/nspi/?&Email=autodiscover/autodiscover.json?@evil.com",
    "@evil.com/powershell/?X-Rps-CAT=VgEAVAdXaW5k", "@evil.com/EWS/exchange.asmx",
    "cmd=whoami", "c=net user", "x=cmd /c dir", "exec_code=1", "z=powershell -enc",
    "url=https://mail/owa/&reason=2", "schema=ResetOABVirtualDirectory", "Cmd=Sync&User=a@b.c",
]  # fmt: skip
USERS = ["-", "CONTOSO\\anna", "anna@contoso.com", "CONTOSO\\EXCH01$", "HealthMailbox1a2b"]
AGENTS = [
    "Mozilla/5.0+(compatible;+Googlebot/2.1)", "python-requests/2.25.1", "Microsoft+WinRM+Client",
    "ExchangeServicesClient/0.0.0.0", "antSword/v2.1",
]  # fmt: skip
ANCHORS = [
    "",
    "ServerInfo~a]@EXCH01:444/ecp/DDI/DDIService.svc/SetObject?schema=Reset#",
    "Smtp~a@b.c",
]
HOSTILE = [
    "%0a", "%0D", "%2c", "%", "%%34%31", "%2", "%zz", "%25", "%ff", "%c5%bf", "\u017f", "\u212a",
    "\xff", "\ufeff", '"',
]  # fmt: skip


def disguised(draw: st.DrawFn, text: str) -> str:
    """``text`` with some characters escaped (up to three times), case flipped or replaced by a
    character that case-folds to them, and hostile pieces inserted."""
    out = []
    for char in text:
        how = draw(st.sampled_from(["keep"] * 6 + ["escape", "escape2", "escape3", "case", "fold"]))
        if how.startswith("escape"):
            piece = "%" + draw(st.sampled_from(["{:02x}", "{:02X}"])).format(ord(char))
            for _ in range(int(how[-1]) - 1 if how[-1].isdigit() else 0):
                piece = "%25" + piece[1:]  # one more round of encoding
            out.append(piece if ord(char) < 128 else char)
        elif how == "case":
            out.append(char.swapcase())
        elif how == "fold" and char in "sk":
            out.append({"s": "\u017f", "k": "\u212a"}[char])
        else:
            out.append(char)
    if draw(st.booleans()):
        at = draw(st.integers(0, len(out)))
        out.insert(at, draw(st.sampled_from(HOSTILE)))
    return "".join(out)


@st.composite
def iis_line(draw: st.DrawFn) -> bytes:
    stem = disguised(draw, draw(st.sampled_from(STEMS)))
    query = disguised(draw, draw(st.sampled_from(QUERIES)))
    agent = disguised(draw, draw(st.sampled_from(AGENTS)))
    values = [
        "2026-01-20", "10:00:00", "10.0.0.5", draw(st.sampled_from(["GET", "POST", "post"])),
        stem, query, draw(st.sampled_from(["443", "444"])), draw(st.sampled_from(USERS)),
        "203.0.113.7", agent, "-", draw(st.sampled_from(["200", "401", "302", "404", "500"])),
        "0", "0", "15",
    ]  # fmt: skip
    text = " ".join(v.replace(" ", "+") for v in values)
    return _with_raw_bytes(draw, text)


@st.composite
def proxy_line(draw: st.DrawFn) -> bytes:
    row = {
        "DateTime": "2026-01-20T10:00:00.000Z",
        "RequestId": "r1",
        "Protocol": "Ecp",
        "UrlHost": "mail.contoso.com",
        "UrlStem": disguised(draw, draw(st.sampled_from(STEMS))),
        "AuthenticatedUser": draw(st.sampled_from(USERS)),
        "AnchorMailbox": disguised(draw, draw(st.sampled_from(ANCHORS))),
        "UserAgent": disguised(draw, draw(st.sampled_from(AGENTS))).replace("+", " "),
        "ClientIpAddress": "203.0.113.7",
        "HttpStatus": draw(st.sampled_from(["200", "401", "302"])),
        "Method": draw(st.sampled_from(["GET", "POST"])),
        "UrlQuery": "?" + disguised(draw, draw(st.sampled_from(QUERIES))),
        "RoutingHint": draw(st.sampled_from(["", "a, b", 'say "x"'])),
        "GenericInfo": "",
    }
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(row.values())
    return _with_raw_bytes(draw, out.getvalue())


def _with_raw_bytes(draw: st.DrawFn, text: str) -> bytes:
    raw = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):
        raw = raw.replace(b"\xc3\xbf", b"\xff")  # a raw Latin-1 byte, invalid UTF-8
    if draw(st.integers(0, 9)) == 0:
        raw = b"\xef\xbb\xbf" + raw
    return raw


# Each hidden from a plain search: encoded slashes and a double-encoded letter; a long s.
HIDDEN_SHELL = b"%2fowa%2FAUTH%2f%25%37%38.aspx"
FOLDED_SHELL = "/owa/auth/x.a\u017fpx".encode()


@pytest.fixture(scope="module")
def ruleset() -> SigmaRuleSet:
    return SigmaRuleSet.load([], builtin=True)


def reference(path: Path, fmt: str, ruleset: SigmaRuleSet) -> set[tuple[int, str]]:
    """Every (line, rule) by parsing and matching every line, one at a time."""
    parser = LineParser(LogFormat(fmt), str(path))
    found = set()
    for number, raw in enumerate(path.read_bytes().split(b"\n")[:-1], start=1):
        text = raw.rstrip(b"\r").decode("utf-8", "replace").removeprefix("\ufeff")
        try:
            record = parser.feed(text, number)
        except MalformedLine:
            continue
        if record is not None:
            found |= {(number, d.rule_id) for d in ruleset.match(record, silent=True)}
    return found


def fast(path: Path, fmt: str, ruleset: SigmaRuleSet) -> set[tuple[int, str]]:
    return {(f.line, f.detection.rule_id) for f in hunt_file(path, fmt, ruleset)}


_ENGINES: dict[tuple[str, str], LinePrefilter] = {}


def check_same(
    folder: Path,
    name: str,
    fmt: str,
    header: list[bytes],
    lines: list[bytes],
    ruleset: SigmaRuleSet,
) -> None:
    path = folder / name
    path.write_bytes(b"\n".join(header + lines) + b"\n")
    expected = reference(path, fmt, ruleset)
    assert fast(path, fmt, ruleset) == expected
    # Both scan engines keep every line that can match (a superset; the hunt then parses).
    block = path.read_bytes()
    clauses = ruleset.clauses(fmt)
    assert clauses
    starts = [0, *[i + 1 for i, b in enumerate(block) if b == 0x0A][:-1]]
    wanted = {starts[n - 1] for n, _ in expected}
    # Each line's clauses, satisfied after decoding: the hunt evaluates only their rules.
    views = {start: line_view(block[start : block.index(b"\n", start)]) for start in starts}
    every = {
        start: frozenset(
            i
            for i, clause in enumerate(clauses)
            if all(ascii_literal(lit) in view for lit in clause)
        )
        for start, view in views.items()
    }
    for engine in ("hyperscan", "re2"):
        if (fmt, engine) not in _ENGINES:  # compiling takes a tenth of a second
            _ENGINES[fmt, engine] = LinePrefilter(clauses, engine=engine)
        assert wanted <= set(_ENGINES[fmt, engine].candidates(block))
        found = dict(_ENGINES[fmt, engine].matches(block))
        assert found == {start: hit for start, hit in every.items() if hit}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(iis_line(), min_size=1, max_size=12))
@example(
    lines=[b"2026-01-20 10:00:00 10.0.0.5 GET " + HIDDEN_SHELL + b" - 443 - 1.2.3.4 a - 200 0 0 1"]
)
@example(
    lines=[b"2026-01-20 10:00:00 10.0.0.5 GET " + FOLDED_SHELL + b" - 443 - 1.2.3.4 a - 200 0 0 1"]
)
def test_iis_fast_path_finds_exactly_what_per_line_matching_finds(
    lines: list[bytes], ruleset: SigmaRuleSet, tmp_path_factory: pytest.TempPathFactory
) -> None:
    check_same(tmp_path_factory.mktemp("iis"), "u_ex260120.log", "iis", IIS_HEADER, lines, ruleset)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(proxy_line(), min_size=1, max_size=12))
def test_httpproxy_fast_path_finds_exactly_what_per_line_matching_finds(
    lines: list[bytes], ruleset: SigmaRuleSet, tmp_path_factory: pytest.TempPathFactory
) -> None:
    check_same(
        tmp_path_factory.mktemp("proxy"),
        "HttpProxy_2026012010-1.LOG",
        "httpproxy",
        PROXY_HEADER,
        lines,
        ruleset,
    )


def _folded_forms(char: str) -> list[bytes]:
    """Every way a line may carry ``char``: each UTF-8 byte raw, escaped lower or upper case."""
    forms = [b""]
    for byte in char.encode("utf-8"):
        ways = [bytes([byte]), f"%{byte:02x}".encode(), f"%{byte:02X}".encode()]
        forms = [f + w for f in forms for w in ways]
    return forms


@pytest.mark.parametrize("char", ["\u017f", "\u212a", "\ufb06"])
def test_characters_that_fold_to_ascii_are_found_raw_escaped_or_mixed(
    char: str, ruleset: SigmaRuleSet, tmp_path: Path
) -> None:
    # The scan finds a folding character by its raw first byte, or by an escaped first byte
    # alone; every mix of raw and escaped bytes must still make the line a candidate.
    folds = char.casefold()
    stem = {"s": "/owa/auth/x.a{}px", "k": "/owa/auth/{}.aspx", "st": "/owa/auth/{}.aspx"}[folds]
    lines = [
        b"2026-01-20 10:00:00 10.0.0.5 POST "
        + stem.encode().replace(b"{}", form)
        + b" - 443 - 203.0.113.7 a - 200 0 0 1"
        for form in _folded_forms(char)
    ]
    check_same(tmp_path, "u_ex260120.log", "iis", IIS_HEADER, lines, ruleset)


def test_casefold_table_is_every_character_that_folds_to_ascii() -> None:
    derived = "".join(
        chr(cp)
        for cp in range(0x80, sys.maxunicode + 1)
        if not 0xD800 <= cp < 0xE000
        and chr(cp).casefold() != chr(cp)
        and any(ord(c) < 128 for c in chr(cp).casefold())
    )
    assert derived == CASEFOLD_TO_ASCII


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /owa/auth/logon.aspx url=https%3a%2f%2fmail%2fowa",
        b"GET %2FOWA%2fauth%252fX.aspx a+b%20c",
        b"x %%34%31%0a%2c%zz \xff\xef\xbb\xbf \xc5\xbf \xe2\x84\xaa",
    ],
)
def test_line_view_is_what_the_matcher_normalises(raw: bytes) -> None:
    # ASCII content is the same as normalize_folded's; a decoded line break stays in the line.
    text = raw.decode("utf-8", "replace")
    expected = normalize_folded(text).encode("utf-8")
    view = line_view(raw)
    assert view.count(b"\n") == expected.count(b"\n")
    assert bytes(c for c in view if c < 128) == bytes(c for c in expected if c < 128)


@pytest.mark.parametrize("engine", ["hyperscan", "re2"])
def test_lone_common_literals_short_pairs_and_rare_anchors(engine: str) -> None:
    # A clause of one common literal is searched for alone (not as a pair with itself); a pair
    # of common or short literals as a line-bounded pair; a rare literal alone, its partner
    # checked on the line.
    clauses = [frozenset({"post"}), frozenset({"/", "ab"}), frozenset({"xyzzy1", "="})]
    block = b"GET /x\nPOST /y\nab%2f\n/ ab\nq=xyzzy1\nxyzzy1\n"
    found = LinePrefilter(clauses, engine=engine).matches(block)
    assert found == [
        (7, frozenset({0})),
        (15, frozenset({1})),
        (21, frozenset({1})),
        (26, frozenset({2})),
    ]
