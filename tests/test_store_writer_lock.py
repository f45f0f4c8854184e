"""SQLite writers queue on the file's writer lock, across connections and processes
(collector.store.backend.WriterLock)."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from collector.store.backend import SQLiteConnection, SQLiteDatabase


@pytest.fixture
def database(tmp_path: Path) -> SQLiteDatabase:
    db = SQLiteDatabase(tmp_path / "exwatch.db")
    first = db.connect()
    first.execute("CREATE TABLE t (x INTEGER)")
    first.close()
    return db


def begin_in_thread(conn: SQLiteConnection) -> tuple[threading.Thread, threading.Event]:
    began = threading.Event()

    def run() -> None:
        conn.begin()
        began.set()
        conn.execute("INSERT INTO t VALUES (2)")
        conn.commit()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, began


@pytest.mark.parametrize("end", ["commit", "rollback"])
def test_a_second_writer_waits_until_the_first_ends(database: SQLiteDatabase, end: str) -> None:
    first, second = database.connect(), database.connect()
    try:
        first.begin()
        first.execute("INSERT INTO t VALUES (1)")
        thread, began = begin_in_thread(second)
        assert not began.wait(0.3)  # queued on the lock, not failing with "database is locked"
        getattr(first, end)()
        assert began.wait(5)
        thread.join()
        rows = [r[0] for r in first.execute("SELECT x FROM t ORDER BY x")]
        assert rows == ([1, 2] if end == "commit" else [2])
    finally:
        first.close()
        second.close()


def test_readers_never_wait_for_the_lock(database: SQLiteDatabase) -> None:
    writer, reader = database.connect(), database.connect(readonly=True)
    try:
        writer.begin()
        start = time.monotonic()
        reader.begin(write=False)
        assert reader.execute("SELECT count(*) FROM t").fetchone()[0] == 0
        reader.commit()
        assert time.monotonic() - start < 1
        writer.rollback()
    finally:
        writer.close()
        reader.close()


def test_a_nested_begin_fails_and_the_outer_transaction_keeps_the_lock(
    database: SQLiteDatabase,
) -> None:
    first, second = database.connect(), database.connect()
    try:
        first.begin()
        with pytest.raises(sqlite3.OperationalError, match="within a transaction"):
            first.begin()
        thread, began = begin_in_thread(second)
        assert not began.wait(0.3)
        first.commit()
        assert began.wait(5)
        thread.join()
    finally:
        first.close()
        second.close()


def test_a_closed_connection_frees_the_lock(database: SQLiteDatabase) -> None:
    first, second = database.connect(), database.connect()
    try:
        first.begin()
        first.close()  # a writer that goes away mid-transaction (its process dies, say)
        thread, began = begin_in_thread(second)
        assert began.wait(5)
        thread.join()
    finally:
        second.close()
