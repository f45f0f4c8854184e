"""Persistence for the collector: one store on SQLite (default) or PostgreSQL."""

from collector.store.backend import Database, open_database
from collector.store.base import AgentInfo, CommitResult
from collector.store.store import Store

__all__ = ["AgentInfo", "CommitResult", "Database", "Store", "open_database"]
