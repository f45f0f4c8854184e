"""Constructors for the wire events the agent's sources produce."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable

from agent.detection import Detection
from protos import exwatch_pb2 as pb

_MS_MASK = (1 << 48) - 1
# A random hex digit's low two bits under the variant bits 10 (RFC 9562): 8, 9, a or b.
_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}


def new_event_id() -> str:
    """A UUID version 7 (RFC 9562) as 32 hex digits: the Unix time in milliseconds, the
    version, 74 random bits around the variant. Ids that grow with time land at the
    right-hand edge of the collector's unique index instead of on a random page of it:
    with random (version 4) ids every event dirtied a page of its own, which halved what
    the collector could commit."""
    r = os.urandom(10).hex()
    return f"{time.time_ns() // 1_000_000 & _MS_MASK:012x}7{r[:3]}{_VARIANT[r[3]]}{r[4:19]}"


def new_event(*, matches: Iterable[Detection] = (), retro: bool = False) -> pb.Event:
    """An empty event with a fresh id and the host's current time."""
    event = pb.Event(id=new_event_id(), host_time_ns=time.time_ns(), retro=retro)
    event.matches.extend(to_match(d) for d in matches)
    return event


def to_match(d: Detection) -> pb.Match:
    return pb.Match(
        rule_id=d.rule_id,
        title=d.title,
        severity=pb.Severity.ValueType(d.severity),
        tags=list(d.tags),
        engine=d.engine,
    )


def sensor_event(
    sensor: str, state: pb.SensorState.ValueType, kind: str, detail: str, *, count: int = 0
) -> pb.Event:
    event = new_event()
    event.sensor.CopyFrom(
        pb.SensorEvent(sensor=sensor, state=state, kind=kind, detail=detail, count=count)
    )
    return event
