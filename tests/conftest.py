"""Shared fixtures. Like watchdog's suite, every test fails if it leaks a thread."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


# Process-wide threads that libraries start once and keep: grpc.aio's poller.
_LIBRARY_THREADS = ("_poll_wrapper",)


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 5.0
    while True:
        leaked = [
            t
            for t in threading.enumerate()
            if t not in before and t.is_alive() and not any(n in t.name for n in _LIBRARY_THREADS)
        ]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not leaked, f"test leaked threads: {[t.name for t in leaked]}"


# ---------------------------------------------------------------------------- stores

# The PostgreSQL server the store suite runs against (.ci/run starts one if absent). Each
# test gets a database of its own, created here and dropped afterwards.
POSTGRES_ADMIN_DSN = os.environ.get(
    "EXWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextmanager
def fresh_postgres_database(template: str | None = None) -> Iterator[str]:
    """A new PostgreSQL database, empty or a copy of the database at DSN ``template``
    (which nobody may be connected to); yields its DSN, drops it at the end."""
    import psycopg
    from psycopg import sql

    name = f"exwatch_test_{uuid.uuid4().hex[:16]}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        source = sql.Identifier(template.rsplit("/", 1)[1])
        create = sql.SQL("{} TEMPLATE {}").format(create, source)
    try:
        with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(create)
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {POSTGRES_ADMIN_DSN} is needed by the store suite: {exc}")
    try:
        yield POSTGRES_ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """Where a store lives, once per backend: a SQLite file, or a fresh PostgreSQL
    database's DSN (both accepted by ``Store``, ``open_database`` and the config)."""
    if request.param == "sqlite":
        yield tmp_path / "exwatch.db"
        return
    with fresh_postgres_database() as dsn:
        yield dsn
