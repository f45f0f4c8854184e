"""Which lines of a block of log text could satisfy a rule set: the retro-hunt's fast path.

A rule set's clauses (:meth:`agent.sigma.SigmaRuleSet.clauses`) say which literals a line must
hold, *after* :func:`agent.sigma.matcher.normalize_folded`, for some rule to match. Decoding
every line to check that costs more than everything else in a hunt, so the raw block is
searched instead, with patterns that already allow for what decoding would change:

* case: patterns are caseless (ASCII), and IIS's ``+`` stands for a space;
* a percent-escape of a punctuation character (``%2f`` for ``/``, ``%20`` for a space),
  which benign clients write all the time: every such character of a literal may appear
  either way;
* everything else decoding can do (escapes of letters and digits, ``%25`` and therefore
  double encoding, and the few non-ASCII characters that case-fold to ASCII, raw or encoded)
  benign traffic hardly ever does, so such lines are simply all taken as candidates.

Clauses are grouped by their two most selective literals. A group with a literal that Exchange
traffic seldom carries (``=whoami``, ``x-rps-cat``, a bot's name, a Windows error code) is
searched for by that literal alone: Hyperscan finds a set of literals at memory speed. A group
made only of literals most requests carry (``/owa/auth/`` and ``.aspx``, ``/ecp/`` and
``post``) is searched for as one line-bounded pattern over the two (``A[^\\n]*B|B[^\\n]*A``;
groups sharing a literal share a pattern), which costs more to scan but hands far fewer lines
to Python. Lines hit are then decoded exactly (:func:`line_view`) and checked against their
groups' full clauses; the clauses a line satisfies tell the matcher which rules can match it.
The search runs on Hyperscan (SIMD multi-pattern; it says which pattern hit), else on RE2 (one
alternation finds a line, a set of the same patterns says which of them it holds).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from urllib.parse import unquote_to_bytes

import re2 as _re2  # type: ignore[import-untyped,unused-ignore]

from agent.sigma.prefilter import literal_score

__all__ = [
    "CASEFOLD_TO_ASCII",
    "LinePrefilter",
    "ascii_literal",
    "line_view",
    "literal_pattern",
    "prefilter_for",
]

_hyperscan: Any
try:  # SIMD search for many patterns at once; has wheels for Windows and Linux.
    import hyperscan

    _hyperscan = hyperscan
except ImportError:  # pragma: no cover - platforms without a wheel use RE2
    _hyperscan = None

_DECODE_ROUNDS = 3  # as agent.sigma.matcher.normalize

# Characters other than ASCII whose str.casefold() holds ASCII (U+212A KELVIN SIGN -> "k",
# U+017F LONG S -> "s", ligatures): the matcher folds them, bytes.lower() does not.
# tests/test_hunt_fastpath.py derives this list from Unicode and compares.
CASEFOLD_TO_ASCII = (
    "\u00df\u0130\u0149\u017f\u01f0\u1e96\u1e97\u1e98\u1e99\u1e9a\u1e9e\u212a"
    "\ufb00\ufb01\ufb02\ufb03\ufb04\ufb05\ufb06"
)

# Characters that benign clients percent-encode all the time (e-mail addresses, redirect URLs).
# A scan literal containing them would make the literal common in encoded form.
_OFTEN_ENCODED = frozenset("@:")

_HEX_DIGITS = "0123456789abcdefABCDEF"


def ascii_literal(lit: str) -> bytes:
    """The longest ASCII run of ``lit``: any piece of a required literal is itself required."""
    runs = re.findall(r"[\x00-\x7f]+", lit)
    return max(runs, key=len).encode() if runs else b""


def _scan_score(lit: str) -> float:
    return literal_score(lit) - (100.0 if _OFTEN_ENCODED & set(lit) else 0.0)


def _hex_byte(value: int) -> bytes:
    return b"%" + f"{value:02x}".encode()


def literal_pattern(lit: bytes) -> bytes:
    """A regex (to be compiled caseless) for the raw forms of a folded literal that decoding
    would turn into it without touching letters or digits."""
    out = []
    for value in lit:
        char = bytes([value])
        if char.isalnum():
            out.append(char)
            continue
        forms = [_hex_byte(value)]
        if char == b" ":
            forms += [b" ", rb"\+"]
        elif char != b"+":  # a raw '+' is a space by then; only %2b decodes to '+'
            forms.append(re.escape(char))
        out.append(b"(?:" + b"|".join(forms) + b")")
    return b"".join(out)


def _decode_triggers(chars: set[int]) -> list[bytes]:
    """Patterns for the lines whose decoding may create a literal our patterns do not allow for:
    escapes of the letters and digits of the literals (and of every hex digit and '%' itself,
    from which the next round's escapes are made), and the characters that fold to ASCII.

    A character that folds to ASCII is matched by its raw first byte and then each further
    byte raw or escaped; an escaped first byte is matched alone, with the escapes above (three
    bytes each, which Hyperscan finds several times faster than longer escape sequences)."""
    letters = {c for c in chars if bytes([c]).isalnum()} | {ord(c) for c in _HEX_DIGITS}
    letters |= {ord(chr(c).upper()) for c in letters} | {ord(chr(c).lower()) for c in letters}
    folding = [char.encode("utf-8") for char in CASEFOLD_TO_ASCII]
    codes = {f"{c:02x}".encode() for c in letters} | {b"25"}
    codes |= {f"{raw[0]:02x}".encode() for raw in folding}
    out = [b"%(?:" + b"|".join(sorted(codes)) + b")"]
    for raw in folding:
        out.append(
            b"\\x"
            + f"{raw[0]:02x}".encode()
            + b"".join(
                b"(?:\\x" + f"{b:02x}".encode() + b"|" + _hex_byte(b) + b")" for b in raw[1:]
            )
        )
    return out


def line_view(raw: bytes) -> bytes:
    """A raw line as :func:`agent.sigma.matcher.normalize_folded` would see it: ``+`` as space,
    percent-decoded up to three rounds, case-folded. Decoded line breaks stay in the line."""
    line = raw.lower()
    if b"+" in line:
        line = line.replace(b"+", b" ")
    for _ in range(_DECODE_ROUNDS):
        if b"%" not in line:
            break
        decoded = unquote_to_bytes(line)
        if decoded == line:
            break
        line = decoded.lower()
    if not line.isascii():
        line = line.decode("utf-8", "replace").casefold().encode("utf-8")
    return line


# (group key: the two literals scanned for, full clauses of the group, each with its index in
# the clauses the prefilter was made of)
_Group = tuple[tuple[bytes, ...], tuple[tuple[int, tuple[bytes, ...]], ...]]


def _groups(clauses: Sequence[frozenset[str]]) -> list[_Group] | None:
    by_key: dict[tuple[bytes, ...], list[tuple[int, tuple[bytes, ...]]]] = {}
    for index, clause in enumerate(clauses):
        ranked = sorted(clause, key=lambda lit: (-_scan_score(lit), lit))
        full = tuple(b for b in (ascii_literal(lit) for lit in ranked) if b)
        if not full:
            return None
        key = tuple(sorted(full[:2]))
        by_key.setdefault(key, []).append((index, full))
    return [(key, tuple(v)) for key, v in by_key.items()]


def _alternatives(lits: Sequence[bytes]) -> bytes:
    return b"(?:" + b"|".join(literal_pattern(lit) for lit in lits) + b")"


# (pattern, its groups, the literal they share, each group's other literal)
_Merged = tuple[bytes, tuple[int, ...], bytes, tuple[bytes, ...]]


# Literals that a large share of an Exchange server's requests carry (virtual directories,
# page types, methods, statuses, separators). Searching for one of them alone would hand most
# lines to Python; a group made only of such literals (or of literals shorter than
# _MIN_ANCHOR, which are common by chance) is searched for as a line-bounded pair.
_SCAN_COMMON = frozenset(
    {
        b"/owa/", b"/ecp/", b"/ews/", b"/mapi/", b"/rpc/", b"/oab/", b"/autodiscover/",
        b"/powershell", b"powershell", b"/microsoft-server-activesync", b"/owa/auth/",
        b"autodiscover.json", b"/owa/auth/logon.aspx",
        b".aspx", b".asmx", b".ashx", b".asp", b".svc", b".js", b".css", b"post", b"get",
        b"\\", b"/", b"@", b"=", b"-", b" ", b"2", b"200", b"401", b"302", b"301", b"404",
    }
)  # fmt: skip
_MIN_ANCHOR = 4


def _merged_patterns(groups: Sequence[_Group]) -> list[_Merged]:
    """The scan patterns, with the groups each stands for. A group with a literal that is not
    common is found by that literal alone (Hyperscan finds a set of literals at a fraction of
    the cost of line-bounded patterns; the pair is checked on the few lines hit); the others by
    ``A[^\\n]*(B1|B2..)|(B1|B2..)[^\\n]*A``, one pattern per literal A such groups share."""
    out: list[_Merged] = []
    anchored: dict[bytes, list[int]] = {}
    pending: set[int] = set()
    for i, (key, _) in enumerate(groups):
        rare = [lit for lit in key if lit not in _SCAN_COMMON and len(lit) >= _MIN_ANCHOR]
        if rare or len(key) == 1:  # a lone literal is searched for alone, however common
            best = max(rare or key, key=lambda lit: (_scan_score(lit.decode()), lit))
            anchored.setdefault(best, []).append(i)
        else:
            pending.add(i)
    for anchor in sorted(anchored):
        members = tuple(anchored[anchor])
        lits = tuple(next((x for x in groups[i][0] if x != anchor), anchor) for i in members)
        out.append((literal_pattern(anchor), members, anchor, lits))
    while pending:
        counts: dict[bytes, int] = {}
        for i in pending:
            for lit in groups[i][0]:
                counts[lit] = counts.get(lit, 0) + 1
        shared = max(sorted(counts), key=lambda lit: counts[lit])
        members = tuple(sorted(i for i in pending if shared in groups[i][0]))
        lits = tuple(next((x for x in groups[i][0] if x != shared), shared) for i in members)
        others = _alternatives(lits)
        a = literal_pattern(shared)
        pattern = a + rb"[^\n]*" + others + b"|" + others + rb"[^\n]*" + a
        out.append((pattern, members, shared, lits))
        pending -= set(members)
    return out


# Per scan pattern, what a line it hits is tested for (decoded, folded literals): the literal
# its groups share, then per group its other literal and the rest of each of its clauses, with
# the clause's index.
_Check = tuple[bytes, tuple[tuple[bytes, tuple[tuple[int, tuple[bytes, ...]], ...]], ...]]


class LinePrefilter:
    """Finds the starts of the lines of a block that satisfy at least one clause.

    ``engine`` is "hyperscan" or "re2" (default: the fastest available).
    """

    def __init__(self, clauses: Sequence[frozenset[str]], *, engine: str | None = None) -> None:
        groups = _groups(clauses)
        if groups is None:
            raise ValueError("a clause has no ASCII literal")
        self.groups = groups
        chars = {c for key, _ in groups for lit in key for c in lit}
        merged = _merged_patterns(groups)
        self._checks: list[_Check] = []
        for _, members, shared, lits in merged:
            subs = []
            for group, other in zip(members, lits, strict=True):
                known = {shared, other}
                rest = tuple(
                    (index, tuple(lit for lit in clause if lit not in known))
                    for index, clause in groups[group][1]
                )
                subs.append((other, rest))
            self._checks.append((shared, tuple(subs)))
        triggers = _decode_triggers(chars)
        self._all = tuple(range(len(merged)))
        # What each pattern's hit says: the merged patterns to check (all after a trigger).
        self._meaning = [(i,) for i in self._all] + [self._all] * len(triggers)
        patterns = [pattern for pattern, _, _, _ in merged] + triggers
        self.engine = engine or ("hyperscan" if _hyperscan is not None else "re2")
        self._hits: Callable[[Any, int], list[tuple[int, int]]]
        if self.engine == "hyperscan":
            self._hits = _hyperscan_hits(patterns)
        elif self.engine == "re2":
            self._hits = _re2_hits(patterns)
        else:
            raise ValueError(f"unknown scan engine {engine!r}")

    def candidates(self, block: bytes | bytearray, end: int | None = None) -> list[int]:
        """Sorted starts of the lines of ``block[:end]`` (whole lines, each ended by ``\\n``)
        that satisfy a clause after decoding."""
        return [start for start, _ in self.matches(block, end)]

    def matches(
        self, block: bytes | bytearray, end: int | None = None
    ) -> list[tuple[int, frozenset[int]]]:
        """:meth:`candidates`, each with the indexes of every clause its line satisfies: a rule
        none of whose clauses is among them cannot match the line."""
        end = len(block) if end is None else end
        hits = self._hits(block, end)
        hits.sort()  # by end offset: the hits of a line are together
        # (line start, line end, patterns hit); no hit ends beyond its line's break
        lines: list[tuple[int, int, int | set[int]]] = []
        stop = -1
        for offset, pattern in hits:
            if offset > stop:
                start = block.rfind(b"\n", 0, offset) + 1
                stop = block.find(b"\n", offset, end)
                if stop < 0:
                    stop = end
                lines.append((start, stop, pattern))
            else:
                start, _, known = lines[-1]
                if known != pattern:
                    more = {known} if isinstance(known, int) else known
                    more.add(pattern)
                    lines[-1] = (start, stop, more)
        out: list[tuple[int, frozenset[int]]] = []
        meaning = self._meaning
        checks = self._checks
        for start, stop, patterns in lines:
            # line_view, inline for the lines without escapes and non-ASCII (most)
            view = block[start:stop].lower()
            if b"%" in view or not view.isascii():
                view = line_view(bytes(view))
            elif b"+" in view:
                view = view.replace(b"+", b" ")
            contains = view.__contains__
            satisfied: list[int] = []
            if isinstance(patterns, int):
                todo: Iterable[int] = meaning[patterns]
            else:
                todo = set().union(*(meaning[p] for p in patterns))
            for check in todo:
                shared, subs = checks[check]
                if shared not in view:
                    continue
                for other, clauses in subs:
                    if other in view:
                        for index, rest in clauses:
                            if all(map(contains, rest)):
                                satisfied.append(index)
            if satisfied:
                out.append((start, frozenset(satisfied)))
        return out


def _hyperscan_hits(patterns: list[bytes]) -> Callable[[Any, int], list[tuple[int, int]]]:
    if _hyperscan is None:
        raise ValueError("hyperscan is not installed")
    db = _hyperscan.Database()
    db.compile(
        expressions=patterns,
        ids=list(range(len(patterns))),
        elements=len(patterns),
        flags=[_hyperscan.HS_FLAG_CASELESS] * len(patterns),
    )

    def hits(block: Any, end: int) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        append = found.append

        def on_match(pid: int, start: int, stop: int, flags: int, ctx: Any) -> None:
            append((stop, pid))

        db.scan(memoryview(block)[:end], match_event_handler=on_match)
        return found

    return hits


def _re2_hits(patterns: list[bytes]) -> Callable[[Any, int], list[tuple[int, int]]]:
    options = _re2.Options()
    options.max_mem = 256 << 20
    options.encoding = _re2.Options.Encoding.LATIN1  # bytes, not UTF-8 code points
    options.case_sensitive = False
    regex = _re2.compile(b"|".join(b"(?:" + p + b")" for p in patterns), options)
    # Which patterns a line holds: the search above finds the line, this set says which.
    which = _re2.Set.SearchSet(options)
    for p in patterns:
        which.Add(p)
    which.Compile()

    def hits(block: Any, end: int) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        pos = 0
        while (m := regex.search(block, pos, end)) is not None:
            nl = block.find(b"\n", m.end(), end)
            stop = end if nl < 0 else nl
            found += [(m.end(), pid) for pid in which.Match(bytes(block[m.start() : stop]))]
            if nl < 0:
                break
            pos = nl + 1
        return found

    return hits


@functools.lru_cache(maxsize=32)
def prefilter_for(clauses: tuple[frozenset[str], ...]) -> LinePrefilter | None:
    """The compiled prefilter for a rule set's clauses (compiling takes a tenth of a second, so
    it is shared by every file of a format); None when a clause has no usable literal."""
    try:
        return LinePrefilter(clauses)
    except ValueError:
        return None
