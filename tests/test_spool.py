"""The agent's durable spool: batches are fixed once cut, resent identically, deleted on ack."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.events import new_event
from agent.spool import Spool
from agent.state import StateDB
from protos import exwatch_pb2 as pb


def log_event(n: int) -> pb.Event:
    e = new_event()
    e.log.CopyFrom(pb.LogRecordEvent(source="iis", file="u_ex.log", line=n, fields={"x": "y" * 50}))
    return e


def file_event(n: int) -> pb.Event:
    e = new_event()
    e.file.CopyFrom(pb.FileEvent(action=pb.FILE_ACTION_CREATED, path=f"/r/{n}.aspx"))
    return e


@pytest.fixture
def db(tmp_path: Path):
    d = StateDB(tmp_path / "agent.db")
    yield d
    d.close()


def test_batches_are_cut_in_order_and_resent_identically(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "agent.db")
    spool = Spool(db, max_bytes=10**9)
    events = [file_event(i) for i in range(25)]
    spool.put(events)
    b1 = spool.cut_batch(max_events=10, max_bytes=10**6)
    b2 = spool.cut_batch(max_events=10, max_bytes=10**6)
    assert b1 and b2 and (b1.sequence, b2.sequence) == (1, 2)
    assert [e.id for e in b1.events] == [e.id for e in events[:10]]
    db.close()

    # after a restart the cut batches come back with the same sequence and content
    db = StateDB(tmp_path / "agent.db")
    spool = Spool(db, max_bytes=10**9)
    again = spool.unacknowledged(after=0)
    assert [(b.sequence, [e.id for e in b.events]) for b in again] == [
        (1, [e.id for e in b1.events]),
        (2, [e.id for e in b2.events]),
    ]
    spool.acknowledge(1)
    assert [b.sequence for b in spool.unacknowledged()] == [2]
    b3 = spool.cut_batch(max_events=100, max_bytes=10**6)
    assert b3 and b3.sequence == 3 and len(b3.events) == 5
    spool.acknowledge(3)
    assert spool.depth() == (0, 0)
    db.close()


def test_batch_respects_byte_cap_but_always_takes_one(db: StateDB) -> None:
    spool = Spool(db, max_bytes=10**9)
    spool.put([log_event(i) for i in range(1, 10)])
    size = len(log_event(5).SerializeToString())
    batch = spool.cut_batch(max_events=100, max_bytes=size * 3 + 1)
    assert batch and len(batch.events) == 3
    tiny = spool.cut_batch(max_events=100, max_bytes=1)
    assert tiny and len(tiny.events) == 1


def test_collector_ahead_of_spool_moves_sequence_forward(db: StateDB) -> None:
    spool = Spool(db, max_bytes=10**9)
    spool.acknowledge(41)  # the collector says it committed 41 (e.g. the spool was restored)
    spool.put([file_event(1)])
    batch = spool.cut_batch(max_events=10, max_bytes=10**6)
    assert batch and batch.sequence == 42


def test_full_spool_sheds_routine_events_never_protected_and_reports(db: StateDB) -> None:
    size = len(log_event(0).SerializeToString())
    spool = Spool(db, max_bytes=size * 20)
    protected = [file_event(i) for i in range(5)]
    spool.put(protected)
    spool.put([log_event(i) for i in range(40)])
    assert spool.shed_total > 0
    batch = spool.cut_batch(max_events=1000, max_bytes=10**9)
    assert batch
    kinds = [e.WhichOneof("body") for e in batch.events]
    assert kinds.count("file") == 5  # never shed
    notices = [e.sensor for e in batch.events if e.HasField("sensor")]
    assert notices and notices[0].kind == "events_shed"
    assert sum(n.count for n in notices) == spool.shed_total
    assert kinds.count("log") + spool.shed_total == 40
    # the count survives a restart
    assert Spool(db, max_bytes=size * 20).shed_total == spool.shed_total


def test_generation_wakes_waiters(db: StateDB) -> None:
    spool = Spool(db, max_bytes=10**9)
    gen = spool.generation
    spool.put([file_event(1)])
    assert spool.wait(gen, timeout=5) > gen  # returns at once: the change already happened
