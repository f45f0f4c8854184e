"""The store, on SQLite and on PostgreSQL: idempotent ingest, alert grouping, status
changes, tenant scoping."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.errors import NotFound, StoreError
from collector.store import AgentInfo, Store
from protos import exwatch_pb2 as pb

A = AgentInfo("agent-a", "acme", "EXCH-A")
B = AgentInfo("agent-b", "globex", "EXCH-B")


@pytest.fixture
def store(store_target: Path | str):
    s = Store(store_target)
    for agent in (A, B):
        s.register_agent(agent, agent_version="1", rules_version="", os="test", now_ns=1)
    yield s
    s.close()


def page(uid: str, path: str = r"C:\inetpub\wwwroot\aspnet_client\s.aspx", t: int = 10) -> pb.Event:
    return pb.Event(
        id=uid,
        host_time_ns=t,
        file=pb.FileEvent(
            action=pb.FILE_ACTION_CREATED, path=path, sha256="b" * 64, root_kind="webroot"
        ),
    )


def test_commit_is_idempotent_on_sequence_and_event_id(store: Store) -> None:
    first = store.commit_batch(A, 1, [page("e1"), page("e2", "/x/other.txt")], now_ns=5)
    assert (first.duplicate, first.events_written) == (False, 2)
    again = store.commit_batch(A, 1, [page("e1")], now_ns=6)
    assert again.duplicate
    # a new sequence carrying an already stored event id writes nothing for it
    third = store.commit_batch(A, 2, [page("e1"), page("e3", "/x/z.txt")], now_ns=7)
    assert third.events_written == 1
    assert store.count_events() == 3
    assert store.register_agent(A, agent_version="1", rules_version="", os="", now_ns=8) == 2


def test_evidence_attaches_to_the_open_alert(store: Store) -> None:
    opened = store.commit_batch(A, 1, [page("e1", t=10**12)], now_ns=1).alerts_opened
    assert len(opened) == 1
    update = store.commit_batch(A, 2, [page("e2", t=5 * 10**11)], now_ns=2)
    assert update.alerts_opened == () and update.alerts_updated == opened
    [alert] = store.list_alerts()
    assert alert["event_count"] == 2
    assert alert["evidence"] == ["e2", "e1"]  # ordered by host time
    assert alert["hosts"] == ["EXCH-A"]
    assert alert["first_seen"] < alert["last_seen"]


def test_resolved_alert_is_not_reopened_by_new_evidence(store: Store) -> None:
    [alert_id] = store.commit_batch(A, 1, [page("e1")], now_ns=1).alerts_opened
    store.set_alert_status(alert_id, "resolved", actor="ann", comment="cleaned")
    [new_id] = store.commit_batch(A, 2, [page("e2")], now_ns=2).alerts_opened
    assert new_id != alert_id
    statuses = {a["id"]: a["status"] for a in store.list_alerts()}
    assert statuses == {alert_id: "resolved", new_id: "open"}
    resolved = store.list_alerts(status="resolved")[0]
    assert (resolved["status_by"], resolved["status_comment"]) == ("ann", "cleaned")


def test_severity_rises_with_evidence(store: Store) -> None:
    store.commit_batch(A, 1, [page("e1")], now_ns=1)
    worse = page("e2")
    worse.file.verdict = pb.VERDICT_MALICIOUS
    worse.matches.add(
        rule_id="y", title="China Chopper", severity=pb.SEVERITY_CRITICAL, tags=["x.y"]
    )
    store.commit_batch(A, 2, [worse], now_ns=2)
    [alert] = store.list_alerts()
    assert alert["severity"] == "critical"
    assert "x.y" in alert["tags"]
    assert alert["details"]["rules"] == ["y"]


def log_hit(uid: str, rule: str, severity: int, *tags: str, t: int = 10) -> pb.Event:
    e = pb.Event(id=uid, host_time_ns=t, log=pb.LogRecordEvent(source="iis", file="u_ex.log"))
    e.matches.add(rule_id=rule, title=rule, severity=severity, tags=list(tags))
    return e


def test_a_chain_and_its_webshell_are_one_incident_in_any_order(store: Store) -> None:
    # the page is seen first: IIS writes its log up to a minute late
    shell = page("p", r"C:\inetpub\wwwroot\aspnet_client\x.aspx", t=100)
    probe = log_hit("l1", "proxyshell-refused", pb.SEVERITY_MEDIUM, "cve.2021-34473", t=10)
    ssrf = log_hit("l2", "proxyshell-success", pb.SEVERITY_CRITICAL, "cve.2021-34473", t=20)
    export = log_hit("l3", "mailbox-export-web", pb.SEVERITY_CRITICAL, "cve.2021-31207", t=30)
    store.commit_batch(A, 1, [shell], now_ns=1)
    store.commit_batch(A, 2, [probe, ssrf], now_ns=2)
    store.commit_batch(A, 3, [export], now_ns=3)
    [incident] = store.list_alerts()
    assert incident["rule"] == "exwatch.incident"
    assert incident["title"] == "ProxyShell exploitation on EXCH-A"
    assert incident["severity"] == "critical"
    assert {"cve.2021-34473", "cve.2021-31207", "attack.t1505.003"} <= set(incident["tags"])
    assert incident["evidence"] == ["l1", "l2", "l3", "p"]
    assert incident["details"]["paths"] == [r"C:\inetpub\wwwroot\aspnet_client\x.aspx"]


def test_failed_attempts_alone_open_nothing(store: Store) -> None:
    store.commit_batch(
        A, 1, [log_hit("l1", "scan", pb.SEVERITY_MEDIUM, "cve.2021-34473")], now_ns=1
    )
    assert store.list_alerts() == []


def test_repeat_compromise_after_resolution(store: Store) -> None:
    [first] = store.commit_batch(A, 1, [page("e1")], now_ns=1).alerts_opened
    store.set_alert_status(first, "resolved", actor="ann")
    [second] = store.commit_batch(
        A, 2, [page("e2", r"C:\inetpub\wwwroot\aspnet_client\y.aspx")], now_ns=2
    ).alerts_opened
    again = next(a for a in store.list_alerts() if a["id"] == second)
    assert again["title"].startswith("Compromised again:")
    assert "exwatch.repeat-compromise" in again["tags"]


def test_hosts_have_separate_incidents(store: Store) -> None:
    other = AgentInfo("agent-c", "acme", "EXCH-C")
    store.register_agent(other, agent_version="1", rules_version="", os="", now_ns=1)
    store.commit_batch(A, 1, [page("a1")], now_ns=1)
    store.commit_batch(other, 1, [page("c1")], now_ns=1)
    assert sorted(a["hosts"][0] for a in store.list_alerts()) == ["EXCH-A", "EXCH-C"]


def test_tenants_see_only_their_alerts(store: Store) -> None:
    store.commit_batch(A, 1, [page("a1")], now_ns=1)
    store.commit_batch(B, 1, [page("b1")], now_ns=1)
    assert [a["tenant"] for a in store.list_alerts(tenant="acme")] == ["acme"]
    b_id = store.list_alerts(tenant="globex")[0]["id"]
    with pytest.raises(NotFound):
        store.set_alert_status(b_id, "acknowledged", actor="x", tenant="acme")


def test_agent_cannot_change_tenant(store: Store) -> None:
    with pytest.raises(StoreError, match="belongs to tenant"):
        store.register_agent(
            AgentInfo("agent-a", "globex", "h"), agent_version="", rules_version="", os="", now_ns=1
        )


def test_unknown_status_is_refused(store: Store) -> None:
    with pytest.raises(StoreError):
        store.list_alerts(status="closed")


def test_reopening_the_store_keeps_data(store_target: Path | str) -> None:
    s = Store(store_target)
    s.register_agent(A, agent_version="1", rules_version="", os="", now_ns=1)
    s.commit_batch(A, 1, [page("e1")], now_ns=1)
    s.close()
    s = Store(store_target)  # migrations already applied: nothing re-run
    assert s.count_events() == 1
    assert len(s.list_alerts()) == 1
    s.close()


def test_garbage_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="cannot open store"):
        Store(bad)


def test_mass_change_folds_into_one_alert_but_malicious_files_stand_out(store: Store) -> None:
    root = r"C:\Program Files\Microsoft\Exchange Server\V15\FrontEnd\HttpProxy\owa\auth"
    events = []
    for i in range(200):
        e = page(f"m{i}", rf"{root}\{i}.aspx", t=10**12 + i)
        e.file.root = root
        e.file.burst = max(200 - i, 1)  # the tail of the burst settles almost alone
        events.append(e)
    shell = page("shell", rf"{root}\zz.aspx", t=10**12 + 500)
    shell.file.root = root
    shell.file.burst = 200
    shell.file.verdict = pb.VERDICT_MALICIOUS
    shell.matches.add(rule_id="y-chopper", title="China Chopper", severity=pb.SEVERITY_CRITICAL)
    store.commit_batch(A, 1, events[:100], now_ns=10**12)
    store.commit_batch(A, 2, [*events[100:], shell], now_ns=10**12 + 1)
    alerts = {a["rule"]: a for a in store.list_alerts()}
    assert set(alerts) == {"exwatch.webroot.mass_change", "exwatch.incident"}
    mass = alerts["exwatch.webroot.mass_change"]
    assert mass["event_count"] == 200
    assert mass["severity"] == "low"
    assert mass["details"]["root"] == root
    incident = alerts["exwatch.incident"]  # the shell is not hidden in the crowd
    assert incident["severity"] == "critical"
    assert incident["evidence"] == ["shell"]


def test_sensor_health_alerts(store: Store) -> None:
    shed = pb.Event(
        id="s1",
        host_time_ns=1,
        sensor=pb.SensorEvent(
            sensor="spool", kind="events_shed", count=40, state=pb.SENSOR_STATE_DEGRADED
        ),
    )
    base = pb.Event(
        id="s2", host_time_ns=1, sensor=pb.SensorEvent(sensor="webroot", kind="baseline")
    )
    again = pb.Event(
        id="s3",
        host_time_ns=2,
        sensor=pb.SensorEvent(
            sensor="spool", kind="events_shed", count=10, state=pb.SENSOR_STATE_DEGRADED
        ),
    )
    store.commit_batch(A, 1, [shed, base, again], now_ns=1)
    [alert] = store.list_alerts()
    assert alert["rule"] == "exwatch.sensor.events_shed"
    assert alert["severity"] == "high"
    assert alert["event_count"] == 2


def test_maintenance_window_hides_clean_pages_never_shells(store: Store) -> None:
    store.add_suppression(
        "acme",
        "maintenance",
        starts_ns=0,
        ends_ns=10**18,
        host="EXCH-A",
        reason="CU14 install",
        now_ns=1,
    )
    clean = page("clean", r"C:\\x\\owa\\auth\\15.2.1\\logon.aspx")
    store.commit_batch(A, 1, [clean], now_ns=1)
    assert store.list_alerts() == []
    shell = page("shell", r"C:\\x\\owa\\auth\\s.aspx")
    shell.file.verdict = pb.VERDICT_MALICIOUS
    store.commit_batch(A, 2, [shell], now_ns=2)
    [incident] = store.list_alerts()
    assert incident["evidence"] == ["shell"]
    assert store.list_suppressions()[0]["hits"] == 1
    # other hosts of the tenant are not covered by a host's window
    store.register_agent(
        AgentInfo("agent-c", "acme", "EXCH-C"), agent_version="", rules_version="", os="", now_ns=1
    )
    store.commit_batch(AgentInfo("agent-c", "acme", "EXCH-C"), 1, [page("c1")], now_ns=3)
    assert len(store.list_alerts()) == 2


def test_suppression_by_rule_and_path(store: Store) -> None:
    store.add_suppression(
        "acme",
        "suppress",
        starts_ns=0,
        ends_ns=10**18,
        rule="exwatch.sensor.missed_changes",
        reason="known noisy share",
        now_ns=1,
    )
    noisy = pb.Event(
        id="s1", host_time_ns=5, sensor=pb.SensorEvent(sensor="webroot", kind="missed_changes")
    )
    store.commit_batch(A, 1, [noisy], now_ns=1)
    assert store.list_alerts() == []
    with pytest.raises(StoreError, match="rule or a path"):
        store.add_suppression("acme", "suppress", starts_ns=0, ends_ns=1, reason="x", now_ns=1)


def test_same_shell_on_hosts_of_two_tenants_is_one_msp_campaign_alert(store: Store) -> None:
    def shell(uid: str) -> pb.Event:
        e = page(uid, r"C:\\inetpub\\wwwroot\\aspnet_client\\s.aspx")
        e.file.sha256 = "c" * 64
        e.file.verdict = pb.VERDICT_MALICIOUS
        return e

    store.commit_batch(A, 1, [shell("a1")], now_ns=1)
    assert [a["rule"] for a in store.list_alerts()] == ["exwatch.incident"]
    store.commit_batch(B, 1, [shell("b1")], now_ns=2)
    campaign = store.list_alerts(tenant="*")
    assert len(campaign) == 1
    assert campaign[0]["rule"] == "exwatch.campaign"
    assert campaign[0]["title"].startswith("Same file cccccccccccccccc")
    assert "2 hosts in 2 tenants" in campaign[0]["title"]
    assert campaign[0]["hosts"] == ["EXCH-A", "EXCH-B"]
    # each tenant sees its own incident only, never the other tenant's host
    for tenant, host in (("acme", "EXCH-A"), ("globex", "EXCH-B")):
        [own] = store.list_alerts(tenant=tenant)
        assert own["hosts"] == [host]


def test_exposed_exchange_build_alerts_and_patching_resolves(store: Store) -> None:
    store.record_heartbeat(A, pb.Heartbeat(exchange_build="15.2.1118.7"), now_ns=1)  # E19 CU12 RTM
    [alert] = store.list_alerts()
    assert alert["rule"] == "exwatch.patch.exposed"
    assert "cve.2022-41082" in alert["tags"]
    assert "Nov22SU" in alert["title"]
    store.record_heartbeat(A, pb.Heartbeat(exchange_build="15.2.1118.7"), now_ns=2)  # unchanged
    assert len(store.list_alerts()) == 1
    store.record_heartbeat(A, pb.Heartbeat(exchange_build="15.2.1118.20"), now_ns=3)  # Nov22SU
    [resolved] = store.list_alerts()
    assert resolved["status"] == "resolved"
    assert resolved["status_by"] == "exwatch"


def test_heartbeats_of_several_agents_in_one_transaction(store: Store) -> None:
    assert store.mark_offline(older_than_ns=10, now_ns=100) == ["EXCH-A", "EXCH-B"]
    store.record_heartbeats(
        [
            (B, pb.Heartbeat(exchange_build="15.2.1118.7", spool_events=4), 300),
            (A, pb.Heartbeat(exchange_build="15.2.1544.4", rules_version="r2"), 200),
        ]
    )
    agents = {a["hostname"]: a for a in store.list_agents()}
    assert (agents["EXCH-A"]["last_seen_ns"], agents["EXCH-A"]["rules_version"]) == (200, "r2")
    assert (agents["EXCH-B"]["last_seen_ns"], agents["EXCH-B"]["spool_events"]) == (300, 4)
    alerts = {(a["rule"], a["hosts"][0]): a["status"] for a in store.list_alerts()}
    assert alerts == {
        ("exwatch.sensor.host_offline", "EXCH-A"): "resolved",
        ("exwatch.sensor.host_offline", "EXCH-B"): "resolved",
        ("exwatch.patch.exposed", "EXCH-B"): "open",  # judged as a single heartbeat would be
    }


def test_silent_host_is_offline_until_it_reports_again(store: Store) -> None:
    assert store.mark_offline(older_than_ns=10, now_ns=100) == ["EXCH-A", "EXCH-B"]
    assert store.mark_offline(older_than_ns=10, now_ns=101) == []  # one alert, not one a minute
    assert {a["rule"] for a in store.list_alerts()} == {"exwatch.sensor.host_offline"}
    store.record_heartbeat(A, pb.Heartbeat(), now_ns=200)
    statuses = {a["hosts"][0]: a["status"] for a in store.list_alerts()}
    assert statuses == {"EXCH-A": "resolved", "EXCH-B": "open"}
