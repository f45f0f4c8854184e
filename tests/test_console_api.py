"""Console API and pages against a real store: alert shape as the CLI's, actions and their
audit, evidence timeline, filters, enrollment, metrics, and the server on a shared loop."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient
from test_console_support import A1, Console, build_template, login, open_console, webshell

from collector.cli import main as collector_cli
from collector.console.server import start_console, stop_console


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(tmp_path_factory.mktemp("console-api"))


@pytest.fixture
def console(template: Path, tmp_path: Path) -> Iterator[Console]:
    c = open_console(template, tmp_path)
    yield c
    c.store.close()


@pytest.fixture
def client(console: Console) -> Iterator[TestClient]:
    with TestClient(console.app) as c:
        yield c


def bearer(console: Console, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {console.api_token(user)}"}


def test_alert_json_matches_the_cli(client: TestClient, console: Console) -> None:
    result = CliRunner().invoke(
        collector_cli, ["alerts", "--format", "json", "--data-dir", str(console.db_path.parent)]
    )
    assert result.exit_code == 0, result.output
    cli = {a["id"]: a for a in json.loads(result.output)}
    api = {a["id"]: a for a in client.get("/api/v1/alerts", headers=bearer(console, "msp")).json()}
    assert cli.keys() == api.keys()
    for alert_id, expected in cli.items():
        got = api[alert_id]
        assert {k: got[k] for k in expected} == expected  # the same fields, the same values
        assert {"assignee", "agent_id"} <= got.keys()


def test_acknowledge_assign_comment_resolve_are_audited(
    client: TestClient, console: Console
) -> None:
    h = bearer(console, "ana")
    alert = console.alert_id("acme")
    r = client.post(f"/api/v1/alerts/{alert}/ack", json={"comment": "looking"}, headers=h)
    assert r.status_code == 200
    assert (r.json()["status"], r.json()["status_by"], r.json()["status_comment"]) == (
        "acknowledged",
        "ana",
        "looking",
    )
    r = client.post(f"/api/v1/alerts/{alert}/assign", json={"assignee": "msp"}, headers=h)
    assert r.status_code == 200 and r.json()["assignee"] == "msp"
    # only users who can work on the tenant can be assigned
    r = client.post(f"/api/v1/alerts/{alert}/assign", json={"assignee": "gina"}, headers=h)
    assert r.status_code == 422
    r = client.post(f"/api/v1/alerts/{alert}/comments", json={"body": "shell removed"}, headers=h)
    assert r.status_code == 201 and r.json()["author"] == "ana"
    r = client.post(f"/api/v1/alerts/{alert}/resolve", headers=h)
    assert r.json()["status"] == "resolved"
    detail = client.get(f"/api/v1/alerts/{alert}", headers=h).json()
    assert [c["body"] for c in detail["comments"]] == ["shell removed"]
    assert (
        client.get("/api/v1/alerts?assignee=msp&status=resolved", headers=h).json()[0]["id"]
        == alert
    )
    log = client.get("/api/v1/audit?actor=ana", headers=bearer(console, "admin")).json()
    actions = [(e["action"], e["tenant"], e["object_id"]) for e in reversed(log)]
    assert actions == [
        ("alert.acknowledged", "acme", str(alert)),
        ("alert.assign", "acme", str(alert)),
        ("alert.comment", "acme", str(alert)),
        ("alert.resolved", "acme", str(alert)),
    ]
    assert client.get("/api/v1/audit", headers=h).status_code == 403


def test_quarantine_queues_a_command_for_the_evidence_files_only(
    client: TestClient, console: Console
) -> None:
    alert = console.alert_id("acme")
    url = f"/api/v1/alerts/{alert}/quarantine"
    r = client.post(url, headers=bearer(console, "ana"))
    assert r.status_code == 202, r.text
    [queued] = r.json()
    assert queued["path"].endswith(".aspx")
    conn = console.conn()
    try:
        [command] = conn.execute(
            "SELECT kind, argument, requested_by, tenant FROM commands"
        ).fetchall()
    finally:
        conn.close()
    assert tuple(command) == ("quarantine", queued["path"], "ana", "acme")
    # a path that is not evidence of this alert is refused: nothing else can be moved
    r = client.post(
        url,
        params={"path": r"C:\Windows\System32\drivers\etc\hosts"},
        headers=bearer(console, "ana"),
    )
    assert r.status_code == 422


def test_alert_events_decode_every_kind(client: TestClient, console: Console) -> None:
    events = client.get(
        f"/api/v1/alerts/{console.alert_id('acme')}/events", headers=bearer(console, "ana")
    ).json()
    kinds = {e["kind"]: e for e in events}
    assert set(kinds) == {"log", "file", "process"}
    assert kinds["file"]["detail"]["verdict"] == "malicious"
    assert kinds["file"]["detail"]["sha256"] == "ab" * 32
    assert kinds["log"]["detail"]["fields"]["ClientIpAddress"] == "203.0.113.9"
    assert kinds["process"]["detail"]["ancestors"][0]["name"] == "w3wp.exe"
    assert kinds["process"]["payload"]["process"]["pid"] == 4242
    assert [e["host_time"] for e in events] == sorted(e["host_time"] for e in events)


def test_alert_page_shows_the_timeline_and_actions(client: TestClient, console: Console) -> None:
    login(client, "ana")
    page = client.get(f"/alerts/{console.alert_id('acme')}").text
    for text in (
        "discover.aspx",  # file path
        "abababab",  # hash
        "malicious",  # verdict
        "HttpProxy_2021030301-1.LOG:42",  # log source line
        "ClientIpAddress",  # log fields
        "net group",  # command line
        "w3wp.exe",  # parent
        "Acknowledge",
        "Quarantine file",
        "moves the alert's files into its vault",
    ):
        assert text in page, text
    # hostile strings in events are escaped, never markup
    console.store.commit_batch(
        A1,
        7,
        [webshell("evil", r"C:\inetpub\wwwroot\<script>alert(1)</script>.aspx", t=1)],
        now_ns=2,
    )
    assert "<script>alert(1)" not in client.get("/alerts").text


def test_queue_filters(client: TestClient, console: Console) -> None:
    h = bearer(console, "msp")

    def ids(**params: str) -> set[str]:
        return {
            a["tenant"] + ":" + a["rule"]
            for a in client.get("/api/v1/alerts", params=params, headers=h).json()
        }

    assert ids(tenant="globex") == {"globex:exwatch.incident"}
    assert ids(tag="CVE-2021-26855") == {"acme:exwatch.incident", "globex:exwatch.incident"}
    assert ids(host="exch02") == {"acme:exwatch.sensor.events_shed"}
    assert ids(severity="critical") == {
        "acme:exwatch.incident",
        "globex:exwatch.incident",
        "*:exwatch.campaign",
    }
    assert ids(q="spool") == {"acme:exwatch.sensor.events_shed"}
    assert ids(since="2100-01-01T00:00:00Z") == set()
    assert client.get("/api/v1/alerts?status=bogus", headers=h).status_code == 422
    # the page keeps filters in the URL and polls with them
    login(client, "msp")
    page = client.get("/alerts?tenant=globex&severity=high").text
    assert 'hx-get="/alerts/rows?tenant=globex&amp;severity=high&amp;status=unresolved' in page
    rows = client.get("/alerts/rows?tenant=globex").text
    assert "GLOBEX-MBX1" in rows and "ACME-EXCH01" not in rows


def test_fleet_and_host_pages(client: TestClient, console: Console) -> None:
    login(client, "msp")
    fleet = client.get("/fleet").text
    for text in ("ACME-EXCH01", "GLOBEX-MBX1", "15.2.1544.4", "online", "r-2026.11"):
        assert text in fleet
    host = client.get("/hosts/agent-acme-1").text
    assert "ProxyLogon exploitation" in host and "a1-plain" not in host  # uid not shown
    assert "x.txt" in host  # the plain event is in the event list
    hosts = client.get("/api/v1/hosts", headers=bearer(console, "msp")).json()
    shed = {h["hostname"]: h["events_shed_total"] for h in hosts}
    assert shed["ACME-EXCH02"] == 17
    overview = client.get("/").text
    assert "<svg" in overview and "acme" in overview and "globex" in overview
    for path in ("/rules", "/enrollment", "/account"):
        assert client.get(path).status_code == 200, path
    assert client.get("/users").status_code == 403
    login(client, "admin")
    for path in ("/users", "/audit"):
        assert client.get(path).status_code == 200, path


def test_enrollment_token_shown_once(client: TestClient, console: Console) -> None:
    h = bearer(console, "admin")
    r = client.post("/api/v1/enrollment-tokens", json={"tenant": "initech", "uses": 3}, headers=h)
    assert r.status_code == 201
    token = r.json()["token"]
    assert token.startswith("exw_")
    listed = client.get("/api/v1/enrollment-tokens", headers=h).json()
    assert "initech" in {t["tenant"] for t in listed}
    assert token not in json.dumps(listed)
    assert (
        client.post(
            "/api/v1/enrollment-tokens", json={"tenant": "bad name!"}, headers=h
        ).status_code
        == 422
    )
    # an analyst of acme lists acme's tokens only
    mine = client.get("/api/v1/enrollment-tokens", headers=bearer(console, "ana")).json()
    assert {t["tenant"] for t in mine} == {"acme"}


def test_users_admin(client: TestClient, console: Console) -> None:
    h = bearer(console, "admin")
    r = client.post(
        "/api/v1/users",
        json={
            "username": "tara",
            "password": "long enough pw",
            "role": "tenant_analyst",
            "tenants": ["acme"],
        },
        headers=h,
    )
    assert r.status_code == 201 and r.json()["tenants"] == ["acme"]
    assert (
        client.post(
            "/api/v1/users",
            json={"username": "tara", "password": "long enough pw", "role": "admin"},
            headers=h,
        ).status_code
        == 409
    )
    assert (
        client.post(
            "/api/v1/users",
            json={"username": "tim", "password": "long enough pw", "role": "tenant_analyst"},
            headers=h,
        ).status_code
        == 422
    )  # a tenant analyst needs tenants
    login(client, "tara", "long enough pw")
    assert client.get("/api/v1/me").json()["tenants"] == ["acme"]


def test_metrics_admin_only(client: TestClient, console: Console) -> None:
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=bearer(console, "msp")).status_code == 403
    r = client.get("/metrics", headers=bearer(console, "admin"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert "exwatch_events_ingested_total 7" in text
    assert 'exwatch_agents{tenant="acme",state="online"} 2' in text
    assert "exwatch_agents_online 3" in text
    assert 'exwatch_alerts{status="open",severity="critical"} 3' in text
    assert 'exwatch_ingest_lag_seconds{quantile="0.5"}' in text
    assert "exwatch_notify_outbox_depth" not in text  # no outbox table yet: skipped


def test_metrics_outbox_when_present(client: TestClient, console: Console) -> None:
    conn = console.conn()
    conn.execute(
        "CREATE TABLE IF NOT EXISTS notify_outbox (id INTEGER PRIMARY KEY, delivered_ns INTEGER)"
    )
    conn.execute("INSERT INTO notify_outbox (delivered_ns) VALUES (NULL), (NULL), (5)")
    conn.close()
    text = client.get("/metrics", headers=bearer(console, "admin")).text
    assert "exwatch_notify_outbox_depth 2" in text


def test_security_headers(client: TestClient) -> None:
    r = client.get("/login")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"
    assert client.get("/static/vendor/htmx.min.js").text.startswith("/*! htmx.org 2.0.4")


def test_openapi_lists_the_api(client: TestClient) -> None:
    spec = client.get("/api/v1/openapi.json").json()
    paths = set(spec["paths"])
    assert {
        "/api/v1/alerts",
        "/api/v1/alerts/{alert_id}/ack",
        "/api/v1/hosts",
        "/api/v1/audit",
    } <= paths
    assert not any(p.startswith("/alerts") for p in paths)  # pages stay out of the API doc


def test_start_console_on_a_running_loop(console: Console) -> None:
    async def main() -> tuple[int, str]:
        server, port = await start_console(console.app, "127.0.0.1", 0)
        try:
            async with httpx2.AsyncClient() as http:
                r = await http.get(f"http://127.0.0.1:{port}/login")
            return r.status_code, r.text
        finally:
            await stop_console(server)

    status, text = asyncio.run(main())
    assert status == 200 and "Sign in" in text


def test_start_console_reports_a_busy_port(console: Console) -> None:
    import socket

    async def main() -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            with pytest.raises(OSError, match="could not listen"):
                await start_console(console.app, "127.0.0.1", s.getsockname()[1])

    asyncio.run(main())
