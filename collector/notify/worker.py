"""The delivery worker: an asyncio task on the collector's loop that claims due outbox rows,
sends them, and records each attempt.

It has its own store connection (SQLite's WAL lets it sit beside the store's writer;
PostgreSQL has no single writer) used from one thread at a time through
``asyncio.to_thread``, so a busy database never stalls the loop that also serves gRPC and
the console. Claims are leased (see outbox), so several
collector processes may share one database without sending a row twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from collector.notify import outbox
from collector.notify.channels.base import (
    Alert,
    DeliveryError,
    HttpClients,
    Message,
    scrub,
)
from collector.notify.routes import Routes
from collector.store.backend import Connection, Database, open_database

log = logging.getLogger("exwatch.collector.notify")

T = TypeVar("T")
PURGE_EVERY_NS = 3600 * 10**9


def backoff_seconds(attempt: int, *, initial: float, cap: float, rand: float) -> float:
    """Wait after the ``attempt``-th failure: initial * 2^(attempt-1), capped, with "equal
    jitter" (half fixed, half random in [0, 1)): pages that failed together in one outage
    do not all return in the same instant, and none is retried at once."""
    base = min(cap, initial * 2.0 ** max(0, attempt - 1))
    return base / 2 + base / 2 * rand


class NotifyWorker:
    """``await start()`` on the collector's loop; ``await stop()`` before it closes.

    ``clock`` (ns) stamps rows and decides what is due, ``rand`` feeds the jitter: both are
    injectable so tests need not wait on real time."""

    def __init__(
        self,
        db_path: Path | str,
        routes: Routes,
        *,
        owner: str | None = None,
        clock: Callable[[], int] = time.time_ns,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.db_path = db_path  # the store: a SQLite file or a PostgreSQL DSN
        self._database: Database | None = None
        self.routes = routes
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._clock = clock
        self._rand = rand
        self._secrets = routes.secrets()
        self._conn: Connection | None = None
        self._db_lock = threading.Lock()
        self._http: HttpClients | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._next_purge_ns = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("worker already started")
        self._conn = await asyncio.to_thread(self._connect)
        self._http = HttpClients()
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="exwatch-notify")
        log.info(
            "notifications: %d channels, %d routes",
            len(self.routes.channels),
            len(self.routes.routes),
        )

    async def open(self) -> None:
        """Connection and HTTP clients without the loop: for run_once() driven by hand."""
        self._conn = await asyncio.to_thread(self._connect)
        self._http = HttpClients()

    async def stop(self, *, grace: float = 15.0) -> None:
        """Finish the sends under way (each is bounded by its timeout), then close. Past
        ``grace`` they are cancelled; their rows stay leased and are sent again after the
        lease runs out (at-least-once)."""
        self._stopping = True
        if self._wake is not None:
            self._wake.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace)
            except TimeoutError:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
            self._task = None
        await self.close()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with self._db_lock:
                conn.close()
        if self._database is not None:
            database, self._database = self._database, None
            database.close()

    def wake(self) -> None:
        """Look for due rows now (call from any thread after enqueueing): pages leave
        within milliseconds instead of at the next poll."""
        loop, event = self._loop, self._wake
        if loop is not None and event is not None and not loop.is_closed():
            loop.call_soon_threadsafe(event.set)

    # ------------------------------------------------------------------ database

    def _connect(self) -> Connection:
        if self._database is None:
            self._database = open_database(self.db_path)
        return self._database.connect()

    def _locked(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        with self._db_lock:
            if self._conn is None:
                raise RuntimeError("notification worker is closed")
            return fn(self._conn, *args, **kwargs)

    async def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(self._locked, fn, *args, **kwargs)

    # ------------------------------------------------------------------ delivery

    async def _run(self) -> None:
        assert self._wake is not None
        poll = self.routes.delivery.poll_seconds
        while not self._stopping:
            wait = poll
            self._wake.clear()  # before looking: a wake() during the round is not lost
            try:
                handled = await self.run_once()
                await self._purge()
                if handled >= self.routes.delivery.batch_size:
                    continue  # more may be due right now
                due = await self._db(outbox.next_due_ns)
                if due is not None:
                    wait = min(poll, max(0.01, (due - self._clock()) / 1e9))
            except Exception as exc:
                # The database is busy or briefly unreadable, or a bug: the rows wait in the
                # outbox, so keep going. No traceback: its text could carry a secret.
                log.error("notification worker: %s", scrub(repr(exc), self._secrets))
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def run_once(self) -> int:
        """Claim one batch of due rows and deliver them concurrently; returns how many."""
        d = self.routes.delivery
        rows = await self._db(
            outbox.claim,
            owner=self.owner,
            now_ns=self._clock(),
            lease_ns=int(d.lease_seconds * 1e9),
            limit=d.batch_size,
        )
        results = await asyncio.gather(*(self._deliver(r) for r in rows), return_exceptions=True)
        for result in results:
            # Recording an outcome failed (database): the row's lease runs out and it is
            # sent again, so nothing is lost; say so.
            if isinstance(result, Exception):
                log.error(
                    "notification outcome not recorded: %s", scrub(repr(result), self._secrets)
                )
            elif isinstance(result, BaseException):
                raise result
        return len(rows)

    async def _purge(self) -> None:
        now = self._clock()
        if now < self._next_purge_ns:
            return
        self._next_purge_ns = now + PURGE_EVERY_NS
        keep_ns = int(self.routes.delivery.keep_sent_days * 86400 * 1e9)
        removed = await self._db(outbox.purge_sent, before_ns=now - keep_ns)
        if removed:
            days = self.routes.delivery.keep_sent_days
            log.info("notifications: forgot %d sent ones older than %g days", removed, days)

    async def _deliver(self, row: dict[str, Any]) -> None:
        d = self.routes.delivery
        error, permanent, retry_after = await self._attempt(row)
        nid, name = int(row["id"]), str(row["channel"])
        now = self._clock()
        if error is None:
            if await self._db(outbox.mark_sent, nid, owner=self.owner, now_ns=now):
                log.info(
                    "notification %d (%s, alert %s) sent to %s",
                    nid,
                    row["reason"],
                    row["alert_id"],
                    name,
                )
            else:
                log.warning("notification %d sent, but its lease had passed to another worker", nid)
            return
        # Never store or log what a secret could hide in: every configured secret goes.
        error = scrub(error, self._secrets)
        attempts = int(row["attempts"])
        retry_at: int | None = None
        if not permanent and attempts < d.max_attempts:
            delay = backoff_seconds(
                attempts, initial=d.backoff_initial, cap=d.backoff_max, rand=self._rand()
            )
            if retry_after is not None:
                delay = max(delay, min(retry_after, d.backoff_max))
            retry_at = now + int(delay * 1e9)
        state = await self._db(
            outbox.mark_failed, nid, owner=self.owner, error=error, now_ns=now, retry_at_ns=retry_at
        )
        if state == "dead":
            log.error(
                "notification %d to %s is dead after %d attempts: %s", nid, name, attempts, error
            )
        else:
            log.warning("notification %d to %s failed (attempt %d): %s", nid, name, attempts, error)

    async def _attempt(self, row: dict[str, Any]) -> tuple[str | None, bool, float | None]:
        """(error or None, permanent, retry_after) of one send."""
        channel = self.routes.channel(str(row["channel"]))
        if channel is None:
            return f"channel {row['channel']!r} is not configured", True, None
        alert = (
            await self._db(outbox.load_alert, int(row["alert_id"]))
            if row["alert_id"] is not None
            else None
        )
        if alert is None:
            return f"alert {row['alert_id']} no longer exists", True, None
        message = Message(
            notification_id=int(row["id"]),
            reason=str(row["reason"]),
            alert=Alert.from_row(alert),
            created_ns=int(row["created_ns"]),
            console_url=self.routes.delivery.console_url,
        )
        assert self._http is not None
        # Half the lease: the row must be marked before another worker may claim it.
        limit = self.routes.delivery.lease_seconds / 2
        try:
            async with asyncio.timeout(limit):
                await channel.deliver(message, self._http)
        except DeliveryError as exc:
            return str(exc), exc.permanent, exc.retry_after
        except TimeoutError:
            return f"no answer from {channel.target()} within {limit:g} s", False, None
        except Exception as exc:  # a bug or an odd failure: retried, never fatal to the loop
            return f"{type(exc).__name__}: {exc}", False, None
        return None, False, None


async def send_now(routes: Routes, channel_name: str, message: Message) -> None:
    """Send one message on one channel right away (``notifications test``). Raises
    DeliveryError with secrets scrubbed."""
    channel = routes.channel(channel_name)
    if channel is None:
        raise DeliveryError(f"no channel {channel_name!r} in [notify.channels]", permanent=True)
    http = HttpClients()
    try:
        await channel.deliver(message, http)
    except DeliveryError as exc:
        raise DeliveryError(scrub(str(exc), channel.secrets()), permanent=exc.permanent) from None
    except Exception as exc:
        raise DeliveryError(scrub(f"{type(exc).__name__}: {exc}", channel.secrets())) from None
    finally:
        await http.aclose()
