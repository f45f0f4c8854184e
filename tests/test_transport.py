"""Agent transport against a real collector (grpc.aio on loopback, SQLite file)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from collector_harness import RunningCollector, running_collector

from agent.errors import ConfigError
from agent.events import new_event
from agent.spool import Spool
from agent.state import StateDB
from agent.transport import Identity, Transport
from collector.store import Store
from protos import exwatch_pb2 as pb
from protos import exwatch_pb2_grpc as pb_grpc


def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def file_events(n: int, prefix: str = "f") -> list[pb.Event]:
    out = []
    for i in range(n):
        e = new_event()
        e.file.CopyFrom(pb.FileEvent(action=pb.FILE_ACTION_CREATED, path=f"/r/{prefix}{i}.txt"))
        out.append(e)
    return out


class AgentSide:
    def __init__(
        self, tmp: Path, address: str, agent_id: str = "agent-1", tls_dir: Path | None = None
    ) -> None:
        self.db = StateDB(tmp / "agent.db")
        self.spool = Spool(self.db, max_bytes=10**9)
        self.transport = Transport(
            address,
            self.spool,
            Identity(agent_id, "EXCH01"),
            rules_version=lambda: "r1",
            heartbeat=lambda: pb.Heartbeat(host_time_ns=time.time_ns(), rules_version="r1"),
            batch_max_events=100,
            tls_dir=tls_dir,
        )
        self.transport.start()

    def stop(self) -> None:
        self.transport.stop()
        self.db.close()


def stored_ids(data_dir: Path) -> list[str]:
    store = Store(data_dir / "exwatch.db")
    try:
        return store.event_uids()
    finally:
        store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("ingest_workers", [0, 2])
def test_events_flow_and_leave_the_spool_once_acknowledged(
    tmp_path: Path, ingest_workers: int
) -> None:
    with running_collector(tmp_path / "c", ingest_workers=ingest_workers) as collector:
        agent = AgentSide(tmp_path, collector.address)
        try:
            events = file_events(1000)
            agent.spool.put(events)
            wait_for(lambda: agent.spool.depth()[0] == 0)
            assert sorted(stored_ids(tmp_path / "c")) == sorted(e.id for e in events)
            assert collector.server.ingest.batches_committed == 10
        finally:
            agent.stop()


def test_collector_restart_loses_nothing(tmp_path: Path) -> None:
    port = free_port()
    collector = RunningCollector(tmp_path / "c", port)
    agent = AgentSide(tmp_path, f"127.0.0.1:{port}")
    try:
        first = file_events(300, "a")
        agent.spool.put(first)
        wait_for(lambda: agent.spool.depth()[0] == 0)
        collector.stop()
        second = file_events(300, "b")
        agent.spool.put(second)  # spooled while the collector is down
        time.sleep(0.5)
        assert agent.spool.depth()[0] == 300
        collector = RunningCollector(tmp_path / "c", port)
        wait_for(lambda: agent.spool.depth()[0] == 0)
        ids = stored_ids(tmp_path / "c")
        assert len(ids) == 600 == len(set(ids))
        assert set(ids) == {e.id for e in first + second}
    finally:
        agent.stop()
        collector.stop()


def test_unreachable_collector_keeps_retrying_and_spooling(tmp_path: Path) -> None:
    port = free_port()
    agent = AgentSide(tmp_path, f"127.0.0.1:{port}")
    try:
        agent.spool.put(file_events(5))
        time.sleep(1.5)
        assert agent.spool.depth()[0] == 5 and not agent.transport.connected.is_set()
        with running_collector(tmp_path / "c", port):
            wait_for(lambda: agent.spool.depth()[0] == 0)
            assert agent.transport.connected.is_set()
    finally:
        agent.stop()


def test_resent_batches_after_lost_acks_are_not_duplicated(tmp_path: Path) -> None:
    """Batches cut and sent, but whose acks never arrived, are resent and deduplicated."""
    with running_collector(tmp_path / "c") as collector:
        db = StateDB(tmp_path / "agent.db")
        spool = Spool(db, max_bytes=10**9)
        spool.put(file_events(50))
        batch = spool.cut_batch(max_events=20, max_bytes=10**9)
        assert batch
        # deliver it by hand, as a previous session would have, without acknowledging locally
        with grpc.insecure_channel(collector.address) as channel:
            stub = pb_grpc.CollectorStub(channel)
            msgs = [
                pb.AgentMessage(hello=pb.Hello(agent_id="agent-1", hostname="EXCH01")),
                pb.AgentMessage(batch=pb.EventBatch(sequence=batch.sequence, events=batch.events)),
            ]
            replies = list(stub.Connect(iter(msgs)))
        assert replies[-1].ack.sequence == batch.sequence
        db.close()
        agent = AgentSide(tmp_path, collector.address)
        try:
            wait_for(lambda: agent.spool.depth()[0] == 0)
        finally:
            agent.stop()
        ids = stored_ids(tmp_path / "c")
        assert len(ids) == 50 == len(set(ids))


@pytest.mark.parametrize(
    ("messages", "fragment"),
    [
        ([pb.AgentMessage(batch=pb.EventBatch(sequence=1))], "first message must be a hello"),
        ([pb.AgentMessage(hello=pb.Hello(agent_id="bad id!"))], "agent_id"),
        (
            [
                pb.AgentMessage(hello=pb.Hello(agent_id="a1")),
                pb.AgentMessage(batch=pb.EventBatch(sequence=0)),
            ],
            "sequence must be positive",
        ),
        (
            [
                pb.AgentMessage(hello=pb.Hello(agent_id="a1")),
                pb.AgentMessage(batch=pb.EventBatch(sequence=1, events=[pb.Event(id="")])),
            ],
            "event id",
        ),
        (
            [
                pb.AgentMessage(hello=pb.Hello(agent_id="a1")),
                pb.AgentMessage(hello=pb.Hello(agent_id="a1")),
            ],
            "hello sent twice",
        ),
    ],
)
@pytest.mark.parametrize("ingest_workers", [0, 2])
def test_malformed_streams_are_refused_and_the_collector_keeps_serving(
    tmp_path: Path, messages: list[pb.AgentMessage], fragment: str, ingest_workers: int
) -> None:
    with running_collector(tmp_path / "c", ingest_workers=ingest_workers) as collector:
        with grpc.insecure_channel(collector.address) as channel:
            stub = pb_grpc.CollectorStub(channel)
            with pytest.raises(grpc.RpcError) as info:
                list(stub.Connect(iter(messages)))
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert fragment in info.value.details()
        agent = AgentSide(tmp_path, collector.address)
        try:
            agent.spool.put(file_events(3))
            wait_for(lambda: agent.spool.depth()[0] == 0)
        finally:
            agent.stop()


def test_oversized_message_is_refused(tmp_path: Path) -> None:
    with running_collector(tmp_path / "c") as collector:
        big = pb.Event(id="big", file=pb.FileEvent(path="x" * (17 * 1024 * 1024)))
        with grpc.insecure_channel(
            collector.address, options=[("grpc.max_send_message_length", -1)]
        ) as ch:
            stub = pb_grpc.CollectorStub(ch)
            msgs = [
                pb.AgentMessage(hello=pb.Hello(agent_id="a1")),
                pb.AgentMessage(batch=pb.EventBatch(sequence=1, events=[big])),
            ]
            with pytest.raises(grpc.RpcError) as info:
                list(stub.Connect(iter(msgs)))
            assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_plain_grpc_to_a_remote_collector_is_refused(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "agent.db")
    try:
        with pytest.raises(ConfigError, match="loopback"):
            Transport(
                "10.1.2.3:50051",
                Spool(db, max_bytes=1000),
                Identity("a", "h"),
                rules_version=str,
                heartbeat=pb.Heartbeat,
            )
    finally:
        db.close()


@pytest.mark.parametrize("ingest_workers", [0, 2])
def test_batches_read_ahead_are_acked_in_order_and_stop_at_a_bad_one(
    tmp_path: Path, ingest_workers: int
) -> None:
    """The collector reads a stream's next batches while one commits; when one is refused,
    none sent after it is committed, so the agent can resend from there."""
    good = [pb.EventBatch(sequence=s, events=file_events(50, f"s{s}-")) for s in (1, 2, 3)]
    bad = pb.EventBatch(sequence=4, events=[pb.Event(id="bad id")])
    after = [pb.EventBatch(sequence=s, events=file_events(50, f"s{s}-")) for s in (5, 6)]
    msgs = [pb.AgentMessage(hello=pb.Hello(agent_id="a1", hostname="h"))]
    msgs += [pb.AgentMessage(batch=b) for b in [*good, bad, *after]]
    replies: list[pb.CollectorMessage] = []
    with (
        running_collector(tmp_path / "c", ingest_workers=ingest_workers) as collector,
        grpc.insecure_channel(collector.address) as channel,
    ):
        with pytest.raises(grpc.RpcError) as info:
            replies.extend(pb_grpc.CollectorStub(channel).Connect(iter(msgs)))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "batch 4" in info.value.details()
    acks = [r.ack.sequence for r in replies if r.WhichOneof("body") == "ack"]
    assert acks == [1, 2, 3][: len(acks)]  # in order; the stream may end before all are read
    stored = set(stored_ids(tmp_path / "c"))
    assert stored.isdisjoint(e.id for b in after for e in b.events)
    assert {e.id for b in good[: len(acks)] for e in b.events} <= stored
