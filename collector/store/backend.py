"""Where the store's SQL runs: one embedded SQLite file, or a PostgreSQL server shared by
several collectors.

The store, the console's data layer and the notification outbox write their SQL once, in
the dialect both databases understand (``?`` placeholders, ``ON CONFLICT``, ``RETURNING``,
``COUNT(*) FILTER``), and ask the connection's ``dialect`` for the few words that differ.
A ``Connection`` hides the rest: placeholder style, ``BEGIN IMMEDIATE`` against ``BEGIN``,
rows readable by name and by position, and driver errors as the store's own.

Locking differs in kind. SQLite has one writer at a time (``BEGIN IMMEDIATE``), so every
write transaction is serial. PostgreSQL runs writers side by side: code that reads before
it writes takes ``lock()`` (an advisory lock held to the end of the transaction) or reads
``FOR UPDATE``; both are no-ops on SQLite, which needs neither.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import urlsplit, urlunsplit

from collector.errors import StoreError

if sys.platform != "win32":
    import fcntl

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

log = logging.getLogger("exwatch.collector.store")

Params = Sequence[Any] | Mapping[str, Any]


class Row(Protocol):
    """A result row: by column name or position, iterable, ``dict(row)`` works."""

    def __getitem__(self, key: int | str, /) -> Any: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __len__(self) -> int: ...
    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    # A Row or None; typed Any as sqlite3's is, so ``fetchone()[0]`` on an aggregate
    # (which always has a row) needs no assert.
    def fetchone(self) -> Any: ...
    def fetchall(self) -> Sequence[Row]: ...
    def __iter__(self) -> Iterator[Row]: ...


class IntegrityError(StoreError):
    """A constraint refused the write (unique, foreign key, check)."""


class Contention(StoreError):
    """PostgreSQL chose this transaction to break a deadlock (or a serialization
    conflict): nothing was written, and running it again is safe."""


@dataclass(frozen=True, slots=True)
class Dialect:
    """The words that differ between the two databases."""

    name: str  # "sqlite" | "postgresql"
    begin_write: str  # a transaction that will write
    greatest: str  # scalar max/min of two values
    least: str
    like: str  # case-insensitive for ASCII, as SQLite's LIKE is
    for_update: str  # appended to a SELECT whose rows the transaction will change
    skip_locked: str  # appended to a queue's claim subquery
    table_columns: str  # the column names of table ``?``

    def json_values(self, column: str) -> str:
        """A FROM item with one row per element of the JSON array in ``column``, named
        ``value`` (``column`` is a constant of the caller, never input)."""
        if self.name == "sqlite":
            return f"json_each({column})"
        return f"jsonb_array_elements_text({column}::jsonb) AS j(value)"


SQLITE = Dialect(
    name="sqlite",
    begin_write="BEGIN IMMEDIATE",
    greatest="MAX",
    least="MIN",
    like="LIKE",
    for_update="",
    skip_locked="",
    table_columns="SELECT name FROM pragma_table_info(?)",
)
POSTGRESQL = Dialect(
    name="postgresql",
    begin_write="BEGIN",
    greatest="GREATEST",
    least="LEAST",
    like="ILIKE",
    for_update=" FOR UPDATE",
    skip_locked=" FOR UPDATE SKIP LOCKED",
    table_columns="SELECT column_name FROM information_schema.columns "
    "WHERE table_schema = current_schema() AND table_name = ?",
)


class Connection(ABC):
    """One database connection; like ``sqlite3`` with ``isolation_level=None``, nothing
    is in a transaction until ``begin()`` (or ``transaction()``) says so."""

    dialect: Dialect

    @abstractmethod
    def execute(self, sql: str, params: Params = ()) -> Cursor: ...

    @abstractmethod
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        """Run ``sql`` once per row; returns how many rows it changed in all."""

    @abstractmethod
    def executescript(self, sql: str) -> None:
        """Several statements without parameters (schema changes)."""

    @abstractmethod
    def insert_new(
        self, table: str, columns: Sequence[str], key: str, rows: Sequence[Sequence[Any]]
    ) -> int:
        """Bulk insert (the ingest hot path), skipping rows whose ``key`` (a unique column
        among ``columns``) the table already has; returns how many were written. ``table``,
        ``columns`` and ``key`` are the caller's constants, never input."""

    @property
    @abstractmethod
    def in_transaction(self) -> bool: ...

    @abstractmethod
    def lock(self, *key: str) -> None:
        """Hold a lock on ``key`` until this transaction ends (PostgreSQL: writers of
        other collectors wait for it; SQLite: writers are serial already)."""

    @abstractmethod
    def close(self) -> None: ...

    def begin(self, *, write: bool = True) -> None:
        self.execute(self.dialect.begin_write if write else "BEGIN")

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        self.execute("ROLLBACK")

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Connection]:
        self.begin(write=write)
        try:
            yield self
        except BaseException:
            self.rollback()
            raise
        self.commit()

    @contextmanager
    def savepoint(self, name: str) -> Iterator[None]:
        """A nested part that can fail alone: on an exception it is undone and the
        exception passes on; the outer transaction stays usable."""
        self.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.execute(f"ROLLBACK TO SAVEPOINT {name}")
            self.execute(f"RELEASE SAVEPOINT {name}")
            raise
        self.execute(f"RELEASE SAVEPOINT {name}")


