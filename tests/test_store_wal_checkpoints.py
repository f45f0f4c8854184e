"""WAL checkpoints on their own thread keep the WAL bounded even when writers hand the
writer lock straight to each other (ingest workers under full load)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from collector.store import Store, store
from collector.store.backend import SQLiteDatabase

THRESHOLD = 512 * 1024


def test_back_to_back_writers_do_not_grow_the_wal_without_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "WAL_TRUNCATE_BYTES", THRESHOLD)
    monkeypatch.setattr(store, "CHECKPOINT_SECONDS", 0.1)
    path = tmp_path / "exwatch.db"
    background = Store(path, checkpoints="background")
    database = SQLiteDatabase(path)
    setup = database.connect()
    setup.execute("CREATE TABLE filler (id INTEGER PRIMARY KEY, data BLOB)")
    setup.close()
    stop = threading.Event()
    commits = [0, 0]
    rows = [(i, b"x" * 4000) for i in range(20)]  # rewritten each time: the file stays small

    def write(n: int) -> None:
        conn = database.connect()
        conn.execute("PRAGMA wal_autocheckpoint=0")  # as an ingest worker's store does
        try:
            while not stop.is_set():
                conn.begin()
                conn.executemany("INSERT OR REPLACE INTO filler VALUES (?, ?)", rows)
                conn.commit()
                commits[n] += 1
        finally:
            conn.close()

    writers = [threading.Thread(target=write, args=(n,)) for n in range(2)]
    for w in writers:
        w.start()
    wal = path.with_name(path.name + "-wal")
    sizes = []
    try:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            sizes.append(wal.stat().st_size if wal.exists() else 0)
            time.sleep(0.02)
    finally:
        stop.set()
        for w in writers:
            w.join()
        background.close()
    written = sum(commits) * len(rows) * 4000
    assert written > 20 * THRESHOLD  # the writers kept going
    # Truncated again and again: the WAL never held more than a few seconds' worth.
    assert max(sizes[len(sizes) // 2 :]) < written / 2
    assert min(sizes[len(sizes) // 2 :]) < THRESHOLD
