"""Containment on the collector: requests checked, kept and turned into agent commands;
per-tenant approvals by a second analyst (CLI, JSON API and console pages), audited, on
a real store."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from starlette.testclient import TestClient
from test_console_support import (
    A1,
    B1,
    Console,
    build_template,
    login,
    open_console,
    populate,
)

from collector.cli import main as collector_cli
from collector.console.containment import (
    approval_policy,
    decide,
    list_requests,
    request_containment,
    set_approval_policy,
)
from collector.console.data import Conflict, Forbidden, NotVisible, Principal, cli_principal
from collector.containment import (
    ContainmentRequestError,
    build_command,
    collector_addresses,
    containment_request,
)
from collector.store import Store

# ---------------------------------------------------------------- requests and commands


@pytest.mark.parametrize(
    ("action", "kwargs", "error"),
    [
        ("isolate", {"minutes": 0}, "needs a time limit"),
        ("web-offline", {"minutes": 0}, "needs a time limit"),
        ("isolate", {"allow": ["10.0.0.300"]}, "is not an IP address or CIDR network"),
        ("block", {"address": "10.0.0.0/24"}, "is not one IP address"),
        ("release", {"minutes": 5}, "release takes no time limit"),
        ("block", {"address": "192.0.2.1", "allow": ["10.0.0.1"]}, "takes no allowed networks"),
        ("web-online", {"address": "192.0.2.1"}, "takes no address"),
        ("isolate", {"minutes": 10**6}, "minutes must be 0 to 10080"),
        ("shutdown", {}, "unknown containment action 'shutdown'"),
    ],
)
def test_requests_are_checked(action: str, kwargs: dict[str, object], error: str) -> None:
    with pytest.raises(ContainmentRequestError, match=error):
        containment_request(action, **kwargs)  # type: ignore[arg-type]


def test_each_action_becomes_its_agent_command() -> None:
    own = ["192.0.2.1"]
    isolate = containment_request("isolate", allow=["198.51.100.7", "192.0.2.1", "10.9.0.0/24"])
    assert isolate.minutes == 60  # the default limit
    command = build_command("c1", isolate.kind, isolate.argument(), collector=own)
    assert command.id == "c1" and command.isolate.minutes == 60
    assert list(command.isolate.allow) == ["192.0.2.1", "198.51.100.7", "10.9.0.0/24"]

    block = containment_request("block", address=" 2001:DB8::7 ", minutes=30)
    command = build_command("c2", block.kind, block.argument(), collector=own)
    assert (command.block_address.address, command.block_address.minutes) == ("2001:db8::7", 30)
    unblock = containment_request("unblock", address="203.0.113.9")
    assert (
        build_command("c3", unblock.kind, unblock.argument(), collector=own).unblock_address.address
        == "203.0.113.9"
    )
    offline = containment_request("web-offline", minutes=15)
    command = build_command("c4", offline.kind, offline.argument(), collector=own)
    assert command.web_access.offline and command.web_access.minutes == 15
    online = containment_request("web-online")
    assert not build_command("c5", online.kind, online.argument(), collector=own).web_access.offline
    release = containment_request("release")
    assert build_command("c6", release.kind, release.argument(), collector=own).HasField("release")
    # A damaged row still becomes a command, which the agent then refuses clearly.
    damaged = build_command("c7", "block_address", "{not json", collector=own)
    assert damaged.block_address.address == "" and damaged.block_address.minutes == 0


def test_collector_addresses() -> None:
    assert collector_addresses("192.0.2.5:50051") == ["192.0.2.5"]
    assert collector_addresses("[2001:db8::5]:50051") == ["2001:db8::5"]
    assert collector_addresses("127.0.0.1:50051") == []  # the agent always allows loopback
    every = collector_addresses("0.0.0.0:50051")
    assert every and not any(a.startswith("127.") or a == "::1" for a in every)


# ---------------------------------------------------------------- CLI


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    store = Store(tmp_path / "exwatch.db")
    try:
        populate(store, time.time_ns())
    finally:
        store.close()
    return tmp_path


def cli(store_dir: Path, *args: str, ok: bool = True) -> Result:
    result = CliRunner().invoke(collector_cli, [*args, "--data-dir", str(store_dir)])
    assert (result.exit_code == 0) == ok, result.output
    return result


def commands(store_dir: Path) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = json.loads(cli(store_dir, "commands", "--format", "json").output)
    return rows


def test_cli_queues_every_action(store_dir: Path) -> None:
    out = cli(store_dir, "contain", "isolate", A1.agent_id, "--minutes", "30", "--allow",
              "198.51.100.7", "--reason", "webshell found", "--by", "alice").output  # fmt: skip
    assert "isolate queued as command" in out
    cli(store_dir, "contain", "block", A1.agent_id, "203.0.113.9", "--minutes", "120")
    cli(store_dir, "contain", "web-offline", A1.agent_id)
    cli(store_dir, "contain", "release", A1.agent_id)
    rows = commands(store_dir)
    assert [r["kind"] for r in rows] == ["isolate", "block_address", "web_access", "release"]
    assert json.loads(rows[0]["argument"]) == {"allow": ["198.51.100.7"], "minutes": 30}
    assert (rows[0]["requested_by"], rows[0]["status"]) == ("alice", "pending")
    assert json.loads(rows[2]["argument"]) == {"minutes": 60, "offline": True}

    refused = cli(store_dir, "contain", "isolate", A1.agent_id, "--allow", "nonsense", ok=False)
    assert "'nonsense' is not an IP address or CIDR network" in refused.output
    missing = cli(store_dir, "contain", "release", "no-such-agent", ok=False)
    assert "no such host" in missing.output
    assert len(commands(store_dir)) == 4  # nothing queued by the refusals


def test_cli_isolation_waits_for_a_second_analyst(store_dir: Path) -> None:
    out = cli(store_dir, "contain", "policy", "acme", "--require", "isolate", "--by", "boss")
    assert "acme: isolate need approval" in out.output
    out = cli(store_dir, "contain", "isolate", A1.agent_id, "--by", "alice", "--reason", "shell")
    assert "awaits a second analyst's approval" in out.output
    command_id = out.output.split("as command ")[1].split()[0]
    assert commands(store_dir) == []  # stored, not sent
    with contextlib.closing(Store(store_dir / "exwatch.db")) as store:
        assert store.take_commands([A1.agent_id], now_ns=time.time_ns()) == []
    # Other tenants and other actions are not held back.
    cli(store_dir, "contain", "isolate", B1.agent_id, "--by", "alice")
    cli(store_dir, "contain", "block", A1.agent_id, "203.0.113.9", "--by", "alice")
    assert [c["kind"] for c in commands(store_dir)] == ["isolate", "block_address"]

    own = cli(store_dir, "contain", "approve", command_id, "--by", "alice", ok=False)
    assert "alice asked for this isolate; another analyst must approve it" in own.output
    waiting = json.loads(cli(store_dir, "contain", "requests", "--format", "json").output)
    assert [(w["id"], w["status"], w["requested_by"]) for w in waiting] == [
        (command_id, "awaiting", "alice")
    ]
    out = cli(store_dir, "contain", "approve", command_id, "--by", "bob")
    assert "isolate for agent-acme-1 approved by bob; the command is sent" in out.output
    sent = [c for c in commands(store_dir) if c["id"] == command_id]
    assert [(c["kind"], c["requested_by"], c["status"], c["reason"]) for c in sent] == [
        ("isolate", "alice", "pending", "shell")
    ]
    again = cli(store_dir, "contain", "approve", command_id, "--by", "carol", ok=False)
    assert "already approved by bob" in again.output
    with contextlib.closing(Store(store_dir / "exwatch.db")) as store:
        taken = store.take_commands([A1.agent_id], now_ns=time.time_ns())
    assert command_id in [t["id"] for t in taken]

    # A refused request is never sent; the audit log holds every step.
    out = cli(store_dir, "contain", "isolate", A1.agent_id, "--by", "alice")
    second = out.output.split("as command ")[1].split()[0]
    cli(store_dir, "contain", "refuse", second, "--by", "bob")
    assert second not in [c["id"] for c in commands(store_dir)]
    decided = json.loads(cli(store_dir, "contain", "requests", "--all", "--format", "json").output)
    assert {d["id"]: (d["status"], d["decided_by"]) for d in decided} == {
        command_id: ("approved", "bob"),
        second: ("refused", "bob"),
    }
    with sqlite3.connect(store_dir / "exwatch.db") as conn:
        audit = conn.execute(
            "SELECT actor, action, object_id FROM audit_log WHERE action LIKE 'containment.%' "
            "ORDER BY id"
        ).fetchall()
    assert audit == [
        ("boss", "containment.policy", "acme"),
        ("alice", "containment.isolate", A1.agent_id),
        ("alice", "containment.isolate", B1.agent_id),
        ("alice", "containment.block", A1.agent_id),
        ("bob", "containment.approve", A1.agent_id),
        ("alice", "containment.isolate", A1.agent_id),
        ("bob", "containment.refuse", A1.agent_id),
    ]


# ---------------------------------------------------------------- JSON API and console


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path | str:
    return build_template(tmp_path_factory.mktemp("containment-console"))


@pytest.fixture
def console(template: Path | str, tmp_path: Path) -> Iterator[Console]:
    c = open_console(template, tmp_path)
    yield c
    c.store.close()


@pytest.fixture
def client(console: Console) -> Iterator[TestClient]:
    with TestClient(console.app) as c:
        yield c


def bearer(console: Console, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {console.api_token(user)}"}


def test_api_contains_within_the_callers_tenants(client: TestClient, console: Console) -> None:
    ana = bearer(console, "ana")
    url = f"/api/v1/hosts/{A1.agent_id}/contain"
    r = client.post(url, json={"action": "isolate", "minutes": 20, "allow": ["10.9.0.0/24"],
                               "reason": "shell"}, headers=ana)  # fmt: skip
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "pending" and r.json()["action"] == "isolate"
    [row] = console.store.list_commands(agent_id=A1.agent_id)
    assert (row["id"], row["kind"], row["requested_by"]) == (r.json()["command"], "isolate", "ana")
    assert json.loads(row["argument"]) == {"allow": ["10.9.0.0/24"], "minutes": 20}

    other_tenant = f"/api/v1/hosts/{B1.agent_id}/contain"
    assert client.post(other_tenant, json={"action": "release"}, headers=ana).status_code == 404
    read_only = bearer(console, "ro")
    assert client.post(url, json={"action": "release"}, headers=read_only).status_code == 403
    bad = client.post(url, json={"action": "isolate", "allow": ["0.0.0.0/x"]}, headers=ana)
    assert bad.status_code == 422 and "is not an IP address" in bad.json()["detail"]
    bad = client.post(url, json={"action": "web-offline", "minutes": 0}, headers=ana)
    assert bad.status_code == 422 and "needs a time limit" in bad.json()["detail"]
    bad = client.post(url, json={"action": "reboot"}, headers=ana)
    assert bad.status_code == 422
    assert len(console.store.list_commands(agent_id=A1.agent_id)) == 1


def test_api_approval_by_a_second_analyst(client: TestClient, console: Console) -> None:
    admin, ana, msp, gina = (bearer(console, u) for u in ("admin", "ana", "msp", "gina"))
    policy = "/api/v1/tenants/acme/approvals"
    assert client.put(policy, json={"require": ["isolate"]}, headers=ana).status_code == 403
    r = client.put(policy, json={"require": ["isolate", "web-offline"]}, headers=admin)
    assert r.status_code == 200 and r.json() == {"require": ["isolate", "web-offline"]}
    assert client.get(policy, headers=ana).json() == {"require": ["isolate", "web-offline"]}
    assert client.get("/api/v1/tenants/acme/approvals", headers=gina).status_code == 404

    url = f"/api/v1/hosts/{A1.agent_id}/contain"
    r = client.post(url, json={"action": "web-offline", "minutes": 10}, headers=ana)
    assert r.status_code == 202 and r.json()["status"] == "awaiting_approval"
    command_id = r.json()["command"]
    assert console.store.list_commands(agent_id=A1.agent_id) == []
    waiting = client.get("/api/v1/containment/requests", headers=msp).json()
    assert [(w["id"], w["action"], w["requested_by"]) for w in waiting] == [
        (command_id, "web-offline", "ana")
    ]
    assert client.get("/api/v1/containment/requests", headers=gina).json() == []

    approve = f"/api/v1/containment/requests/{command_id}/approve"
    own = client.post(approve, headers=ana)
    assert own.status_code == 403 and "another analyst must approve it" in own.json()["detail"]
    assert client.post(approve, headers=gina).status_code == 404  # not gina's tenant
    r = client.post(approve, headers=msp)
    assert r.status_code == 200 and r.json()["status"] == "approved"
    [sent] = console.store.list_commands(agent_id=A1.agent_id)
    assert (sent["id"], sent["kind"], sent["requested_by"]) == (command_id, "web_access", "ana")
    assert client.post(approve, headers=admin).status_code == 409

    rows = client.get("/api/v1/audit?action=containment.", headers=admin).json()
    assert [(a["actor"], a["action"]) for a in rows][:3] == [
        ("msp", "containment.approve"),
        ("ana", "containment.web-offline"),
        ("admin", "containment.policy"),
    ]


def test_console_buttons_and_approval_page(client: TestClient, console: Console) -> None:
    admin = bearer(console, "admin")
    client.put("/api/v1/tenants/acme/approvals", json={"require": ["isolate"]}, headers=admin)
    csrf = login(client, "ana")
    page = client.get(f"/hosts/{A1.agent_id}").text
    assert "Isolate host" in page and "Take web access offline" in page and "Lift now" in page
    r = client.post(
        f"/hosts/{A1.agent_id}/contain",
        data={"action": "isolate", "minutes": "15", "allow": "198.51.100.7, 10.9.0.0/24",
              "reason": "shell", "csrf_token": csrf},
        follow_redirects=True,
    )  # fmt: skip
    assert r.status_code == 200 and "isolate awaiting approval" in r.text
    assert "Withdraw" in r.text and ">Approve<" not in r.text  # not for one's own request
    bad = client.post(
        f"/hosts/{A1.agent_id}/contain",
        data={"action": "block", "address": "nonsense", "csrf_token": csrf},
    )
    assert bad.status_code == 422 and "is not one IP address" in bad.text
    client.post("/logout", data={"csrf_token": csrf})

    csrf = login(client, "msp")
    page = client.get("/containment").text
    assert ">Approve<" in page
    command_id = page.split('action="/containment/')[1].split("/")[0]
    r = client.post(
        f"/containment/{command_id}/approve", data={"csrf_token": csrf}, follow_redirects=True
    )
    assert r.status_code == 200 and f"isolate for {A1.agent_id} approved" in r.text
    [sent] = console.store.list_commands(agent_id=A1.agent_id)
    assert json.loads(sent["argument"]) == {"allow": ["198.51.100.7", "10.9.0.0/24"], "minutes": 15}


# ---------------------------------------------------------------- both stores


def analyst(name: str, *tenants: str) -> Principal:
    return Principal(0, name, "tenant_analyst", frozenset(tenants))


def test_approvals_on_either_store(store_target: Path | str) -> None:
    """The approval tables and their SQL on SQLite and on PostgreSQL alike."""
    store = Store(store_target)
    try:
        populate(store, time.time_ns())
        conn = store.database.connect()
        try:
            with conn.transaction():
                set_approval_policy(conn, cli_principal("boss"), "acme", ["isolate", "isolate"])
            with conn.transaction():
                queued = request_containment(
                    conn, analyst("alice", "acme"), A1.agent_id, containment_request("isolate")
                )
            assert queued["status"] == "awaiting_approval"
            assert store.take_commands([A1.agent_id], now_ns=time.time_ns()) == []
            with pytest.raises(Forbidden), conn.transaction():
                decide(conn, analyst("alice", "acme"), queued["command"], approve=True)
            with pytest.raises(NotVisible), conn.transaction():
                decide(conn, analyst("gina", "globex"), queued["command"], approve=True)
            with conn.transaction():
                decide(conn, analyst("bob", "acme"), queued["command"], approve=True)
            with pytest.raises(Conflict), conn.transaction():
                decide(conn, analyst("carol", "acme"), queued["command"], approve=False)
            [taken] = store.take_commands([A1.agent_id], now_ns=time.time_ns())
            assert (taken["id"], taken["kind"]) == (queued["command"], "isolate")
            with conn.transaction():
                rows = list_requests(conn, analyst("bob", "acme"), status=None)
                assert approval_policy(conn, "acme") == ["isolate"]
            assert [(r["status"], r["requested_by"], r["decided_by"]) for r in rows] == [
                ("approved", "alice", "bob")
            ]
        finally:
            conn.close()
    finally:
        store.close()
