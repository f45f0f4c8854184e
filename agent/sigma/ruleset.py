"""The agent's Sigma rule set: load once, then match every log record and process event."""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sigma.collection import SigmaCollection
from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
)
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.modifiers import (
    SigmaBase64Modifier,
    SigmaBase64OffsetModifier,
    SigmaUTF16BEModifier,
    SigmaUTF16Modifier,
    SigmaWideModifier,
)
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule, SigmaRuleBase
from sigma.types import SigmaFieldReference

from agent.detection import Detection, Severity
from agent.logrecord import LogRecord
from agent.sigma.correlation import CorrelationSpec, Correlator, compile_correlation
from agent.sigma.fieldmap import (
    EVENT_CHANNELS,
    EXCHANGE_SERVICES,
    PLAIN_CHANNELS,
    Event,
    channel_for_logsource,
    channels_for_source,
    event_from_fields,
    event_from_record,
    record_columns,
)
from agent.sigma.loader import (
    LoadedRule,
    RuleError,
    RuleProblem,
    builtin_rules_dir,
    load_rule_files,
)
from agent.sigma.matcher import Predicate, UnsupportedRule, compile_condition, normalize_folded
from agent.sigma.prefilter import Clauses, clause_literal

__all__ = ["CompiledRule", "SigmaRuleSet"]

# Text logs hold no UTF-16: a rule that looks for raw UTF-16 can never fire here, so say so
# instead. (UTF-16 then base64, as in PowerShell -EncodedCommand, is text and fine.)
_TEXT_INCOMPATIBLE: dict[type[Any], str] = {
    SigmaWideModifier: "wide",
    SigmaUTF16BEModifier: "utf16be",
    SigmaUTF16Modifier: "utf16",
}
_BASE64 = (SigmaBase64Modifier, SigmaBase64OffsetModifier)
# A rule without ``level`` is still worth a look; medium is the Sigma convention's middle.
_DEFAULT_SEVERITY = Severity.MEDIUM
# Channels that log records feed (the raw-line quick check applies to these only).
_LOG_CHANNELS = frozenset({"webserver"}) | EXCHANGE_SERVICES


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule ready to evaluate: which channel it listens on, its test, and its result."""

    detection: Detection
    channel: str
    predicate: Predicate
    clauses: Clauses
    file: Path
    # Necessary condition on the normalised raw line: it holds one of these literals (one per
    # clause, longest first), or None.
    quick: tuple[str, ...] | None = None
    # Every field the condition reads, or None when it reads the whole event (keywords): the
    # verdict is a function of these fields' values, so it can be remembered per value tuple.
    fields: tuple[str, ...] | None = None
    # False: the rule only feeds correlation rules (referenced with Sigma's ``generate: false``).
    emit: bool = True


def _condition_fields(node: Any, out: set[str]) -> bool:
    """Collect the fields a condition tree reads; False if it reads more (keywords, unknown)."""
    if isinstance(node, (ConditionAND, ConditionOR, ConditionNOT)):
        return all(_condition_fields(arg, out) for arg in node.args)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        out.add(node.field)
        if isinstance(node.value, SigmaFieldReference):
            out.add(node.value.field)
        return True
    return False  # a keyword (ConditionValueExpression) or anything not understood


def condition_fields(trees: Sequence[Any]) -> tuple[str, ...] | None:
    """The fields a rule's conditions read, sorted; None when they read the whole event."""
    out: set[str] = set()
    for tree in trees:
        if tree is not None and not _condition_fields(tree, out):
            return None
    return tuple(sorted(out))


# Verdicts remembered per rule (distinct value tuples) before the memory is cleared: benign
# traffic repeats the same few (method, stem, status) combinations millions of times.
_MEMO_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class _Step:
    """One rule as the records of one source are evaluated on it."""

    rule: CompiledRule
    # The record columns its verdict is a function of, and a getter of their values (None: the
    # verdict is not remembered). Reading the columns straight from the record spares
    # building the channel's view of it when the verdict is known.
    columns: tuple[str, ...]
    key: Callable[[Mapping[str, str]], Hashable] | None
    memo: dict[Hashable, bool]


def _step(rule: CompiledRule, source: str) -> _Step:
    columns = None if rule.fields is None else record_columns(source, rule.channel, rule.fields)
    if not columns:
        return _Step(rule, (), None, {})
    return _Step(rule, columns, operator.itemgetter(*columns), {})


