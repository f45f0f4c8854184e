"""Delivery under faults, with real processes: kill -9 of either side mid-burst, and a
spool at its bound. Afterwards every event is in the store exactly once, or counted as
shed and alerted on: never silently missing."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from e2e.processes import Collector, wait_for

pytestmark = pytest.mark.e2e

BURST = 100_000
DRIVER = Path(__file__).with_name("burst_agent.py")


def start_driver(tmp_path: Path, address: str, *args: str) -> subprocess.Popen[bytes]:
    out = tmp_path / "driver.log"
    with out.open("ab") as fh:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, str(DRIVER), str(tmp_path / "agent"), address, *args],
            stdout=fh,
            stderr=subprocess.STDOUT,
        )


def driver_output(tmp_path: Path) -> str:
    return (tmp_path / "driver.log").read_text(errors="replace")


def stored(collector: Collector) -> int:
    with sqlite3.connect(collector.data_dir / "exwatch.db") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])


def assert_exactly_once(collector: Collector, expected: int) -> None:
    ids = collector.event_ids()
    assert len(ids) == len(set(ids)) == expected
    assert set(ids) == {f"burst-{n:07d}" for n in range(expected)}


def test_collector_killed_mid_burst(tmp_path: Path) -> None:
    collector = Collector(tmp_path / "collector")
    port = collector.port
    driver = start_driver(tmp_path, collector.address, "--generate", str(BURST))
    try:
        wait_for(lambda: stored(collector) >= BURST // 5, timeout=120, what="part of the burst")
        collector.stop(signal.SIGKILL)
        collector = Collector(tmp_path / "collector", port)
        assert driver.wait(timeout=240) == 0, driver_output(tmp_path)
        assert_exactly_once(collector, BURST)
    finally:
        driver.kill()
        collector.stop()


def test_ingest_worker_killed_mid_burst(tmp_path: Path) -> None:
    """A worker dies holding batches: their stream fails, the agent sends them again, and
    the collector has started another worker meanwhile."""
    collector = Collector(tmp_path / "collector", extra=["--ingest-workers", "2"])
    driver = start_driver(tmp_path, collector.address, "--generate", str(BURST))
    try:
        front = psutil.Process(collector.popen.pid)
        wait_for(lambda: stored(collector) >= BURST // 5, timeout=120, what="part of the burst")
        workers = [p for p in front.children() if "resource_tracker" not in " ".join(p.cmdline())]
        assert len(workers) == 2
        workers[0].kill()
        assert driver.wait(timeout=240) == 0, driver_output(tmp_path)
        assert_exactly_once(collector, BURST)
        assert "ingest worker exwatch-ingest" in collector.output()
        assert len(front.children()) == 3  # two workers (one new) and the resource tracker
    finally:
        driver.kill()
        collector.stop()


def test_agent_killed_mid_burst_and_restarted(tmp_path: Path) -> None:
    collector = Collector(tmp_path / "collector")
    driver = start_driver(tmp_path, collector.address, "--generate", str(BURST))
    try:
        wait_for(lambda: stored(collector) >= BURST // 5, timeout=120, what="part of the burst")
        driver.send_signal(signal.SIGKILL)
        driver.wait()
        driver = start_driver(tmp_path, collector.address)  # same spool, nothing generated
        assert driver.wait(timeout=240) == 0
        assert_exactly_once(collector, BURST)
    finally:
        driver.kill()
        collector.stop()


def test_full_spool_sheds_routine_events_counts_them_and_alerts(tmp_path: Path) -> None:
    collector = Collector(tmp_path / "collector")
    # a spool far too small for the burst, and no collector reachable while it is written
    driver = start_driver(
        tmp_path,
        "127.0.0.1:9",
        "--generate",
        "20000",
        "--kind",
        "log",
        "--spool-bytes",
        str(200_000),
    )
    try:
        wait_for(lambda: "generated" in driver_output(tmp_path), what="the burst spooled")
        driver.kill()
        driver.wait()
        driver = start_driver(tmp_path, collector.address)
        assert driver.wait(timeout=120) == 0
        with sqlite3.connect(collector.data_dir / "exwatch.db") as conn:
            logs = conn.execute("SELECT COUNT(*) FROM events WHERE kind = 'log'").fetchone()[0]
        shed_alerts = [a for a in collector.alerts() if a["rule"] == "exwatch.sensor.events_shed"]
        assert shed_alerts, "shedding must raise an alert"
        from protos import exwatch_pb2 as pb

        with sqlite3.connect(collector.data_dir / "exwatch.db") as conn:
            notices = [
                pb.Event.FromString(r[0]).sensor
                for r in conn.execute("SELECT payload FROM events WHERE kind = 'sensor'")
            ]
        shed = sum(n.count for n in notices if n.kind == "events_shed")
        assert shed > 0
        assert logs + shed == 20000  # every event either stored once or counted as shed
    finally:
        driver.kill()
        collector.stop()
