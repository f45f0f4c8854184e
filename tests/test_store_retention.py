"""Retention on both backends: expired events go in small batches, per tenant; alerts and
(as configured) their evidence stay."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from collector.config import DAY_NS, CollectorConfig, RetentionConfig, load_config
from collector.errors import ConfigError
from collector.server import CollectorServer
from collector.store import AgentInfo, Store
from protos import exwatch_pb2 as pb

A = AgentInfo("agent-a", "acme", "EXCH-A")
B = AgentInfo("agent-b", "globex", "EXCH-B")
NOW = 1_800_000_000 * 10**9


def log(uid: str) -> pb.Event:
    return pb.Event(id=uid, host_time_ns=1, log=pb.LogRecordEvent(source="iis", line=1))


def shell(uid: str) -> pb.Event:
    return pb.Event(
        id=uid,
        host_time_ns=1,
        file=pb.FileEvent(
            action=pb.FILE_ACTION_CREATED,
            path=r"C:\inetpub\wwwroot\s.aspx",
            sha256="c" * 64,
            root_kind="webroot",
            verdict=pb.VERDICT_MALICIOUS,
        ),
        matches=[pb.Match(rule_id="yara.shell", title="Webshell", severity=pb.SEVERITY_CRITICAL)],
    )


@pytest.fixture
def store(store_target: Path | str):
    s = Store(store_target)
    for agent in (A, B):
        s.register_agent(agent, agent_version="1", rules_version="", os="", now_ns=1)
    # 40 days ago: 25 plain events and a webshell each; yesterday: 5 more each.
    old = NOW - 40 * DAY_NS
    for agent in (A, B):
        events = [log(f"{agent.tenant}-old-{i}") for i in range(25)] + [shell(f"{agent.tenant}-s")]
        s.commit_batch(agent, 1, events, now_ns=old)
        s.commit_batch(agent, 2, [log(f"{agent.tenant}-new-{i}") for i in range(5)], now_ns=NOW)
    yield s
    s.close()


def test_expired_events_go_in_batches_and_evidence_stays(store: Store) -> None:
    retention = RetentionConfig(events_days=30, tenants={"globex": 0}, batch_size=10)
    cutoffs = retention.cutoffs_ns(store.tenants(), NOW)
    assert set(cutoffs) == {"acme"}  # globex keeps its events forever
    batches = []
    while n := store.prune_events(cutoffs, limit=retention.batch_size):
        batches.append(n)
    assert batches == [10, 10, 5]
    acme = store.event_uids(agent_id=A.agent_id)
    assert sorted(acme) == sorted(["acme-s"] + [f"acme-new-{i}" for i in range(5)])
    assert store.count_events(agent_id=B.agent_id) == 31
    [alert] = [a for a in store.list_alerts(tenant="acme") if a["rule"] == "exwatch.incident"]
    assert alert["evidence"] == ["acme-s"]


def test_evidence_can_be_let_go_and_the_alert_stays(store: Store) -> None:
    cutoffs = {"acme": NOW - 30 * DAY_NS}
    assert store.prune_events(cutoffs, limit=1000, keep_evidence=False) == 26
    [alert] = [a for a in store.list_alerts(tenant="acme") if a["rule"] == "exwatch.incident"]
    assert alert["evidence"] == [] and alert["event_count"] == 1


def test_retention_config_is_checked(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[retention]\nevents_days = 30\n[retention.tenants]\nacme = 7\n")
    config = load_config(path)
    assert config.retention.cutoffs_ns(["acme", "b"], NOW) == {
        "acme": NOW - 7 * DAY_NS,
        "b": NOW - 30 * DAY_NS,
    }
    path.write_text("[retention]\nevents_days = -1\n")
    with pytest.raises(ConfigError, match=r"retention\.events_days"):
        load_config(path)
    path.write_text('[store]\ndsn = "mysql://x"\n')
    with pytest.raises(ConfigError, match=r"store\.dsn"):
        load_config(path)


def test_the_collector_prunes_on_its_own(tmp_path: Path) -> None:
    """The server's background task applies [retention] while it runs."""
    config = CollectorConfig(
        listen="127.0.0.1:0",
        enroll_listen="127.0.0.1:0",
        console_listen="",
        data_dir=tmp_path,
        insecure_loopback=True,
        retention=RetentionConfig(events_days=1, batch_size=7, interval_seconds=0.05),
    )

    async def run() -> int:
        server = CollectorServer(config)
        await server.start()
        try:
            store = server.store
            store.register_agent(A, agent_version="1", rules_version="", os="", now_ns=1)
            old = time.time_ns() - 2 * DAY_NS
            store.commit_batch(A, 1, [log(f"old-{i}") for i in range(20)], now_ns=old)
            store.commit_batch(A, 2, [log("new")], now_ns=time.time_ns())
            deadline = time.monotonic() + 10
            while store.count_events() > 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            return store.count_events()
        finally:
            await server.stop()

    assert asyncio.run(run()) == 1
