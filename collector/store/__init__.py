"""Persistence for the collector: one interface, an SQLite and (later) a PostgreSQL backend."""

from collector.store.base import AgentInfo, CommitResult, Store
from collector.store.sqlite import SQLiteStore

__all__ = ["AgentInfo", "CommitResult", "SQLiteStore", "Store"]
