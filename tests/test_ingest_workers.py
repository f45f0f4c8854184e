"""Ingest workers: real processes committing batches for the front (collector.ingest_workers)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from collector_harness import running_collector
from conftest import REPO
from test_transport import AgentSide, file_events, stored_ids, wait_for

from agent.events import new_event_id
from collector.ingest_workers import IngestWorker, WorkerSpec
from collector.store import Store
from collector.store.base import AgentInfo
from protos import exwatch_pb2 as pb

AGENT = AgentInfo("agent-1", "acme", "EXCH01")


def raw_batch(sequence: int, n: int = 5) -> bytes:
    events = [pb.Event(id=new_event_id(), file=pb.FileEvent(path=f"/r/{i}")) for i in range(n)]
    return pb.EventBatch(sequence=sequence, events=events).SerializeToString()


def count_events(tmp_path: Path) -> int:
    store = Store(tmp_path / "exwatch.db")
    try:
        return store.count_events()
    finally:
        store.close()


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[IngestWorker]:
    store = Store(tmp_path / "exwatch.db")
    store.register_agent(AGENT, agent_version="1", rules_version="", os="", now_ns=1)
    store.close()
    handle = IngestWorker(WorkerSpec(tmp_path / "exwatch.db", 2, 100), "test-ingest")
    handle.start()
    try:
        yield handle
    finally:
        handle.close()


def test_a_worker_commits_what_it_is_sent(worker: IngestWorker, tmp_path: Path) -> None:
    outcomes = worker.commit([(AGENT, raw_batch(1)), (AGENT, raw_batch(2))], time.time_ns())
    assert [(o.sequence, o.result and o.result.events_written) for o in outcomes] == [
        (1, 5),
        (2, 5),
    ]
    assert count_events(tmp_path) == 10


def test_a_killed_worker_is_replaced_and_the_group_goes_to_the_new_one(
    worker: IngestWorker, tmp_path: Path
) -> None:
    assert worker.commit([(AGENT, raw_batch(1))], time.time_ns())[0].result is not None
    first = worker.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    outcome = worker.commit([(AGENT, raw_batch(2))], time.time_ns())[0]
    assert outcome.sequence == 2 and outcome.result is not None
    assert worker.pid not in (None, first)
    assert count_events(tmp_path) == 10


def test_a_worker_that_cannot_start_fails_the_group_clearly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a-directory.db").mkdir()  # no store can be opened there
    handle = IngestWorker(WorkerSpec(tmp_path / "a-directory.db", 2, 100), "test-ingest")
    try:
        outcomes = handle.commit([(AGENT, raw_batch(1))], time.time_ns())
        assert outcomes[0].result is None and "send again" in outcomes[0].error
        assert "their agents will send them again" in caplog.text
    finally:
        handle.close()


def test_a_closed_worker_exits_on_its_own(worker: IngestWorker) -> None:
    assert worker.commit([(AGENT, raw_batch(1))], time.time_ns())[0].result is not None
    start = time.monotonic()
    assert worker.close() == 0  # it read the end of its pipe; killed would be -9
    assert time.monotonic() - start < 10
    assert worker.pid is None


def test_workers_exit_when_their_collector_is_killed(tmp_path: Path) -> None:
    """A kill -9 of the collector must not leave its workers holding the store."""
    collector = subprocess.Popen(
        [sys.executable, "-m", "collector", "serve", "--insecure-loopback",
         "--listen", "127.0.0.1:0", "--console-listen", "", "--ingest-workers", "2",
         "--data-dir", str(tmp_path / "c")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert collector.stdout is not None
        assert "listening" in collector.stdout.readline()
        children = psutil.Process(collector.pid).children()
        workers = [c for c in children if "resource_tracker" not in " ".join(c.cmdline())]
        assert len(workers) == 2
        collector.kill()
        collector.wait()
        _, alive = psutil.wait_procs(workers, timeout=15)
        assert not alive, f"workers outlived their collector: {[p.pid for p in alive]}"
    finally:
        collector.kill()
        collector.wait()
        if collector.stdout is not None:
            collector.stdout.close()


def test_streams_spread_over_the_workers_and_every_event_lands_once(tmp_path: Path) -> None:
    with running_collector(tmp_path / "c", ingest_workers=2) as collector:
        agents = [
            AgentSide(tmp_path / f"a{i}", collector.address, agent_id=f"agent-{i}")
            for i in range(4)
        ]
        try:
            sent = []
            for i, agent in enumerate(agents):
                events = file_events(450, prefix=f"a{i}-")
                sent += events
                agent.spool.put(events)
            wait_for(lambda: all(a.spool.depth()[0] == 0 for a in agents))
            lanes = collector.server.ingest._lanes
            assert sorted(lane.streams for lane in lanes) == [2, 2]
            ids = stored_ids(tmp_path / "c")
            assert len(ids) == len(set(ids)) == 1800
            assert set(ids) == {e.id for e in sent}
        finally:
            for agent in agents:
                agent.stop()
