"""The log source: retro-hunt on first start, then exact live tailing across restarts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.logs.formats import LogFormat
from agent.sigma import SigmaRuleSet
from agent.sources import logs as logs_source
from agent.sources.logs import LogMonitor
from agent.spool import Spool
from agent.state import StateDB
from protos import exwatch_pb2 as pb

HEADER = (
    "#Software: Microsoft Internet Information Services 10.0\r\n"
    "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
    "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n"
)
RULES = SigmaRuleSet.load([])


def req(method: str, stem: str, query: str, status: int) -> str:
    return (
        f"2026-11-28 10:00:00 10.0.0.5 {method} {stem} {query or '-'} 443 - 203.0.113.9 "
        f"Mozilla/5.0 - {status} 0 0 15\r\n"
    )


BENIGN = req("GET", "/owa/", "", 200)
SHELL_USED = req("POST", "/aspnet_client/discover.aspx", "", 200)
PROXYSHELL = req(
    "POST",
    "/autodiscover/autodiscover.json",
    "@evil.com/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.com",
    200,
)


class Harness:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.folder = tmp / "W3SVC1"
        self.folder.mkdir(exist_ok=True)
        self.events: list[pb.Event] = []
        self.start()

    def start(self) -> None:
        self.db = StateDB(self.tmp / "agent.db")
        self.spool = Spool(self.db, max_bytes=10**9)
        self.monitor = LogMonitor(
            {LogFormat.IIS: [str(self.folder / "u_ex*.log")]},
            self.db,
            self.spool,
            RULES,
            poll_seconds=0.1,
        )
        self.monitor.start()
        assert self.monitor.ready.wait(10)

    def stop(self) -> None:
        self.monitor.stop()
        self.db.close()

    def drain(self) -> list[pb.Event]:
        while batch := self.spool.cut_batch(max_events=10_000, max_bytes=10**9):
            self.events.extend(batch.events)
            self.spool.acknowledge(batch.sequence)
        return self.events

    def wait_for(self, predicate: Callable[[list[pb.Event]], bool]) -> None:
        deadline = time.monotonic() + 10
        while not predicate(self.drain()):
            assert time.monotonic() < deadline, self.events
            time.sleep(0.05)


def append(path: Path, text: str) -> None:
    with path.open("a", newline="") as fh:
        fh.write(text)


def test_first_start_hunts_back_then_tails_live(tmp_path: Path) -> None:
    log = tmp_path / "W3SVC1" / "u_ex261128.log"
    log.parent.mkdir()
    log.write_text(HEADER + BENIGN * 50 + PROXYSHELL + BENIGN, newline="")
    h = Harness(tmp_path)
    try:
        h.wait_for(lambda ev: len(ev) >= 1)
        [retro] = h.drain()
        assert retro.retro
        assert retro.log.line == 53
        assert "cve.2021-34473" in retro.matches[0].tags
        append(log, BENIGN + SHELL_USED)
        h.wait_for(lambda ev: len(ev) >= 2)
        time.sleep(0.3)
        live = h.drain()[1:]
        assert len(live) == 1
        assert not live[0].retro
        assert live[0].log.fields["cs-uri-stem"] == "/aspnet_client/discover.aspx"
        assert live[0].log.line == 56
    finally:
        h.stop()


def test_restart_reads_what_came_meanwhile_once_and_new_files(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    log = h.folder / "u_ex261128.log"
    try:
        log.write_text(HEADER + BENIGN, newline="")
        time.sleep(0.3)
        append(log, SHELL_USED)
        h.wait_for(lambda ev: len(ev) == 1)
    finally:
        h.stop()
    append(log, SHELL_USED + BENIGN)  # while the agent is down
    (h.folder / "u_ex261129.log").write_text(HEADER + SHELL_USED, newline="")  # rotation
    h.start()
    try:
        h.wait_for(lambda ev: len(ev) == 3)
        time.sleep(0.3)
        events = h.drain()
        assert [(Path(e.log.file).name, e.log.line) for e in events] == [
            ("u_ex261128.log", 4),
            ("u_ex261128.log", 5),
            ("u_ex261129.log", 3),
        ]
        assert not any(e.retro for e in events)  # not a first start: nothing hunted twice
    finally:
        h.stop()


def test_binary_file_named_like_a_log_is_skipped_and_counted(tmp_path: Path) -> None:
    folder = tmp_path / "W3SVC1"
    folder.mkdir()
    (folder / "u_ex261127.log").write_bytes(b"MZ\x90\x00" + bytes(4000))
    h = Harness(tmp_path)
    try:
        (folder / "u_ex261128.log").write_text(HEADER + SHELL_USED, newline="")
        h.wait_for(lambda ev: len(ev) == 1)
        assert h.monitor.malformed >= 1
        assert h.monitor.sensor_status().state == pb.SENSOR_STATE_OK
    finally:
        h.stop()


def test_stop_ends_a_long_retro_hunt_and_the_next_start_hunts_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "W3SVC1" / "u_ex261128.log"
    log.parent.mkdir()
    log.write_text(HEADER + BENIGN * 200_000 + PROXYSHELL, newline="")  # ~20 MB: 5 chunks
    pace = LogMonitor._pace_hunt

    def slow_disk(self: LogMonitor, count: int) -> None:  # every chunk takes a second
        pace(self, count)
        self._stop.wait(1.0)

    monkeypatch.setattr(LogMonitor, "_pace_hunt", slow_disk)
    db = StateDB(tmp_path / "agent.db")
    monitor = LogMonitor(
        {LogFormat.IIS: [str(log.parent / "u_ex*.log")]},
        db,
        Spool(db, max_bytes=10**9),
        RULES,
        poll_seconds=0.1,
    )
    monitor.start()
    try:
        time.sleep(0.5)
        assert not monitor.ready.is_set(), "the hunt should still be crawling"
    finally:
        began = time.monotonic()
        monitor.stop()
        db.close()
    assert time.monotonic() - began < 2, "a stop waited for the retro-hunt"
    monkeypatch.undo()
    h = Harness(tmp_path)  # nothing was marked as hunted: the next start hunts again
    try:
        h.wait_for(lambda ev: any(e.retro and e.log.line == 200_003 for e in ev))
    finally:
        h.stop()


def test_lines_written_while_the_first_hunt_runs_are_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IIS keeps writing while the first start hunts back: what the hunt did not read is
    tailed, what it read is not read again."""
    log = tmp_path / "W3SVC1" / "u_ex261128.log"
    log.parent.mkdir()
    log.write_text(HEADER + BENIGN * 1000 + SHELL_USED + BENIGN + "2026-11-28 10:00", newline="")
    hunt = logs_source.hunt_paths

    def iis_writes_meanwhile(*args: Any, **kwargs: Any) -> Iterator[Any]:
        found = list(hunt(*args, **kwargs))
        # the half-written line is finished, and more lines come, after the hunt read
        append(log, SHELL_USED.removeprefix("2026-11-28 10:00") + BENIGN + SHELL_USED)
        yield from found

    monkeypatch.setattr(logs_source, "hunt_paths", iis_writes_meanwhile)
    h = Harness(tmp_path)
    try:
        h.wait_for(lambda ev: len(ev) >= 3)
        time.sleep(0.5)  # anything read twice would arrive by now
        lines = sorted((e.log.line, e.retro) for e in h.drain())
        assert lines == [(1003, True), (1005, False), (1007, False)]
    finally:
        h.stop()
