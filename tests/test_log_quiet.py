"""A log folder that goes quiet while IIS is serving: real folders, a real stand-in for
w3wp.exe holding a real TCP connection, and the collector's alert for it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e.processes import wait_for

from agent.logs.formats import LogFormat
from agent.logs.locations import default_log_globs
from agent.sources.logquiet import QuietLogWatch
from collector.alerting.candidates import candidates_for
from protos import exwatch_pb2 as pb

QUIET = 0.6  # seconds; the real default is half an hour
LINE = "2026-12-01 10:00:00 10.0.0.5 GET /owa/ - 443 - 10.1.2.3 Mozilla/5.0 - 200 0 0 1\r\n"
# A stand-in for w3wp.exe: accepts one connection on a free port, says which, holds it.
SERVER = """
import socket, sys, time
server = socket.create_server(("127.0.0.1", 0))
print(server.getsockname()[1], flush=True)
conn, _ = server.accept()
time.sleep(120)
"""


class Site:
    """An inetpub with IIS log folders under ``tmp_path``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.globs = default_log_globs(root / "Exchange", root / "inetpub")

    def folder(self, site: int) -> Path:
        return self.root / "inetpub" / "logs" / "LogFiles" / f"W3SVC{site}"

    def write(self, site: int, lines: int = 1) -> None:
        folder = self.folder(site)
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "u_ex261201.log").open("a", newline="") as fh:
            fh.write(LINE * lines)

    def watch(self, events: list[pb.Event], workers: list[str], ports: list[int]) -> QuietLogWatch:
        return QuietLogWatch(
            self.globs[LogFormat.IIS] + self.globs[LogFormat.HTTPPROXY],
            events.extend,
            quiet_seconds=QUIET,
            workers=workers,
            site_ports=ports,
        )


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return Site(tmp_path)


class Worker:
    def __init__(self, proc: subprocess.Popen[str], name: str, port: int) -> None:
        self.proc, self.name, self.port = proc, name, port


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    """A process named like an IIS worker (unique per test: <= 15 chars, Linux's comm limit)
    that holds an established connection on its own port."""
    name = f"w3{uuid.uuid4().hex[:6]}.exe"
    exe = tmp_path / name
    exe.symlink_to(sys.executable)  # the process is named after the link
    proc = subprocess.Popen(
        [str(exe), "-c", SERVER], stdout=subprocess.PIPE, text=True, env={**os.environ}
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    client = socket.create_connection(("127.0.0.1", port))
    try:
        yield Worker(proc, name, port)
    finally:
        client.close()
        proc.kill()
        proc.wait()
        proc.stdout.close()


def sensor_kinds(events: list[pb.Event]) -> list[str]:
    return [e.sensor.kind for e in events]


def test_quiet_folder_while_worker_serves_is_reported_then_resumed(
    site: Site, worker: Worker
) -> None:
    events: list[pb.Event] = []
    watch = site.watch(events, [worker.name], [worker.port])
    site.write(1)
    watch.check()  # first look: the folder as it is
    site.write(1)
    watch.check()  # it grew: a folder being written
    time.sleep(QUIET + 0.1)
    watch.check()
    assert sensor_kinds(events) == ["log_quiet"]
    quiet = events[0].sensor
    assert quiet.state == pb.SENSOR_STATE_DEGRADED
    assert str(site.folder(1)) in quiet.detail
    assert f"{worker.name} pid {worker.proc.pid} with 1 connections" in quiet.detail
    assert watch.sensor_status().state == pb.SENSOR_STATE_DEGRADED
    watch.check()  # reported once, not on every look
    assert len(events) == 1

    site.write(1)
    watch.check()
    assert sensor_kinds(events) == ["log_quiet", "log_resumed"]
    assert events[1].sensor.state == pb.SENSOR_STATE_OK
    assert watch.sensor_status().state == pb.SENSOR_STATE_OK


def test_quiet_folder_without_a_serving_worker_is_not_reported(site: Site, worker: Worker) -> None:
    events: list[pb.Event] = []
    # The worker runs but holds no connection on a site port: IIS is not evidently serving.
    watch = site.watch(events, [worker.name], [worker.port + 1 if worker.port < 65535 else 1])
    site.write(1)
    watch.check()
    site.write(1)
    watch.check()
    time.sleep(QUIET + 0.1)
    watch.check()
    assert events == []


def test_another_folder_still_growing_is_evidence_enough(site: Site) -> None:
    events: list[pb.Event] = []
    watch = site.watch(events, ["w3wp.exe"], [443])
    for s in (1, 2):
        site.write(s)
    watch.check()
    for s in (1, 2):
        site.write(s)
    watch.check()
    deadline = time.monotonic() + QUIET + 0.1
    while time.monotonic() < deadline:  # W3SVC2 keeps being written, W3SVC1 does not
        site.write(2)
        watch.check()
        time.sleep(0.05)
    assert sensor_kinds(events) == ["log_quiet"]
    assert str(site.folder(1)) in events[0].sensor.detail
    assert f"still growing: {site.folder(2)}" in events[0].sensor.detail


def test_folder_never_written_while_watched_and_deleted_logs(site: Site, worker: Worker) -> None:
    """A folder that has not grown since the agent started is not 'gone quiet'; a written
    folder whose logs are then deleted is."""
    events: list[pb.Event] = []
    watch = site.watch(events, [worker.name], [worker.port])
    site.write(1)
    site.write(2)
    watch.check()
    site.write(2)
    watch.check()
    (site.folder(2) / "u_ex261201.log").unlink()
    time.sleep(QUIET + 0.1)
    watch.check()
    assert sensor_kinds(events) == ["log_quiet"]
    assert str(site.folder(2)) in events[0].sensor.detail


def test_thread_reports_and_collector_alerts(site: Site, worker: Worker) -> None:
    events: list[pb.Event] = []
    watch = site.watch(events, [worker.name], [worker.port])
    site.write(1)
    watch.start()
    try:
        time.sleep(QUIET / 2)
        site.write(1)
        wait_for(lambda: events, timeout=10, what="log_quiet from the watch thread")
    finally:
        watch.stop()
    assert sensor_kinds(events) == ["log_quiet"]
    [alert] = candidates_for("default", "agent-1", "EXCH01", events[0])
    assert alert.rule == "exwatch.sensor.log_quiet"
    assert "EXCH01" in alert.title
    assert str(site.folder(1)) in alert.details["detail"]
