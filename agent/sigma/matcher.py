"""Compile a parsed Sigma rule's condition into a plain Python predicate over one event.

pySigma parses and validates; it converts to query languages but does not evaluate. This
module walks pySigma's condition tree once per rule and builds closures, so evaluating a
record is a handful of ``str`` operations and no tree walk.

Normalisation is the one idea everything here shares. Attackers percent-encode (even twice:
``%2540``) and vary case; IIS writes spaces in user agents as ``+``. So every field value and
every rule string is run through the *same* :func:`normalize` before comparing: ``+`` becomes a
space, ``%XX`` is decoded up to three times, and (unless the rule says ``|cased``) the result is
case-folded. Applying it to both sides keeps rules written against raw IIS text (``=net%20user``,
``Mozilla/5.0+(compatible;+Googlebot``) and rules written against decoded text working alike.
Regular expressions cannot be normalised, so they are tried against the raw and the decoded
value.

That decoding belongs to URLs. Channels whose values are no URLs (process command lines, the
Application event log) compile their rules with ``decode=False``: there ``+`` and ``%`` stay
what they are (``attrib +h +s``, ``%COMSPEC%``) and only case is folded; their events'
``decoded`` values are the raw ones (see :class:`agent.sigma.fieldmap.Event`).

Alongside each predicate we derive *literals*: case-folded strings such that any event that
satisfies the predicate contains at least one of them in :func:`normalize_folded` of its raw
line. The retro-hunt uses them to skip lines without parsing them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol
from urllib.parse import unquote

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SpecialChars,
)

from agent.sigma.prefilter import Clauses, all_of, any_of, literal, regex_clauses

__all__ = [
    "Clauses",
    "MatchEvent",
    "Predicate",
    "UnsupportedRule",
    "compile_condition",
    "normalize",
    "normalize_folded",
]

# Percent-decoding rounds: enough for %2540 (double) and %252540 (triple) encodings, bounded
# so that a hostile value cannot make us loop.
_DECODE_ROUNDS = 3

_DANGLING_ESCAPE = re.compile(r"%[0-9A-Fa-f]?$")


class UnsupportedRule(Exception):
    """A rule uses a Sigma feature this matcher cannot evaluate; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class MatchEvent(Protocol):
    """What a compiled predicate reads from an event (see :class:`agent.sigma.fieldmap.Event`)."""

    def raw(self, field: str) -> tuple[str, ...]: ...
    def decoded(self, field: str) -> tuple[str, ...]: ...
    def folded(self, field: str) -> tuple[str, ...]: ...
    def present(self, field: str) -> bool: ...
    def keywords_raw(self) -> tuple[str, ...]: ...
    def keywords_decoded(self) -> tuple[str, ...]: ...
    def keywords_folded(self) -> tuple[str, ...]: ...


Predicate = Callable[[MatchEvent], bool]


def normalize(text: str) -> str:
    """Decode what the attacker sent: ``+`` to space, then ``%XX`` up to three rounds."""
    if "+" in text:
        text = text.replace("+", " ")
    for _ in range(_DECODE_ROUNDS):
        if "%" not in text:
            break
        decoded = unquote(text, errors="replace")
        if decoded == text:
            break
        text = decoded
    return text


def normalize_folded(text: str) -> str:
    """:func:`normalize` and case-fold: the form default (case-insensitive) Sigma compares."""
    return normalize(text).casefold()


# ---------------------------------------------------------------------------------------------
# String patterns


def _sigma_string_parts(value: SigmaString) -> list[str | SpecialChars]:
    parts: list[str | SpecialChars] = []
    for part in value.s:
        if isinstance(part, (str, SpecialChars)):
            parts.append(part)
        else:  # Placeholder: only the |expand modifier produces these
            raise UnsupportedRule(f"placeholder %{part.name}% (|expand) needs a value list")
    return parts


def _string_clauses(parts: list[str | SpecialChars], norm: Callable[[str], str]) -> Clauses:
    """Every plain piece of a wildcard pattern is required."""
    return all_of(literal(norm(part).casefold()) for part in parts if isinstance(part, str))


def _casefold(text: str) -> str:
    return text.casefold()


def _same(text: str) -> str:
    return text