class Database(ABC):
    """A store's database: makes connections and brings the schema up to date."""

    dialect: Dialect

    @abstractmethod
    def connect(self, *, readonly: bool = False) -> Connection: ...

    @abstractmethod
    def migrate(self) -> None:
        """Apply the migrations this database has not had yet."""

    @abstractmethod
    def exists(self) -> bool:
        """Whether a store was ever created here (the CLI refuses to create one)."""

    @abstractmethod
    def close(self) -> None: ...

    def __str__(self) -> str:
        return self.describe()

    @abstractmethod
    def describe(self) -> str:
        """Where it is, fit for a log line (never a password)."""


# ---------------------------------------------------------------------------- SQLite


_ROWS_PER_INSERT = 100  # x 11 columns of events: well under SQLite's 32,766 parameters


@lru_cache(maxsize=256)
def _multi_row_insert(table: str, columns: tuple[str, ...], rows: int) -> str:
    one = "(" + ", ".join("?" * len(columns)) + ")"
    values = ", ".join([one] * rows)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values} ON CONFLICT DO NOTHING"


class WriterLock:
    """The write lock of one SQLite file, for every process that writes it. Writers queue
    here (``flock``) and the kernel wakes the next the moment the lock is free; SQLite's own
    busy handler instead sleeps and polls (1, 2, 5 ... 100 ms), which with several ingest
    processes on one file left the lock idle between their commits. Where there is no
    ``flock`` (Windows), SQLite's lock alone serialises writers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        if sys.platform == "win32":
            return
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)  # waits with the GIL released

    def release(self) -> None:
        if sys.platform != "win32" and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # which releases the lock too
            self._fd = None


class SQLiteConnection(Connection):
    dialect = SQLITE

    def __init__(self, raw: sqlite3.Connection, writer: WriterLock) -> None:
        self.raw = raw
        self._writer = writer

    def begin(self, *, write: bool = True) -> None:
        if not write or self.raw.in_transaction:  # a nested BEGIN fails, and keeps the lock
            super().begin(write=write)
            return
        self._writer.acquire()
        try:
            super().begin()
        except BaseException:
            self._writer.release()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release_when_done()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release_when_done()

    def _release_when_done(self) -> None:
        if not self.raw.in_transaction:  # a failed COMMIT leaves it open, and locked
            self._writer.release()

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        try:
            return cast(Cursor, self.raw.execute(sql, params))
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        try:
            return self.raw.executemany(sql, rows).rowcount
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc

    def executescript(self, sql: str) -> None:
        self.raw.executescript(sql)

    def insert_new(
        self, table: str, columns: Sequence[str], key: str, rows: Sequence[Sequence[Any]]
    ) -> int:
        """Multi-row INSERTs of up to ``_ROWS_PER_INSERT`` rows (SQLite spends about a third
        less per row than on one statement run per row); ``ON CONFLICT DO NOTHING`` skips a
        taken ``key``."""
        written = 0
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            part = rows[start : start + _ROWS_PER_INSERT]
            sql = _multi_row_insert(table, tuple(columns), len(part))
            written += self.execute(sql, [value for row in part for value in row]).rowcount
        return written

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    def lock(self, *key: str) -> None:
        return  # BEGIN IMMEDIATE made this transaction the only writer

    def close(self) -> None:
        self.raw.close()
        self._writer.close()


class SQLiteDatabase(Database):
    dialect = SQLITE

    def __init__(self, path: Path, *, timeout: float = 30) -> None:
        self.path = path
        self.timeout = timeout

    def connect(self, *, readonly: bool = False) -> SQLiteConnection:
        raw = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=self.timeout
        )
        raw.row_factory = sqlite3.Row
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable across process crashes
        raw.execute("PRAGMA foreign_keys=ON")
        if readonly:
            raw.execute("PRAGMA query_only=ON")
        return SQLiteConnection(raw, self.writer_lock())

    def writer_lock(self) -> WriterLock:
        """A handle of its own on the file's writer lock (held per handle, not per process)."""
        return WriterLock(self.path.with_name(self.path.name + "-writer"))

    def migrate(self) -> None:
        import sqlite_utils

        from collector.store.migrations import MIGRATIONS

        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite_utils.Database(str(self.path))
            try:
                db.enable_wal()
                MIGRATIONS.apply(db)
            finally:
                db.close()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc

    def exists(self) -> bool:
        return self.path.exists()

    def close(self) -> None:
        return  # connections are closed by their users; nothing is pooled

    def describe(self) -> str:
        return str(self.path)


