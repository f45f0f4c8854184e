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

Each clause group is searched as one line-bounded pattern over its two most selective literals
(``A[^\\n]*B|B[^\\n]*A``; groups sharing a literal share a pattern). Lines hit are then decoded
exactly (:func:`line_view`) and checked against their groups' full clauses; the clauses a line
satisfies tell the matcher which rules can match it. The search runs on Hyperscan (SIMD
multi-pattern; it also says which pattern hit), else on RE2 over one alternation.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable, Sequence
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
    from which the next round's escapes are made), and the characters that fold to ASCII."""
    letters = {c for c in chars if bytes([c]).isalnum()} | {ord(c) for c in _HEX_DIGITS}
    letters |= {ord(chr(c).upper()) for c in letters} | {ord(chr(c).lower()) for c in letters}
    codes = sorted({f"{c:02x}".encode() for c in letters} | {b"25"})
    out = [b"%(?:" + b"|".join(codes) + b")"]
    for char in CASEFOLD_TO_ASCII:
        out.append(
            b"".join(
                b"(?:\\x" + f"{b:02x}".encode() + b"|" + _hex_byte(b) + b")"
                for b in char.encode("utf-8")
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


# (pattern, its groups, the literal they share or None, each group's other literal)
_Merged = tuple[bytes, tuple[int, ...], bytes | None, tuple[bytes, ...]]


def _merged_patterns(groups: Sequence[_Group]) -> list[_Merged]:
    """One pattern per literal that groups share, with the groups it stands for: all single
    literals as one alternation, and ``A[^\n]*(B1|B2..)|(B1|B2..)[^\n]*A`` for the pairs
    with A in common. Fewer, larger patterns compile in a fraction of the time."""
    singles = [i for i, (key, _) in enumerate(groups) if len(key) == 1]
    out: list[_Merged] = []
    if singles:
        lits = tuple(groups[i][0][0] for i in singles)
        out.append((_alternatives(lits), tuple(singles), None, lits))
    pending = {i for i, (key, _) in enumerate(groups) if len(key) == 2}
    while pending:
        counts: dict[bytes, int] = {}
        for i in pending:
            for lit in groups[i][0]:
                counts[lit] = counts.get(lit, 0) + 1
        shared = max(sorted(counts), key=lambda lit: counts[lit])
        members = sorted(i for i in pending if shared in groups[i][0])
        lits = tuple(next(x for x in groups[i][0] if x != shared) for i in members)
        others = _alternatives(lits)
        a = literal_pattern(shared)
        pattern = a + rb"[^\n]*" + others + b"|" + others + rb"[^\n]*" + a
        out.append((pattern, tuple(members), shared, lits))
        pending -= set(members)
    return out


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
        # Per merged pattern, what a line it hits is tested for: one test for the shared
        # literal, then one per group for its other literal.
        self._checks = [(shared, members, lits) for _, members, shared, lits in merged]
        triggers = _decode_triggers(chars)
        self._all = tuple(range(len(merged)))
        # What each pattern's hit says: the merged patterns to check (all after a trigger).
        self._meaning = [(i,) for i in self._all] + [self._all] * len(triggers)
        patterns = [pattern for pattern, _, _, _ in merged] + triggers
        self.engine = engine or ("hyperscan" if _hyperscan is not None else "re2")
        self._hits: Callable[[Any, int], list[tuple[int, int]]]
        if self.engine == "hyperscan":
            self._hits = self._hyperscan_hits(patterns)
        elif self.engine == "re2":
            self._hits = self._re2_hits(patterns)
        else:
            raise ValueError(f"unknown scan engine {engine!r}")

    def _hyperscan_hits(self, patterns: list[bytes]) -> Callable[[Any, int], list[tuple[int, int]]]:
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

    def _re2_hits(self, patterns: list[bytes]) -> Callable[[Any, int], list[tuple[int, int]]]:
        options = _re2.Options()
        options.max_mem = 256 << 20
        options.encoding = _re2.Options.Encoding.LATIN1  # bytes, not UTF-8 code points
        options.case_sensitive = False
        regex = _re2.compile(b"|".join(b"(?:" + p + b")" for p in patterns), options)

        def hits(block: Any, end: int) -> list[tuple[int, int]]:
            found: list[tuple[int, int]] = []
            pos = 0
            # RE2 does not say which alternative matched: every group is checked.
            while (m := regex.search(block, pos, end)) is not None:
                nl = block.find(b"\n", m.end(), end)
                found.append((m.end(), -1))
                if nl < 0:
                    break
                pos = nl + 1
            return found

        return hits

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
        lines: dict[int, set[int]] = {}  # line start -> merged patterns to check
        meaning = self._meaning
        for stop, pattern in self._hits(block, end):
            start = block.rfind(b"\n", 0, stop) + 1
            checks = meaning[pattern] if pattern >= 0 else self._all
            known = lines.get(start)
            if known is None:
                lines[start] = set(checks)
            else:
                known.update(checks)
        out = []
        for start in sorted(lines):
            stop = block.find(b"\n", start, end)
            view = line_view(bytes(block[start : end if stop < 0 else stop]))
            satisfied = self._satisfied(view, lines[start])
            if satisfied:
                out.append((start, satisfied))
        return out

    def _satisfied(self, view: bytes, checks: set[int]) -> frozenset[int]:
        """Indexes of the clauses of the groups of the merged patterns ``checks`` that the
        decoded line ``view`` satisfies."""
        out: list[int] = []
        contains = view.__contains__
        for check in checks:
            shared, members, others = self._checks[check]
            if shared is not None and not contains(shared):
                continue
            for group in itertools.compress(members, map(contains, others)):
                for index, clause in self.groups[group][1]:
                    if all(map(contains, clause)):
                        out.append(index)
        return frozenset(out)


@functools.lru_cache(maxsize=32)
def prefilter_for(clauses: tuple[frozenset[str], ...]) -> LinePrefilter | None:
    """The compiled prefilter for a rule set's clauses (compiling takes a tenth of a second, so
    it is shared by every file of a format); None when a clause has no usable literal."""
    try:
        return LinePrefilter(clauses)
    except ValueError:
        return None
