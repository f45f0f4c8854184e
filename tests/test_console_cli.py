"""``user``, ``apitoken`` and ``tenant`` commands: what the console pages do, for terminal users."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient
from test_console_support import populate

from collector.console import cli as console_cli
from collector.console.app import create_app
from collector.console.settings import ConsoleSettings
from collector.store import Store


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    store = Store(tmp_path / "exwatch.db")
    populate(store, time.time_ns())
    store.close()
    return tmp_path


@pytest.fixture
def run(data_dir: Path):  # type: ignore[no-untyped-def]
    group = click.Group()
    console_cli.register(group)

    def invoke(*args: str, stdin: str | None = None) -> click.testing.Result:
        return CliRunner().invoke(group, [*args, "--data-dir", str(data_dir)], input=stdin)

    return invoke


def test_user_lifecycle(run, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    r = run("user", "add", "ana", "--role", "tenant_analyst", "--tenant", "acme")
    assert r.exit_code == 0, r.output
    password = r.output.split("password (shown once): ")[1].strip()
    r = run(
        "user",
        "add",
        "ro",
        "--role",
        "read_only",
        "--all-tenants",
        "--password-stdin",
        stdin="a long password\n",
    )
    assert r.exit_code == 0 and "shown once" not in r.output
    r = run("user", "add", "bad", "--role", "tenant_analyst")
    assert r.exit_code != 0 and "needs one or more named tenants" in r.output
    users = {u["username"]: u for u in json.loads(run("user", "list", "--format", "json").output)}
    assert users["ana"]["tenants"] == ["acme"] and users["ro"]["tenants"] == ["*"]
    table = run("user", "list").output
    assert "tenant_analyst" in table and "acme" in table

    store = Store(data_dir / "exwatch.db")
    try:
        app = create_app(ConsoleSettings(db_path=data_dir / "exwatch.db"), store)
        with TestClient(app) as client:
            page = client.get("/login").text
            csrf = page.split('name="csrf_token" value="')[1].split('"')[0]
            ok = client.post(
                "/login",
                data={"username": "ana", "password": password, "csrf_token": csrf},
                follow_redirects=False,
            )
            assert ok.status_code == 303
            assert run("user", "disable", "ana").exit_code == 0
            assert client.get("/api/v1/me").status_code == 401  # the live session ended
            assert run("user", "enable", "ana").exit_code == 0
            r = run("user", "passwd", "ana", "--password-stdin", stdin="another long one\n")
            assert r.exit_code == 0
            token = run("apitoken", "create", "--user", "ana", "--name", "soar").output.strip()
            assert token.startswith("exwc_")
            me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()
            assert me == {
                "username": "ana",
                "role": "tenant_analyst",
                "tenants": ["acme"],
                "via": "token",
            }
            [listed] = json.loads(run("apitoken", "list", "--format", "json").output)
            assert listed["user"] == "ana" and token not in json.dumps(listed)
            assert run("apitoken", "revoke", str(listed["id"])).exit_code == 0
            assert (
                client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code
                == 401
            )
            ro_token = run("apitoken", "create", "--user", "ro").output.strip()
            audit = client.get("/api/v1/audit", headers={"Authorization": f"Bearer {ro_token}"})
            assert audit.status_code == 403  # read_only is not an admin
    finally:
        store.close()


def test_tenant_list(run) -> None:  # type: ignore[no-untyped-def]
    rows = json.loads(run("tenant", "list", "--format", "json").output)
    assert {r["tenant"]: r["hosts"] for r in rows} == {"acme": 2, "globex": 1}
    table = run("tenant", "list").output
    assert "acme" in table and "critical:1" in table


def test_missing_store_is_a_clear_error(tmp_path: Path) -> None:
    group = click.Group()
    console_cli.register(group)
    r = CliRunner().invoke(group, ["user", "list", "--data-dir", str(tmp_path / "none")])
    assert r.exit_code != 0 and "no collector store" in r.output


def test_alert_assign_and_comment_from_the_terminal(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from collector.cli import main
    from collector.store import AgentInfo, Store
    from protos import exwatch_pb2 as pb

    store = Store(tmp_path / "exwatch.db")
    agent = AgentInfo("a1", "acme", "EXCH01")
    store.register_agent(agent, agent_version="", rules_version="", os="", now_ns=1)
    store.commit_batch(
        agent,
        1,
        [
            pb.Event(
                id="e1",
                host_time_ns=1,
                file=pb.FileEvent(
                    action=pb.FILE_ACTION_CREATED, path=r"C:\\x\\s.aspx", root_kind="webroot"
                ),
            )
        ],
        now_ns=1,
    )
    [alert] = store.list_alerts()
    store.close()
    runner = CliRunner()
    args = ["--data-dir", str(tmp_path)]
    r = runner.invoke(main, ["alert", "comment", str(alert["id"]), "cleaned by IR", *args])
    assert r.exit_code == 0, r.output
    r = runner.invoke(main, ["alert", "assign", str(alert["id"]), "nobody-such", *args])
    assert r.exit_code != 0
    assert "not a user" in r.output
    import sqlite3

    with sqlite3.connect(tmp_path / "exwatch.db") as conn:
        assert conn.execute("SELECT body FROM alert_comments").fetchone()[0] == "cleaned by IR"
        assert conn.execute("SELECT action FROM audit_log").fetchone()[0] == "alert.comment"
