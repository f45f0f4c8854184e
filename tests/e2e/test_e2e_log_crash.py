"""Logs across a crash: the agent is killed (-9) in the middle of a burst of log lines and
restarted; every attack line is detected exactly once, none lost, none repeated."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from e2e.processes import AgentProc, Collector, wait_for
from protos import exwatch_pb2 as pb

pytestmark = pytest.mark.e2e

HEADER = (
    "#Software: Microsoft Internet Information Services 10.0\r\n"
    "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
    "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n"
)
ATTACKS = 400


def line(n: int) -> str:
    if n % 10 == 0:  # every tenth line is a webshell being used
        stem, method = f"/aspnet_client/shell{n}.aspx", "POST"
    else:
        stem, method = "/owa/service.svc", "POST"
    return (
        f"2026-11-28 10:00:00 10.0.0.5 {method} {stem} - 443 - 203.0.113.{n % 250} "
        f"Mozilla/5.0 - 200 0 0 15\r\n"
    )


def detected_lines(collector: Collector) -> list[int]:
    with sqlite3.connect(collector.data_dir / "exwatch.db") as conn:
        payloads = [r[0] for r in conn.execute("SELECT payload FROM events WHERE kind = 'log'")]
    return [pb.Event.FromString(p).log.line for p in payloads]


def test_kill_9_mid_burst_every_line_detected_once(tmp_path: Path) -> None:
    root = tmp_path / "drive"
    logs = root / "inetpub/logs/LogFiles/W3SVC1"
    logs.mkdir(parents=True)
    log = logs / "u_ex261128.log"
    log.write_text(HEADER, newline="")
    collector = Collector(tmp_path / "collector")
    agent = AgentProc(root, tmp_path / "agent", collector.address)
    total = ATTACKS * 10
    writer_done = threading.Event()

    def write() -> None:
        with log.open("a", newline="") as fh:
            for n in range(1, total + 1):
                fh.write(line(n))
                if n % 50 == 0:
                    fh.flush()
                    time.sleep(0.01)
        writer_done.set()

    writer = threading.Thread(target=write)
    writer.start()
    try:
        wait_for(lambda: len(detected_lines(collector)) >= ATTACKS // 4, what="part of the burst")
        agent.stop(signal.SIGKILL)
        agent = AgentProc(root, tmp_path / "agent", collector.address)
        writer.join()
        expected = [n + 2 for n in range(10, total + 1, 10)]  # file line numbers (2 headers)
        wait_for(
            lambda: len(detected_lines(collector)) >= len(expected),
            timeout=60,
            what="every attack line",
        )
        time.sleep(1.5)  # anything repeated would arrive by now
        assert sorted(detected_lines(collector)) == expected
    finally:
        writer.join()
        agent.stop()
        collector.stop()