# ---------------------------------------------------------------------------- PostgreSQL

# A quoted literal (kept), a '?' or ':name' placeholder, '::' (a cast), or a bare '%'.
_PLACEHOLDERS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|::|\?|%|:([A-Za-z_]\w*)")


@lru_cache(maxsize=1024)
def to_pyformat(sql: str) -> str:
    """The store's ``?`` and ``:name`` placeholders in psycopg's ``%s`` / ``%(name)s``."""

    def swap(m: re.Match[str]) -> str:
        token = m.group(0)
        if token == "?":
            return "%s"
        if token == "%":
            return "%%"
        if m.group(1):
            return f"%({m.group(1)})s"
        return token

    return _PLACEHOLDERS.sub(swap, sql)


class PGRow:
    """A psycopg row the way ``sqlite3.Row`` behaves: by name, by position, ``dict()``."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: int | str, /) -> Any:
        if isinstance(key, str):
            return self._values[self._index[key]]
        return self._values[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[str]:
        return list(self._index)

    def __repr__(self) -> str:
        return f"PGRow({dict(zip(self._index, self._values, strict=True))!r})"


def _pg_rows(cursor: Any) -> Any:
    """psycopg row factory making ``PGRow``s."""
    names = [c.name for c in cursor.description] if cursor.description else []
    index = {name: i for i, name in enumerate(names)}

    def make(values: Sequence[Any]) -> PGRow:
        return PGRow(values, index)

    return make


def redact_dsn(dsn: str) -> str:
    """A DSN for logs and messages: the password replaced."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return re.sub(r"password\s*=\s*\S+", "password=***", dsn)
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


class PostgresConnection(Connection):
    dialect = POSTGRESQL

    def __init__(self, raw: psycopg.Connection[Any], release: Any = None) -> None:
        self.raw = raw
        self._release = release

    def _translate(self, exc: Exception) -> StoreError:
        from psycopg import errors

        if isinstance(exc, errors.IntegrityError):
            return IntegrityError(str(exc).strip())
        if isinstance(exc, errors.DeadlockDetected | errors.SerializationFailure):
            return Contention(str(exc).strip())
        return StoreError(f"PostgreSQL: {str(exc).strip()}")

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        import psycopg

        try:
            if isinstance(params, Mapping) or params:
                cur = self.raw.execute(to_pyformat(sql), params)
            else:
                cur = self.raw.execute(to_pyformat(sql))
        except psycopg.Error as exc:
            raise self._translate(exc) from exc
        return cast(Cursor, cur)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> int:
        import psycopg

        if not rows:
            return 0
        try:
            with self.raw.cursor() as cur:
                # psycopg pipelines executemany: one round trip, not one per row.
                cur.executemany(to_pyformat(sql), rows)
                return max(cur.rowcount, 0)
        except psycopg.Error as exc:
            raise self._translate(exc) from exc

    def executescript(self, sql: str) -> None:
        self.raw.execute(sql.encode())  # no parameters: several statements in one go

    def insert_new(
        self, table: str, columns: Sequence[str], key: str, rows: Sequence[Sequence[Any]]
    ) -> int:
        """Look up which keys the table has (one round trip), then COPY the other rows
        straight into it. COPY cannot skip a duplicate: should another writer commit one of
        these keys in between (a second collector, an agent reusing ids), the COPY fails on
        the unique index, is undone alone, and the rows go through a staging table whose
        ``INSERT ... SELECT`` skips duplicates. The direct COPY costs PostgreSQL about a
        third less per row than the staging table."""
        import psycopg
        from psycopg import errors

        if not rows:
            return 0
        at = columns.index(key)
        try:
            with self.raw.cursor() as cur:
                cur.execute(
                    f"SELECT {key} FROM {table} WHERE {key} = ANY(%s)", ([r[at] for r in rows],)
                )
                seen = {r[0] for r in cur}
                new = []
                for row in rows:
                    if row[at] not in seen:  # also the second of two equal keys in rows
                        seen.add(row[at])
                        new.append(row)
                if not new:
                    return 0
                try:
                    with self.savepoint("exwatch_copy"):
                        self._copy(cur, table, columns, new)
                    return len(new)
                except errors.UniqueViolation:
                    return self._insert_staged(cur, table, columns, new)
        except psycopg.Error as exc:
            raise self._translate(exc) from exc

    @staticmethod
    def _copy(
        cur: psycopg.Cursor[Any], table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> None:
        with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)

    def _insert_staged(
        self,
        cur: psycopg.Cursor[Any],
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
    ) -> int:
        """COPY into a per-session staging table, then one ``INSERT ... SELECT`` that skips
        duplicates."""
        names = ", ".join(columns)
        stage = f"exwatch_stage_{table}"
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
            f"SELECT {names} FROM {table} WITH NO DATA"
        )
        cur.execute(f"TRUNCATE {stage}")
        self._copy(cur, stage, columns, rows)
        cur.execute(
            f"INSERT INTO {table} ({names}) SELECT {names} FROM {stage} ON CONFLICT DO NOTHING"
        )
        return max(cur.rowcount, 0)

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def lock(self, *key: str) -> None:
        # 64-bit hash of the key: collisions only make unrelated writers wait a moment.
        self.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", ("\x1f".join(key),))

    @property
    def broken(self) -> bool:
        return bool(self.raw.closed or self.raw.broken)

    def close(self) -> None:
        if self._release is not None:
            self._release(self.raw)
        else:
            self.raw.close()


