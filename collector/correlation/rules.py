"""Load correlation rules: Sigma base rules over the flat event view, and Sigma correlation
rules (``event_count``, ``value_count``, ``temporal``, ``temporal_ordered``) over them.

pySigma parses and resolves references; this checks what the real-time engine can do and
turns each rule into plain data. A rule the engine cannot evaluate is refused with the file
and rule named, never loaded half-working.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path

from sigma.collection import SigmaCollection
from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.rule import SigmaRule, SigmaRuleBase

from collector.correlation.matcher import (
    Predicate,
    UnsupportedDetection,
    compile_rule,
    fields_of,
    kinds_of,
    needs_matches,
)
from collector.errors import CollectorError
from protos import exwatch_pb2 as pb

SEVERITY_OF_LEVEL = {
    "informational": pb.SEVERITY_INFORMATIONAL,
    "low": pb.SEVERITY_LOW,
    "medium": pb.SEVERITY_MEDIUM,
    "high": pb.SEVERITY_HIGH,
    "critical": pb.SEVERITY_CRITICAL,
}
# Fields that name one host: a rule grouped by one of them correlates on that host only.
HOST_FIELDS = frozenset({"host", "agent_id"})
SUPPORTED = {
    SigmaCorrelationType.EVENT_COUNT: "event_count",
    SigmaCorrelationType.VALUE_COUNT: "value_count",
    SigmaCorrelationType.TEMPORAL: "temporal",
    SigmaCorrelationType.TEMPORAL_ORDERED: "temporal_ordered",
}


class CorrelationRuleError(CollectorError):
    """A correlation rule file cannot be used; says which file and rule, and why."""

    def __init__(self, message: str, *, source: str, rule: str = "") -> None:
        self.source = source
        self.rule = rule
        where = f"{source}: rule {rule!r}" if rule else source
        super().__init__(f"{where}: {message}")


class Scope(StrEnum):
    """Where a correlation's result lives: the host's incident, the tenant, or the MSP's own
    fleet-wide scope (results across tenants are visible to the MSP only)."""

    HOST = "host"
    TENANT = "tenant"
    FLEET = "fleet"


@dataclass(frozen=True, slots=True)
class BaseRule:
    name: str
    title: str
    matches: Predicate
    kinds: frozenset[str] | None  # the event kinds it can match (None: any)
    needs_matches: bool  # only events that host rules matched can match it
    fields: frozenset[str] | None  # the fields it reads (None: every field, by keyword)


@dataclass(frozen=True, slots=True)
class CorrelationRule:
    id: str
    name: str
    title: str
    type: str  # one of SUPPORTED's values
    steps: tuple[str, ...]  # base rule names, in order for temporal_ordered
    group_by: tuple[str, ...]
    timespan_ns: int
    threshold: int  # fires when the count (events, distinct values, steps seen) reaches it
    field: str  # value_count: the field whose distinct values are counted
    severity: int
    tags: tuple[str, ...]
    scope: Scope


@dataclass(frozen=True, slots=True)
class RuleSet:
    base: dict[str, BaseRule]
    correlations: tuple[CorrelationRule, ...]

    def using(self, base_rule: str) -> tuple[CorrelationRule, ...]:
        return tuple(c for c in self.correlations if base_rule in c.steps)


@functools.cache
def builtin_rules() -> RuleSet:
    """The rules shipped in ``collector/rules`` (parsed once per process)."""
    folder = resources.files("collector") / "rules"
    texts = [
        (f"collector/rules/{item.name}", item.read_text(encoding="utf-8"))
        for item in sorted(folder.iterdir(), key=lambda i: i.name)
        if item.name.endswith((".yml", ".yaml"))
    ]
    return parse_rules(texts)


def load_rules(paths: Iterable[Path]) -> RuleSet:
    texts = []
    for path in paths:
        try:
            texts.append((str(path), path.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise CorrelationRuleError(f"cannot read: {exc}", source=str(path)) from exc
    return parse_rules(texts)


def parse_rules(texts: Iterable[tuple[str, str]]) -> RuleSet:
    """Parse (source name, YAML text) pairs; references may cross files."""
    collections = []
    for source, text in texts:
        try:
            collections.append(
                SigmaCollection.from_yaml(
                    text, source=SigmaRuleLocation(Path(source)), resolve_references=False
                )
            )
        except SigmaError as exc:
            raise CorrelationRuleError(str(exc), source=source) from exc
        except Exception as exc:  # yaml errors and pySigma's plain ValueErrors alike
            raise CorrelationRuleError(f"not valid Sigma YAML: {exc}", source=source) from exc
    known = {str(key) for c in collections for r in c for key in (r.name, r.id) if key}
    for collection in collections:
        for rule in collection:
            if isinstance(rule, SigmaCorrelationRule):
                missing = [ref.reference for ref in rule.rules or () if ref.reference not in known]
                if missing:
                    raise CorrelationRuleError(
                        f"refers to unknown rules {', '.join(missing)}",
                        source=_where(rule),
                        rule=rule.title,
                    )
    try:
        merged = SigmaCollection.merge(collections, resolve_references=True)
    except SigmaError as exc:
        raise CorrelationRuleError(str(exc), source=_where(exc)) from exc
    base: dict[str, BaseRule] = {}
    correlations = []
    for rule in merged:
        source = _where(rule)
        if isinstance(rule, SigmaRule):
            base[_name(rule)] = _base(rule, source)
        elif isinstance(rule, SigmaCorrelationRule):
            correlations.append(_correlation(rule, source))
    return RuleSet(base=base, correlations=tuple(correlations))


def _where(item: SigmaError | SigmaRuleBase) -> str:
    return str(item.source.path) if item.source is not None else "<rules>"


def _name(rule: SigmaRule | SigmaCorrelationRule) -> str:
    return rule.name or str(rule.id or rule.title)


def _base(rule: SigmaRule, source: str) -> BaseRule:
    try:
        predicate = compile_rule(rule)
    except UnsupportedDetection as exc:
        raise CorrelationRuleError(
            f"uses {exc}, which the collector cannot evaluate", source=source, rule=rule.title
        ) from exc
    return BaseRule(
        name=_name(rule),
        title=rule.title,
        matches=predicate,
        kinds=kinds_of(rule),
        needs_matches=needs_matches(rule),
        fields=fields_of(rule),
    )


def _correlation(rule: SigmaCorrelationRule, source: str) -> CorrelationRule:
    def refuse(message: str) -> CorrelationRuleError:
        return CorrelationRuleError(message, source=source, rule=rule.title)

    kind = SUPPORTED.get(rule.type)
    if kind is None:
        supported = ", ".join(SUPPORTED.values())
        raise refuse(f"correlation type {rule.type} is not supported ({supported} are)")
    if rule.rules is None:
        raise refuse("extended conditions are not supported: list the rules")
    if len(rule.aliases):
        raise refuse("field aliases are not supported: give the base rules the same field")
    steps = []
    for ref in rule.rules:
        if not isinstance(ref.rule, SigmaRule):
            raise refuse(f"refers to correlation {ref.reference!r}: nesting is not supported")
        steps.append(_name(ref.rule))
    if rule.level is None:
        raise refuse("has no level: say how severe its result is")
    condition = rule.condition
    field = ""
    if isinstance(condition, SigmaCorrelationCondition):
        if condition.op not in (
            SigmaCorrelationConditionOperator.GTE,
            SigmaCorrelationConditionOperator.GT,
        ):
            raise refuse(
                f"condition {condition.op.name.lower()} cannot fire as events arrive: use gte or gt"
            )
        if not isinstance(condition.count, int) or condition.count < 1:
            raise refuse(f"condition count {condition.count} must be a whole number above 0")
        threshold = condition.count + (condition.op is SigmaCorrelationConditionOperator.GT)
        if isinstance(condition.fieldref, list):
            raise refuse("value_count over several fields is not supported")
        field = condition.fieldref or ""
    else:
        threshold = len(set(steps))
    if kind == "temporal_ordered":
        threshold = len(steps)  # the whole sequence, in order
    elif kind == "temporal" and threshold > len(set(steps)):
        raise refuse(f"needs {threshold} distinct rules but lists {len(set(steps))}")
    if kind == "value_count" and not field:
        raise refuse("value_count needs condition.field: the field whose values are counted")
    group_by = tuple(rule.group_by or ())
    if HOST_FIELDS & set(group_by):
        scope = Scope.HOST
    elif "tenant" in group_by:
        scope = Scope.TENANT
    else:
        scope = Scope.FLEET
    return CorrelationRule(
        id=str(rule.id or _name(rule)),
        name=_name(rule),
        title=rule.title,
        type=kind,
        steps=tuple(steps),
        group_by=group_by,
        timespan_ns=rule.timespan.seconds * 10**9,
        threshold=threshold,
        field=field,
        severity=SEVERITY_OF_LEVEL[str(rule.level)],
        tags=tuple(sorted(str(t) for t in rule.tags)),
        scope=scope,
    )
