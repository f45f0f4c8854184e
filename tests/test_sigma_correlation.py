"""Sigma correlation rules in the agent: loading, each type's semantics, windows, state caps."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pytest

from agent.detection import Severity
from agent.logrecord import LogRecord
from agent.sigma import RuleError, SigmaRuleSet
from agent.sigma.correlation import CorrelationFinding, Correlator, _Entry, _Group

FAIL_ID = "5b0c3f0e-6a43-4d67-9d52-1f7f5d7a0001"
OK_ID = "5b0c3f0e-6a43-4d67-9d52-1f7f5d7a0002"
CORR_ID = "5b0c3f0e-6a43-4d67-9d52-1f7f5d7a0003"

BASE = f"""
title: Refused
id: {FAIL_ID}
name: refused
logsource:
  category: webserver
detection:
  selection:
    sc-status: 401
  condition: selection
level: low
---
title: Answered
id: {OK_ID}
name: answered
logsource:
  category: webserver
detection:
  selection:
    sc-status: 200
  condition: selection
level: low
"""


def correlation(body: str, *, level: str = "high", extra: str = "") -> str:
    return (
        f"title: Test correlation\nid: {CORR_ID}\n{extra}correlation:\n"
        + textwrap.indent(textwrap.dedent(body).strip(), "  ")
        + f"\nlevel: {level}\n"
    )


def ruleset(tmp_path: Path, corr: str, base: str = BASE) -> SigmaRuleSet:
    folder = tmp_path / "rules"
    folder.mkdir(exist_ok=True)
    (folder / "base.yml").write_text(base)
    (folder / "corr.yml").write_text(corr)
    return SigmaRuleSet.load([folder], builtin=False)


def rec(
    seconds: int, user: str = "alice", ip: str = "203.0.113.7", status: int = 401, line: int = 1
) -> LogRecord:
    hh, rest = divmod(seconds, 3600)
    mm, ss = divmod(rest, 60)
    fields = {
        "date": "2026-01-20",
        "time": f"{8 + hh:02d}:{mm:02d}:{ss:02d}",
        "cs-method": "POST",
        "cs-uri-stem": "/EWS/Exchange.asmx",
        "cs-uri-query": "-",
        "s-port": "443",
        "cs-username": user,
        "c-ip": ip,
        "sc-status": str(status),
    }
    return LogRecord("iis", fields, "u_ex260120.log", line, " ".join(fields.values()))


def run(
    rules: SigmaRuleSet, records: list[LogRecord], *, defer: bool = True
) -> list[CorrelationFinding]:
    correlator = rules.correlator(defer=defer)
    out: list[CorrelationFinding] = []
    for record in records:
        for detection in rules.match(record, silent=True):
            correlator.observe(record, detection)
        out += correlator.drain()
    return out + correlator.flush()


EVENT_COUNT = """
type: event_count
rules: [refused]
group-by: [cs-username]
timespan: 10m
condition:
  gte: 5
