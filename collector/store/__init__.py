"""Persistence for the collector: the SQLite store (a PostgreSQL backend is planned)."""

from collector.store.base import AgentInfo, CommitResult
from collector.store.sqlite import SQLiteStore

__all__ = ["AgentInfo", "CommitResult", "SQLiteStore"]
