"""Value types the store takes and returns (shared by its callers and backends)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AgentInfo:
    """Who sent a batch: fixed by enrollment (or the loopback demo), never by the message."""

    agent_id: str
    tenant: str
    hostname: str


@dataclass(frozen=True, slots=True)
class CommitResult:
    """What committing one batch did."""

    duplicate: bool  # the sequence was committed before; nothing was written
    events_written: int
    alerts_opened: tuple[int, ...]
    alerts_updated: tuple[int, ...]
