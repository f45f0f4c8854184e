"""Constructors for the wire events the agent's sources produce."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from agent.detection import Detection
from protos import exwatch_pb2 as pb


def new_event(*, matches: Iterable[Detection] = (), retro: bool = False) -> pb.Event:
    """An empty event with a fresh id and the host's current time."""
    event = pb.Event(id=uuid.uuid4().hex, host_time_ns=time.time_ns(), retro=retro)
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
