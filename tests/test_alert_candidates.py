"""Built-in per-event alert rules, without a store."""

from __future__ import annotations

import pytest

from collector.alerting.candidates import candidates_for, merge_details
from collector.alerting.correlated import correlated
from collector.correlation.engine import Fired
from collector.correlation.rules import builtin_rules, parse_rules
from protos import exwatch_pb2 as pb


def file_event(path: str, action: int = pb.FILE_ACTION_CREATED, **kw) -> pb.Event:
    return pb.Event(
        id="e",
        host_time_ns=1,
        file=pb.FileEvent(action=action, path=path, sha256="a" * 64, root_kind="webroot", **kw),
    )


@pytest.mark.parametrize("name", ["shell.aspx", "x.ASHX", "s.asmx", "a.asp", "b.cshtml", "c.aspx "])
def test_new_page_raises_one_high_alert(name: str) -> None:
    [cand] = candidates_for(
        "t", "a1", "EXCH01", file_event(rf"C:\inetpub\wwwroot\aspnet_client\{name}")
    )
    assert cand.severity == pb.SEVERITY_HIGH
    assert cand.rule == "exwatch.webroot.page_written"
    assert "attack.t1505.003" in cand.tags
    assert cand.details["sha256"] == "a" * 64


def test_same_path_same_fingerprint_case_insensitive() -> None:
    a = candidates_for("t", "a1", "h", file_event(r"C:\x\Shell.aspx"))[0]
    b = candidates_for("t", "a1", "h", file_event(r"C:\x\shell.aspx", pb.FILE_ACTION_MODIFIED))[0]
    c = candidates_for("t", "a2", "h", file_event(r"C:\x\shell.aspx"))[0]
    assert a.fingerprint == b.fingerprint != c.fingerprint


@pytest.mark.parametrize("name", ["readme.txt", "logo.png", "web.config.bak", "noext"])
def test_non_pages_and_deletes_raise_nothing(name: str) -> None:
    assert candidates_for("t", "a", "h", file_event(f"/r/{name}")) == []
    assert candidates_for("t", "a", "h", file_event("/r/x.aspx", pb.FILE_ACTION_DELETED)) == []


def test_malicious_verdict_is_critical_even_for_non_page() -> None:
    event = file_event("/r/app.js", verdict=pb.VERDICT_MALICIOUS)
    event.matches.add(
        rule_id="y1",
        title="JScript eval of request data",
        severity=pb.SEVERITY_CRITICAL,
        tags=["attack.t1505.003"],
    )
    [cand] = candidates_for("t", "a", "h", event)
    assert cand.severity == pb.SEVERITY_CRITICAL
    assert "JScript eval" in cand.title


def test_log_detections_are_incident_evidence_medium_only_joins() -> None:
    event = pb.Event(id="e", log=pb.LogRecordEvent(source="iis", file="u_ex.log", line=3))
    event.matches.add(rule_id="r-low", title="noise", severity=pb.SEVERITY_LOW)
    assert candidates_for("t", "a", "h", event) == []
    event.matches.add(rule_id="r-medium", title="failed probe", severity=pb.SEVERITY_MEDIUM)
    [medium] = candidates_for("t", "a", "h", event)
    assert medium.incident
    assert not medium.opens
    event.matches.add(
        rule_id="r-crit",
        title="ProxyShell success",
        severity=pb.SEVERITY_CRITICAL,
        tags=["cve.2021-34473"],
    )
    [cand] = candidates_for("t", "a", "h", event)
    assert cand.opens
    assert cand.rule == "r-crit"
    assert cand.severity == pb.SEVERITY_CRITICAL
    assert cand.tags == ("cve.2021-34473",)
    assert cand.details["rules"] == "r-low,r-medium,r-crit"


def test_burst_of_clean_pages_is_a_low_mass_change() -> None:
    event = file_event(r"C:\x\owa\auth\15.2.1\a.aspx", burst=500, root=r"C:\x\owa\auth")
    [cand] = candidates_for("t", "a", "h", event)
    assert cand.rule == "exwatch.webroot.mass_change"
    assert cand.severity == pb.SEVERITY_LOW
    assert not cand.incident
    event.file.verdict = pb.VERDICT_MALICIOUS  # a shell inside the burst still stands out
    [bad] = candidates_for("t", "a", "h", event)
    assert bad.incident
    assert bad.severity == pb.SEVERITY_CRITICAL


def test_sensor_events() -> None:
    shed = pb.Event(id="s", sensor=pb.SensorEvent(sensor="spool", kind="events_shed", count=3))
    [cand] = candidates_for("t", "a", "h", shed)
    assert cand.rule == "exwatch.sensor.events_shed"
    assert not cand.incident
    base = pb.Event(id="b", sensor=pb.SensorEvent(sensor="webroot", kind="baseline"))
    assert candidates_for("t", "a", "h", base) == []


def spray(accounts: list[str], count: int = 40) -> pb.Event:
    event = pb.Event(
        id="c",
        host_time_ns=1,
        correlation=pb.CorrelationEvent(
            source="httpproxy",
            group={"ClientIpAddress": "203.0.113.9"},
            values=accounts,
            count=count,
            files=["HttpProxy_2026120111-1.LOG"],
            lines=[17, 18],
        ),
    )
    event.matches.add(
        rule_id="exwatch.logon.password_spray",
        title="Password spray against OWA",
        severity=pb.SEVERITY_HIGH,
        tags=["attack.credential-access", "attack.t1110.003"],
    )
    return event