# Per channel: the distinct quick checks of its rules, and per rule (in the channel's order)
# the index of its check (-1: none).
_Plan = tuple[tuple[tuple[str, ...], ...], tuple[int, ...]]


def _plan(rules: Sequence[CompiledRule]) -> _Plan:
    quicks: dict[tuple[str, ...], int] = {}
    indexes = [
        -1 if rule.quick is None else quicks.setdefault(rule.quick, len(quicks)) for rule in rules
    ]
    return tuple(quicks), tuple(indexes)


def _items(detection: SigmaDetection) -> list[SigmaDetectionItem]:
    out: list[SigmaDetectionItem] = []
    for item in detection.detection_items:
        if isinstance(item, SigmaDetection):
            out += _items(item)
        else:
            out.append(item)
    return out


def _unsupported_modifier(rule: SigmaRule) -> str | None:
    for detection in rule.detection.detections.values():
        for item in _items(detection):
            for pos, modifier in enumerate(item.modifiers):
                name = _TEXT_INCOMPATIBLE.get(modifier)
                if name and not any(m in _BASE64 for m in item.modifiers[pos + 1 :]):
                    return f"modifier |{name} (raw UTF-16 text) cannot occur in text logs"
    return None


def rule_key(rule: SigmaRuleBase, file: Path) -> str:
    """The id a rule's detections carry: its id, else its name, else its file's stem."""
    return str(rule.id) if rule.id else (rule.name or file.stem)


def _detection_for(rule: SigmaRule, file: Path) -> Detection:
    rule_id = rule_key(rule, file)
    level = rule.level.name if rule.level is not None else None
    severity = Severity.parse(level) if level else _DEFAULT_SEVERITY
    return Detection(
        rule_id=rule_id,
        title=rule.title,
        severity=severity,
        tags=tuple(str(tag) for tag in rule.tags),
        engine="sigma",
    )


def compile_rule(loaded: LoadedRule, *, emit: bool = True) -> CompiledRule:
    """Compile one parsed detection rule. Raises UnsupportedRule or SigmaError."""
    rule = loaded.rule
    if not isinstance(rule, SigmaRule):
        raise UnsupportedRule("not a detection rule")
    logsource = rule.logsource
    channel = channel_for_logsource(logsource.product, logsource.category, logsource.service)
    if channel is None:
        desc = ", ".join(
            f"{k}={v}"
            for k, v in (
                ("product", logsource.product),
                ("category", logsource.category),
                ("service", logsource.service),
            )
            if v
        )
        raise UnsupportedRule(f"logsource ({desc or 'empty'}) is not one the agent observes")
    reason = _unsupported_modifier(rule)
    if reason:
        raise UnsupportedRule(reason)
    trees: list[Any] = [cond.parsed for cond in rule.detection.parsed_condition]
    predicate, clauses = compile_condition(trees, decode=channel not in PLAIN_CHANNELS)
    quick = None
    if clauses is not None and channel != "msexchange-management" and channel in _LOG_CHANNELS:
        quick = tuple(
            sorted({clause_literal(c) for c in clauses}, key=lambda lit: (-len(lit), lit))
        )
    return CompiledRule(
        _detection_for(rule, loaded.file),
        channel,
        predicate,
        clauses,
        loaded.file,
        quick,
        condition_fields(trees),
        emit,
    )


