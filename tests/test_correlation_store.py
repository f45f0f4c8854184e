"""Correlation through the real SQLite store: each Exchange chain replayed as committed
batches becomes exactly one incident named after the chain, with its CVE tags and all its
evidence, in order or out of order, across a collector restart; a benign patch day raises
nothing above low; an agent's password-spray count lists the affected accounts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from collector.cli import main
from collector.store import AgentInfo, Store
from protos import exwatch_pb2 as pb

A = AgentInfo("agent-a", "acme", "EXCH01")
B = AgentInfo("agent-b", "globex", "EXCH01")  # same host name, another customer
MIN = 60 * 10**9
T0 = 1_760_000_000 * 10**9
FRONTEND = r"C:\Program Files\Microsoft\Exchange Server\V15\FrontEnd\HttpProxy"
ASPNET = r"C:\inetpub\wwwroot\aspnet_client"
ATTACKER = "203.0.113.66"


def open_store(target: Path | str) -> Store:
    store = Store(target)
    for agent in (A, B):
        store.register_agent(agent, agent_version="1", rules_version="", os="test", now_ns=T0)
    return store


@pytest.fixture
def store(store_target: Path | str) -> Iterator[Store]:
    s = open_store(store_target)
    yield s
    s.close()


def matched(event: pb.Event, rule_id: str, severity: int, tags: list[str]) -> pb.Event:
    event.matches.add(rule_id=rule_id, title=rule_id, severity=severity, tags=tags)
    return event


def request(uid: str, t: int, source: str, stem: str, status: str = "200") -> pb.Event:
    event = pb.Event(id=uid, host_time_ns=t, log=pb.LogRecordEvent(source=source, file="x.log"))
    event.log.fields.update(
        {"cs-method": "POST", "cs-uri-stem": stem, "sc-status": status, "c-ip": ATTACKER}
    )
    return event


def dropped(uid: str, t: int, path: str, **kw: object) -> pb.Event:
    file = pb.FileEvent(
        action=pb.FILE_ACTION_CREATED,
        path=path,
        root_kind="webroot",
        sha256=uid.encode().hex().ljust(64, "0")[:64],
        verdict=pb.VERDICT_MALICIOUS,
        **kw,  # type: ignore[arg-type]
    )
    event = pb.Event(id=uid, host_time_ns=t, file=file)
    return matched(event, "yara.chopper", pb.SEVERITY_CRITICAL, ["attack.t1505.003"])


def w3wp_shell(uid: str, t: int) -> pb.Event:
    event = pb.Event(
        id=uid, host_time_ns=t, process=pb.ProcessEvent(name="cmd.exe", cmdline="cmd /c whoami")
    )
    event.process.ancestors.add(name="w3wp.exe", cmdline="-ap MSExchangeOWAAppPool")
    return matched(event, "0c03e551", pb.SEVERITY_HIGH, ["attack.t1505.003", "cve.2022-41082"])


def chain_events(chain: str, t: int) -> list[pb.Event]:
    """What the agent sends for each step of a chain (host rules already matched)."""
    step = [t + i * MIN for i in range(6)]
    if chain == "proxylogon":
        return [
            matched(
                request("pl1", step[0], "httpproxy", "/ecp/y.js"),
                "878f76bb",
                pb.SEVERITY_HIGH,
                ["cve.2021-26855"],
            ),
            matched(
                pb.Event(id="pl2", host_time_ns=step[1], log=pb.LogRecordEvent(source="ecp")),
                "c6325437",
                pb.SEVERITY_CRITICAL,
                ["cve.2021-27065"],
            ),
            dropped("pl3", step[2], FRONTEND + r"\owa\auth\shell-oab.aspx"),
            matched(
                request("pl4", step[3], "iis", "/owa/auth/shell-oab.aspx"),
                "816c14d7",
                pb.SEVERITY_CRITICAL,
                ["attack.t1505.003"],
            ),
        ]
    if chain == "proxyshell":
        return [
            matched(
                request("ps1", step[0], "iis", "/autodiscover/autodiscover.json"),
                "1e7ab6e6",
                pb.SEVERITY_CRITICAL,
                ["cve.2021-34473", "cve.2021-34523", "cve.2021-31207"],
            ),
            matched(
                pb.Event(id="ps2", host_time_ns=step[1], log=pb.LogRecordEvent(source="cmdlet")),
                "f50cca0b-70d0-444b-8279-37a45577a089",
                pb.SEVERITY_CRITICAL,
                ["cve.2021-34473", "cve.2021-31207"],
            ),
            dropped("ps3", step[3], ASPNET + r"\shell-pst.aspx"),
            request("ps4", step[4], "iis", "/aspnet_client/shell-pst.aspx"),
        ]
    if chain == "proxynotshell":
        return [
            matched(
                request("pn1", step[0], "iis", "/autodiscover/autodiscover.json"),
                "bf4f4ca4",
                pb.SEVERITY_CRITICAL,
                ["cve.2022-41040", "cve.2022-41082"],
            ),
            dropped("pn2", step[1], FRONTEND + r"\owa\auth\shell-pns.ashx"),
            w3wp_shell("pn3", step[2]),
        ]
    assert chain == "owassrf"
    return [
        matched(
            request("ow1", step[0], "iis", "/owa/j.doe@contoso.com/powershell"),
            "362d4bd4",
            pb.SEVERITY_CRITICAL,
            ["cve.2022-41080", "cve.2022-41082"],
        ),
        dropped("ow2", step[1], ASPNET + r"\shell-owassrf.aspx"),
        request("ow3", step[2], "iis", "/aspnet_client/shell-owassrf.aspx"),
    ]


CHAINS = {
    "proxylogon": ("ProxyLogon", {"cve.2021-26855", "cve.2021-27065"}),
    "proxyshell": ("ProxyShell", {"cve.2021-34473", "cve.2021-31207"}),
    "proxynotshell": ("ProxyNotShell", {"cve.2022-41040", "cve.2022-41082"}),
    "owassrf": ("OWASSRF", {"cve.2022-41080", "cve.2022-41082"}),
}


def replay(
    store: Store, events: list[pb.Event], *, first_sequence: int = 1, agent: AgentInfo = A
) -> None:
    """One event per batch, in the order given (the agent's arrival order)."""
    for i, event in enumerate(events):
        store.commit_batch(agent, first_sequence + i, [event], now_ns=T0 + 10 * MIN + i)


def the_incident(store: Store) -> dict:  # type: ignore[type-arg]
    [alert] = store.list_alerts(tenant="acme")
    assert alert["rule"] == "exwatch.incident"
    return alert


@pytest.mark.parametrize("order", ["in order", "reversed", "shell first"])
@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_chain_is_one_incident_with_its_cves_and_all_evidence(
    store: Store, chain: str, order: str
) -> None:
    events = chain_events(chain, T0)
    arrival = {
        "in order": events,
        "reversed": events[::-1],
        "shell first": events[2:] + events[:2],
    }[order]
    replay(store, arrival)
    incident = the_incident(store)
    name, cves = CHAINS[chain]
    assert incident["title"] == f"{name} exploitation on EXCH01"
    assert cves <= set(incident["tags"])
    assert incident["severity"] == "critical"
    assert sorted(incident["evidence"]) == sorted(e.id for e in events)
    assert f"exwatch.chain.{chain}" in incident["details"]["rules"]
    assert store.list_alerts(tenant="*") == []  # one host: no campaign


def test_chain_spread_beyond_its_window_is_not_correlated(store: Store) -> None:
    events = chain_events("proxylogon", T0)
    events[2].host_time_ns = T0 + 3 * 60 * MIN  # the page three hours after the SSRF
    events[3].host_time_ns = T0 + 3 * 60 * MIN + MIN
    replay(store, events)
    incident = the_incident(store)
    assert "exwatch.chain.proxylogon" not in incident["details"]["rules"]
    assert "exwatch.webshell.requested" in incident["details"]["rules"]  # written, then used


def test_restart_mid_sequence_still_correlates_once(store_target: Path | str) -> None:
    """Tenant globex sees the chain straight; acme's collector restarts half-way."""
    events = chain_events("proxylogon", T0)
    elsewhere = []
    for e in events:
        copy = pb.Event()
        copy.CopyFrom(e)
        copy.id = "straight-" + e.id
        elsewhere.append(copy)
    first = open_store(store_target)
    replay(first, elsewhere, agent=B)
    replay(first, events[:2])
    first.close()  # the collector stops with acme's chain half seen
    second = open_store(store_target)
    try:
        # the agent resends the last batch it had no ack for: ingested once only
        second.commit_batch(A, 2, [events[1]], now_ns=T0 + 10 * MIN + 1)
        replay(second, events[2:], first_sequence=3)
        [straight] = second.list_alerts(tenant="globex")
        restarted = the_incident(second)
        for key in ("title", "severity", "event_count", "details", "tags"):
            assert restarted[key] == straight[key], key
        assert restarted["details"]["rules"].count("exwatch.chain.proxylogon") == 1
        assert sorted(restarted["evidence"]) == sorted(e.id for e in events)
    finally:
        second.close()


def test_chain_after_a_resolved_incident_is_a_repeat_compromise(store: Store) -> None:
    replay(store, chain_events("owassrf", T0))
    store.set_alert_status(the_incident(store)["id"], "resolved", actor="ana", comment="rebuilt")
    later = chain_events("owassrf", T0 + 30 * 24 * 60 * MIN)
    for e in later:
        e.id += "-again"
    replay(store, later, first_sequence=10)
    [again] = store.list_alerts(tenant="acme", status="open")
    assert again["title"] == "Compromised again: OWASSRF exploitation on EXCH01"
    assert "exwatch.repeat-compromise" in again["tags"]
    assert "exwatch.chain.owassrf" in again["details"]["rules"]


def test_same_shell_in_two_tenants_is_one_msp_campaign(store: Store) -> None:
    shell = dropped("s1", T0, ASPNET + r"\x.aspx")
    store.commit_batch(A, 1, [shell], now_ns=T0)
    other = pb.Event()
    other.CopyFrom(shell)
    other.id = "s2"
    store.commit_batch(B, 1, [other], now_ns=T0 + 1)
    [campaign] = store.list_alerts(tenant="*")
    assert campaign["rule"] == "exwatch.campaign"
    assert campaign["details"]["correlation"] == "exwatch.campaign.file"
    assert "on 2 hosts in 2 tenants" in campaign["title"]
    assert sorted(campaign["evidence"]) == ["s1", "s2"]
    for tenant in ("acme", "globex"):
        [own] = store.list_alerts(tenant=tenant)
        assert own["evidence"] == (["s1"] if tenant == "acme" else ["s2"])


def benign_day() -> list[pb.Event]:
    events: list[pb.Event] = []
    # patch day: 300 pages rewritten under owa\auth\<new build>, settling together
    for i in range(300):
        events.append(
            pb.Event(
                id=f"patch{i}",
                host_time_ns=T0 + i * 10**7,
                file=pb.FileEvent(
                    action=pb.FILE_ACTION_CREATED,
                    path=FRONTEND + rf"\owa\auth\15.2.1544.4\page{i}.aspx",
                    root=FRONTEND + r"\owa\auth",
                    root_kind="webroot",
                    sha256=f"{i:064x}",
                    verdict=pb.VERDICT_CLEAN,
                    burst=300,
                ),
            )
        )
    # users then log on through the new pages; a scanner gets refused
    for i in range(200):
        events.append(
            request(
                f"req{i}",
                T0 + 5 * MIN + i * 10**9,
                "iis",
                f"/owa/auth/15.2.1544.4/page{i % 300}.aspx",
            )
        )
    for i in range(5):
        events.append(
            matched(
                request(f"scan{i}", T0 + 20 * MIN + i, "iis", "/ecp/x.js", "401"),
                "eb13460b",
                pb.SEVERITY_MEDIUM,
                ["cve.2021-26855"],
            )
        )
    events.append(
        pb.Event(
            id="base", host_time_ns=T0, sensor=pb.SensorEvent(sensor="webroot", kind="baseline")
        )
    )
    proc = pb.Event(id="proc", host_time_ns=T0 + MIN, process=pb.ProcessEvent(name="csc.exe"))
    proc.process.ancestors.add(name="w3wp.exe")
    events.append(matched(proc, "f38ad71f", pb.SEVERITY_LOW, ["attack.t1505.003"]))
    return events


def test_benign_patch_day_raises_nothing_above_low(store: Store) -> None:
    events = benign_day()
    for start in range(0, len(events), 50):
        store.commit_batch(A, start + 1, events[start : start + 50], now_ns=T0 + 30 * MIN)
    alerts = store.list_alerts()
    assert [(a["rule"], a["severity"]) for a in alerts] == [("exwatch.webroot.mass_change", "low")]


def spray(uid: str, t: int, accounts: list[str]) -> pb.Event:
    event = pb.Event(
        id=uid,
        host_time_ns=t,
        correlation=pb.CorrelationEvent(
            source="httpproxy", group={"ClientIpAddress": ATTACKER}, values=accounts, count=50
        ),
    )
    return matched(event, "exwatch.logon.password_spray", pb.SEVERITY_HIGH, ["attack.t1110.003"])


def test_password_spray_alert_lists_every_affected_account(tmp_path: Path) -> None:
    store = open_store(tmp_path / "exwatch.db")  # the CLI below reads its data folder
    store.commit_batch(A, 1, [spray("sp1", T0, ["alice", "bob"])], now_ns=T0)
    store.commit_batch(A, 2, [spray("sp2", T0 + 10 * MIN, ["bob", "carol"])], now_ns=T0 + 1)
    [alert] = store.list_alerts(tenant="acme")
    assert alert["details"]["accounts"] == "alice, bob, carol"
    assert alert["evidence"] == ["sp1", "sp2"]
    store.close()
    result = CliRunner().invoke(main, ["alerts", "--format", "json", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    [listed] = json.loads(result.output)
    assert listed["details"]["accounts"] == "alice, bob, carol"
