"""Evaluate a Sigma rule's detection against one flat event (see ``view``).

pySigma parses and validates the rule; this walks its condition tree once and builds
closures. Comparison follows Sigma: strings are case-insensitive unless ``|cased``,
wildcards ``*`` and ``?`` apply, a field with several values matches when any does, and
``null`` means absent or empty. A feature this matcher cannot evaluate is a rule error,
never a rule that silently matches nothing.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.rule import SigmaRule
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SpecialChars,
)

from collector.correlation.view import FlatEvent

Predicate = Callable[[FlatEvent], bool]
StringTest = Callable[[str], bool]


class UnsupportedDetection(ValueError):
    """The rule uses a Sigma feature the collector's matcher does not evaluate."""


def compile_rule(rule: SigmaRule) -> Predicate:
    """One predicate for the rule (several ``condition`` entries: any of them)."""
    tests = [_node(c.parsed) for c in rule.detection.parsed_condition]
    if len(tests) == 1:
        return tests[0]
    return lambda event: any(t(event) for t in tests)


def kinds_of(rule: SigmaRule) -> frozenset[str] | None:
    """The event kinds the rule can match at all (None: any), so that an event is only
    tried against the rules of its kind."""
    kinds: set[str] = set()
    for condition in rule.detection.parsed_condition:
        part = _kinds(condition.parsed)
        if part is None:
            return None
        kinds |= part
    return frozenset(kinds)


def fields_of(rule: SigmaRule) -> frozenset[str] | None:
    """The fields the rule's conditions read (None: it searches every field, with keywords),
    so that a verdict can be remembered per value tuple of those fields."""
    fields: set[str] = set()
    for condition in rule.detection.parsed_condition:
        if not _fields(condition.parsed, fields):
            return None
    return frozenset(fields)


def _fields(node: object, out: set[str]) -> bool:
    if isinstance(node, (ConditionAND, ConditionOR, ConditionNOT)):
        return all(_fields(arg, out) for arg in node.args)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        out.add(node.field)
        return True
    return False  # a keyword reads every field


# Fields that only events with host-rule matches have a value in (severity "none" aside).
MATCH_FIELDS = frozenset({"rule_id", "tags", "severity"})


def needs_matches(rule: SigmaRule) -> bool:
    """True when only an event that host rules matched can satisfy the rule (it asks for
    a rule id, a tag or a severity), so that the many events without matches skip it."""
    return all(_needs_matches(c.parsed) for c in rule.detection.parsed_condition)


def _needs_matches(node: object) -> bool:
    if isinstance(node, ConditionFieldEqualsValueExpression):
        plain = _plain(node)
        return plain is not None and plain[0] in MATCH_FIELDS and plain[1] != "none"
    if isinstance(node, ConditionAND):
        return any(_needs_matches(a) for a in node.args)
    if isinstance(node, ConditionOR):
        return all(_needs_matches(a) for a in _or_args(node))
    return False


def _kinds(node: object) -> set[str] | None:
    if isinstance(node, ConditionFieldEqualsValueExpression):
        plain = _plain(node)
        return {plain[1]} if plain is not None and plain[0] == "kind" else None
    if isinstance(node, ConditionAND):
        known = [k for k in (_kinds(a) for a in node.args) if k is not None]
        return set.intersection(*known) if known else None
    if isinstance(node, ConditionOR):
        parts = [_kinds(a) for a in _or_args(node)]
        if any(p is None for p in parts):
            return None
        return set().union(*(p for p in parts if p is not None))
    return None  # NOT, keywords: no bound


def _values(event: FlatEvent, field: str) -> tuple[str, ...]:
    value = event.get(field, ())
    return (value,) if type(value) is str else value  # type: ignore[return-value]


# A loop, not all()/any() over a generator: this runs for every committed event, and the
# generator costs more than the tests themselves.
def _all(parts: list[Predicate]) -> Predicate:
    def run(event: FlatEvent) -> bool:
        for part in parts:  # noqa: SIM110
            if not part(event):
                return False
        return True

    return run


def _any(parts: list[Predicate]) -> Predicate:
    def run(event: FlatEvent) -> bool:
        for part in parts:  # noqa: SIM110
            if part(event):
                return True
        return False

    return run


def _field(field: str, test: StringTest) -> Predicate:
    """The test on the field's value, or on any of its values."""

    def run(event: FlatEvent) -> bool:
        value = event.get(field)
        if value is None:
            return False
        if type(value) is str:
            return test(value)
        return any(test(v) for v in value)

    return run


def _node(node: object) -> Predicate:
    if isinstance(node, ConditionAND):
        return _all([_node(a) for a in node.args])
    if isinstance(node, ConditionOR):
        args = _or_args(node)
        rest = [a for a in args if _plain(a) is None and _wildcard(a) is None]
        return _any(_any_of_sets(args) + _any_of_patterns(args) + [_node(a) for a in rest])
    if isinstance(node, ConditionNOT):
        inner = _node(node.args[0])
        return lambda event: not inner(event)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        field = node.field
        if isinstance(node.value, SigmaNull):
            return lambda event: not any(_values(event, field))
        if isinstance(node.value, SigmaExists):
            wanted = bool(node.value)
            return lambda event: (field in event) == wanted
        return _field(field, _string_of(node.value))
    if isinstance(node, ConditionValueExpression):
        if not isinstance(node.value, SigmaString):
            raise UnsupportedDetection(f"keyword of type {type(node.value).__name__}")
        test = _string_of(_anywhere(node.value))
        return lambda event: any(test(v) for f in event for v in _values(event, f))
    raise UnsupportedDetection(f"condition element {type(node).__name__}")


