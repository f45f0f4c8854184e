"""Loading correlation rules: the built-in set, and clear errors for rules the engine
cannot run."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.correlation.rules import (
    CorrelationRuleError,
    Scope,
    builtin_rules,
    load_rules,
    parse_rules,
)
from protos import exwatch_pb2 as pb

BASE = """
title: a page
name: page
logsource: {product: exwatch}
detection:
  sel: {kind: file}
  condition: sel
"""


def test_builtin_rules_cover_every_chain_and_campaign() -> None:
    rules = builtin_rules()
    names = {c.name: c for c in rules.correlations}
    for chain, cve in [
        ("proxylogon", "cve.2021-26855"),
        ("proxyshell", "cve.2021-34473"),
        ("proxynotshell", "cve.2022-41040"),
        ("owassrf", "cve.2022-41080"),
    ]:
        rule = names[f"exwatch.chain.{chain}"]
        assert rule.type == "temporal_ordered"
        assert rule.scope is Scope.HOST
        assert cve in rule.tags
        assert rule.severity == pb.SEVERITY_CRITICAL
    assert names["exwatch.campaign.file"].scope is Scope.FLEET
    assert names["exwatch.webshell.requested"].group_by == ("host", "url_path")


def test_rules_load_from_files_with_references_across_them(tmp_path: Path) -> None:
    (tmp_path / "base.yml").write_text(BASE)
    (tmp_path / "count.yml").write_text(
        "title: pages\nname: pages\ncorrelation:\n  type: event_count\n  rules: [page]\n"
        "  group-by: [tenant]\n  timespan: 1h\n  condition: {gte: 3}\nlevel: low\n"
    )
    rules = load_rules(sorted(tmp_path.glob("*.yml")))
    [count] = rules.correlations
    assert (count.scope, count.threshold, count.timespan_ns) == (Scope.TENANT, 3, 3600 * 10**9)


def correlation(body: str, level: str = "level: high") -> str:
    return f"{BASE}---\ntitle: broken\nname: broken\ncorrelation:\n{body}\n{level}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("title: [unclosed", "not valid Sigma YAML"),
        (
            correlation("  type: temporal\n  rules: [nowhere]\n  group-by: [host]\n  timespan: 5m"),
            "refers to unknown rules nowhere",
        ),
        (
            correlation(
                "  type: value_sum\n  rules: [page]\n  group-by: [host]\n  timespan: 5m\n"
                "  condition: {gte: 3, field: size}"
            ),
            "value_sum is not supported",
        ),
        (
            correlation(
                "  type: event_count\n  rules: [page]\n  group-by: [host]\n  timespan: 5m\n"
                "  condition: {lt: 3}"
            ),
            "use gte or gt",
        ),
        (
            correlation(
                "  type: temporal\n  rules: [page]\n  group-by: [host]\n  timespan: 5m", ""
            ),
            "has no level",
        ),
        (
            correlation(
                "  type: temporal\n  rules: [page]\n  group-by: [host]\n  timespan: 5 minutes"
            ),
            "(?i)timespan '5 minutes' is invalid",
        ),
        (
            BASE.replace("sel: {kind: file}", "sel: {kind|fieldref: other}"),
            "cannot evaluate",
        ),
    ],
)
def test_malformed_rules_get_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(CorrelationRuleError, match=message) as caught:
        parse_rules([("rules/broken.yml", text)])
    assert "rules/broken.yml" in str(caught.value)


def test_unreadable_rule_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(CorrelationRuleError, match=r"missing\.yml: cannot read"):
        load_rules([tmp_path / "missing.yml"])