def _compile_string(
    value: SigmaString, *, keyword: bool, decode: bool = True
) -> tuple[Callable[[tuple[str, ...]], bool], bool, Clauses]:
    """A test over a tuple of values, whether it wants folded (True) or decoded values, literals.

    Keywords match anywhere in the event, as Sigma backends treat them (implicit ``*..*``).
    """
    cased = isinstance(value, SigmaCasedString)
    parts = _sigma_string_parts(value)
    if keyword:
        if not parts or parts[0] is not SpecialChars.WILDCARD_MULTI:
            parts = [SpecialChars.WILDCARD_MULTI, *parts]
        if parts[-1] is not SpecialChars.WILDCARD_MULTI:
            parts = [*parts, SpecialChars.WILDCARD_MULTI]

    # Authors of IIS rules write ``=cmd%20/c%`` meaning "an encoded character follows": after
    # decoding, a dangling ``%`` or ``%X`` before a wildcard can only stop the match.
    if decode:
        parts = [
            _DANGLING_ESCAPE.sub("", p)
            if isinstance(p, str)
            and i + 1 < len(parts)
            and parts[i + 1] is SpecialChars.WILDCARD_MULTI
            else p
            for i, p in enumerate(parts)
        ]
    parts = [p for p in parts if p != ""]

    norms: dict[tuple[bool, bool], Callable[[str], str]] = {
        (True, True): normalize,
        (True, False): normalize_folded,
        (False, True): _same,
        (False, False): _casefold,
    }
    norm = norms[(decode, cased)]

    literals = _string_clauses(parts, norm)
    many = SpecialChars.WILDCARD_MULTI
    inner = parts[1:-1] if len(parts) >= 2 else []
    plain_inner = all(isinstance(p, str) for p in inner)

    test: Callable[[tuple[str, ...]], bool]
    if all(isinstance(p, str) for p in parts):
        text = norm("".join(p for p in parts if isinstance(p, str)))

        def test(values: tuple[str, ...]) -> bool:
            return text in values
    elif len(parts) == 3 and parts[0] is many and parts[2] is many and plain_inner:
        text = norm(str(parts[1]))

        def test(values: tuple[str, ...]) -> bool:
            return any(text in v for v in values)
    elif len(parts) == 2 and parts[1] is many and isinstance(parts[0], str):
        text = norm(parts[0])

        def test(values: tuple[str, ...]) -> bool:
            return any(v.startswith(text) for v in values)
    elif len(parts) == 2 and parts[0] is many and isinstance(parts[1], str):
        text = norm(parts[1])

        def test(values: tuple[str, ...]) -> bool:
            return any(v.endswith(text) for v in values)
    elif len(parts) == 1 and parts[0] is many:

        def test(values: tuple[str, ...]) -> bool:
            return bool(values)
    else:
        pieces = []
        for part in parts:
            if part is SpecialChars.WILDCARD_MULTI:
                pieces.append(".*")
            elif part is SpecialChars.WILDCARD_SINGLE:
                pieces.append(".")
            else:
                pieces.append(re.escape(norm(str(part))))
        fullmatch = re.compile("".join(pieces), re.DOTALL).fullmatch

        def test(values: tuple[str, ...]) -> bool:
            return any(fullmatch(v) is not None for v in values)

    return test, not cased, literals


# ---------------------------------------------------------------------------------------------
# Regular expressions


def _compile_regex(
    value: SigmaRegularExpression, *, decode: bool = True
) -> tuple[Callable[[MatchEvent, str], bool], Clauses]:
    flags = 0
    for flag in value.flags:
        flags |= {
            SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
            SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
            SigmaRegularExpressionFlag.DOTALL: re.DOTALL,
        }[flag]
    pattern = str(value.regexp)
    try:
        search = re.compile(pattern, flags).search
    except re.error as exc:
        raise UnsupportedRule(
            f"regular expression {pattern!r} is not valid in Python: {exc}"
        ) from exc

    def test(event: MatchEvent, field: str) -> bool:
        # Raw first (what the rule author probably saw), then decoded (what the attacker meant).
        values = (
            event.raw(field) + event.decoded(field)
            if field
            else (event.keywords_raw() + event.keywords_decoded())
        )
        return any(search(v) is not None for v in values)

    return test, regex_clauses(pattern, flags, normalize_folded if decode else _casefold)


# ---------------------------------------------------------------------------------------------
# Other value types