class PostgresDatabase(Database):
    """A PostgreSQL database (``postgresql://user@host/db``), shared by any number of
    collectors. Connections come from a pool that is opened on first use (``pooled``), or
    are opened and closed one by one (a short CLI command, a test)."""

    dialect = POSTGRESQL

    def __init__(self, dsn: str, *, max_connections: int = 8, pooled: bool = True) -> None:
        self.dsn = dsn
        self.max_connections = max_connections
        self.pooled = pooled
        self._pool: ConnectionPool[Any] | None = None
        self._lock = threading.Lock()

    def _open_pool(self) -> ConnectionPool[Any]:
        from psycopg_pool import ConnectionPool, PoolTimeout

        with self._lock:
            if self._pool is None:
                pool: ConnectionPool[Any] = ConnectionPool(
                    self.dsn,
                    min_size=1,
                    max_size=self.max_connections,
                    kwargs={"autocommit": True, "row_factory": _pg_rows},
                    name="exwatch-store",
                    open=False,
                    timeout=30,
                )
                try:
                    pool.open(wait=True, timeout=15)
                except PoolTimeout as exc:
                    pool.close()
                    raise StoreError(
                        f"cannot connect to PostgreSQL at {self.describe()}: {exc}"
                    ) from exc
                self._pool = pool
            return self._pool

    def connect(self, *, readonly: bool = False) -> PostgresConnection:
        import psycopg
        from psycopg_pool import PoolTimeout

        release = None
        try:
            if self.pooled:
                pool = self._open_pool()
                raw = pool.getconn()
                release = pool.putconn
            else:
                raw = psycopg.connect(self.dsn, autocommit=True, row_factory=_pg_rows)
        except PoolTimeout as exc:
            raise StoreError(f"no PostgreSQL connection free at {self.describe()}") from exc
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to PostgreSQL at {self.describe()}: {exc}") from exc
        raw.execute(f"SET default_transaction_read_only = {'on' if readonly else 'off'}")
        return PostgresConnection(raw, release=release)

    def migrate(self) -> None:
        from collector.store.migrations import apply_postgres

        conn = self.connect()
        try:
            apply_postgres(conn)
        finally:
            conn.close()

    def exists(self) -> bool:
        conn = self.connect(readonly=True)
        try:
            row = conn.execute("SELECT to_regclass('exwatch_migrations') IS NOT NULL").fetchone()
            return bool(row and row[0])
        finally:
            conn.close()

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def describe(self) -> str:
        return redact_dsn(self.dsn)


def open_database(target: Path | str, *, max_connections: int = 8, pooled: bool = True) -> Database:
    """A database from the collector's config: a ``postgresql://`` DSN, else a file path.
    ``max_connections``, ``pooled``: PostgreSQL's connection pool."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(text, max_connections=max_connections, pooled=pooled)
    return SQLiteDatabase(Path(target))
