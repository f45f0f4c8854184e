"""Incident export: one zip whose manifest hashes every member, files kept inert under their
SHA-256, hostile strings escaped in the HTML page, and tenant scoping on the API route;
plus the console's collect action and the store's checks on the content agents send."""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient
from test_console_support import A1, B1, Console, build_template, open_console, webshell

from collector.cli import main as collector_cli
from collector.export import export_to_file
from collector.store import Store

SHELL = b'<%@ Page Language="Jscript"%><%eval(Request.Item["z"],"unsafe");%>'
HOSTILE_PATH = r"C:\inetpub\wwwroot\aspnet_client\<script>alert(1)</script>.aspx"
HOSTILE_FIELD = '"><img src=x onerror=alert(2)>'
GLOBEX_SHELL = b"<% globex only %>"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_template(tmp_path_factory.mktemp("incident-export"))


def _collected(console: Console, agent_id: str, kind: str, path: str, content: bytes) -> str:
    """A command answered with content, the way ingest hands it to the store."""
    store = console.store
    command_id = store.queue_command(agent_id, kind, path, actor="ana", now_ns=10**18)
    digest = hashlib.sha256(content).hexdigest()
    assert store.add_evidence_file(agent_id, command_id, content, digest, now_ns=10**18 + 1)
    store.finish_command(agent_id, command_id, ok=True, result="{}", now_ns=10**18 + 1)
    return command_id


@pytest.fixture
def console(template: Path, tmp_path: Path) -> Iterator[Console]:
    c = open_console(template, tmp_path)
    now = time.time_ns()
    c.store.commit_batch(A1, 2, [webshell("a1-hostile", HOSTILE_PATH, t=now)], now_ns=now)
    _collected(c, A1.agent_id, "collect", HOSTILE_PATH, SHELL)
    _collected(c, A1.agent_id, "quarantine", r"C:\inetpub\wwwroot\aspnet_client\q.aspx", SHELL)
    _collected(c, A1.agent_id, "collect", r"C:\inetpub\logs\LogFiles\W3SVC1\u_ex.log", b"")
    _collected(c, B1.agent_id, "collect", r"C:\inetpub\wwwroot\gx-shell.aspx", GLOBEX_SHELL)
    yield c
    c.store.close()


def members(archive: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        return {info.filename: zf.read(info) for info in zf.infolist()}


def check_manifest(archive: bytes, alert_id: int) -> tuple[dict[str, bytes], dict]:
    """Every member but the manifest is listed with its true hash and size, and nothing
    else is in the archive."""
    folder = f"incident-{alert_id}/"
    files = members(archive)
    assert all(name.startswith(folder) for name in files)
    inside = {name.removeprefix(folder): content for name, content in files.items()}
    manifest = json.loads(inside["manifest.json"])
    listed = {m["name"]: m for m in manifest["members"]}
    assert set(listed) == set(inside) - {"manifest.json"}
    for name, entry in listed.items():
        assert entry["sha256"] == hashlib.sha256(inside[name]).hexdigest(), name
        assert entry["size"] == len(inside[name]), name
    return inside, manifest


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)


