"""Console page times on a big fleet: 1,000 hosts in 100 tenants, 1,000,000 events,
20,000 alerts (each with evidence links); prints p50/p95 server times of the fleet
overview, the alert queue (page and live-rows fragment) and the alerts API, for an MSP
analyst (all tenants) and a tenant analyst (one tenant).

Method: the store is made by the collector's own migrations, then filled with raw
``executemany`` in one transaction (realistic serialized protobuf payloads); the console
app is driven in-process through Starlette's TestClient (so the figure is the app's and
SQLite's time, without network), each page requested --runs times after a warm-up.
Target: p95 < 200 ms.

    python benchmarks/console.py [--hosts 1000] [--events 1000000] [--alerts 20000] [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from starlette.testclient import TestClient

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from collector.console import data, passwords
from collector.console.app import create_app
from collector.console.settings import ConsoleSettings
from collector.store import Store
from protos import exwatch_pb2 as pb


def payloads() -> list[tuple[str, str, str, bytes, int]]:
    file_ev = pb.Event(
        id="x",
        host_time_ns=1,
        file=pb.FileEvent(
            action=pb.FILE_ACTION_MODIFIED,
            path=r"C:\Program Files\Microsoft\Exchange Server\V15\FrontEnd\HttpProxy\owa\auth\x.js",
            sha256="cd" * 32,
            size=4096,
            verdict=pb.VERDICT_CLEAN,
        ),
    )
    log_ev = pb.Event(
        id="x",
        host_time_ns=1,
        log=pb.LogRecordEvent(
            source="iis",
            file=r"C:\inetpub\logs\LogFiles\W3SVC1\u_ex261128.log",
            line=1234,
            fields={"cs-uri-stem": "/owa/", "c-ip": "10.0.0.5", "sc-status": "200"},
        ),
    )
    return [
        ("file", "x.js", "modified x.js", file_ev.SerializeToString(), 0),
        ("log", "u_ex261128.log", "iis line 1234", log_ev.SerializeToString(), 0),
    ]


def build(path: Path, hosts: int, events: int, alerts: int, tenants: int) -> None:
    Store(path).close()  # schema through the collector's migrations
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row  # what the console's data functions expect
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    now = time.time_ns()
    rnd = random.Random(7)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO tenants (name, created_ns) VALUES (?, 0)",
        [(f"tenant{t:03d}",) for t in range(tenants)],
    )
    agents = [
        (
            f"agent{h:05d}",
            f"tenant{h % tenants:03d}",
            f"EXCH{h:05d}",
            "0.1.0",
            "r-2026.11",
            "Windows Server 2019",
            "15.2.1544.4",
            now - 10**13,
            now - rnd.randrange(0, 300) * 10**9,
            rnd.randrange(0, 50),
            0,
        )
        for h in range(hosts)
    ]
    conn.executemany(
        "INSERT INTO agents (id, tenant, hostname, agent_version, rules_version, os, "
        "exchange_build, first_seen_ns, last_seen_ns, spool_events, events_shed_total) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        agents,
    )
    kinds = payloads()
    span = 30 * 86_400 * 10**9

    def event_rows() -> Iterator[tuple[object, ...]]:
        for i in range(events):
            agent = agents[i % hosts]
            kind, subject, summary, payload, sev = kinds[i % 2]
            t = now - span + i * (span // events)
            yield (
                f"e{i}",
                agent[0],
                agent[1],
                kind,
                t,
                t + 10**9,
                sev,
                0,
                subject,
                summary,
                payload,
            )

    conn.executemany(
        "INSERT INTO events (uid, agent_id, tenant, kind, host_time_ns, received_ns, severity, "
        "retro, subject, summary, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        event_rows(),
    )
    alert_rows = []
    links = []
    for a in range(alerts):
        agent = agents[rnd.randrange(hosts)]
        t = now - span + a * (span // alerts)
        status = rnd.choice(["open", "acknowledged", "resolved", "resolved", "resolved"])
        alert_rows.append(
            (
                a + 1,
                agent[1],
                f"fp{a}",
                "exwatch.incident",
                f"Webshell on {agent[2]}",
                rnd.choice([3, 4, 5]),
                status,
                json.dumps(["attack.t1505.003", "cve.2021-27065"]),
                json.dumps([agent[2]]),
                t,
                t,
                3,
                t,
                t,
                agent[0],
            )
        )
        for k in range(3):
            links.append((a + 1, rnd.randrange(1, events + 1) if k else (a * 50) % events + 1))
    conn.executemany(
        "INSERT INTO alerts (id, tenant, fingerprint, rule, title, severity, status, tags, hosts, "
        "first_seen_ns, last_seen_ns, event_count, created_ns, updated_ns, agent_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        alert_rows,
    )
    conn.executemany("INSERT OR IGNORE INTO alert_events VALUES (?, ?)", links)
    principal = data.cli_principal("bench")
    h = passwords.hash_password("benchmark password")
    data.create_user(
        conn, principal, username="msp", password_hash=h, role="msp_analyst", tenants=[]
    )
    data.create_user(
        conn,
        principal,
        username="ana",
        password_hash=h,
        role="tenant_analyst",
        tenants=["tenant007"],
    )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def token(path: Path, user: str) -> str:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        return str(
            data.create_api_token(conn, data.cli_principal("bench"), name="b", username=user)[
                "token"
            ]
        )
    finally:
        conn.close()


def measure(
    client: TestClient, url: str, headers: dict[str, str], runs: int
) -> tuple[float, float]:
    client.get(url, headers=headers)  # warm-up (templates, page cache)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        r = client.get(url, headers=headers)
        times.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, (url, r.status_code)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "exwatch.db"
        t = time.perf_counter()
        build(path, args.hosts, args.events, args.alerts, args.tenants)
        print(
            f"store: {args.hosts} hosts, {args.tenants} tenants, {args.events:,} events, "
            f"{args.alerts:,} alerts in {time.perf_counter() - t:.1f} s "
            f"({path.stat().st_size / 2**20:.0f} MiB)"
        )
        store = Store(path)
        try:
            app = create_app(ConsoleSettings(db_path=path), store)
            users = {u: {"Authorization": f"Bearer {token(path, u)}"} for u in ("msp", "ana")}
            pages = [
                ("fleet overview", "/fleet"),
                ("overview (charts)", "/"),
                ("alert queue", "/alerts"),
                ("alert queue live rows", "/alerts/rows"),
                (
                    "alert queue, critical + CVE",
                    "/alerts/rows?severity=critical&tag=CVE-2021-27065&status=all",
                ),
                ("alerts API (100)", "/api/v1/alerts?limit=100"),
                ("host page", "/hosts/agent00007"),
            ]
            print(f"{'page':34} {'user':5} {'p50 ms':>8} {'p95 ms':>8}")
            worst = 0.0
            with TestClient(app) as client:
                for name, url in pages:
                    for user, headers in users.items():
                        p50, p95 = measure(client, url, headers, args.runs)
                        worst = max(worst, p95)
                        print(f"{name:34} {user:5} {p50:8.1f} {p95:8.1f}")
            print(
                f"worst p95: {worst:.1f} ms (target < 200 ms): {'OK' if worst < 200 else 'MISSED'}"
            )
        finally:
            store.close()


if __name__ == "__main__":
    main()
