"""Required literals of a rule, so that a retro-hunt can skip lines without parsing them.

A rule's *clauses* are a disjunction of conjunctions of case-folded literals: if the rule can
match a line, then for at least one clause every literal of that clause occurs in the line
after :func:`agent.sigma.matcher.normalize_folded`. ``None`` means no such statement can be
made (a ``not``, a ``null`` test, a regex without a fixed piece), i.e. every line is a
candidate.

Every literal is a substring of something the rule requires, and any substring of a required
string is itself required; that is what keeps cutting, choosing and dropping literals safe.
"""

from __future__ import annotations

import re

# Python's own regex parser: the one source of truth for what a pattern requires. (Private
# module, present since 3.11 as re._parser; the agent requires Python >= 3.11.)
import re._parser as _sre  # type: ignore[import-not-found,unused-ignore]
from collections.abc import Iterable
from typing import Any

__all__ = [
    "Clauses",
    "all_of",
    "any_of",
    "best_literal",
    "clause_literal",
    "literal",
    "regex_clauses",
]

# OR of AND-sets of literals; None = no prefilter possible.
Clauses = tuple[frozenset[str], ...] | None

# Characters a mapped value may contain where the raw line has something else: "?" joins the
# IIS stem and query (the line has a space there), '"' is doubled inside CSV quoting, and the
# separators of the formats themselves. Literals are cut at these.
_BREAKS = re.compile(r'["?\t\r\n,]')

# A conjunction of disjunctions multiplies out; beyond this many clauses keep one side only.
_MAX_CLAUSES = 64
# Alternatives a regex literal run may fan out into (``\.(aspx|ashx)`` -> 2).
_MAX_FANOUT = 16

# How common a token is in Exchange traffic: a prefilter on a very common one selects most
# lines. Such literals are still correct; the scorer divides their length by this weight.
_VERY_COMMON = 8.0
_COMMON = 2.0
_COMMONNESS: dict[str, float] = {
    **dict.fromkeys(
        (
            "/owa/",
            "/ecp/",
            "/ews/",
            "/mapi/",
            "/rpc/",
            "post",
            "get",
            "200",
            "401",
            "302",
            "301",
            "404",
            "500",
            "mozilla",
            ".aspx",
            "aspx",
            ".asmx",
            "asmx",
            ".asp",
            "asp",
            "exchange",
            "microsoft",
            "cmd=",
            "cmd",
            "@",
            "=",
            "/",
            "-",
            " ",
            "2",
            "4",
            "3",
            "5",
            ".svc",
            "/owa",
            "/ecp",
            "/ews",
            "/mapi",
            ".js",
        ),
        _VERY_COMMON,
    ),
    **dict.fromkeys(
        (
            "/oab/",
            "/autodiscover/",
            "/powershell",
            "autodiscover",
            "/owa/auth/",
            ".ashx",
            "/microsoft-server-activesync",
        ),
        _COMMON,
    ),
}


def best_literal(text: str) -> str:
    """The longest piece of ``text`` between characters that may differ in the raw line."""
    pieces = [p for p in _BREAKS.split(text) if p]
    return max(pieces, key=len) if pieces else ""


def literal_score(lit: str) -> float:
    """How selective one literal is: longer is better, known-common tokens are poor."""
    return float(min(len(lit), 16)) / _COMMONNESS.get(lit, 1.0)


def clause_literal(clause: frozenset[str]) -> str:
    """The literal of a clause a scanner should search for first."""
    return max(sorted(clause), key=literal_score)


def _clauses_score(clauses: tuple[frozenset[str], ...]) -> float:
    # A DNF is as weak as its weakest clause; a clause as strong as its best literal.
    return min(literal_score(clause_literal(c)) for c in clauses) - 0.01 * len(clauses)


def literal(text: str) -> Clauses:
    """Clauses for one required (already normalised, folded) string."""
    piece = best_literal(text)
    return (frozenset({piece}),) if piece else None


def any_of(items: Iterable[Clauses]) -> Clauses:
    out: list[frozenset[str]] = []
    for item in items:
        if item is None:
            return None
        out += item
    return tuple(dict.fromkeys(out))


def all_of(items: Iterable[Clauses]) -> Clauses:
    known = [item for item in items if item is not None]
    if not known:
        return None
    result: tuple[frozenset[str], ...] = known[0]
    for item in known[1:]:
        product = tuple(dict.fromkeys(a | b for a in result for b in item))
        if len(product) <= _MAX_CLAUSES:
            result = product
        else:  # keep whichever side alone is more selective
            result = result if _clauses_score(result) >= _clauses_score(item) else item
    return result


def regex_clauses(pattern: str, flags: int, normalize: Any) -> Clauses:
    """Clauses every match of ``pattern`` satisfies, read from Python's regex parse tree.

    Runs of literal characters (fanned out over small alternations, ``\\.(aspx|ashx)``) become
    literals; optional parts, classes and repeats end a run. Anything not understood yields no
    requirement, which is always safe.
    """
    try:
        tree = _sre.parse(pattern, flags)
    except Exception:
        return None
    return _seq(list(tree), normalize)


def _pure_alternatives(node: tuple[Any, Any]) -> list[str] | None:
    """The strings a sub-pattern made only of literals and alternation can match, or None."""
    op, arg = node
    if op is _sre.LITERAL:
        return [chr(arg)]
    if op is _sre.SUBPATTERN:
        return _pure_seq(list(arg[-1]))
    if op is _sre.BRANCH:
        out: list[str] = []
        for branch in arg[1]:
            alts = _pure_seq(list(branch))
            if alts is None:
                return None
            out += alts
        return out if len(out) <= _MAX_FANOUT else None
    if op is _sre.IN and len(arg) == 1 and arg[0][0] is _sre.LITERAL:
        return [chr(arg[0][1])]
    return None


def _pure_seq(items: list[Any]) -> list[str] | None:
    out = [""]
    for item in items:
        alts = _pure_alternatives(item)
        if alts is None:
            return None
        out = [a + b for a in out for b in alts]
        if len(out) > _MAX_FANOUT:
            return None
    return out


def _seq(items: list[Any], normalize: Any) -> Clauses:
    required: list[Clauses] = []
    run = [""]

    def flush() -> None:
        nonlocal run
        if all(run):
            required.append(any_of(literal(normalize(r)) for r in run))
        run = [""]

    for item in items:
        op, arg = item
        alts = _pure_alternatives(item)
        if alts is not None and len(run) * len(alts) <= _MAX_FANOUT:
            run = [a + b for a in run for b in alts]
            continue
        flush()
        if op is _sre.SUBPATTERN:
            required.append(_seq(list(arg[-1]), normalize))
        elif op is _sre.BRANCH:
            required.append(any_of(_seq(list(branch), normalize) for branch in arg[1]))
        elif op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT) and arg[0] >= 1:
            required.append(_seq(list(arg[2]), normalize))
        # anything else (classes, anchors, optional parts) requires no literal
    flush()
    return all_of(required)
