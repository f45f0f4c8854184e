"""Connection.insert_new, the ingest hot path: rows whose key the table has are skipped,
whether the key was committed before, comes twice in one call, or is committed by another
writer while the call runs (PostgreSQL's direct COPY then falls back to its staging table)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from collector.store import AgentInfo, Store, open_database
from collector.store.backend import Connection

A = AgentInfo("agent-a", "acme", "EXCH-A")
COLUMNS = Store._EVENT_COLUMNS


def row(uid: str) -> tuple[Any, ...]:
    values = {
        "uid": uid,
        "agent_id": A.agent_id,
        "tenant": A.tenant,
        "kind": "log",
        "host_time_ns": 1,
        "received_ns": 2,
        "severity": 0,
        "retro": 0,
        "subject": "u_ex261202.log",
        "summary": "iis line 1",
        "payload": b"\x00\x01 binary, with a tab\t and a newline\n",
    }
    return tuple(values[c] for c in COLUMNS)


def uids(conn: Connection) -> list[str]:
    return sorted(r[0] for r in conn.execute("SELECT uid FROM events"))


@pytest.fixture
def target(store_target: Path | str) -> Path | str:
    store = Store(store_target)  # the schema, and the agent the rows belong to
    store.register_agent(A, agent_version="1", rules_version="", os="", now_ns=1)
    store.close()
    return store_target


def test_skips_committed_and_repeated_keys(target: Path | str) -> None:
    db = open_database(target)
    conn = db.connect()
    try:
        conn.begin()
        assert conn.insert_new("events", COLUMNS, "uid", [row("a"), row("b")]) == 2
        conn.commit()
        conn.begin()
        written = conn.insert_new("events", COLUMNS, "uid", [row("b"), row("c"), row("c")])
        conn.commit()
        assert written == 1
        assert uids(conn) == ["a", "b", "c"]
        payload = conn.execute("SELECT payload FROM events WHERE uid = 'c'").fetchone()[0]
        assert bytes(payload) == row("c")[-1]
        conn.begin()
        assert conn.insert_new("events", COLUMNS, "uid", [row("a")]) == 0
        assert conn.insert_new("events", COLUMNS, "uid", []) == 0
        conn.commit()
    finally:
        conn.close()
        db.close()


def test_many_rows_in_one_call_with_taken_keys_among_them(target: Path | str) -> None:
    """More rows than one statement takes (SQLite inserts them a hundred at a time)."""
    db = open_database(target)
    conn = db.connect()
    try:
        conn.begin()
        assert (
            conn.insert_new("events", COLUMNS, "uid", [row(f"k{i:03d}") for i in range(0, 250, 7)])
            == 36
        )
        conn.commit()
        conn.begin()
        written = conn.insert_new("events", COLUMNS, "uid", [row(f"k{i:03d}") for i in range(250)])
        conn.commit()
        assert written == 250 - 36
        assert uids(conn) == [f"k{i:03d}" for i in range(250)]
    finally:
        conn.close()
        db.close()


@pytest.mark.parametrize("store_target", ["postgresql"], indirect=True)
def test_key_committed_by_another_writer_meanwhile(target: str) -> None:
    """Writer B looks up its keys while writer A holds "x" uncommitted: B's COPY waits on
    the unique index, fails when A commits, and B writes the rest through the staging
    table. No error, every key once."""
    db = open_database(target)
    a, b = db.connect(), db.connect()
    result: list[int] = []
    errors: list[BaseException] = []

    def write_b() -> None:
        try:
            b.begin()
            result.append(b.insert_new("events", COLUMNS, "uid", [row("x"), row("y")]))
            b.commit()
        except BaseException as exc:
            errors.append(exc)

    try:
        a.begin()
        a.insert_new("events", COLUMNS, "uid", [row("x")])
        thread = threading.Thread(target=write_b)
        thread.start()
        # B's COPY is now waiting for A's transaction (it shows as a lock wait).
        deadline = time.monotonic() + 10
        while not _waiting_for_lock(db) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _waiting_for_lock(db), "writer B never waited on writer A's key"
        a.commit()
        thread.join(10)
        assert not thread.is_alive() and not errors, errors
        assert result == [1]
        assert uids(a) == ["x", "y"]
    finally:
        a.close()
        b.close()
        db.close()


def _waiting_for_lock(db: Any) -> bool:
    probe = db.connect()
    try:
        row = probe.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"
        ).fetchone()
        return bool(row[0])
    finally:
        probe.close()
