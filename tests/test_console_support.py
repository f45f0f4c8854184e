"""Shared builders for the console tests (no tests here): a real SQLite store filled through
``Store`` with realistic protobuf events from two tenants, console users of every
role, and helpers to sign in the way a browser does.

Named test_console_* to stay inside the console's files; pytest collects nothing from it.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from collector.console import data, passwords
from collector.console.app import create_app
from collector.console.settings import ConsoleSettings
from collector.store import AgentInfo, Store
from collector.store.backend import Connection, open_database
from protos import exwatch_pb2 as pb

PASSWORD = "correct horse battery staple"
A1 = AgentInfo("agent-acme-1", "acme", "ACME-EXCH01")
A2 = AgentInfo("agent-acme-2", "acme", "ACME-EXCH02")
B1 = AgentInfo("agent-globex-1", "globex", "GLOBEX-MBX1")
# Strings that only tenant B's data contains: none may reach an analyst of A.
B_MARKERS = ("GLOBEX-MBX1", "agent-globex-1", "gx-shell.aspx", "198.51.100.77", "gx-token-note")
USERS = {
    "admin": ("admin", [], False),
    "msp": ("msp_analyst", [], False),
    "ana": ("tenant_analyst", ["acme"], False),
    "ro": ("read_only", ["acme"], False),
    "roall": ("read_only", [], True),
    "gina": ("tenant_analyst", ["globex"], False),
}
T0 = 1_700_000_000 * 10**9


def webshell(
    uid: str, path: str, *, t: int, tags: tuple[str, ...] = ("cve.2021-27065",)
) -> pb.Event:
    return pb.Event(
        id=uid,
        host_time_ns=t,
        file=pb.FileEvent(
            action=pb.FILE_ACTION_CREATED,
            path=path,
            root=r"C:\inetpub\wwwroot",
            size=1337,
            sha256="ab" * 32,
            mtime_ns=t,
            verdict=pb.VERDICT_MALICIOUS,
            root_kind="webroot",
        ),
        matches=[
            pb.Match(
                rule_id="yara.china_chopper",
                title="China Chopper webshell",
                severity=pb.SEVERITY_CRITICAL,
                tags=["attack.t1505.003", *tags],
                engine="yara",
            )
        ],
    )


def ssrf(uid: str, *, t: int, client: str = "203.0.113.9") -> pb.Event:
    return pb.Event(
        id=uid,
        host_time_ns=t,
        log=pb.LogRecordEvent(
            source="httpproxy",
            file=r"D:\Exchange\Logging\HttpProxy\Ecp\HttpProxy_2021030301-1.LOG",
            line=42,
            fields={
                "ClientIpAddress": client,
                "UrlStem": "/ecp/y.js",
                "AnchorMailbox": "ServerInfo~a]@exch.local:444/autodiscover/autodiscover.xml?#",
            },
        ),
        matches=[
            pb.Match(
                rule_id="sigma.proxylogon_ssrf",
                title="ProxyLogon SSRF in HttpProxy log",
                severity=pb.SEVERITY_HIGH,
                tags=["cve.2021-26855", "attack.initial_access"],
                engine="sigma",
            )
        ],
    )


def spawn(uid: str, *, t: int) -> pb.Event:
    return pb.Event(
        id=uid,
        host_time_ns=t,
        process=pb.ProcessEvent(
            pid=4242,
            name="cmd.exe",
            exe=r"C:\Windows\System32\cmd.exe",
            cmdline='cmd.exe /c "whoami & net group "Exchange Trusted Subsystem" /domain"',
            user=r"NT AUTHORITY\SYSTEM",
            ancestors=[
                pb.ProcessAncestor(
                    pid=3000, name="w3wp.exe", cmdline="w3wp.exe -ap MSExchangeECPAppPool"
                )
            ],
        ),
        matches=[
            pb.Match(
                rule_id="sigma.webserver_shell",
                title="IIS worker spawned a shell",
                severity=pb.SEVERITY_HIGH,
                tags=["attack.t1059.003"],
                engine="sigma",
            )
        ],
    )


def shed(uid: str, *, t: int) -> pb.Event:
    return pb.Event(
        id=uid,
        host_time_ns=t,
        sensor=pb.SensorEvent(
            sensor="spool", state=pb.SENSOR_STATE_DEGRADED, kind="events_shed", count=17
        ),
    )


def plain(uid: str, *, t: int) -> pb.Event:
    return pb.Event(
        id=uid,
        host_time_ns=t,
        file=pb.FileEvent(action=pb.FILE_ACTION_MODIFIED, path=r"C:\inetpub\logs\x.txt"),
    )


def populate(store: Store, now: int) -> None:
    for agent in (A1, A2, B1):
        store.register_agent(
            agent,
            agent_version="0.1.0",
            rules_version="r-2026.11",
            os="Windows Server 2019",
            now_ns=now,
        )
        store.record_heartbeat(
            agent,
            pb.Heartbeat(
                rules_version="r-2026.11",
                exchange_build="15.2.1544.4",
                spool_events=3,
                events_shed_total=17 if agent is A2 else 0,
            ),
            now_ns=now,
        )
    t = now - 3600 * 10**9
    store.commit_batch(
        A1,
        1,
        [
            ssrf("a1-ssrf", t=t),
            webshell("a1-shell", r"C:\inetpub\wwwroot\aspnet_client\discover.aspx", t=t + 10**9),
            spawn("a1-spawn", t=t + 2 * 10**9),
            plain("a1-plain", t=t + 3 * 10**9),
        ],
        now_ns=now,
    )
    store.commit_batch(A2, 1, [shed("a2-shed", t=t)], now_ns=now)
    store.commit_batch(
        B1,
        1,
        [
            ssrf("b1-ssrf", t=t, client="198.51.100.77"),
            webshell("b1-shell", r"C:\inetpub\wwwroot\aspnet_client\gx-shell.aspx", t=t),
        ],
        now_ns=now,
    )
    store.create_token("globex", uses=1, expires_ns=now + 10**12, now_ns=now, note="gx-token-note")
    store.create_token("acme", uses=2, expires_ns=now + 10**12, now_ns=now, note="acme-rollout")


def add_users(db_path: Path | str) -> None:
    password_hash = passwords.hash_password(PASSWORD)
    conn = open_database(db_path, pooled=False).connect()
    try:
        for name, (role, tenants, all_tenants) in USERS.items():
            data.create_user(
                conn,
                data.cli_principal("test"),
                username=name,
                password_hash=password_hash,
                role=role,
                tenants=tenants,
                all_tenants=all_tenants,
            )
    finally:
        conn.close()


def build_template(folder: Path | str) -> Path | str:
    """A populated store, built once per test module (argon2 is slow on purpose): a
    SQLite file in ``folder``, or (a DSN) that PostgreSQL database."""
    path = folder if isinstance(folder, str) else folder / "template.db"
    store = Store(path)
    try:
        populate(store, time.time_ns())
    finally:
        store.close()
    add_users(path)
    return path


@dataclass
class Console:
    store: Store
    app: Any
    db_path: Path | str

    def conn(self) -> Connection:
        """A connection of the test's own, outside any transaction."""
        return open_database(self.db_path, pooled=False).connect()

    def api_token(self, username: str) -> str:
        conn = self.conn()
        try:
            created = data.create_api_token(
                conn, data.cli_principal("test"), name="t", username=username
            )
        finally:
            conn.close()
        return str(created["token"])

    def alert_id(self, tenant: str, rule: str = "exwatch.incident") -> int:
        conn = self.conn()
        try:
            return int(
                conn.execute(
                    "SELECT id FROM alerts WHERE tenant = ? AND rule = ?", (tenant, rule)
                ).fetchone()[0]
            )
        finally:
            conn.close()


def open_console(template: Path | str, folder: Path | str, **settings: Any) -> Console:
    """A console on a copy of ``template``: a file copied into ``folder``, or, for a
    PostgreSQL template, ``folder`` is the DSN of its copy."""
    if isinstance(template, str):
        path: Path | str = folder
    else:
        assert isinstance(folder, Path)
        path = folder / "exwatch.db"
        shutil.copy(template, path)
    store = Store(path)
    app = create_app(ConsoleSettings(db_path=path, **settings), store)
    return Console(store, app, path)


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in page"
    return match.group(1)


def login(client: Any, username: str, password: str = PASSWORD) -> str:
    """Sign in through the form, as a browser does; returns the session's CSRF token."""
    page = client.get("/login")
    response = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return csrf_from(client.get("/account").text)