def test_cli_export_is_complete_hashed_inert_and_escaped(console: Console, tmp_path: Path) -> None:
    alert_id = console.alert_id("acme")
    with TestClient(console.app) as client:
        r = client.post(
            f"/api/v1/alerts/{alert_id}/comments",
            json={"body": HOSTILE_FIELD},
            headers=bearer(console, "ana"),
        )
        assert r.status_code == 201
    out = tmp_path / "out" / "incident.zip"
    out.parent.mkdir()
    result = CliRunner().invoke(
        collector_cli,
        [
            "incident",
            "export",
            str(alert_id),
            "--out",
            str(out),
            "--by",
            "ir-lead",
            "--data-dir",
            str(console.db_path.parent),
        ],
    )
    assert result.exit_code == 0, result.output
    assert f"written to {out}" in result.output
    assert [p.name for p in out.parent.iterdir()] == ["incident.zip"]  # no partial left
    inside, manifest = check_manifest(out.read_bytes(), alert_id)
    assert (manifest["alert_id"], manifest["tenant"], manifest["exported_by"]) == (
        alert_id,
        "acme",
        "ir-lead",
    )

    # files: inert names, original paths in the manifest, only this tenant's hosts
    shell_sha = hashlib.sha256(SHELL).hexdigest()
    empty_sha = hashlib.sha256(b"").hexdigest()
    binaries = sorted(n for n in inside if n.startswith("files/"))
    assert binaries == sorted([f"files/{shell_sha}.bin", f"files/{empty_sha}.bin"])
    assert inside[f"files/{shell_sha}.bin"] == SHELL
    by_name = {f["name"]: f for f in manifest["files"]}
    sources = by_name[f"files/{shell_sha}.bin"]["sources"]
    assert {(s["kind"], s["original_path"], s["hostname"]) for s in sources} == {
        ("collect", HOSTILE_PATH, "ACME-EXCH01"),
        ("quarantine", r"C:\inetpub\wwwroot\aspnet_client\q.aspx", "ACME-EXCH01"),
    }
    assert GLOBEX_SHELL not in b"".join(inside.values())
    with zipfile.ZipFile(out) as zf:  # read-only, never executable
        assert {(i.external_attr >> 16) & 0o777 for i in zf.infolist()} == {0o444}

    # every evidence event, decoded from its protobuf
    events = json.loads(inside["events.json"])
    uids = {e["uid"] for e in events}
    assert {"a1-ssrf", "a1-shell", "a1-spawn", "a1-hostile"} <= uids
    spawn = next(e for e in events if e["uid"] == "a1-spawn")
    assert spawn["payload"]["process"]["ancestors"][0]["name"] == "w3wp.exe"

    # hosts: inventory and patch status
    host = json.loads(inside[f"hosts/{A1.agent_id}.json"])
    assert (host["hostname"], host["exchange_build"]) == ("ACME-EXCH01", "15.2.1544.4")
    assert host["patch_status"]["CVE-2021-26855"]["status"] == "patched"
    assert [n for n in inside if n.startswith("hosts/")] == [f"hosts/{A1.agent_id}.json"]

    # the timeline, in time order, with the commands that were sent
    timeline = json.loads(inside["timeline.json"])
    assert [t["time_ns"] for t in timeline] == sorted(t["time_ns"] for t in timeline)
    assert {t["ref"] for t in timeline if t["type"] == "event"} == uids
    alert = json.loads(inside["alert.json"])
    assert alert["alert"]["id"] == alert_id
    assert {c["kind"] for c in alert["commands"]} == {"collect", "quarantine"}

    # the page: attacker-written strings are text, never markup
    page = inside["timeline.html"].decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;.aspx" in page
    assert "ana: &quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in page  # the comment
    assert "<script" not in page.lower() and "<img" not in page.lower()
    parser = _Tags()
    parser.feed(page)
    assert parser.tags <= {
        "html", "head", "meta", "title", "style", "body", "h1", "h2", "p",
        "table", "thead", "tbody", "tr", "th", "td",
    }  # fmt: skip
    assert "default-src 'none'" in page

    # the export is audited
    conn = console.conn()
    try:
        row = conn.execute(
            "SELECT actor, tenant, object_id FROM audit_log WHERE action = 'incident.export'"
        ).fetchone()
    finally:
        conn.close()
    assert tuple(row) == ("ir-lead", "acme", str(alert_id))


def test_cli_export_of_a_missing_alert_is_a_clear_error(console: Console, tmp_path: Path) -> None:
    out = tmp_path / "x.zip"
    result = CliRunner().invoke(
        collector_cli,
        [
            "incident",
            "export",
            "999999",
            "--out",
            str(out),
            "--data-dir",
            str(console.db_path.parent),
        ],
    )
    assert result.exit_code == 1
    assert "no alert 999999" in result.output
    assert not out.exists() and not list(tmp_path.glob(".x.zip*"))


