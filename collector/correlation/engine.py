"""The correlation engine: feeds each committed event that matched a base rule into the
windows of the correlation rules that use it, and says which rules fired.

Windows are kept per (rule, group) as a small JSON document in the store (``Windows``),
read and written inside the transaction that commits the event, so a collector restart
neither forgets an open window nor fires one twice. Times are host times: events arrive out
of order (IIS writes its log up to a minute late), so a window is judged over everything it
holds, whatever the arrival order, and sequence steps may be out of order by ``LATE_NS``.

A rule fires once per window; more evidence inside that window is reported again as
``new=False`` so that it attaches to the alert the first firing opened.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Protocol

from collector.correlation.matcher import Predicate
from collector.correlation.rules import CorrelationRule, RuleSet, Scope
from collector.correlation.view import EventView, FlatEvent, log_columns
from protos import exwatch_pb2 as pb

# How late a log line may be written after the thing it records happened.
LATE_NS = 60 * 10**9
# Sightings kept per window and step: enough for every threshold a rule sensibly sets,
# bounded so that a flood cannot grow a window without limit.
MAX_SIGHTINGS = 100
# Remembered verdicts on log records before the memory is cleared (requests repeat a few
# pages; a rule on a column with many values, such as the client address, churns it).
_MEMO_LIMIT = 4096


class Windows(Protocol):
    """Where open windows live: the store, in the transaction that commits the events."""

    def load_window(self, rule: str, group: str) -> str | None: ...

    def save_window(self, rule: str, group: str, state: str, expires_ns: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Observation:
    """A committed event and the base rules it matched."""

    flat: FlatEvent
    hits: frozenset[str]


@dataclass(frozen=True, slots=True)
class Fired:
    rule: CorrelationRule
    group: tuple[tuple[str, str], ...]  # the group-by fields and their values
    tenant: str  # of the event that made it fire
    agent_id: str
    hostname: str
    evidence: tuple[int, ...]  # store references of the events to link: all in the window
    # when it first fires, the one new event afterwards
    first_ns: int
    last_ns: int
    # Over the whole window: events (event_count), distinct values (value_count) or steps.
    count: int
    hosts: int
    tenants: int
    hostnames: tuple[str, ...]  # of the hosts in the window
    new: bool  # False: more evidence for a firing already reported in this window


# A sighting: (step index, host time, store reference, counted value, tenant, agent id,
# host name).
Sighting = tuple[int, int, int, str, str, str, str]


class Correlator:
    def __init__(self, rules: RuleSet) -> None:
        self._using = {name: rules.using(name) for name in rules.base}
        # The base rules worth trying, per (event kind, whether host rules matched it):
        # most events are of a kind, or without the matches, that most rules need.
        self._candidates: dict[tuple[str, bool], list[tuple[str, Predicate]]] = {}
        self._any: dict[bool, list[tuple[str, Predicate]]] = {True: [], False: []}
        for name, rule in rules.base.items():
            if not self._using[name]:
                continue
            for matched in (True, False) if not rule.needs_matches else (True,):
                if rule.kinds is None:
                    self._any[matched].append((name, rule.matches))
                for kind in rule.kinds or ():
                    self._candidates.setdefault((kind, matched), []).append((name, rule.matches))
        # Log records that no host rule matched are most of what is committed, and repeat a
        # few requests: the rules' verdicts are remembered per (source, values of the raw
        # columns those rules read), when they read nothing else.
        names = {name for name, _ in self._rules("log", False)}
        read = [f for name in names if (f := rules.base[name].fields) is not None]
        self._log_columns = log_columns(set().union(*read)) if len(read) == len(names) else None
        self._log_hits: dict[tuple[str | None, ...], frozenset[str]] = {}

    def match(
        self, tenant: str, agent_id: str, hostname: str, event: pb.Event
    ) -> Observation | None:
        """The base rules this event matches, or None when no correlation uses it."""
        matched = len(event.matches) > 0
        kind = event.WhichOneof("body") or ""
        if kind == "log" and not matched and self._log_columns is not None:
            return self._match_log(tenant, agent_id, hostname, event, self._log_columns)
        rules = self._rules(kind, matched)
        if not rules:
            return None
        flat = EventView(tenant, agent_id, hostname, event)
        hits = frozenset(name for name, matches in rules if matches(flat))
        return Observation(flat, hits) if hits else None

    def _rules(self, kind: str, matched: bool) -> list[tuple[str, Predicate]]:
        rules = self._candidates.get((kind, matched), [])
        return rules + self._any[matched] if self._any[matched] else rules

    def _match_log(
        self,
        tenant: str,
        agent_id: str,
        hostname: str,
        event: pb.Event,
        columns: tuple[str, ...],
    ) -> Observation | None:
        """:meth:`match` for a log record without host matches, remembered per the values of
        ``columns``."""
        record = event.log
        key = (record.source, *map(record.fields.get, columns))
        hits = self._log_hits.get(key)
        flat = None
        if hits is None:
            flat = EventView(tenant, agent_id, hostname, event)
            hits = frozenset(name for name, matches in self._rules("log", False) if matches(flat))
            if len(self._log_hits) >= _MEMO_LIMIT:
                self._log_hits.clear()
            self._log_hits[key] = hits
        if not hits:
            return None
        if flat is None:
            flat = EventView(tenant, agent_id, hostname, event)
        return Observation(flat, hits)

    def observe(
        self, observation: Observation, ref: int, time_ns: int, windows: Windows
    ) -> list[Fired]:
        """Add the event (``ref``: how the store names it) to every window it belongs to."""
        fired = []
        rules = {r.id: r for name in observation.hits for r in self._using[name]}
        for rule in rules.values():
            result = self._feed(rule, observation, ref, time_ns, windows)
            if result is not None:
                fired.append(result)
        return fired

    def _feed(
        self, rule: CorrelationRule, obs: Observation, ref: int, time_ns: int, windows: Windows
    ) -> Fired | None:
        flat = obs.flat
        group = tuple((f, _text(flat.get(f, ""))) for f in rule.group_by)
        if any(not value for _, value in group):
            return None  # nothing to group on (a request without an address...)
        values = _values(flat.get(rule.field, "")) if rule.field else ("",)
        if not values:
            return None
        tenant, agent_id = _text(flat["tenant"]), _text(flat["agent_id"])
        key = json.dumps([*_scope_key(rule.scope, tenant, agent_id), *(v for _, v in group)])
        text = windows.load_window(rule.id, key)
        state = json.loads(text) if text else {"s": [], "f": None}
        sightings: list[Sighting] = [tuple(s) for s in state["s"]]
        span = rule.timespan_ns + LATE_NS
        for step, name in enumerate(rule.steps):
            if name in obs.hits:
                sightings += [
                    (step, time_ns, ref, v, tenant, agent_id, _text(flat["host"])) for v in values
                ]
        newest = max(s[1] for s in sightings)
        sightings = _bounded([s for s in sightings if s[1] >= newest - span])
        result = None
        done = state["f"]
        if done is not None and time_ns > done[0] + span:
            # That window is over: what it used cannot fire again.
            sightings = [s for s in sightings if s[1] > done[1]]
            done = None
        if done is not None:
            # Fired already: evidence inside the window attaches; an older straggler is kept.
            inside = [s for s in sightings if done[0] - LATE_NS <= s[1] <= done[0] + span]
            if any(s[2] == ref for s in inside):
                result = self._fired(rule, group, flat, inside, (ref,), False)
        else:
            window = _find(rule, sightings)
            if window is not None:
                done = [min(s[1] for s in window), max(s[1] for s in window)]
                inside = [s for s in sightings if done[0] - LATE_NS <= s[1] <= done[0] + span]
                evidence = tuple(s[2] for s in inside)
                result = self._fired(rule, group, flat, inside, evidence, True)
        windows.save_window(rule.id, key, json.dumps({"s": sightings, "f": done}), newest + span)
        return result

    @staticmethod
    def _fired(
        rule: CorrelationRule,
        group: tuple[tuple[str, str], ...],
        flat: FlatEvent,
        window: list[Sighting],
        evidence: tuple[int, ...],
        new: bool,
    ) -> Fired:
        return Fired(
            rule=rule,
            group=group,
            tenant=_text(flat["tenant"]),
            agent_id=_text(flat["agent_id"]),
            hostname=_text(flat["host"]),
            evidence=tuple(sorted(set(evidence))),
            first_ns=min(s[1] for s in window),
            last_ns=max(s[1] for s in window),
            count=_count(rule, window),
            hosts=len({s[5] for s in window}),
            tenants=len({s[4] for s in window}),
            hostnames=tuple(sorted({s[6] for s in window})),
            new=new,
        )


def _scope_key(scope: Scope, tenant: str, agent_id: str) -> tuple[str, ...]:
    """Host and tenant windows never mix tenants, whatever the rule groups by."""
    if scope is Scope.HOST:
        return (tenant, agent_id)
    if scope is Scope.TENANT:
        return (tenant,)
    return ()


def _text(value: object) -> str:
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def _values(value: object) -> tuple[str, ...]:
    if isinstance(value, tuple):
        return tuple(v for v in value if v)
    return (str(value),) if value else ()


def _bounded(sightings: list[Sighting]) -> list[Sighting]:
    """The newest MAX_SIGHTINGS of each step."""
    kept: list[Sighting] = []
    for step in {s[0] for s in sightings}:
        mine = sorted((s for s in sightings if s[0] == step), key=lambda s: s[1])
        kept += mine[-MAX_SIGHTINGS:]
    return sorted(kept, key=lambda s: (s[1], s[2], s[0]))


def _count(rule: CorrelationRule, window: list[Sighting]) -> int:
    if rule.type == "value_count":
        return len({s[3] for s in window})
    if rule.type == "event_count":
        return len({s[2] for s in window})
    return len({s[0] for s in window})


def _find(rule: CorrelationRule, sightings: list[Sighting]) -> list[Sighting] | None:
    """The sightings of one window in which the rule's condition holds, or None."""
    if rule.type == "temporal_ordered":
        return _sequence(rule, sightings)
    span = rule.timespan_ns + LATE_NS
    for i, first in enumerate(sightings):  # sorted by time: each as a window's start
        window = [s for s in sightings[i:] if s[1] - first[1] <= span]
        if _count(rule, window) >= rule.threshold:
            return window
    return None


def _sequence(rule: CorrelationRule, sightings: list[Sighting]) -> list[Sighting] | None:
    """Every step in order (each no earlier than the one before, less LATE_NS), all within
    the timespan of the first. Taking the earliest fitting sighting for each step is never
    worse for the steps after it."""
    span = rule.timespan_ns + LATE_NS
    by_step = [[s for s in sightings if s[0] == step] for step in range(len(rule.steps))]
    for start in by_step[0]:
        chain, at, used = [start], start[1], {start[2]}
        for candidates in by_step[1:]:
            nxt = next(
                (
                    s
                    for s in candidates
                    if s[2] not in used and s[1] >= at - LATE_NS and s[1] - start[1] <= span
                ),
                None,
            )
            if nxt is None:
                break
            chain.append(nxt)
            used.add(nxt[2])
            at = max(at, nxt[1])
        else:
            return chain
    return None