"""


def test_event_count_fires_once_at_threshold_not_below(tmp_path: Path) -> None:
    rules = ruleset(tmp_path, correlation(EVENT_COUNT))
    assert run(rules, [rec(i * 10) for i in range(4)]) == []
    [found] = run(rules, [rec(i * 10, line=i + 1) for i in range(9)])
    assert found.count == 9  # the whole episode, reported once
    assert found.group == {"cs-username": "alice"}
    assert found.detection.rule_id == CORR_ID
    assert found.detection.severity == Severity.HIGH
    assert found.lines == tuple(range(1, 10))
    assert found.final


def test_event_count_window_edges_are_inclusive(tmp_path: Path) -> None:
    rules = ruleset(tmp_path, correlation(EVENT_COUNT))
    # five records, first to last exactly 10 minutes: inside one window
    assert len(run(rules, [rec(i * 150) for i in range(5)])) == 1
    # one second more: no window of 10 minutes holds five
    assert run(rules, [rec(i * 150) for i in range(4)] + [rec(601)]) == []


def test_gt_needs_more_than_the_count(tmp_path: Path) -> None:
    rules = ruleset(tmp_path, correlation(EVENT_COUNT.replace("gte", "gt")))
    assert run(rules, [rec(i) for i in range(5)]) == []
    assert len(run(rules, [rec(i) for i in range(6)])) == 1


def test_groups_are_counted_apart(tmp_path: Path) -> None:
    rules = ruleset(tmp_path, correlation(EVENT_COUNT))
    records = [rec(i, user=f"user{i % 3}") for i in range(12)]  # four each
    assert run(rules, records) == []
    found = run(rules, [*records, rec(20, user="user1")])
    assert [f.group for f in found] == [{"cs-username": "user1"}]


def test_out_of_order_within_window_gives_the_same_answer(tmp_path: Path) -> None:
    rules = ruleset(tmp_path, correlation(EVENT_COUNT))
    records = [rec(i * 30, line=i + 1) for i in range(8)]
    in_order = run(rules, records)
    shuffled = records[:]
    random.Random(7).shuffle(shuffled)
    assert run(rules, shuffled) == in_order
    assert run(rules, shuffled, defer=False)[-1].count == 8


def test_a_quiet_window_ends_the_episode(tmp_path: Path) -> None:
    rules = ruleset(tmp_path, correlation(EVENT_COUNT))
    first = [rec(i) for i in range(5)]
    second = [rec(3600 + i) for i in range(6)]
    found = run(rules, first + second)
    assert [f.count for f in found] == [5, 6]
    assert found[0].first_ns < found[1].first_ns


VALUE_COUNT = """
type: value_count
rules: [refused]
group-by: [c-ip]
timespan: 1h
condition:
  gte: 10
  field: cs-username
