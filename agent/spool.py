"""The durable spool: every event is on disk before it is sent, and leaves only when the
collector has acknowledged the batch that carried it.

A batch's sequence and content are fixed when it is first cut and stored with its rows,
so a batch resent after a crash or reconnect is byte-for-byte the batch the collector may
already have committed; that is what makes ingest idempotent on (agent, sequence).
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from agent.events import sensor_event
from agent.state import StateDB
from protos import exwatch_pb2 as pb

# Shedding order when the spool is full: lowest first. File, detection and sensor-health
# events are never shed.
PRIORITY_ROUTINE = 10  # log records without a detection, process inventory
PRIORITY_PROTECTED = 100


def priority_of(event: pb.Event) -> int:
    kind = event.WhichOneof("body")
    if event.matches or kind in ("file", "sensor", "action"):
        return PRIORITY_PROTECTED
    return PRIORITY_ROUTINE


@dataclass(frozen=True, slots=True)
class Batch:
    sequence: int
    events: list[pb.Event]


class Spool:
    def __init__(self, db: StateDB, *, max_bytes: int) -> None:
        self.db = db
        self.max_bytes = max_bytes
        self.changed = threading.Condition()
        self._generation = 0  # bumped on every change, so a waiter never misses a wake-up
        with db.reading() as c:
            self._bytes = int(c.execute("SELECT COALESCE(SUM(size), 0) FROM spool").fetchone()[0])
        self.shed_total = int(db.get_meta("shed_total", "0"))

    # ------------------------------------------------------------- writing

    def append(self, conn: sqlite3.Connection, events: Sequence[pb.Event]) -> None:
        """Add events inside the caller's transaction (see StateDB.transaction)."""
        rows = []
        for event in events:
            payload = event.SerializeToString()
            rows.append((priority_of(event), len(payload), payload))
            self._bytes += len(payload)
        conn.executemany("INSERT INTO spool (priority, size, payload) VALUES (?, ?, ?)", rows)
        if self._bytes > self.max_bytes:
            self._shed(conn)

    def put(self, events: Sequence[pb.Event]) -> None:
        """Add events in a transaction of their own and wake the sender."""
        if not events:
            return
        with self.db.transaction() as conn:
            self.append(conn, events)
        self.notify()

    def notify(self) -> None:
        with self.changed:
            self._generation += 1
            self.changed.notify_all()

    @property
    def generation(self) -> int:
        with self.changed:
            return self._generation

    def _shed(self, conn: sqlite3.Connection) -> None:
        """Drop the oldest routine, unsent events until under the bound; count and report it."""
        target = self.max_bytes * 9 // 10
        shed = 0
        freed = 0
        rows = conn.execute(
            "SELECT id, size FROM spool WHERE batch IS NULL AND priority < ? ORDER BY priority, id",
            (PRIORITY_PROTECTED,),
        ).fetchall()
        doomed = []
        for row_id, size in rows:
            if self._bytes - freed <= target:
                break
            doomed.append((row_id,))
            freed += size
            shed += 1
        if not doomed:
            return  # only protected events left: keep them; the sensor reports the pressure
        conn.executemany("DELETE FROM spool WHERE id = ?", doomed)
        self._bytes -= freed
        self.shed_total += shed
        StateDB.set_meta(conn, "shed_total", str(self.shed_total))
        notice = sensor_event(
            "spool",
            pb.SENSOR_STATE_DEGRADED,
            "events_shed",
            f"spool over {self.max_bytes} bytes: shed {shed} routine events",
            count=shed,
        )
        payload = notice.SerializeToString()
        conn.execute(
            "INSERT INTO spool (priority, size, payload) VALUES (?, ?, ?)",
            (PRIORITY_PROTECTED, len(payload), payload),
        )
        self._bytes += len(payload)

    # ------------------------------------------------------------- sending

    def acknowledge(self, sequence: int) -> None:
        """The collector committed every batch up to ``sequence``."""
        with self.db.transaction() as c:
            freed = c.execute(
                "SELECT COALESCE(SUM(size), 0) FROM spool WHERE batch <= ?", (sequence,)
            ).fetchone()[0]
            c.execute("DELETE FROM spool WHERE batch <= ?", (sequence,))
            # Never reuse a sequence the collector has seen, even if our own record is older
            # (for example a restored spool).
            if int(self._last_sequence(c)) < sequence:
                StateDB.set_meta(c, "last_sequence", str(sequence))
        self._bytes -= int(freed)
        self.notify()

    @staticmethod
    def _last_sequence(c: sqlite3.Connection) -> int:
        row = c.execute("SELECT value FROM meta WHERE key = 'last_sequence'").fetchone()
        return int(row[0]) if row else 0

    @property
    def last_sequence(self) -> int:
        with self.db.reading() as c:
            return self._last_sequence(c)

    def unacknowledged(self, after: int = 0) -> list[Batch]:
        """Batches already cut (and maybe sent) with a sequence above ``after``, in order."""
        with self.db.reading() as c:
            rows = c.execute(
                "SELECT batch, payload FROM spool WHERE batch > ? ORDER BY batch, id", (after,)
            ).fetchall()
        batches: dict[int, Batch] = {}
        for seq, payload in rows:
            batches.setdefault(seq, Batch(seq, [])).events.append(pb.Event.FromString(payload))
        return list(batches.values())

    def cut_batch(self, *, max_events: int, max_bytes: int) -> Batch | None:
        """Assign the next sequence to the oldest unbatched events; None when there are none."""
        with self.db.transaction() as c:
            rows = c.execute(
                "SELECT id, size, payload FROM spool WHERE batch IS NULL ORDER BY id LIMIT ?",
                (max_events,),
            ).fetchall()
            if not rows:
                return None
            take: list[tuple[int, bytes]] = []
            total = 0
            for row_id, size, payload in rows:
                if take and total + size > max_bytes:
                    break
                take.append((row_id, payload))
                total += size
            seq = self._last_sequence(c) + 1
            c.executemany("UPDATE spool SET batch = ? WHERE id = ?", [(seq, r) for r, _ in take])
            StateDB.set_meta(c, "last_sequence", str(seq))
        return Batch(seq, [pb.Event.FromString(p) for _, p in take])

    # ------------------------------------------------------------- health

    def depth(self) -> tuple[int, int]:
        """(events, bytes) waiting in the spool."""
        with self.db.reading() as c:
            count = int(c.execute("SELECT COUNT(*) FROM spool").fetchone()[0])
        return count, self._bytes

    def wait(self, since: int, timeout: float) -> int:
        """Block until the spool changed after generation ``since`` (or timeout)."""
        with self.changed:
            if self._generation == since:
                self.changed.wait(timeout)
            return self._generation