def _as_number(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None


_COMPARE: dict[CompareOperators, Callable[[float, float], bool]] = {
    CompareOperators.LT: lambda a, b: a < b,
    CompareOperators.LTE: lambda a, b: a <= b,
    CompareOperators.GT: lambda a, b: a > b,
    CompareOperators.GTE: lambda a, b: a >= b,
}
_NEQ = getattr(CompareOperators, "NEQ", None)
if _NEQ is not None:
    _COMPARE[_NEQ] = lambda a, b: a != b


def _leaf(field: str | None, value: Any, decode: bool = True) -> tuple[Predicate, Clauses]:
    """Predicate and literals for one ``field: value`` (or keyword when ``field`` is None)."""
    if isinstance(value, SigmaExpansion):  # base64offset, windash: values are OR-linked
        compiled = [_leaf(field, v, decode) for v in value.values]
        return _any([p for p, _ in compiled]), any_of(lit for _, lit in compiled)

    if isinstance(value, SigmaTimestampPart):
        raise UnsupportedRule("timestamp part modifiers (|minute, |hour, ...) are not supported")

    if isinstance(value, SigmaString):
        test, want_folded, literals = _compile_string(value, keyword=field is None, decode=decode)
        if field is None:
            if want_folded:
                return (lambda ev: test(ev.keywords_folded())), literals
            return (lambda ev: test(ev.keywords_decoded())), literals
        name = field
        if want_folded:
            return (lambda ev: test(ev.folded(name))), literals
        return (lambda ev: test(ev.decoded(name))), literals

    if isinstance(value, SigmaRegularExpression):
        rtest, literals = _compile_regex(value, decode=decode)
        name = field or ""
        return (lambda ev: rtest(ev, name)), literals

    if isinstance(value, (SigmaNumber, SigmaBool)):
        if isinstance(value, SigmaBool):
            texts: tuple[str, ...] = ("true", "1") if value.boolean else ("false", "0")
            target_num = None
        else:
            texts = (str(value.number),)
            target_num = float(value.number)
        literals = literal(texts[0])
        if field is None:
            return (lambda ev: any(t in v for v in ev.keywords_folded() for t in texts)), literals
        name = field

        def num_test(ev: MatchEvent) -> bool:
            for v in ev.folded(name):
                v = v.strip()
                if v in texts:
                    return True
                if target_num is not None and (n := _as_number(v)) is not None and n == target_num:
                    return True
            return False

        return num_test, literals

    if field is None:
        raise UnsupportedRule(f"value type {type(value).__name__} needs a field")
    name = field

    if isinstance(value, SigmaNull):
        return (lambda ev: not ev.present(name)), None

    if isinstance(value, SigmaExists):
        want = bool(value)
        return (lambda ev: ev.present(name) is want), None

    if isinstance(value, SigmaCIDRExpression):
        network = value.network

        def cidr_test(ev: MatchEvent) -> bool:
            for v in ev.raw(name):
                try:
                    if ipaddress.ip_address(v.strip()) in network:
                        return True
                except ValueError:
                    continue
            return False

        return cidr_test, None

    if isinstance(value, SigmaCompareExpression):
        op = _COMPARE.get(value.op)
        if op is None:
            raise UnsupportedRule(f"comparison {value.op.name} is not supported")
        bound = float(value.number.number)

        def compare_test(ev: MatchEvent) -> bool:
            return any((n := _as_number(v)) is not None and op(n, bound) for v in ev.raw(name))

        return compare_test, None

    if isinstance(value, SigmaFieldReference):
        other = value.field
        if value.starts_with or value.ends_with:
            raise UnsupportedRule("|fieldref with |startswith or |endswith is not supported")
        return (lambda ev: bool(set(ev.folded(name)) & set(ev.folded(other)))), None

    raise UnsupportedRule(f"value type {type(value).__name__} is not supported")


# ---------------------------------------------------------------------------------------------
# Boolean structure and literal algebra


def _any(preds: list[Predicate]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    items = tuple(preds)
    return lambda ev: any(p(ev) for p in items)


def _all(preds: list[Predicate]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    items = tuple(preds)
    return lambda ev: all(p(ev) for p in items)


def _compile_node(node: Any, decode: bool = True) -> tuple[Predicate, Clauses]:
    if isinstance(node, ConditionAND):
        compiled = [_compile_node(arg, decode) for arg in node.args]
        return _all([p for p, _ in compiled]), all_of(lit for _, lit in compiled)
    if isinstance(node, ConditionOR):
        compiled = [_compile_node(arg, decode) for arg in node.args]
        return _any([p for p, _ in compiled]), any_of(lit for _, lit in compiled)
    if isinstance(node, ConditionNOT):
        inner, _ = _compile_node(node.args[0], decode)
        return (lambda ev: not inner(ev)), None
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _leaf(node.field, node.value, decode)
    if isinstance(node, ConditionValueExpression):
        return _leaf(None, node.value, decode)
    raise UnsupportedRule(f"condition element {type(node).__name__} is not supported")


def compile_condition(trees: list[Any], *, decode: bool = True) -> tuple[Predicate, Clauses]:
    """Compile a rule's parsed conditions (a list: several conditions are OR-linked).

    ``decode``: compare URL-decoded values (log channels); False compares as written, folding
    case only (process creation and Windows event channels). Literals are then in that form.
    """
    compiled = [_compile_node(tree, decode) for tree in trees if tree is not None]
    if not compiled:
        raise UnsupportedRule("the condition selects nothing")
    return _any([p for p, _ in compiled]), any_of(lit for _, lit in compiled)


def keyword_text(fields: Mapping[str, str]) -> str:
    """The text keyword searches run over when an event has no raw line: its values joined."""
    return " ".join(v for v in fields.values() if v)
