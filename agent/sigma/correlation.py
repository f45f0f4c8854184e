"""Sigma correlation rules in the agent: aggregate detections over the stream of rule matches.

Only records that match a rule leave the host, so counts over many records (password spraying,
brute force) must be made here. A correlation rule (``correlation: type: event_count |
value_count | temporal | temporal_ordered``) names base rules (or other correlation rules); every
match of one of them is an *entry* for the group its ``group-by`` fields select, at the time the
record itself says it was written. Record time, not arrival time: hunting old logs gives the
same answer as watching live, and lines that arrive out of order within the window still count.

Firing: when some window of ``timespan`` holds enough entries for a group, an *episode* opens.
Later entries of that group within ``timespan`` of the episode's last one join it instead of
firing again; the episode closes when its group has been quiet for ``timespan``. Live
(``defer=False``) an episode is reported when it opens, again each time its count has doubled
since the last report, and once more when it closes if it grew since; a hunt (``defer=True``)
reports each episode once, when it closes, with its final count. Every report of one episode
carries the same rule, group and ``first_ns``.

State is bounded: groups per rule (least recently updated evicted first), entries per group
(oldest dropped), distinct values per episode (the count saturates there) and the values, files
and line numbers a report carries. Live, entries older than the newest record time minus
``timespan`` and the allowed lateness are dropped.
"""

from __future__ import annotations

import bisect
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sigma.correlations import (
    SigmaCorrelationCondition,
    SigmaCorrelationConditionOperator,
    SigmaCorrelationRule,
    SigmaCorrelationType,
)

from agent.detection import Detection, Severity
from agent.events import new_event
from agent.logrecord import LogRecord
from agent.sigma.fieldmap import Event, event_from_record
from agent.sigma.matcher import UnsupportedRule
from protos import exwatch_pb2 as pb

__all__ = [
    "CorrelationFinding",
    "CorrelationSpec",
    "Correlator",
    "compile_correlation",
    "record_time_ns",
]

_DEFAULT_SEVERITY = Severity.MEDIUM
_KINDS = {
    SigmaCorrelationType.EVENT_COUNT: "event_count",
    SigmaCorrelationType.VALUE_COUNT: "value_count",
    SigmaCorrelationType.TEMPORAL: "temporal",
    SigmaCorrelationType.TEMPORAL_ORDERED: "temporal_ordered",
}
# Thresholds that can be decided as records arrive; "fewer than" needs the window to end.
_OPS = {SigmaCorrelationConditionOperator.GTE: ">=", SigmaCorrelationConditionOperator.GT: ">"}

# IIS may write a line up to a minute after the request; live, an entry this late still counts.
LIVE_LATENESS_S = 120.0
MAX_GROUPS = 10_000  # per correlation rule
MAX_ENTRIES = 1_000  # per group (counts)
# temporal rules need only the latest few entries of each referenced rule
TEMPORAL_ENTRIES_PER_RULE = 16
MAX_DISTINCT = 50_000  # distinct values counted per episode
MAX_REPORTED_VALUES = 500  # values a report lists
MAX_FILES = 20
MAX_LINES = 50


@dataclass(frozen=True, slots=True)
class CorrelationSpec:
    """One compiled correlation rule."""

    detection: Detection
    kind: str  # event_count | value_count | temporal | temporal_ordered
    rules: tuple[str, ...]  # rule ids of the referenced rules, in order
    group_by: tuple[str, ...]
    # group-by alias -> referenced rule id -> that rule's field name
    aliases: Mapping[str, Mapping[str, str]]
    timespan_ns: int
    op: str  # ">=" or ">"
    threshold: float
    value_field: str | None  # value_count: the field whose distinct values are counted
    emit: bool  # False: only feeds other correlation rules (their ``generate: false``)
    file: Path

    def field_for(self, group_field: str, rule_id: str) -> str:
        """The field of ``rule_id``'s events that stands for ``group_field``."""
        return self.aliases.get(group_field, {}).get(rule_id, group_field)