def _or_args(node: ConditionOR) -> list[object]:
    """The operands of nested ORs (pySigma nests a value list pairwise)."""
    out: list[object] = []
    for arg in node.args:
        out += _or_args(arg) if isinstance(arg, ConditionOR) else [arg]
    return out


def _plain(node: object) -> tuple[str, str] | None:
    """(field, case-folded value) of a comparison with a plain, case-insensitive string."""
    if (
        isinstance(node, ConditionFieldEqualsValueExpression)
        and type(node.value) is SigmaString
        and not node.value.contains_special()
    ):
        return node.field, str(node.value).casefold()
    return None


def _any_of_sets(args: list[object]) -> list[Predicate]:
    """One set lookup per field for the plain strings of an OR (a list of values): a
    single value is a set of one."""
    wanted: dict[str, set[str]] = {}
    for arg in args:
        plain = _plain(arg)
        if plain is not None:
            wanted.setdefault(plain[0], set()).add(plain[1])
    return [_field(field, _in_set(frozenset(values))) for field, values in wanted.items()]


def _wildcard(node: object) -> tuple[str, str] | None:
    """(field, regular expression) of a comparison with a case-insensitive wildcard string."""
    if (
        isinstance(node, ConditionFieldEqualsValueExpression)
        and type(node.value) is SigmaString
        and node.value.contains_special()
    ):
        return node.field, _pattern(node.value)
    return None


def _any_of_patterns(args: list[object]) -> list[Predicate]:
    """One alternation per field for the wildcard strings of an OR (``|endswith`` over a
    list of extensions: one regular expression, not one per extension)."""
    wanted: dict[str, list[str]] = {}
    for arg in args:
        wildcard = _wildcard(arg)
        if wildcard is not None:
            wanted.setdefault(wildcard[0], []).append(wildcard[1])
    return [
        _field(field, _full_match(re.compile("|".join(f"(?:{p})" for p in patterns), re.I | re.S)))
        for field, patterns in wanted.items()
    ]


def _full_match(pattern: re.Pattern[str]) -> StringTest:
    return lambda value: pattern.fullmatch(value) is not None


def _in_set(values: frozenset[str]) -> StringTest:
    return lambda value: value.casefold() in values


def _anywhere(value: SigmaString) -> SigmaString:
    """A keyword matches inside any value, as Sigma backends treat keywords."""
    return SigmaString("*") + value + SigmaString("*")


def _string_of(value: object) -> StringTest:
    """A test of one string against a Sigma value."""
    if isinstance(value, SigmaString):
        return _string_test(value)
    if isinstance(value, SigmaBool):
        text = "true" if value.boolean else "false"
        return lambda v: v.casefold() == text
    if isinstance(value, SigmaNumber):
        number = str(value.number)
        return lambda v: v == number
    if isinstance(value, SigmaRegularExpression):
        flags = 0
        for flag in value.flags:
            flags |= SigmaRegularExpression.sigma_to_python_flags[flag]
        pattern = re.compile(str(value.regexp), flags)
        return lambda v: pattern.search(v) is not None
    if isinstance(value, SigmaCIDRExpression):
        network = value.network
        return lambda v: _in_network(v, network)
    if isinstance(value, SigmaCompareExpression):
        return _compare_test(value)
    raise UnsupportedDetection(f"value of type {type(value).__name__}")


def _string_test(value: SigmaString) -> StringTest:
    cased = isinstance(value, SigmaCasedString)
    if not value.contains_special():
        text = str(value)
        if cased:
            return lambda v: v == text
        folded = text.casefold()
        return lambda v: v.casefold() == folded
    return _full_match(re.compile(_pattern(value), re.S if cased else re.S | re.I))


def _pattern(value: SigmaString) -> str:
    """The regular expression of a Sigma wildcard string."""
    pieces = []
    for part in value.s:
        if part is SpecialChars.WILDCARD_MULTI:
            pieces.append(".*")
        elif part is SpecialChars.WILDCARD_SINGLE:
            pieces.append(".")
        elif isinstance(part, str):
            pieces.append(re.escape(part))
        else:
            raise UnsupportedDetection(f"placeholder in {value}")
    return "".join(pieces)


def _in_network(text: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    try:
        return ipaddress.ip_address(text) in network
    except ValueError:
        return False


_COMPARE: dict[CompareOperators, Callable[[float, float], bool]] = {
    CompareOperators.LT: lambda a, b: a < b,
    CompareOperators.LTE: lambda a, b: a <= b,
    CompareOperators.GT: lambda a, b: a > b,
    CompareOperators.GTE: lambda a, b: a >= b,
    CompareOperators.NEQ: lambda a, b: a != b,
}


def _compare_test(value: SigmaCompareExpression) -> StringTest:
    limit = float(value.number.number)
    compare = _COMPARE[value.op]

    def test(text: str) -> bool:
        try:
            return compare(float(text), limit)
        except ValueError:
            return False

    return test
