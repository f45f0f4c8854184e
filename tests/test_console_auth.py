"""Console accounts: login, sessions (fixation, logout, expiry), CSRF, roles, API tokens,
throttling and the first admin."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from test_console_support import (
    PASSWORD,
    Console,
    build_template,
    csrf_from,
    login,
    open_console,
)

from collector.console import passwords
from collector.console.app import bootstrap_admin
from collector.store import Store


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(tmp_path_factory.mktemp("console-auth"))


@pytest.fixture
def console(template: Path, tmp_path: Path) -> Iterator[Console]:
    c = open_console(template, tmp_path)
    yield c
    c.store.close()


@pytest.fixture
def client(console: Console) -> Iterator[TestClient]:
    with TestClient(console.app) as c:
        yield c


def audit_actions(console: Console) -> list[tuple[str, str]]:
    conn = console.conn()
    try:
        return [
            (r[0], r[1]) for r in conn.execute("SELECT actor, action FROM audit_log ORDER BY id")
        ]
    finally:
        conn.close()


def test_pages_redirect_to_login_and_back(client: TestClient) -> None:
    r = client.get("/alerts?status=open", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=/alerts%3Fstatus%3Dopen"
    assert client.get("/api/v1/alerts").status_code == 401


def test_login_sets_a_strict_httponly_cookie_and_audits(
    client: TestClient, console: Console
) -> None:
    page = client.get("/login")
    r = client.post(
        "/login",
        data={
            "username": "ana",
            "password": PASSWORD,
            "csrf_token": csrf_from(page.text),
            "next": "/alerts",
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/alerts"
    cookie = r.headers["set-cookie"]
    assert "exw_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    assert ("ana", "login") in audit_actions(console)


def test_secure_cookie_uses_host_prefix(template: Path, tmp_path: Path) -> None:
    c = open_console(template, tmp_path, secure_cookies=True)
    try:
        with TestClient(c.app, base_url="https://testserver") as client:
            page = client.get("/login")
            r = client.post(
                "/login",
                data={"username": "ana", "password": PASSWORD, "csrf_token": csrf_from(page.text)},
                follow_redirects=False,
            )
            assert "__Host-exw_session=" in r.headers["set-cookie"]
            assert "Secure" in r.headers["set-cookie"]
            assert client.get("/alerts").status_code == 200
    finally:
        c.store.close()


def test_wrong_password_and_unknown_user_look_the_same(
    client: TestClient, console: Console
) -> None:
    for name in ("ana", "nobody"):
        page = client.get("/login")
        r = client.post(
            "/login",
            data={
                "username": name,
                "password": "wrong password!",
                "csrf_token": csrf_from(page.text),
            },
        )
        assert r.status_code == 401
        assert "Wrong username or password." in r.text
    assert ("nobody", "login.failed") in audit_actions(console)


def test_open_redirect_is_refused(client: TestClient) -> None:
    page = client.get("/login")
    r = client.post(
        "/login",
        data={
            "username": "ana",
            "password": PASSWORD,
            "csrf_token": csrf_from(page.text),
            "next": "//evil.example/x",
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"


def test_login_form_needs_its_csrf_cookie(client: TestClient) -> None:
    page = client.get("/login")
    token = csrf_from(page.text)
    client.cookies.clear()
    r = client.post("/login", data={"username": "ana", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 403


def test_session_fixation_is_refused(client: TestClient, console: Console) -> None:
    # An attacker plants a session id of their own in the victim's browser...
    client.cookies.set("exw_session", "attacker-chosen-value", domain="testserver.local")
    login(client, "ana")
    new = client.cookies.get("exw_session")
    assert new and new != "attacker-chosen-value"
    # ...and it is worthless after the victim signs in.
    with TestClient(console.app) as attacker:
        attacker.cookies.set("exw_session", "attacker-chosen-value", domain="testserver.local")
        assert attacker.get("/api/v1/me").status_code == 401


def test_login_rotates_a_live_session(client: TestClient, console: Console) -> None:
    login(client, "ro")
    before = client.cookies.get("exw_session")
    login(client, "ana")
    after = client.cookies.get("exw_session")
    assert before != after
    with TestClient(console.app) as other:
        other.cookies.set("exw_session", str(before), domain="testserver.local")
        assert other.get("/api/v1/me").status_code == 401  # the old session ended
    assert client.get("/api/v1/me").json()["username"] == "ana"


def test_logout_invalidates_the_session(client: TestClient, console: Console) -> None:
    csrf = login(client, "ana")
    session = client.cookies.get("exw_session")
    r = client.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    with TestClient(console.app) as replay:
        replay.cookies.set("exw_session", str(session), domain="testserver.local")
        assert replay.get("/api/v1/me").status_code == 401
    assert ("ana", "logout") in audit_actions(console)


def test_logout_needs_csrf(client: TestClient) -> None:
    login(client, "ana")
    assert client.post("/logout", data={}).status_code == 403
    assert client.get("/api/v1/me").status_code == 200


def test_state_changes_need_the_session_csrf_token(client: TestClient, console: Console) -> None:
    csrf = login(client, "ana")
    alert = console.alert_id("acme")
    # no token, a wrong token, another session's token: all refused, nothing changed
    assert client.post(f"/alerts/{alert}/status", data={"status": "resolved"}).status_code == 403
    r = client.post(f"/alerts/{alert}/status", data={"status": "resolved", "csrf_token": "x" * 43})
    assert r.status_code == 403
    with TestClient(console.app) as other:
        other_csrf = login(other, "msp")
    r = client.post(
        f"/alerts/{alert}/status", data={"status": "resolved", "csrf_token": other_csrf}
    )
    assert r.status_code == 403
    assert client.post(f"/api/v1/alerts/{alert}/resolve", json={}).status_code == 403
    assert client.get(f"/api/v1/alerts/{alert}").json()["status"] == "open"
    # htmx sends it as a header; the API with the session cookie takes it the same way
    r = client.post(
        f"/api/v1/alerts/{alert}/ack", json={"comment": "mine"}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 200 and r.json()["status"] == "acknowledged"


def test_idle_and_absolute_expiry(client: TestClient, console: Console) -> None:
    login(client, "ana")
    assert client.get("/api/v1/me").status_code == 200
    conn = console.conn()
    conn.execute("UPDATE sessions SET last_seen_ns = last_seen_ns - 31 * 60 * 1000000000")
    conn.close()
    assert client.get("/api/v1/me").status_code == 401  # idle 31 min > 30
    login(client, "ana")
    conn = console.conn()
    conn.execute("UPDATE sessions SET expires_ns = 1")
    conn.close()
    assert client.get("/api/v1/me").status_code == 401  # past the absolute limit
    conn = console.conn()
    assert conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0  # swept
    conn.close()


def test_read_only_cannot_change_anything(client: TestClient, console: Console) -> None:
    csrf = login(client, "ro")
    alert = console.alert_id("acme")
    h = {"X-CSRF-Token": csrf}
    assert (
        client.post(
            f"/alerts/{alert}/status", data={"status": "resolved", "csrf_token": csrf}
        ).status_code
        == 403
    )
    assert (
        client.post(f"/alerts/{alert}/comment", data={"body": "x", "csrf_token": csrf}).status_code
        == 403
    )
    assert (
        client.post(
            f"/alerts/{alert}/assign", data={"assignee": "ana", "csrf_token": csrf}
        ).status_code
        == 403
    )
    assert client.post("/account/tokens", data={"name": "x", "csrf_token": csrf}).status_code == 403
    assert (
        client.post("/enrollment", data={"tenant": "acme", "csrf_token": csrf}).status_code == 403
    )
    for path, body in (
        (f"/api/v1/alerts/{alert}/ack", {}),
        (f"/api/v1/alerts/{alert}/resolve", {}),
        (f"/api/v1/alerts/{alert}/reopen", {}),
        (f"/api/v1/alerts/{alert}/assign", {"assignee": "ana"}),
        (f"/api/v1/alerts/{alert}/comments", {"body": "x"}),
        (f"/api/v1/alerts/{alert}/quarantine", {}),
        ("/api/v1/tokens", {"name": "x"}),
        ("/api/v1/enrollment-tokens", {"tenant": "acme"}),
        ("/api/v1/users", {"username": "x", "password": "y" * 12, "role": "admin"}),
        ("/api/v1/hosts/agent-acme-1/revoke", {}),
    ):
        assert client.post(path, json=body, headers=h).status_code == 403, path
    alert_json = client.get(f"/api/v1/alerts/{alert}").json()
    assert (
        alert_json["status"] == "open"
        and alert_json["assignee"] == ""
        and alert_json["comments"] == []
    )
    # reading is fine
    assert client.get("/alerts").status_code == 200


def test_api_tokens_act_with_their_users_scope(client: TestClient, console: Console) -> None:
    token = console.api_token("ana")
    h = {"Authorization": f"Bearer {token}"}
    tenants = {a["tenant"] for a in client.get("/api/v1/alerts", headers=h).json()}
    assert tenants == {"acme"}
    # no CSRF for bearer requests: no ambient credential to ride on
    alert = console.alert_id("acme")
    assert client.post(f"/api/v1/alerts/{alert}/ack", headers=h).status_code == 200
    assert client.get(f"/api/v1/alerts/{console.alert_id('globex')}", headers=h).status_code == 404
    assert client.get("/api/v1/users", headers=h).status_code == 403
    # stored hashed only
    conn = console.conn()
    assert token not in {r[0] for r in conn.execute("SELECT token_sha256 FROM api_tokens")}
    conn.close()
    # narrowing the user narrows the token at once; disabling or revoking stops it
    admin = {"Authorization": f"Bearer {console.api_token('admin')}"}
    ana_id = client.get("/api/v1/users", headers=admin).json()
    ana_id = next(u["id"] for u in ana_id if u["username"] == "ana")
    r = client.patch(f"/api/v1/users/{ana_id}", json={"tenants": ["globex"]}, headers=admin)
    assert r.status_code == 200 and r.json()["tenants"] == ["globex"]
    assert {a["tenant"] for a in client.get("/api/v1/alerts", headers=h).json()} == {"globex"}
    client.patch(f"/api/v1/users/{ana_id}", json={"disabled": True}, headers=admin)
    assert client.get("/api/v1/me", headers=h).status_code == 401
    client.patch(f"/api/v1/users/{ana_id}", json={"disabled": False}, headers=admin)
    assert client.get("/api/v1/me", headers=h).status_code == 200
    [mine] = [t for t in client.get("/api/v1/tokens", headers=h).json()]
    assert client.delete(f"/api/v1/tokens/{mine['id']}", headers=h).status_code == 204
    assert client.get("/api/v1/me", headers=h).status_code == 401
    assert (
        client.get("/api/v1/me", headers={"Authorization": "Bearer exwc_nope"}).status_code == 401
    )
    actions = [a for _, a in audit_actions(console)]
    assert "apitoken.revoke" in actions and actions.count("user.update") == 3


def test_analyst_cannot_see_or_revoke_other_users_tokens(
    client: TestClient, console: Console
) -> None:
    console.api_token("msp")
    h = {"Authorization": f"Bearer {console.api_token('ana')}"}
    mine = client.get("/api/v1/tokens", headers=h).json()
    assert {t["user"] for t in mine} == {"ana"}
    conn = console.conn()
    msp_token = conn.execute(
        "SELECT t.id FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE u.username = 'msp'"
    ).fetchone()[0]
    conn.close()
    assert client.delete(f"/api/v1/tokens/{msp_token}", headers=h).status_code == 404


def test_login_throttle(template: Path, tmp_path: Path) -> None:
    c = open_console(template, tmp_path, login_max_failures=3)
    try:
        with TestClient(c.app) as client:
            for _ in range(3):
                page = client.get("/login")
                client.post(
                    "/login",
                    data={
                        "username": "ana",
                        "password": "nope nope nope",
                        "csrf_token": csrf_from(page.text),
                    },
                )
            page = client.get("/login")
            r = client.post(
                "/login",
                data={"username": "ana", "password": PASSWORD, "csrf_token": csrf_from(page.text)},
            )
            assert r.status_code == 429  # even the right password, for the window
    finally:
        c.store.close()


def test_password_hashes_are_argon2(console: Console) -> None:
    conn = console.conn()
    hashes = [r[0] for r in conn.execute("SELECT password_hash FROM users")]
    conn.close()
    assert all(h.startswith("$argon2id$") for h in hashes)
    assert passwords.verify_password(hashes[0], PASSWORD)
    assert not passwords.verify_password(hashes[0], PASSWORD + "x")
    assert not passwords.verify_password(None, PASSWORD)


def test_bootstrap_admin_once(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    Store(path).close()
    first = bootstrap_admin(path)
    assert first is not None and first[0] == "admin"
    assert bootstrap_admin(path) is None
    conn = sqlite3.connect(path)
    row = conn.execute("SELECT role, password_hash FROM users").fetchone()
    conn.close()
    assert row[0] == "admin" and passwords.verify_password(row[1], first[1])