def compile_correlation(
    rule: SigmaCorrelationRule, file: Path, rule_id_of: Callable[[Any], str], *, emit: bool
) -> CorrelationSpec:
    """A resolved pySigma correlation rule as the agent evaluates it. ``rule_id_of`` gives the
    detection rule id of a referenced (resolved) rule. Raises UnsupportedRule."""
    kind = _KINDS.get(rule.type)
    if kind is None:
        raise UnsupportedRule(f"correlation type {rule.type.name.lower()} is not evaluated here")
    condition = rule.condition
    if not isinstance(condition, SigmaCorrelationCondition):
        raise UnsupportedRule("extended (boolean) correlation conditions are not evaluated here")
    op = _OPS.get(condition.op)
    if op is None:
        raise UnsupportedRule(
            f"condition {condition.op.name.lower()}: only gte and gt thresholds can be decided "
            "as records arrive"
        )
    value_field: str | None = None
    if kind == "value_count":
        if not isinstance(condition.fieldref, str):
            raise UnsupportedRule("value_count counts the values of exactly one field")
        value_field = condition.fieldref
    refs = rule.referenced_rules
    rules = tuple(rule_id_of(ref.rule) for ref in refs)
    aliases: dict[str, dict[str, str]] = {}
    for alias in rule.aliases:
        aliases[alias.alias] = {rule_id_of(ref.rule): name for ref, name in alias.mapping.items()}
    level = rule.level.name if rule.level is not None else None
    detection = Detection(
        rule_id=str(rule.id) if rule.id else (rule.name or file.stem),
        title=rule.title,
        severity=Severity.parse(level) if level else _DEFAULT_SEVERITY,
        tags=tuple(str(tag) for tag in rule.tags),
        engine="sigma",
    )
    return CorrelationSpec(
        detection=detection,
        kind=kind,
        rules=rules,
        group_by=tuple(rule.group_by or ()),
        aliases=aliases,
        timespan_ns=rule.timespan.seconds * 1_000_000_000,
        op=op,
        threshold=float(condition.count),
        value_field=value_field,
        emit=emit,
        file=file,
    )


def record_time_ns(fields: Mapping[str, str]) -> int | None:
    """When a record says it was written (UTC), in ns; None if it does not say so."""
    if fields.get("date") and fields.get("time"):
        text = f"{fields['date']}T{fields['time']}"
    else:
        text = next(
            (
                fields[k]
                for k in ("DateTime", "TimeStamp", "date-time", "Timestamp")
                if fields.get(k)
            ),
            "",
        )
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1_000_000) * 1000


@dataclass(frozen=True, slots=True)
class CorrelationFinding:
    """One report of one episode of a correlation rule."""

    detection: Detection
    kind: str
    source: str
    group: Mapping[str, str]
    values: tuple[str, ...]  # distinct values counted (value_count), sorted, capped
    count: int  # records (event_count), distinct values (value_count), rules seen (temporal)
    first_ns: int
    last_ns: int
    files: tuple[str, ...]
    lines: tuple[int, ...]  # line numbers of sampled records in files[0]
    final: bool  # the episode has closed: no later report follows

    @property
    def file(self) -> str:
        return self.files[0] if self.files else ""

    @property
    def line(self) -> int:
        return self.lines[0] if self.lines else 0

    def summary(self) -> str:
        group = ", ".join(f"{k}={v}" for k, v in self.group.items())
        what = f"{self.count} distinct" if self.kind == "value_count" else str(self.count)
        return f"{what} ({self.kind}) for {group or 'all'}"

    def to_event(self, *, retro: bool = False) -> pb.Event:
        event = new_event(matches=[self.detection], retro=retro)
        event.correlation.CopyFrom(
            pb.CorrelationEvent(
                source=self.source,
                group=dict(self.group),
                values=list(self.values),
                count=self.count,
                first_ns=self.first_ns,
                last_ns=self.last_ns,
                files=list(self.files),
                lines=list(self.lines),
            )
        )
        return event

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "rule_id": self.detection.rule_id,
            "title": self.detection.title,
            "severity": self.detection.severity.name.lower(),
            "tags": list(self.detection.tags),
            "correlation": {
                "type": self.kind,
                "source": self.source,
                "group": dict(self.group),
                "values": list(self.values),
                "count": self.count,
                "first": _iso(self.first_ns),
                "last": _iso(self.last_ns),
                "files": list(self.files),
                "lines": list(self.lines),
            },
        }


def _iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat().replace("+00:00", "Z")


@dataclass(slots=True)
class _Entry:
    time_ns: int
    rule: int  # index into the spec's rules
    value: str  # the value_count field's value ("" when absent or not value_count)
    source: str
    file: str
    line: int


