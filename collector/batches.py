"""Event batches from the wire to the store: kept as the bytes they arrived in until the
process that commits them parses them, checked there, then committed as one group.

The gRPC front never parses a batch's events: an agent message that is a batch and
nothing else is passed on as its raw ``EventBatch`` bytes, so the per-event work (parsing,
matching, rows) happens in whichever process commits (an ingest worker, or the front's
own writer thread), not under the front's one GIL."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.message import DecodeError

from collector.errors import StoreError
from collector.store.base import AgentInfo, CommitResult
from collector.store.store import Store
from protos import exwatch_pb2 as pb

log = logging.getLogger("exwatch.collector.ingest")

_EVENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,80}")
# A whole batch's ids, one per line, checked in one pass of the regex engine.
_EVENT_IDS = re.compile(r"(?:[A-Za-z0-9._:-]{1,80}\n)*")
_BATCH_TAG = 0x12  # AgentMessage field 2 (batch), length-delimited


@dataclass(frozen=True, slots=True)
class RawBatch:
    """An ``EventBatch`` as serialized on the wire, not yet parsed."""

    data: bytes


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What became of one batch; crosses the pipe from an ingest worker as it is."""

    sequence: int
    result: CommitResult | None = None  # committed (or a duplicate)
    error: str = ""  # the store failed; the agent sends it again
    refused: str = ""  # the batch is malformed; its stream is refused


def read_agent_message(raw: bytes) -> pb.AgentMessage | RawBatch:
    """The gRPC deserializer of agent messages: a batch stays bytes, all else is parsed.

    A message whose only field is the batch starts with the batch's tag and length;
    anything else (other fields, unknown fields, a length that does not fit) takes the
    full parse, which raises ``DecodeError`` on garbage as before."""
    if raw[:1] == bytes((_BATCH_TAG,)):
        length, offset, shift = 0, 1, 0
        while offset < len(raw) and offset <= 10:
            byte = raw[offset]
            length |= (byte & 0x7F) << shift
            offset += 1
            shift += 7
            if not byte & 0x80:
                if offset + length == len(raw):
                    return RawBatch(raw[offset:])
                break
    message = pb.AgentMessage.FromString(raw)
    if message.WhichOneof("body") == "batch":
        return RawBatch(message.batch.SerializeToString())
    return message


def open_batch(data: bytes, max_events: int) -> pb.EventBatch:
    """Parse and check one batch; ``ValueError`` says what is wrong with it."""
    try:
        batch = pb.EventBatch.FromString(data)
    except DecodeError as exc:
        raise ValueError(f"batch is not a valid EventBatch: {exc}") from None
    if batch.sequence == 0:
        raise ValueError("batch sequence must be positive")
    if len(batch.events) > max_events:
        raise ValueError(
            f"batch {batch.sequence} has {len(batch.events)} events; limit {max_events}"
        )
    ids = [event.id for event in batch.events]
    joined = "\n".join(ids) + "\n"
    # The count catches an id that itself holds a line break (it would read as two).
    if ids and (joined.count("\n") != len(ids) or not _EVENT_IDS.fullmatch(joined)):
        bad = next(i for i in ids if not _EVENT_ID.fullmatch(i))
        raise ValueError(f"batch {batch.sequence}: event id {bad[:90]!r} is missing or malformed")
    return batch


def commit_raw_batches(
    store: Store, group: Sequence[tuple[AgentInfo, bytes]], *, now_ns: int, max_events: int
) -> list[BatchOutcome]:
    """Parse, check and commit a group of batches (any agents, an agent's in the order it
    sent them) in one transaction."""
    outcomes: list[BatchOutcome | None] = [None] * len(group)
    valid: list[tuple[int, AgentInfo, pb.EventBatch]] = []
    refused: set[str] = set()  # agents: their later batches must wait for the refused one
    for i, (agent, data) in enumerate(group):
        if agent.agent_id in refused:
            outcomes[i] = BatchOutcome(0, error="an earlier batch of this agent was refused")
            continue
        try:
            valid.append((i, agent, open_batch(data, max_events)))
        except ValueError as exc:
            outcomes[i] = BatchOutcome(0, refused=str(exc))
            refused.add(agent.agent_id)
    if valid:
        try:
            results = store.commit_batches(
                [(agent, batch.sequence, batch.events) for _, agent, batch in valid],
                now_ns=now_ns,
            )
        except Exception as exc:  # the whole transaction failed: every batch hears it
            log.exception("group commit of %d batches failed", len(valid))
            results = [StoreError(f"commit failed: {exc}")] * len(valid)
        for (i, _, batch), result in zip(valid, results, strict=True):
            outcomes[i] = (
                BatchOutcome(batch.sequence, error=str(result))
                if isinstance(result, StoreError)
                else BatchOutcome(batch.sequence, result=result)
            )
    return [o for o in outcomes if o is not None]
