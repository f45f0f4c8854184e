"""Raw batches: the front keeps a batch as its bytes; the committing side parses, checks
and commits it (collector.batches)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from google.protobuf.message import DecodeError
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.events import new_event_id
from collector.batches import RawBatch, commit_raw_batches, open_batch, read_agent_message
from collector.store import Store
from collector.store.base import AgentInfo
from protos import exwatch_pb2 as pb

AGENT = AgentInfo("agent-1", "acme", "EXCH01")


def batch(sequence: int, n: int = 3) -> pb.EventBatch:
    events = [pb.Event(id=new_event_id(), file=pb.FileEvent(path=f"/r/{i}.txt")) for i in range(n)]
    return pb.EventBatch(sequence=sequence, events=events)


def test_a_message_that_is_only_a_batch_stays_its_raw_bytes() -> None:
    sent = batch(7)
    read = read_agent_message(pb.AgentMessage(batch=sent).SerializeToString())
    assert read == RawBatch(sent.SerializeToString())


def test_a_large_batch_with_a_multi_byte_length_stays_raw() -> None:
    sent = batch(1, n=2000)
    read = read_agent_message(pb.AgentMessage(batch=sent).SerializeToString())
    assert isinstance(read, RawBatch)
    assert pb.EventBatch.FromString(read.data) == sent


def test_other_messages_are_parsed() -> None:
    hello = pb.AgentMessage(hello=pb.Hello(agent_id="a1", hostname="h"))
    assert read_agent_message(hello.SerializeToString()) == hello


def test_a_batch_followed_by_an_unknown_field_takes_the_full_parse() -> None:
    sent = batch(3)
    unknown = bytes((0xF8, 0x01, 0x05))  # field 31, varint 5: a newer agent's field
    read = read_agent_message(pb.AgentMessage(batch=sent).SerializeToString() + unknown)
    assert isinstance(read, RawBatch)
    assert pb.EventBatch.FromString(read.data) == sent


def test_garbage_is_a_decode_error() -> None:
    with pytest.raises(DecodeError):
        read_agent_message(b"\x12\x05\xff\xff")  # a batch whose length runs past the end


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_read_as_a_message_or_a_clear_error(raw: bytes) -> None:
    try:
        read = read_agent_message(raw)
    except DecodeError:
        return
    if isinstance(read, RawBatch):
        try:
            full = pb.AgentMessage.FromString(raw).batch
        except DecodeError:  # the fast path passed garbage on: opening it says so
            with pytest.raises(ValueError, match="not a valid EventBatch"):
                open_batch(read.data, max_events=5000)
            return
        # What the fast path passed on is exactly what the full parse reads.
        assert pb.EventBatch.FromString(read.data) == full


@settings(max_examples=100, deadline=None)
@given(
    st.integers(min_value=1, max_value=2**64 - 1),
    st.lists(st.from_regex(r"[A-Za-z0-9._:-]{1,80}", fullmatch=True), max_size=20),
)
def test_every_valid_batch_reads_back_equal(sequence: int, ids: list[str]) -> None:
    sent = pb.EventBatch(sequence=sequence, events=[pb.Event(id=i) for i in ids])
    read = read_agent_message(pb.AgentMessage(batch=sent).SerializeToString())
    assert isinstance(read, RawBatch)
    assert open_batch(read.data, max_events=5000) == sent


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"\x12\x05\xff", "not a valid EventBatch"),
        (pb.EventBatch(sequence=0).SerializeToString(), "sequence must be positive"),
        (batch(1, n=11).SerializeToString(), "has 11 events; limit 10"),
        (pb.EventBatch(sequence=2, events=[pb.Event(id="")]).SerializeToString(), "event id"),
        (pb.EventBatch(sequence=2, events=[pb.Event(id="a\nb")]).SerializeToString(), "event id"),
        (pb.EventBatch(sequence=2, events=[pb.Event(id="x" * 81)]).SerializeToString(), "event id"),
        (pb.EventBatch(sequence=2, events=[pb.Event(id="a b")]).SerializeToString(), "event id"),
    ],
)
def test_a_bad_batch_is_refused_with_the_reason(data: bytes, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        open_batch(data, max_events=10)


def test_a_group_commits_the_good_batches_and_refuses_the_bad_one(tmp_path: Path) -> None:
    store = Store(tmp_path / "exwatch.db")
    other = AgentInfo("agent-2", "acme", "EXCH02")
    try:
        for agent in (AGENT, other):
            store.register_agent(agent, agent_version="1", rules_version="", os="", now_ns=1)
        good, again = batch(1), batch(2)
        outcomes = commit_raw_batches(
            store,
            [
                (AGENT, good.SerializeToString()),
                (other, pb.EventBatch(sequence=0).SerializeToString()),
                (AGENT, again.SerializeToString()),
            ],
            now_ns=time.time_ns(),
            max_events=100,
        )
        assert [o.sequence for o in outcomes] == [1, 0, 2]
        assert "sequence must be positive" in outcomes[1].refused
        assert [o.result.events_written if o.result else None for o in outcomes] == [3, None, 3]
        resent = commit_raw_batches(
            store, [(AGENT, good.SerializeToString())], now_ns=time.time_ns(), max_events=100
        )
        assert resent[0].result is not None and resent[0].result.duplicate
        assert sorted(store.event_uids()) == sorted(e.id for e in [*good.events, *again.events])
    finally:
        store.close()


def test_a_batch_of_an_unknown_agent_is_a_store_error_not_a_refusal(tmp_path: Path) -> None:
    store = Store(tmp_path / "exwatch.db")
    try:
        outcomes = commit_raw_batches(
            store, [(AGENT, batch(1).SerializeToString())], now_ns=1, max_events=100
        )
        assert outcomes[0].result is None and "unknown agent" in outcomes[0].error
        assert not outcomes[0].refused
    finally:
        store.close()


def test_after_a_refused_batch_the_agents_later_batches_wait(tmp_path: Path) -> None:
    """In one group: batch 2 refused, so batch 3 must not commit (it would move the agent's
    sequence past 2, and 2 would later be skipped as a duplicate)."""
    store = Store(tmp_path / "exwatch.db")
    other = AgentInfo("agent-2", "acme", "EXCH02")
    try:
        for agent in (AGENT, other):
            store.register_agent(agent, agent_version="1", rules_version="", os="", now_ns=1)
        first, third, others = batch(1), batch(3), batch(1)
        bad = pb.EventBatch(sequence=2, events=[pb.Event(id="not an id")])
        outcomes = commit_raw_batches(
            store,
            [
                (AGENT, first.SerializeToString()),
                (AGENT, bad.SerializeToString()),
                (other, others.SerializeToString()),
                (AGENT, third.SerializeToString()),
            ],
            now_ns=time.time_ns(),
            max_events=100,
        )
        assert outcomes[0].result is not None and "event id" in outcomes[1].refused
        assert outcomes[2].result is not None  # another agent is not held back
        assert outcomes[3].result is None and "earlier batch" in outcomes[3].error
        expected = [e.id for e in [*first.events, *others.events]]
        assert sorted(store.event_uids()) == sorted(expected)
        assert store.agent(AGENT.agent_id)["last_sequence"] == 1  # type: ignore[index]
    finally:
        store.close()
