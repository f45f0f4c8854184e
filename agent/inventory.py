"""The file inventory: what every watched file looked like when last seen (path, size,
sha256, mtime). Changes are judged against it, and it is updated in the same transaction
as the event that reports the change."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from agent.state import StateDB


@dataclass(frozen=True, slots=True)
class FileState:
    size: int
    sha256: str
    mtime_ns: int


class Inventory:
    def __init__(self, db: StateDB) -> None:
        self.db = db

    def get(self, path: str) -> FileState | None:
        with self.db.reading() as c:
            row = c.execute(
                "SELECT size, sha256, mtime_ns FROM inventory WHERE path = ?", (path,)
            ).fetchone()
        return FileState(*row) if row else None

    def under(self, root: str) -> dict[str, FileState]:
        """Every entry recorded for ``root``."""
        with self.db.reading() as c:
            rows = c.execute(
                "SELECT path, size, sha256, mtime_ns FROM inventory WHERE root = ?", (root,)
            ).fetchall()
        return {r[0]: FileState(r[1], r[2], r[3]) for r in rows}

    def paths_below(self, folder: str, sep: str) -> list[str]:
        """Recorded paths inside ``folder`` (for a folder deleted or moved as a whole)."""
        prefix = folder.rstrip(sep) + sep
        with self.db.reading() as c:
            rows = c.execute(
                "SELECT path FROM inventory WHERE substr(path, 1, ?) = ?", (len(prefix), prefix)
            ).fetchall()
        return [r[0] for r in rows]

    @staticmethod
    def put(conn: sqlite3.Connection, path: str, root: str, state: FileState) -> None:
        conn.execute(
            "INSERT INTO inventory (path, root, size, sha256, mtime_ns) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(path) DO UPDATE SET root = excluded.root, size = excluded.size, "
            "sha256 = excluded.sha256, mtime_ns = excluded.mtime_ns",
            (path, root, state.size, state.sha256, state.mtime_ns),
        )

    @staticmethod
    def delete(conn: sqlite3.Connection, path: str) -> None:
        conn.execute("DELETE FROM inventory WHERE path = ?", (path,))