def test_password_spray_alert_lists_the_affected_accounts() -> None:
    [cand] = candidates_for("t", "a", "EXCH01", spray(["bob@contoso.com", "alice@contoso.com"]))
    assert cand.rule == "exwatch.logon.password_spray"
    assert cand.title == "Password spray against OWA on EXCH01: 2 accounts"
    assert cand.severity == pb.SEVERITY_HIGH
    assert not cand.incident
    assert cand.details["accounts"] == "alice@contoso.com, bob@contoso.com"
    assert cand.details["group"] == "ClientIpAddress=203.0.113.9"
    assert cand.details["lines"] == "17, 18"
    # the next window of the same spray feeds the same alert, and its accounts add up
    [later] = candidates_for("t", "a", "EXCH01", spray(["carol@contoso.com", "bob@contoso.com"]))
    assert later.fingerprint == cand.fingerprint
    merged = merge_details(cand.details, later.details)
    assert merged["accounts"] == "alice@contoso.com, bob@contoso.com, carol@contoso.com"
    assert merged["accounts_total"] == "3"
    assert merged["lines"] == "17, 18"


def test_correlation_event_without_a_match_raises_nothing() -> None:
    event = spray(["x"])
    del event.matches[:]
    assert candidates_for("t", "a", "h", event) == []


def test_log_gone_quiet_is_a_sensor_alert() -> None:
    quiet = pb.Event(
        id="q", sensor=pb.SensorEvent(sensor="logs", kind="log_quiet", detail="W3SVC1")
    )
    [cand] = candidates_for("t", "a", "h", quiet)
    assert cand.severity == pb.SEVERITY_HIGH
    assert cand.rule == "exwatch.sensor.log_quiet"


def fired(rule_name: str, **kw: object) -> Fired:
    rule = next(r for r in builtin_rules().correlations if r.name == rule_name)
    values: dict[str, object] = {
        "rule": rule,
        "group": (("host", "EXCH01"),),
        "tenant": "acme",
        "agent_id": "a1",
        "hostname": "EXCH01",
        "evidence": (1, 2, 3),
        "first_ns": 0,
        "last_ns": 10**9,
        "count": 3,
        "hosts": 1,
        "tenants": 1,
        "hostnames": ("EXCH01",),
        "new": True,
    } | kw
    return Fired(**values)  # type: ignore[arg-type]


def test_chain_result_is_incident_evidence_carrying_its_cves() -> None:
    placed = correlated(fired("exwatch.chain.proxyshell"))
    assert (placed.tenant, placed.agent_id) == ("acme", "a1")
    cand = placed.candidate
    assert cand.incident and cand.opens
    assert cand.rule == "exwatch.chain.proxyshell"
    assert {"cve.2021-34473", "cve.2021-31207"} <= set(cand.tags)
    assert cand.severity == pb.SEVERITY_CRITICAL
    assert cand.details["window"] == "1970-01-01T00:00:00Z .. 1970-01-01T00:00:01Z"


def test_fleet_result_is_a_campaign_in_the_msp_scope() -> None:
    placed = correlated(
        fired("exwatch.campaign.file", group=(("sha256", "c" * 64),), hosts=3, tenants=2)
    )
    assert (placed.tenant, placed.agent_id) == ("*", "*")
    assert placed.candidate.rule == "exwatch.campaign"
    assert placed.candidate.title == f"Same file {'c' * 16}… on 3 hosts in 2 tenants"
    assert placed.candidate.details["correlation"] == "exwatch.campaign.file"


@pytest.mark.parametrize(
    ("group", "values", "accounts", "counted"),
    [
        ({"c-ip": "203.0.113.9"}, ["bob", "alice"], "alice, bob", ""),  # a spray
        ({"cs-username": "contoso\\j.doe"}, [], "contoso\\j.doe", ""),  # brute force
        (  # one account from many addresses: the addresses are not accounts
            {"cs-username": "j.doe"},
            ["198.51.100.1", "2001:db8::1"],
            "j.doe",
            "198.51.100.1, 2001:db8::1",
        ),
        ({"c-ip": "203.0.113.9"}, [], "", ""),  # OWA failures from one address
    ],
)
def test_affected_accounts_come_from_the_group_or_the_counted_values(
    group: dict[str, str], values: list[str], accounts: str, counted: str
) -> None:
    event = spray(values)
    event.correlation.ClearField("group")
    event.correlation.group.update(group)
    [cand] = candidates_for("t", "a", "h", event)
    assert cand.details["accounts"] == accounts
    assert cand.details["values"] == counted


TENANT_RULES = """
title: failed logon
name: failed
logsource: {product: exwatch}
detection:
  sel: {kind: log, status: '401'}
  condition: sel
---
title: Failures across the customer's servers
name: tenant.failures
correlation:
  type: event_count
  rules: [failed]
  group-by: [tenant, client_ip]
  timespan: 10m
  condition: {gte: 50}
level: medium
"""


def test_tenant_result_is_an_alert_of_its_own_in_that_tenant() -> None:
    [rule] = parse_rules([("t.yml", TENANT_RULES)]).correlations
    group = (("tenant", "acme"), ("client_ip", "203.0.113.9"))
    placed = correlated(fired("exwatch.chain.owassrf", rule=rule, group=group, count=50))
    assert placed.tenant == "acme"
    cand = placed.candidate
    assert not cand.incident
    assert cand.rule == "tenant.failures"
    assert (
        cand.title == "Failures across the customer's servers: tenant=acme, client_ip=203.0.113.9"
    )
    assert cand.severity == pb.SEVERITY_MEDIUM
    other_host = correlated(fired("exwatch.chain.owassrf", rule=rule, group=group, agent_id="a2"))
    assert other_host.candidate.fingerprint == cand.fingerprint  # one alert per tenant and group