@dataclass(slots=True)
class _Episode:
    first_ns: int
    last_ns: int
    source: str
    records: int = 0
    distinct: set[str] = field(default_factory=set)
    values: list[str] = field(default_factory=list)
    rules: set[int] = field(default_factory=set)
    files: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    reported: int = 0  # metric at the last report (0: not reported yet)

    def add(self, entry: _Entry) -> None:
        self.first_ns = min(self.first_ns, entry.time_ns)
        self.last_ns = max(self.last_ns, entry.time_ns)
        self.records += 1
        self.rules.add(entry.rule)
        if entry.value and entry.value not in self.distinct and len(self.distinct) < MAX_DISTINCT:
            self.distinct.add(entry.value)
            if len(self.values) < MAX_REPORTED_VALUES:
                self.values.append(entry.value)
        if entry.file not in self.files and len(self.files) < MAX_FILES:
            self.files.append(entry.file)
        if entry.file == self.files[0] and len(self.lines) < MAX_LINES:
            self.lines.append(entry.line)


@dataclass(slots=True)
class _Group:
    key: tuple[str, ...]
    times: list[int] = field(default_factory=list)  # sorted; parallel to entries
    entries: list[_Entry] = field(default_factory=list)
    # value -> sorted times of the entries holding it: a distinct count over a window costs
    # one search per value, not one look at every entry (an account's own requests are many,
    # its addresses few).
    by_value: dict[str, list[int]] = field(default_factory=dict)
    # The latest time of each value, sorted: over a window that reaches the group's newest
    # entry (records mostly arrive in time order) the distinct count is one search.
    lasts: list[int] = field(default_factory=list)
    episode: _Episode | None = None

    def insert(self, entry: _Entry, cap: int) -> None:
        pos = bisect.bisect_right(self.times, entry.time_ns)
        self.times.insert(pos, entry.time_ns)
        self.entries.insert(pos, entry)
        if entry.value:
            self._add_value(entry.value, entry.time_ns)
        if len(self.entries) > cap:
            oldest = self.entries[0]
            del self.times[0], self.entries[0]
            if oldest.value:
                times = self.by_value[oldest.value]
                del times[bisect.bisect_left(times, oldest.time_ns)]
                if not times:  # its last time was the oldest one
                    del self.by_value[oldest.value]
                    del self.lasts[bisect.bisect_left(self.lasts, oldest.time_ns)]

    def _add_value(self, value: str, time_ns: int) -> None:
        times = self.by_value.get(value)
        if times is None:
            self.by_value[value] = [time_ns]
            bisect.insort(self.lasts, time_ns)
            return
        last = times[-1]
        bisect.insort(times, time_ns)
        if time_ns > last:
            del self.lasts[bisect.bisect_left(self.lasts, last)]
            bisect.insort(self.lasts, time_ns)

    def distinct(self, start: int, end: int) -> int:
        """How many values occur in the entries ``start:end`` (whose times span a window)."""
        times = self.times
        first, last = times[start], times[end - 1]
        if last == times[-1]:
            return len(self.lasts) - bisect.bisect_left(self.lasts, first)
        # Older window (records of another log arrive later): look at whichever is fewer, the
        # window's entries or the values.
        lo, hi = bisect.bisect_left(times, first), bisect.bisect_right(times, last)
        if hi - lo < len(self.by_value):
            return len({e.value for e in self.entries[lo:hi] if e.value})
        return sum(
            1
            for times in self.by_value.values()
            if (i := bisect.bisect_left(times, first)) < len(times) and times[i] <= last
        )


class _RuleState:
    """Windowed state of one correlation rule, per group key."""

    def __init__(self, spec: CorrelationSpec, max_groups: int, max_entries: int) -> None:
        self.spec = spec
        self.max_groups = max_groups
        temporal = spec.kind in ("temporal", "temporal_ordered")
        self.max_entries = (
            min(max_entries, TEMPORAL_ENTRIES_PER_RULE * len(spec.rules))
            if temporal
            else max_entries
        )
        self.groups: OrderedDict[tuple[str, ...], _Group] = OrderedDict()
        # Per referenced rule (by index): the names of its fields that hold the group-by
        # fields, and the counted value's field.
        self.fields = [
            (
                tuple(spec.field_for(g, rule_id) for g in spec.group_by),
                spec.field_for(spec.value_field, rule_id) if spec.value_field else None,
            )
            for rule_id in spec.rules
        ]

    def metric(self, group: _Group, start: int, end: int) -> int:
        """The condition's measure over ``group``'s entries ``start:end``."""
        kind = self.spec.kind
        if kind == "event_count":
            return end - start
        if kind == "value_count":
            return group.distinct(start, end)
        entries = group.entries[start:end]
        if kind == "temporal":
            return len({e.rule for e in entries})
        # temporal_ordered: how many of the rules occur in order (greedy, earliest first)
        want = 0
        for entry in entries:
            if entry.rule == want:
                want += 1
                if want == len(self.spec.rules):
                    break
        return want

    def episode_metric(self, episode: _Episode) -> int:
        kind = self.spec.kind
        if kind == "event_count":
            return episode.records
        if kind == "value_count":
            return len(episode.distinct)
        return len(episode.rules)

    def holds(self, metric: int) -> bool:
        if self.spec.op == ">=":
            return metric >= self.spec.threshold
        return metric > self.spec.threshold

    def window_holds(self, group: _Group, time_ns: int) -> tuple[int, int] | None:
        """(start, end) indexes of a window containing ``time_ns`` whose entries satisfy the
        condition, or None. Every such window can be shifted left until it ends on an entry
        within ``timespan`` after ``time_ns`` without losing entries, so those ends suffice."""
        span = self.spec.timespan_ns
        times = group.times
        lo = bisect.bisect_left(times, time_ns)
        hi = bisect.bisect_right(times, time_ns + span)
        for end in range(lo, hi):
            start = bisect.bisect_left(times, times[end] - span)
            if self.holds(self.metric(group, start, end + 1)):
                return start, end + 1
        return None


