"""The delivery worker: exponential backoff with jitter and a cap, dead letters after N
attempts, restarts that lose and repeat nothing, two workers on one database, wake-up."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from test_notify_http import queue, rows
from test_notify_support import Clock, Receiver, make_store, receiver, routes_for

from collector.notify.cli import notifications
from collector.notify.routes import Routes
from collector.notify.worker import NotifyWorker, backoff_seconds

FAST = {"backoff_initial_seconds": 0.05, "backoff_max_seconds": 0.2, "poll_seconds": 0.05}


@given(
    st.integers(1, 60),
    st.floats(0.01, 100),
    st.floats(0.01, 10_000),
    st.floats(0, 1, exclude_max=True),
)
def test_backoff_doubles_is_capped_and_jittered(
    attempt: int, initial: float, cap: float, rand: float
) -> None:
    delay = backoff_seconds(attempt, initial=initial, cap=cap, rand=rand)
    base = min(cap, initial * 2 ** (attempt - 1))
    assert base / 2 <= delay <= base  # never at once, never past the cap
    if rand == 0:
        assert delay == base / 2


def test_backoff_grows_until_the_cap() -> None:
    delays = [backoff_seconds(n, initial=2, cap=300, rand=0.999) for n in range(1, 12)]
    assert delays == sorted(delays)
    assert delays[0] < 2 and 150 <= delays[-1] <= 300


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return make_store(tmp_path / "exwatch.db")


def closed_port() -> int:
    rx = Receiver().start()
    rx.stop()
    return rx.port


def hook(port: int) -> dict[str, object]:
    return {"type": "webhook", "url": f"http://127.0.0.1:{port}/h", "secret": "s3cret-key"}


def test_after_max_attempts_a_page_is_dead_and_can_be_retried(db: Path) -> None:
    port = closed_port()
    routes = routes_for(
        {"hook": hook(port)},
        max_attempts=4,
        backoff_initial_seconds=10,
        backoff_max_seconds=30,
    )
    queue(db, routes)
    clock = Clock(time.time_ns())
    jitter = iter([0.0, 0.5, 0.999, 0.5])
    delays: list[float] = []

    async def go() -> None:
        worker = NotifyWorker(db, routes, clock=clock, rand=lambda: next(jitter))
        await worker.open()
        try:
            for _ in range(6):
                await worker.run_once()
                pending = rows(db, "pending")
                if pending:
                    delays.append((pending[0]["next_attempt_ns"] - clock.now) / 1e9)
                    clock.now = pending[0]["next_attempt_ns"]
        finally:
            await worker.close()

    asyncio.run(go())
    # 10 s * 2^n, capped at 30 s, each in [base/2, base]: 5, 15, ~30 (jitter 0, .5, .999).
    assert delays == pytest.approx([5.0, 15.0, 29.985])
    [dead] = rows(db, "dead")
    assert dead["attempts"] == 4 and "ConnectError" in dead["last_error"]
    cli = CliRunner()
    listed = cli.invoke(
        notifications, ["list", "--state", "dead", "--format", "json", "--data-dir", str(db.parent)]
    )
    assert [r["id"] for r in json.loads(listed.output)] == [dead["id"]]
    retried = cli.invoke(notifications, ["retry", str(dead["id"]), "--data-dir", str(db.parent)])
    assert retried.exit_code == 0, retried.output
    with receiver(port=port) as rx:

        async def deliver() -> None:
            worker = NotifyWorker(db, routes)
            await worker.open()
            await worker.run_once()
            await worker.close()

        asyncio.run(deliver())
        assert [r.json()["delivery"] for r in rx.accepted()] == [dead["id"]]


async def until(condition: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


def test_a_restart_loses_nothing_and_sends_nothing_twice(db: Path) -> None:
    port = closed_port()
    routes = routes_for({"hook": hook(port)}, **FAST)

    async def first_run() -> None:
        worker = NotifyWorker(db, routes)
        await worker.start()
        for _ in range(4):
            queue(db, routes)
        worker.wake()
        await until(lambda: all(r["attempts"] >= 2 for r in rows(db)))
        await worker.stop()

    asyncio.run(first_run())
    assert len(rows(db, "pending")) == 4
    for _ in range(3):
        queue(db, routes)  # while no worker runs at all

    with receiver(port=port) as rx:

        async def second_run() -> None:
            worker = NotifyWorker(db, routes)
            await worker.start()
            await until(lambda: len(rows(db, "sent")) == 7)
            await worker.stop()
            # ... and a third start finds nothing left to send.
            worker = NotifyWorker(db, routes)
            await worker.start()
            await asyncio.sleep(0.2)
            await worker.stop()

        asyncio.run(second_run())
        ids = [r.json()["delivery"] for r in rx.accepted()]
    assert sorted(ids) == sorted(r["id"] for r in rows(db)) and len(ids) == len(set(ids)) == 7


def test_two_workers_on_one_database_never_send_a_row_twice(db: Path) -> None:
    with receiver(delay=0.005) as rx:
        routes = routes_for({"hook": hook(rx.port)}, batch_size=3, **FAST)
        for _ in range(30):
            queue(db, routes)

        async def go() -> None:
            a, b = NotifyWorker(db, routes, owner="a"), NotifyWorker(db, routes, owner="b")
            await asyncio.gather(a.start(), b.start())
            await until(lambda: len(rows(db, "sent")) == 30)
            await asyncio.gather(a.stop(), b.stop())

        asyncio.run(go())
        ids = [r.json()["delivery"] for r in rx.accepted()]
    assert len(ids) == len(set(ids)) == 30


def test_wake_sends_at_once_without_waiting_for_the_poll(db: Path) -> None:
    with receiver() as rx:
        routes = routes_for({"hook": hook(rx.port)}, poll_seconds=30)

        async def go() -> float:
            worker = NotifyWorker(db, routes)
            await worker.start()
            await asyncio.sleep(0.05)  # the worker is now waiting out its 30 s poll
            queue(db, routes)
            started = time.monotonic()
            worker.wake()
            await until(lambda: len(rx.accepted()) == 1, timeout=5)
            await worker.stop()
            return time.monotonic() - started

        assert asyncio.run(go()) < 5


def test_rows_for_a_channel_no_longer_configured_go_dead(db: Path) -> None:
    with receiver() as rx:
        before = routes_for({"old": hook(rx.port)})
        queue(db, before)
        after = Routes.from_config({"channels": {"new": hook(rx.port)}})

        async def go() -> None:
            worker = NotifyWorker(db, after)
            await worker.open()
            await worker.run_once()
            await worker.close()

        asyncio.run(go())
    [dead] = rows(db, "dead")
    assert "'old' is not configured" in dead["last_error"]


def test_stop_without_start_is_harmless() -> None:
    async def go() -> None:
        worker = NotifyWorker(Path("/nonexistent/x.db"), Routes())
        await worker.stop()  # nothing to stop: fine

    asyncio.run(go())