class SigmaRuleSet:
    """Compiled Sigma rules grouped by channel. Immutable; build a new one to change rules."""

    def __init__(
        self,
        rules: Sequence[CompiledRule],
        *,
        version: str,
        problems: Sequence[RuleProblem] = (),
        correlations: Sequence[CorrelationSpec] = (),
    ) -> None:
        self.rules: tuple[CompiledRule, ...] = tuple(rules)
        self.version = version
        self.problems: tuple[RuleProblem, ...] = tuple(problems)
        self.correlations: tuple[CorrelationSpec, ...] = tuple(correlations)
        self._channels = {r.detection.rule_id: r.channel for r in self.rules}
        self._silent = frozenset(
            [r.detection.rule_id for r in self.rules if not r.emit]
            + [c.detection.rule_id for c in self.correlations if not c.emit]
        )
        by_channel: dict[str, list[CompiledRule]] = {}
        for rule in self.rules:
            by_channel.setdefault(rule.channel, []).append(rule)
        self._by_channel = {k: tuple(v) for k, v in by_channel.items()}
        self._plans = {k: _plan(v) for k, v in self._by_channel.items()}
        self._clauses: dict[str, Clauses] = {}
        # Per source: for each of its clauses, the ids of the rules that have it.
        self._owners: dict[str, tuple[frozenset[int], ...]] = {}
        # (source, indexes of satisfied clauses) -> the rules that may match, in channel order.
        self._candidates: dict[tuple[str, frozenset[int]], tuple[_Step, ...]] = {}
        # (source, channel) -> its rules, in order, with their remembered verdicts.
        self._steps: dict[tuple[str, str], tuple[_Step, ...]] = {}
        # The last record matched and the views built for it, for event_for().
        self._last: tuple[LogRecord | None, dict[str, Event]] = (None, {})

    @classmethod
    def load(
        cls, paths: Sequence[Path], *, builtin: bool = True, collect_errors: bool = False
    ) -> SigmaRuleSet:
        """The built-in rules (unless ``builtin=False``) plus every rule file under ``paths``.

        A rule under ``paths`` with the id of a built-in rule replaces it (a tenant's bundle
        tunes a threshold that way); any other repeated id is skipped. Correlation rules may
        reference rules of any file loaded.

        A broken rule raises :class:`RuleError` naming its file and rule, unless
        ``collect_errors``: then it is skipped and listed in :attr:`problems`. Rules that are
        valid but unsupported (logsource, modifier) are always skipped and listed.
        """
        builtin_dir = builtin_rules_dir() if builtin else None
        all_paths = ([builtin_dir] if builtin_dir else []) + list(paths)
        loaded, problems, version = load_rule_files(all_paths, collect_errors=collect_errors)
        chosen = _choose(loaded, builtin_dir, problems)

        def broken(item: LoadedRule, reason: str, exc: Exception) -> None:
            rid = rule_key(item.rule, item.file)
            if not collect_errors:
                raise RuleError(reason, file=str(item.file), rule_id=rid) from exc
            problems.append(RuleProblem(str(item.file), rid, item.rule.title, "error", reason))

        # Resolve correlation rules' references over every rule loaded.
        collection = SigmaCollection([i.rule for i in chosen], resolve_references=False)
        resolved: list[LoadedRule] = []
        for item in chosen:
            if isinstance(item.rule, SigmaCorrelationRule):
                try:
                    item.rule.resolve_rule_references(collection)
                    item.rule.aliases.resolve_rule_references(collection)
                except SigmaError as exc:
                    broken(item, f"correlation rule: {exc.args[0] if exc.args else exc}", exc)
                    continue
            resolved.append(item)
        keys = {id(i.rule): rule_key(i.rule, i.file) for i in resolved}
        silent = {
            keys.get(id(ref.rule), "")
            for i in resolved
            if isinstance(i.rule, SigmaCorrelationRule) and not i.rule.generate
            for ref in i.rule.referenced_rules
        }

        compiled: list[CompiledRule] = []
        correlations: list[tuple[LoadedRule, CorrelationSpec]] = []
        for item in resolved:
            rid = keys[id(item.rule)]
            try:
                if isinstance(item.rule, SigmaCorrelationRule):
                    spec = compile_correlation(
                        item.rule, item.file, lambda r: keys.get(id(r), ""), emit=rid not in silent
                    )
                    correlations.append((item, spec))
                else:
                    compiled.append(compile_rule(item, emit=rid not in silent))
            except UnsupportedRule as exc:
                problems.append(
                    RuleProblem(str(item.file), rid, item.rule.title, "unsupported", exc.reason)
                )
            except SigmaError as exc:
                broken(item, f"invalid Sigma: {exc.args[0] if exc.args else exc}", exc)
        usable = _usable_correlations(correlations, {r.detection.rule_id for r in compiled})
        for item, spec in correlations:
            if spec.detection.rule_id not in usable:
                problems.append(
                    RuleProblem(
                        str(item.file),
                        spec.detection.rule_id,
                        item.rule.title,
                        "unsupported",
                        "references a rule the agent does not evaluate",
                    )
                )
        specs = [spec for _, spec in correlations if spec.detection.rule_id in usable]
        return cls(compiled, version=version, problems=problems, correlations=specs)

    def correlator(self, *, defer: bool) -> Correlator:
        """Fresh correlation state over this rule set: ``defer`` for a hunt (one report per
        episode, no lateness limit), else live."""
        if defer:
            return Correlator(
                self.correlations,
                self._channels,
                defer=True,
                lateness_s=None,
                view=self.event_for,
            )
        return Correlator(self.correlations, self._channels, defer=False, view=self.event_for)

    def emits(self, rule_id: str) -> bool:
        """Whether matches of ``rule_id`` are reported on their own (not only correlated)."""
        return rule_id not in self._silent

    def __len__(self) -> int:
        return len(self.rules)

    def match(
        self,
        record: LogRecord,
        *,
        silent: bool = False,
        satisfied: frozenset[int] | None = None,
    ) -> list[Detection]:
        """Every rule that matches one log record (webserver rules see IIS and HttpProxy).

        ``silent``: include rules that only feed correlation rules (for a :class:`Correlator`).
        ``satisfied``: indexes into :meth:`clauses` of the record's source of every clause its
        raw line satisfies, when the caller knows (the hunt's prefilter): a rule none of whose
        clauses is among them cannot match and is not evaluated.
        """
        self._last = (record, {})  # views are built as rules need them (event_for)
        if satisfied is None:
            return self._match_all(record, silent)
        return [
            step.rule.detection
            for step in self._possible(record.source, satisfied)
            if (step.rule.emit or silent) and self._evaluate(step, record)
        ]

    def _match_all(self, record: LogRecord, silent: bool) -> list[Detection]:
        """:meth:`match` without knowing which clauses the line satisfies."""
        found: list[Detection] = []
        line: str | None = None
        for channel in channels_for_source(record.source):
            plan = self._plans.get(channel)
            if plan is None:
                continue
            quicks, indexes = plan
            # Verdicts of the distinct quick checks on this line (rules share most of them).
            passed: list[bool | None] = [None] * len(quicks)
            for step, quick in zip(self._steps_for(record.source, channel), indexes, strict=True):
                if not (step.rule.emit or silent):
                    continue
                if quick >= 0 and record.raw:
                    # The literals every match needs: a few substring tests spare the full
                    # evaluation of most rules on most records.
                    ok = passed[quick]
                    if ok is None:
                        if line is None:
                            line = normalize_folded(record.raw)
                        ok = passed[quick] = any(map(line.__contains__, quicks[quick]))
                    if not ok:
                        continue
                if self._evaluate(step, record):
                    found.append(step.rule.detection)
        return found

    def _steps_for(self, source: str, channel: str) -> tuple[_Step, ...]:
        steps = self._steps.get((source, channel))
        if steps is None:
            rules = self._by_channel.get(channel, ())
            steps = self._steps[(source, channel)] = tuple(_step(r, source) for r in rules)
        return steps

    def _possible(self, source: str, satisfied: frozenset[int]) -> tuple[_Step, ...]:
        """The rules that own one of the ``satisfied`` clauses of ``source``, channel after
        channel in evaluation order."""
        key = (source, satisfied)
        plan = self._candidates.get(key)
        if plan is None:
            if self.clauses(source) is None:
                raise ValueError(f"rules for {source!r} have no clauses to be satisfied")
            owners = self._owners[source]
            ids = {rule for index in satisfied for rule in owners[index]}
            plan = tuple(
                step
                for channel in channels_for_source(source)
                for step in self._steps_for(source, channel)
                if id(step.rule) in ids
            )
            if len(self._candidates) >= _MEMO_LIMIT:
                self._candidates.clear()
            self._candidates[key] = plan
        return plan

    def event_for(self, record: LogRecord, channel: str) -> Event:
        """The view of ``record`` that rules of ``channel`` see: the one the last :meth:`match`
        built if it was of this record (its normalised values are cached), else a new one,
        kept for the next call."""
        last, events = self._last
        if last is not record:
            events = {}
            self._last = (record, events)
        event = events.get(channel)
        if event is None:
            event = events[channel] = event_from_record(record, channel)
        return event

    def _evaluate(self, step: _Step, record: LogRecord) -> bool:
        """The rule's verdict on ``record``, remembered per value tuple of the columns it
        reads."""
        rule = step.rule
        if step.key is None:
            return rule.predicate(self.event_for(record, rule.channel))
        fields = record.fields
        try:
            key = step.key(fields)
        except KeyError:  # a column this log does not have
            key = tuple(map(fields.get, step.columns))
        memo = step.memo
        verdict = memo.get(key)
        if verdict is None:
            verdict = rule.predicate(self.event_for(record, rule.channel))
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[key] = verdict
        return verdict

    def match_event(self, logsource: str, fields: Mapping[str, str]) -> list[Detection]:
        """Every rule of ``logsource`` (a channel name such as ``process_creation`` or
        ``msexchange-management``) that matches an event given as field -> value."""
        channel = logsource.casefold()
        if channel not in EVENT_CHANNELS and channel not in EXCHANGE_SERVICES:
            raise ValueError(f"unknown logsource {logsource!r}")
        rules = self._by_channel.get(channel)
        if not rules:
            return []
        event = event_from_fields(channel, fields)
        return [r.detection for r in rules if r.emit and r.predicate(event)]

    def clauses(self, source: str) -> Clauses:
        """Prefilter for lines of ``source``: a line that can match satisfies at least one clause
        (contains every literal of it) after :func:`agent.sigma.matcher.normalize_folded`.

        None: no safe prefilter, every line is a candidate. Empty: no rule applies to ``source``.
        """
        if source not in self._clauses:
            owners: dict[frozenset[str], set[int]] = {}
            result: Clauses = None
            for channel in channels_for_source(source):
                for rule in self._by_channel.get(channel, ()):
                    # msexchange-management rules read text we compose from several columns
                    # ("Cmdlet X, parameters Y"), which the raw line does not contain as such.
                    if rule.clauses is None or channel == "msexchange-management":
                        break
                    for clause in rule.clauses:
                        owners.setdefault(clause, set()).add(id(rule))
                else:
                    continue
                break
            else:
                result = tuple(owners)
                self._owners[source] = tuple(frozenset(ids) for ids in owners.values())
            self._clauses[source] = result
        return self._clauses[source]

    def literals(self, source: str) -> frozenset[str] | None:
        """Case-folded literals, at least one of which occurs in any line of ``source`` that can
        match, after :func:`agent.sigma.matcher.normalize_folded`. None: no safe prefilter.
        (The most selective literal of each of :meth:`clauses`.)
        """
        clauses = self.clauses(source)
        if clauses is None:
            return None
        return frozenset(clause_literal(c) for c in clauses)