"""


def test_value_count_counts_distinct_values(tmp_path: Path) -> None:
    rules = ruleset(tmp_path, correlation(VALUE_COUNT))
    same_nine = [rec(i, user=f"user{i % 9}") for i in range(40)]
    assert run(rules, same_nine) == []
    [found] = run(rules, [*same_nine, rec(50, user="USER9")])
    assert found.count == 10
    assert sorted(found.values) == sorted(f"user{i}" for i in range(10))  # case folded
    assert found.group == {"c-ip": "203.0.113.7"}


def test_records_without_the_group_or_value_field_count_for_nothing(tmp_path: Path) -> None:
    rules = ruleset(tmp_path, correlation(VALUE_COUNT))
    assert run(rules, [rec(i, user=f"u{i}", ip="-") for i in range(20)]) == []
    assert run(rules, [rec(i, user="-") for i in range(20)]) == []


def test_live_reports_on_open_on_doubling_and_on_close(tmp_path: Path) -> None:
    rules = ruleset(tmp_path, correlation(EVENT_COUNT))
    correlator = rules.correlator(defer=False)
    counts: list[tuple[int, bool]] = []
    for i in range(23):
        record = rec(i)
        for detection in rules.match(record, silent=True):
            correlator.observe(record, detection)
        counts += [(f.count, f.final) for f in correlator.drain()]
    assert counts == [(5, False), (10, False), (20, False)]
    # The group goes quiet; a record far later closes the episode with its final count.
    later = rec(7200)
    for detection in rules.match(later, silent=True):
        correlator.observe(later, detection)
    assert [(f.count, f.final) for f in correlator.drain()] == [(23, True)]


def test_live_batch_makes_one_report_with_the_final_count(tmp_path: Path) -> None:
    rules = ruleset(tmp_path, correlation(VALUE_COUNT))
    correlator = rules.correlator(defer=False)
    for i in range(50):
        record = rec(i, user=f"user{i}")
        for detection in rules.match(record, silent=True):
            correlator.observe(record, detection)
    [report] = correlator.drain()
    assert report.count == 50 and not report.final
    assert correlator.flush() == []  # nothing grew since


TEMPORAL = """
type: temporal
rules: [refused, answered]
group-by: [cs-username]
timespan: 5m
"""


def test_temporal_needs_every_rule_within_the_window_in_any_order(tmp_path: Path) -> None:
    rules = ruleset(tmp_path, correlation(TEMPORAL))
    assert len(run(rules, [rec(0, status=200), rec(60, status=401)])) == 1
    assert run(rules, [rec(0, status=200), rec(301, status=401)]) == []
    assert run(rules, [rec(0, status=401), rec(1, status=401)]) == []


ORDERED = """
type: temporal_ordered
rules: [refused, answered]
group-by: [cs-username, c-ip]
timespan: 5m
"""


def test_temporal_ordered_needs_the_order_of_record_times(tmp_path: Path) -> None:
    rules = ruleset(tmp_path, correlation(ORDERED))
    assert run(rules, [rec(0, status=200), rec(60, status=401)]) == []
    [found] = run(rules, [rec(0, status=401), rec(60, status=200)])
    assert found.count == 2
    assert found.group == {"cs-username": "alice", "c-ip": "203.0.113.7"}
    # Arriving out of order (the later line first) still follows the records' times.
    assert len(run(rules, [rec(60, status=200), rec(0, status=401)])) == 1
    assert run(rules, [rec(0, status=401), rec(60, status=200, ip="198.51.100.1")]) == []


def test_nested_correlation_and_generate(tmp_path: Path) -> None:
    inner = correlation(
        """
        type: event_count
        rules: [refused]
        group-by: [cs-username, c-ip]
        timespan: 10m
        condition:
          gte: 3
        """,
        extra="name: many_refused\n",
    )
    outer = (
        "title: Success after failures\nid: 5b0c3f0e-6a43-4d67-9d52-1f7f5d7a0004\n"
        "correlation:\n  type: temporal_ordered\n  rules: [many_refused, answered]\n"
        "  group-by: [cs-username, c-ip]\n  timespan: 1h\nlevel: critical\n"
    )
    rules = ruleset(tmp_path, inner + "---\n" + outer)
    # generate defaults to false: neither base rule nor the inner correlation reports itself
    assert rules.match(rec(0, status=200)) == []
    assert not rules.emits(FAIL_ID) and not rules.emits(OK_ID) and not rules.emits(CORR_ID)
    found = run(rules, [rec(i, status=401) for i in range(3)] + [rec(100, status=200)])
    assert [f.detection.severity for f in found] == [Severity.CRITICAL]
    # Two failures are not "many": the success alone is nothing.
    assert run(rules, [rec(i, status=401) for i in range(2)] + [rec(100, status=200)]) == []
    generating = ruleset(tmp_path, correlation(EVENT_COUNT + "generate: true\n"))
    assert generating.match(rec(0))[0].rule_id == FAIL_ID


def test_aliases_map_group_fields_per_rule(tmp_path: Path) -> None:
    corr = correlation(
        """
        type: temporal
        rules: [refused, answered]
        group-by: [account]
        timespan: 5m
        aliases:
          account:
            refused: cs-username
            answered: c-ip
        """
    )
    rules = ruleset(tmp_path, corr)
    found = run(rules, [rec(0, user="x", status=401), rec(5, ip="x", status=200)])
    assert [f.group for f in found] == [{"account": "x"}]


def test_state_is_capped(tmp_path: Path) -> None:
    rules = ruleset(tmp_path, correlation(EVENT_COUNT))
    correlator = Correlator(
        rules.correlations,
        {FAIL_ID: "webserver", OK_ID: "webserver"},
        defer=True,
        lateness_s=None,
        max_groups=3,
        max_entries=6,
    )
    for i in range(100):
        record = rec(i, user=f"user{i}")
        for detection in rules.match(record, silent=True):
            correlator.observe(record, detection)
    [state] = correlator.states
    assert len(state.groups) == 3
    for i in range(100):
        record = rec(i)
        for detection in rules.match(record, silent=True):
            correlator.observe(record, detection)
    assert len(state.groups[("alice",)].entries) == 6
    [found] = correlator.flush()
    assert found.count == 100  # the episode still counts every record


@pytest.mark.parametrize("seed", range(20))
def test_value_count_distinct_matches_a_recount_of_the_window(seed: int) -> None:
    # The group keeps distinct counts incrementally (records mostly arrive in time order);
    # whatever the order, caps and ties, every window must count what a recount finds.
    rng = random.Random(seed)
    group = _Group(("g",))
    for _ in range(300):
        time_ns = rng.randrange(60) if rng.random() < 0.2 else 40 + rng.randrange(100)
        value = rng.choice("abcdefghij")
        group.insert(_Entry(time_ns, 0, value, "iis", "f", 1), cap=40)
        for _ in range(3):
            start = rng.randrange(len(group.times))
            end = rng.randrange(start, len(group.times)) + 1
            first, last = group.times[start], group.times[end - 1]
            expected = {e.value for e in group.entries if first <= e.time_ns <= last}
            assert group.distinct(start, end) == len(expected)
        assert group.lasts == sorted(times[-1] for times in group.by_value.values())


def test_live_drops_records_later_than_the_window_allows(tmp_path: Path) -> None:
    rules = ruleset(tmp_path, correlation(EVENT_COUNT))
    now = [rec(7200 + i, user="bob") for i in range(1)]
    stale = [rec(i) for i in range(10)]  # two hours older than the newest record
    assert run(rules, now + stale, defer=False) == []
    assert len(run(rules, now + stale, defer=True)) == 1  # a hunt takes the logs in any order


@pytest.mark.parametrize(
    ("corr", "message"),
    [
        (correlation("type: event_count\nrules: [refused]\ncondition:\n  gte: 3"), "timespan"),
        (correlation("type: event_count\nrules: [refused]\ntimespan: 5m"), "condition"),
        (correlation("type: sometimes\nrules: [refused]\ntimespan: 5m"), "sometimes"),
        (
            correlation("type: event_count\nrules: [nope]\ntimespan: 5m\ncondition:\n  gte: 3"),
            "'nope' not found",
        ),
        (
            correlation("type: event_count\nrules: [refused]\ntimespan: 5x\ncondition:\n  gte: 3"),
            "5x",
        ),
    ],
)
def test_malformed_correlation_rule_is_a_clear_error(
    tmp_path: Path, corr: str, message: str
) -> None:
    with pytest.raises(RuleError) as caught:
        ruleset(tmp_path, corr)
    assert caught.value.file.endswith("corr.yml")
    assert caught.value.rule_id == CORR_ID
    assert message in str(caught.value)


def test_cycle_between_correlation_rules_is_an_error(tmp_path: Path) -> None:
    a = correlation(
        "type: event_count\nrules: [b]\ntimespan: 5m\ncondition:\n  gte: 3", extra="name: a\n"
    )
    b = (
        "title: B\nid: 5b0c3f0e-6a43-4d67-9d52-1f7f5d7a0005\nname: b\ncorrelation:\n"
        "  type: event_count\n  rules: [a]\n  timespan: 5m\n  condition:\n    gte: 3\n"
    )
    with pytest.raises(RuleError, match="cycle"):
        ruleset(tmp_path, a + "---\n" + b)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            "type: value_sum\nrules: [refused]\ntimespan: 5m\ncondition:\n  gte: 3\n  field: x",
            "value_sum",
        ),
        (
            "type: event_count\nrules: [refused]\ntimespan: 5m\ncondition:\n  lt: 3",
            "only gte and gt",
        ),
    ],
)
def test_unsupported_correlation_rule_is_listed_not_loaded(
    tmp_path: Path, body: str, reason: str
) -> None:
    rules = ruleset(tmp_path, correlation(body))
    assert rules.correlations == ()
    [problem] = [p for p in rules.problems if p.rule_id == CORR_ID]
    assert problem.kind == "unsupported" and reason in problem.reason


def test_a_rule_in_a_later_folder_replaces_a_builtin_of_the_same_id(tmp_path: Path) -> None:
    builtin = SigmaRuleSet.load([])
    spray = next(c for c in builtin.correlations if c.detection.title.startswith("Password Spray"))
    text = (spray.file.read_text()).replace("gte: 10", "gte: 25")
    (tmp_path / "tenant").mkdir()
    (tmp_path / "tenant" / "spray.yml").write_text(text)
    tuned = SigmaRuleSet.load([tmp_path / "tenant"])
    [replaced] = [c for c in tuned.correlations if c.detection.rule_id == spray.detection.rule_id]
    assert replaced.threshold == 25
    assert replaced.file == tmp_path / "tenant" / "spray.yml"
    assert any(
        p.kind == "replaced" and p.rule_id == spray.detection.rule_id for p in tuned.problems
    )
    # Two user folders with the same id: the second is a duplicate, not a replacement.
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "spray.yml").write_text(text.replace("gte: 25", "gte: 30"))
    both = SigmaRuleSet.load([tmp_path / "tenant", tmp_path / "other"])
    [kept] = [c for c in both.correlations if c.detection.rule_id == spray.detection.rule_id]
    assert kept.threshold == 25
    assert any("duplicate rule id" in p.reason for p in both.problems)
