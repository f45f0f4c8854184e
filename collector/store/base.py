"""The store interface: what ingest, alerting and the CLI need from a database.

SQLite is the embedded default; a PostgreSQL implementation of the same protocol serves
fleets that outgrow one machine. Both must pass the same test suite.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from protos import exwatch_pb2 as pb


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


class Store(Protocol):
    def register_agent(
        self, agent: AgentInfo, *, agent_version: str, rules_version: str, os: str, now_ns: int
    ) -> int:
        """Record a connecting agent; return the last sequence committed for it (0 if none)."""
        ...

    def commit_batch(
        self, agent: AgentInfo, sequence: int, events: Sequence[pb.Event], *, now_ns: int
    ) -> CommitResult:
        """Commit a batch and the alerts it raises in one transaction; idempotent on sequence."""
        ...

    def record_heartbeat(
        self, agent: AgentInfo, heartbeat: pb.Heartbeat, *, now_ns: int
    ) -> None: ...

    def list_alerts(
        self, *, tenant: str | None = None, status: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]: ...

    def set_alert_status(
        self,
        alert_id: int,
        status: str,
        *,
        actor: str,
        comment: str = "",
        tenant: str | None = None,
    ) -> dict[str, Any]: ...

    def count_events(self, *, agent_id: str | None = None) -> int: ...

    def list_agents(self, *, tenant: str | None = None) -> list[dict[str, Any]]: ...

    def close(self) -> None: ...