def _choose(
    loaded: Sequence[LoadedRule], builtin_dir: Path | None, problems: list[RuleProblem]
) -> list[LoadedRule]:
    """One rule per id: a rule outside the built-in folder replaces a built-in one; any other
    repeat (the same rule twice would alert twice) is skipped and listed."""
    chosen: dict[str, LoadedRule] = {}
    for item in loaded:
        rid = rule_key(item.rule, item.file)
        first = chosen.get(rid)
        if first is None:
            chosen[rid] = item
            continue
        if (
            builtin_dir is not None
            and first.file.is_relative_to(builtin_dir)
            and not item.file.is_relative_to(builtin_dir)
        ):
            problems.append(
                RuleProblem(str(first.file), rid, first.rule.title, "replaced", f"by {item.file}")
            )
            chosen[rid] = item
            continue
        problems.append(
            RuleProblem(
                str(item.file),
                rid,
                item.rule.title,
                "unsupported",
                f"duplicate rule id, already loaded from {first.file}",
            )
        )
    return list(chosen.values())


def _usable_correlations(
    correlations: Sequence[tuple[LoadedRule, CorrelationSpec]], base: set[str]
) -> set[str]:
    """Ids of the correlation rules whose references all end in rules the agent evaluates.

    Raises RuleError for a correlation rule that (through others) references itself.
    """
    by_id = {spec.detection.rule_id: (item, spec) for item, spec in correlations}
    usable: dict[str, bool] = {}
    visiting: set[str] = set()

    def check(rid: str) -> bool:
        if rid in usable:
            return usable[rid]
        if rid in base:
            return True
        if rid not in by_id:
            return False
        item, spec = by_id[rid]
        if rid in visiting:
            raise RuleError(
                "correlation rules reference each other in a cycle",
                file=str(item.file),
                rule_id=rid,
            )
        visiting.add(rid)
        ok = all(check(ref) for ref in spec.rules)
        visiting.discard(rid)
        usable[rid] = ok
        return ok

    return {rid for rid in by_id if check(rid)}