class Correlator:
    """Evaluates correlation rules over base-rule matches; one per stream (live, a hunt).

    Feed it with :meth:`observe` (every match, including rules that do not emit), collect
    reports with :meth:`drain`, and at the end of a stream with :meth:`flush`. Not thread-safe.
    """

    def __init__(
        self,
        specs: Sequence[CorrelationSpec],
        channels: Mapping[str, str],
        *,
        defer: bool,
        lateness_s: float | None = LIVE_LATENESS_S,
        max_groups: int = MAX_GROUPS,
        max_entries: int = MAX_ENTRIES,
        view: Callable[[LogRecord, str], Event] = event_from_record,
    ) -> None:
        """``channels``: base rule id -> Sigma channel (to read group-by fields of records);
        ``view`` makes the channel's view of a record (the rule set passes the one it matched).
        ``defer``: report episodes only when they close (hunts). ``lateness_s``: None keeps
        entries regardless of how far the newest record time has moved on (a hunt reads one
        log after another, each from its start)."""
        self.rules = specs
        self.channels = dict(channels)
        self.defer = defer
        self.lateness_ns = None if lateness_s is None else int(lateness_s * 1e9)
        self.states = [_RuleState(s, max_groups, max_entries) for s in specs]
        # rule id -> (state, index of the rule in that spec)
        self._listeners: dict[str, list[tuple[_RuleState, int]]] = {}
        for state in self.states:
            for index, rule_id in enumerate(state.spec.rules):
                self._listeners.setdefault(rule_id, []).append((state, index))
        self._watermark = 0
        # Reports not yet drained, one per episode (a later report of it replaces the earlier
        # one, so a batch of lines makes one report with the batch's final count).
        self._pending: dict[int, tuple[_RuleState, tuple[str, ...], _Episode, bool]] = {}
        self._since_sweep = 0
        self._view = view
        # A record matching several rules is observed once per rule: its time is read once.
        self._last: tuple[LogRecord | None, int] = (None, 0)

    def observe(self, record: LogRecord, detection: Detection) -> None:
        """One base-rule match of one record."""
        listeners = self._listeners.get(detection.rule_id)
        if not listeners:
            return
        last, when = self._last
        if last is not record:
            when = record_time_ns(record.fields) or time.time_ns()
            self._last = (record, when)
        channel = self.channels.get(detection.rule_id)
        event = self._view(record, channel) if channel else None
        seen: dict[str, str] = {}  # listeners mostly group by the same few fields

        def lookup(name: str) -> str:
            value = seen.get(name)
            if value is None:
                values = event.raw(name) if event is not None else ()
                value = seen[name] = values[0].strip().casefold() if values else ""
            return value

        for state, index in listeners:
            self._add(state, index, when, lookup, record)

    def _add(
        self,
        state: _RuleState,
        index: int,
        when: int,
        lookup: Callable[[str], str],
        record: LogRecord | CorrelationFinding,
    ) -> None:
        spec = state.spec
        group_fields, value_field = state.fields[index]
        key = tuple(map(lookup, group_fields))
        if not all(key):
            return  # a record without the group's fields belongs to no group
        value = lookup(value_field) if value_field else ""
        if value_field and not value:
            return
        entry = _Entry(when, index, value, record.source, record.file, record.line)
        self._watermark = max(self._watermark, when)
        if self.lateness_ns is not None:
            horizon = self._watermark - spec.timespan_ns - self.lateness_ns
            if when < horizon:
                return  # too late: its window has been given up
        group = state.groups.get(key)
        if group is None:
            if len(state.groups) >= state.max_groups:
                _, evicted = state.groups.popitem(last=False)
                self._close(state, evicted)
            group = state.groups[key] = _Group(key)
        else:
            state.groups.move_to_end(key)
        episode = group.episode
        if episode is not None and when > episode.last_ns + spec.timespan_ns:
            self._close(state, group)  # quiet for a whole window: that episode is over
            episode = None
        group.insert(entry, state.max_entries)
        if episode is not None:
            if when < episode.first_ns - spec.timespan_ns:
                return  # far older than the open episode: kept for windows, fires nothing
            episode.add(entry)
            metric = state.episode_metric(episode)
            if not self.defer and spec.emit and metric >= 2 * episode.reported:
                self._report(state, group, final=False)
        else:
            window = state.window_holds(group, when)
            if window is not None:
                self._open_episode(state, group, window)
        self._since_sweep += 1
        if self._since_sweep >= 1024:
            self._since_sweep = 0
            self._sweep()

    def _open_episode(self, state: _RuleState, group: _Group, window: tuple[int, int]) -> None:
        """The condition holds: the episode is the window plus the entries chained to it by
        gaps shorter than the timespan on either side."""
        span = state.spec.timespan_ns
        start, end = window
        times = group.times
        while start > 0 and times[start] - times[start - 1] <= span:
            start -= 1
        while end < len(times) and times[end] - times[end - 1] <= span:
            end += 1
        first = group.entries[start]
        episode = _Episode(first.time_ns, first.time_ns, first.source)
        for entry in group.entries[start:end]:
            episode.add(entry)
        group.episode = episode
        if not self.defer and state.spec.emit:
            self._report(state, group, final=False)
        # The episode is one match of this rule for the correlation rules that reference it,
        # at the time its window was completed.
        crossing = times[window[1] - 1]
        finding = self._finding(state, group.key, episode, final=False)
        rule_id = state.spec.detection.rule_id
        group_values = dict(zip(state.spec.group_by, group.key, strict=True))
        for outer, index in self._listeners.get(rule_id, ()):
            self._add(outer, index, crossing, lambda n: group_values.get(n, ""), finding)

    @staticmethod
    def _finding(
        state: _RuleState, key: tuple[str, ...], episode: _Episode, *, final: bool
    ) -> CorrelationFinding:
        spec = state.spec
        return CorrelationFinding(
            detection=spec.detection,
            kind=spec.kind,
            source=episode.source,
            group=dict(zip(spec.group_by, key, strict=True)),
            values=tuple(sorted(episode.values)),
            count=state.episode_metric(episode),
            first_ns=episode.first_ns,
            last_ns=episode.last_ns,
            files=tuple(episode.files),
            lines=tuple(sorted(episode.lines)),
            final=final,
        )

    def _report(self, state: _RuleState, group: _Group, *, final: bool) -> None:
        episode = group.episode
        assert episode is not None
        self._pending[id(episode)] = (state, group.key, episode, final)

    def _close(self, state: _RuleState, group: _Group) -> None:
        episode = group.episode
        if episode is None:
            return
        if state.spec.emit and state.episode_metric(episode) != episode.reported:
            self._report(state, group, final=True)
        group.episode = None

    def _sweep(self) -> None:
        """Live: close episodes whose group has been quiet past the window (plus lateness)
        and drop groups that can no longer fire."""
        if self.lateness_ns is None:
            return
        for state in self.states:
            horizon = self._watermark - state.spec.timespan_ns - self.lateness_ns
            while state.groups:
                key, group = next(iter(state.groups.items()))
                if group.times and group.times[-1] >= horizon:
                    break  # least recently updated first: the rest are newer
                self._close(state, group)
                del state.groups[key]

    def _take(self) -> list[CorrelationFinding]:
        out = []
        for state, key, episode, final in self._pending.values():
            episode.reported = state.episode_metric(episode)
            out.append(self._finding(state, key, episode, final=final))
        self._pending = {}
        return out

    def drain(self) -> list[CorrelationFinding]:
        """Reports made since the last call (live: new episodes, growth, closes), each with
        its episode's state now."""
        self._sweep()
        return self._take()

    def flush(self) -> list[CorrelationFinding]:
        """End of the stream: close every episode and return every report not yet taken."""
        for state in self.states:
            for group in list(state.groups.values()):
                self._close(state, group)
        return self._take()