def bearer(console: Console, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {console.api_token(user)}"}


def test_api_export_respects_tenants(console: Console) -> None:
    acme, globex = console.alert_id("acme"), console.alert_id("globex")
    with TestClient(console.app) as client:
        r = client.get(f"/api/v1/alerts/{acme}/export", headers=bearer(console, "ana"))
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "application/zip"
        assert r.headers["content-disposition"].startswith("attachment;")
        inside, manifest = check_manifest(r.content, acme)
        assert manifest["exported_by"] == "ana"
        # another tenant's alert is absent, whoever asks for it from tenant A
        for user in ("ana", "ro"):
            r = client.get(f"/api/v1/alerts/{globex}/export", headers=bearer(console, user))
            assert r.status_code == 404
            assert b"PK" not in r.content[:2]
        assert client.get(f"/api/v1/alerts/{acme}/export").status_code == 401
        # MSP staff see every tenant; globex's archive holds globex's file only
        r = client.get(f"/api/v1/alerts/{globex}/export", headers=bearer(console, "msp"))
        inside, manifest = check_manifest(r.content, globex)
        assert inside[f"files/{hashlib.sha256(GLOBEX_SHELL).hexdigest()}.bin"] == GLOBEX_SHELL
        assert SHELL not in b"".join(inside.values())


def test_collect_from_the_console(console: Console) -> None:
    with TestClient(console.app) as client:
        url = f"/api/v1/hosts/{A1.agent_id}/collect"
        body = {"path": r"C:\inetpub\wwwroot\aspnet_client\x.aspx", "reason": "IR asked"}
        r = client.post(url, json=body, headers=bearer(console, "ana"))
        assert r.status_code == 202, r.text
        command = r.json()["command"]
        assert client.post(url, json=body, headers=bearer(console, "ro")).status_code == 403
        assert client.post(url, json=body, headers=bearer(console, "gina")).status_code == 404
        assert (
            client.post(url, json={"path": " "}, headers=bearer(console, "ana")).status_code == 422
        )
        files = client.get(f"/api/v1/hosts/{A1.agent_id}/files", headers=bearer(console, "ana"))
        assert {f["kind"] for f in files.json()} == {"collect", "quarantine"}
        assert all("content" not in f for f in files.json())
        r = client.get(f"/api/v1/hosts/{A1.agent_id}/files", headers=bearer(console, "gina"))
        assert r.status_code == 404
    [row] = [c for c in console.store.list_commands() if c["id"] == command]
    assert (row["kind"], row["argument"], row["requested_by"], row["reason"]) == (
        "collect",
        body["path"],
        "ana",
        "IR asked",
    )


def test_store_keeps_only_content_it_asked_for_on_both_backends(
    store_target: Path | str, tmp_path: Path
) -> None:
    content = b"\x00\xff<%@ Page %>\r\n"  # bytes, not text: NUL and invalid UTF-8 survive
    digest = hashlib.sha256(content).hexdigest()
    store = Store(store_target)
    try:
        for agent in (A1, B1):
            store.register_agent(agent, agent_version="1", rules_version="r", os="w", now_ns=1)
        now = time.time_ns()
        store.commit_batch(A1, 1, [webshell("w1", r"C:\inetpub\s.aspx", t=now)], now_ns=now)
        rescan = store.queue_command(A1.agent_id, "rescan", "", actor="ana", now_ns=1)
        collect = store.queue_command(A1.agent_id, "collect", r"C:\x.aspx", actor="ana", now_ns=1)
        # content for a command that brings none, for another agent's command, with a wrong
        # hash, or for no command at all: refused, nothing stored
        assert not store.add_evidence_file(A1.agent_id, rescan, content, digest, now_ns=2)
        assert not store.add_evidence_file(B1.agent_id, collect, content, digest, now_ns=2)
        assert not store.add_evidence_file(A1.agent_id, collect, b"other", digest, now_ns=2)
        assert not store.add_evidence_file(A1.agent_id, "nope", content, digest, now_ns=2)
        # the right one is kept once, even when the agent resends its result
        assert store.add_evidence_file(A1.agent_id, collect, content, digest, now_ns=2)
        assert store.add_evidence_file(A1.agent_id, collect, content, digest, now_ns=3)
        [alert] = [a for a in store.list_alerts(tenant="acme") if a["rule"] == "exwatch.incident"]
    finally:
        store.close()
    out = tmp_path / "incident.zip"
    manifest = export_to_file(store_target, alert["id"], out, actor="ir")
    inside, _ = check_manifest(out.read_bytes(), alert["id"])
    assert [n for n in inside if n.startswith("files/")] == [f"files/{digest}.bin"]
    assert inside[f"files/{digest}.bin"] == content
    [kept] = manifest["files"]
    assert [(s["kind"], s["original_path"]) for s in kept["sources"]] == [("collect", r"C:\x.aspx")]
