"""Tenants never see each other: every route of the app, walked as an analyst of tenant A
(by session and by API token), with B's ids, B's names as filters and search terms, must
show nothing of B and answer 404 (not 403) for B's objects.

The routes are enumerated from the app itself, so a route added later is covered (or this
test fails on an unknown path parameter until someone says what to put there).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import fresh_postgres_database
from fastapi.routing import APIRoute
from starlette.routing import Route
from starlette.testclient import TestClient
from test_console_support import B_MARKERS, Console, build_template, login, open_console

B_FILTERS = {
    "tenant": "globex",
    "host": "GLOBEX",
    "q": "GLOBEX",
    "tag": "cve.2021-26855",
    "actor": "gina",
    "state": "online",
    "status": "all",
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path | str]:
    """The populated store, on each backend (the data layer's SQL runs on both)."""
    if request.param == "sqlite":
        yield build_template(tmp_path_factory.mktemp("console-iso"))
        return
    with fresh_postgres_database() as dsn:
        yield build_template(dsn)


@pytest.fixture
def console(template: Path | str, tmp_path: Path) -> Iterator[Console]:
    if isinstance(template, Path):
        c = open_console(template, tmp_path)
        yield c
        c.store.close()
        return
    with fresh_postgres_database(template) as dsn:
        c = open_console(template, dsn)
        yield c
        c.store.close()


def b_params(console: Console) -> dict[str, str]:
    """Path parameters naming tenant B's objects (and other users' objects)."""
    conn = console.conn()
    try:
        token_id = conn.execute(
            "SELECT t.id FROM api_tokens t JOIN users u ON u.id = t.user_id "
            "WHERE u.username = 'gina'"
        ).fetchone()[0]
        gina = conn.execute("SELECT id FROM users WHERE username = 'gina'").fetchone()[0]
        # B's isolation request, awaiting a second analyst of B
        conn.execute(
            "INSERT INTO command_approvals (id, tenant, agent_id, action, kind, argument, "
            "reason, requested_by, requested_ns, status) VALUES ('b-request', 'globex', "
            "'agent-globex-1', 'isolate', 'isolate', '{}', 'x', 'gina', 1, 'awaiting') "
            "ON CONFLICT DO NOTHING"
        )
    finally:
        conn.close()
    return {
        "alert_id": str(console.alert_id("globex")),
        "agent_id": "agent-globex-1",
        "token_id": str(token_id),
        "user_id": str(gina),
        "command_id": "b-request",
        "verdict": "approve",
        "tenant": "globex",
    }


def routes(app: object) -> list[tuple[str, str]]:
    """Every (method, path) of the console's routers. FastAPI mounts included routers
    lazily, so they are read from the routers themselves; the check on the app's own
    routes makes sure no router is added without being walked here."""
    from collector.console import metrics, routes_api, routes_pages

    own = [r for r in app.routes if isinstance(r, Route)]  # type: ignore[attr-defined]
    assert {r.path for r in own} <= {
        "/api/v1/openapi.json",
        "/api/v1/docs",
        "/docs/oauth2-redirect",
    }, "a route outside the three routers: walk it here"
    assert len(app.routes) == len(own) + 1 + 3  # type: ignore[attr-defined]  # static + routers
    out = []
    for prefix, router in (
        ("/api/v1", routes_api.router),
        ("", routes_pages.router),
        ("", metrics.router),
    ):
        for route in router.routes:
            assert isinstance(route, APIRoute)
            for method in sorted(route.methods or ()):
                out.append((method, prefix + route.path))
    return out


def assert_no_b(text: str, where: str) -> None:
    leaked = [m for m in B_MARKERS if m.lower() in text.lower()]
    assert not leaked, f"{where} shows tenant B's data: {leaked}"


def campaign_id(console: Console) -> int:
    return console.alert_id("*", "exwatch.campaign")


@pytest.mark.parametrize("via", ["session", "token"])
def test_analyst_of_a_sees_nothing_of_b_anywhere(console: Console, via: str) -> None:
    console.api_token("gina")  # B's user owns a token (an object to probe)
    params = b_params(console)
    walked = 0
    with TestClient(console.app) as client:
        headers: dict[str, str] = {}
        if via == "session":
            csrf = login(client, "ana")
            headers = {"X-CSRF-Token": csrf}
        else:
            headers = {"Authorization": f"Bearer {console.api_token('ana')}"}
        for method, path in routes(console.app):
            if path in ("/login", "/logout"):
                continue
            names = [p.split("}")[0] for p in path.split("{")[1:]]
            unknown = set(names) - set(params)
            assert not unknown, f"say which object of B to probe {path} with: {unknown}"
            url = path
            for name in names:
                url = url.replace("{" + name + "}", params[name])
            if method == "GET":
                r = client.get(url, params=B_FILTERS if not names else None, headers=headers)
                if names:
                    assert r.status_code in (403, 404), f"GET {url}: {r.status_code}"
                    if url.startswith("/api/v1/users") or url.startswith("/api/v1/tokens"):
                        pass
                    elif "alert" in path or "host" in path:
                        assert r.status_code == 404, f"GET {url} must be 404, not 403"
                else:
                    assert r.status_code in (200, 403, 422), f"GET {url}: {r.status_code}"
                assert_no_b(r.text, f"GET {url}")
                # and once more without filters: the plain list
                if not names:
                    assert_no_b(client.get(url, headers=headers).text, f"GET {url} (unfiltered)")
            else:
                if url.startswith("/api/"):
                    # valid bodies, so that only the object's tenant can refuse the request
                    body = {
                        "comment": "x",
                        "assignee": "ana",
                        "body": "x",
                        "name": "x",
                        "action": "release",
                        "path": "C:\\inetpub\\wwwroot\\x.aspx",
                        "require": [],
                    }
                    r = client.request(method, url, json=body, headers=headers)
                else:
                    form = {
                        "status": "resolved",
                        "assignee": "ana",
                        "body": "x",
                        "name": "x",
                        "action": "disable",
                        "tenant": "globex",
                        "username": "x",
                        "role": "admin",
                        "current": "x",
                        "new": "y" * 12,
                        "csrf_token": headers.get("X-CSRF-Token", ""),
                    }
                    r = client.request(method, url, data=form, headers=headers)
                if names:  # B's object: refused; without one (create own token...) any answer
                    assert r.status_code in (403, 404, 422), f"{method} {url}: {r.status_code}"
                if path.endswith("/revoke") and "hosts" in path:
                    assert r.status_code == 403  # admin only, decided before any lookup
                elif names and ("alert" in path or "host" in path):
                    assert r.status_code == 404, f"{method} {url} must be 404, got {r.status_code}"
                assert_no_b(r.text, f"{method} {url}")
            walked += 1
        # the fleet-wide campaign alert names B's host: MSP staff only
        r = client.get(f"/api/v1/alerts/{campaign_id(console)}", headers=headers)
        assert r.status_code == 404
    assert walked > 40
    # and B's objects did not change
    with TestClient(console.app) as admin:
        h = {"Authorization": f"Bearer {console.api_token('admin')}"}
        alert = admin.get(f"/api/v1/alerts/{params['alert_id']}", headers=h).json()
        assert alert["status"] == "open" and alert["assignee"] == "" and alert["comments"] == []
        host = admin.get("/api/v1/hosts/agent-globex-1", headers=h).json()
        assert not host["revoked"]
        requests = admin.get("/api/v1/containment/requests", headers=h).json()
        assert [(r["id"], r["status"]) for r in requests] == [("b-request", "awaiting")]
        assert admin.get("/api/v1/tenants/globex/approvals", headers=h).json() == {"require": []}


def test_b_is_visible_to_msp_staff_and_to_its_own_analyst(console: Console) -> None:
    with TestClient(console.app) as client:
        msp = {"Authorization": f"Bearer {console.api_token('msp')}"}
        tenants = {a["tenant"] for a in client.get("/api/v1/alerts", headers=msp).json()}
        assert tenants == {"acme", "globex", "*"}
        gina = {"Authorization": f"Bearer {console.api_token('gina')}"}
        alerts = client.get("/api/v1/alerts", headers=gina).json()
        assert {a["tenant"] for a in alerts} == {"globex"}
        assert "GLOBEX-MBX1" in client.get("/api/v1/hosts", headers=gina).text
        assert "ACME-EXCH01" not in client.get("/api/v1/hosts", headers=gina).text


def test_scoped_read_only_and_all_tenant_read_only(console: Console) -> None:
    with TestClient(console.app) as client:
        ro = {"Authorization": f"Bearer {console.api_token('ro')}"}
        assert {a["tenant"] for a in client.get("/api/v1/alerts", headers=ro).json()} == {"acme"}
        assert (
            client.get(f"/api/v1/alerts/{console.alert_id('globex')}", headers=ro).status_code
            == 404
        )
        roall = {"Authorization": f"Bearer {console.api_token('roall')}"}
        assert {a["tenant"] for a in client.get("/api/v1/alerts", headers=roall).json()} == {
            "acme",
            "globex",
            "*",
        }


def test_ids_outside_scope_and_missing_ids_answer_alike(console: Console) -> None:
    with TestClient(console.app) as client:
        h = {"Authorization": f"Bearer {console.api_token('ana')}"}
        b = client.get(f"/api/v1/alerts/{console.alert_id('globex')}", headers=h)
        missing = client.get("/api/v1/alerts/999999", headers=h)
        assert b.status_code == missing.status_code == 404
        assert b.json()["detail"].startswith("no alert") and missing.json()["detail"].startswith(
            "no alert"
        )
