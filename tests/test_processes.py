"""Process source against real processes: a copied shell named like an Exchange worker
starts a Chopper-style shell, which starts a long sleep.

Every child the tests look for lives until the test ends it, so polling cannot miss it.
A child that exits between two polls *is* missed by design (the module says so; Security
4688 and Sysmon 1 cover it on Windows); no test depends on catching one.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shlex
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from agent.detection import Detection, Severity
from agent.sources.processes import (
    DEFAULT_PARENTS,
    PROCESS_FIELDS,
    ProcessMonitor,
    _Seen,
    app_pool,
    join_cmdline,
    normalize_process_name,
    process_fields,
)
from protos import exwatch_pb2 as pb

CHOPPER = "cd /tmp&&whoami;echo [S];pwd;echo [E];sleep 30;:"  # trailing ':' keeps sh a parent
TIMEOUT = 10.0


def wait_for(what: str, check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


@dataclass
class Tree:
    root: subprocess.Popen[bytes]
    name: str
    exe: Path

    @property
    def pid(self) -> int:
        return self.root.pid

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=TIMEOUT)


@pytest.fixture
def unique_name() -> str:
    # Unique per test (<= 15 chars, Linux's comm limit) so parallel runs never see each other.
    return f"w3{uuid.uuid4().hex[:6]}.exe"


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Callable[..., Tree]]:
    started: list[subprocess.Popen[bytes]] = []

    def _spawn(name: str, script: str, *args: str, binary: str = "sh") -> Tree:
        exe = tmp_path / name
        if not exe.exists():
            src = shutil.which(binary)
            assert src, binary
            shutil.copy(src, exe)
        proc = subprocess.Popen(
            [str(exe), "-c", script, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # one process group to kill, grandchildren included
        )
        started.append(proc)
        return Tree(proc, name, exe)

    yield _spawn
    for proc in started:
        _kill(proc)


def chopper_tree(spawn: Callable[..., Tree], name: str) -> Tree:
    """name (-ap MSExchangeOWAAppPool) -> sh -c CHOPPER -> sleep 30, all running."""
    tree = spawn(name, f"sh -c {shlex.quote(CHOPPER)}; :", name, "-ap", "MSExchangeOWAAppPool")
    wait_for("sh and sleep under the stand-in", lambda: _names(tree) >= {"sh", "sleep"})
    return tree


def _names(tree: Tree) -> set[str]:
    out = set()
    for p in tree.descendants():
        with contextlib.suppress(psutil.NoSuchProcess):
            out.add(p.name())
    return out


def by_name(events: list[pb.Event]) -> dict[str, pb.ProcessEvent]:
    return {e.process.name: e.process for e in events if e.WhichOneof("body") == "process"}


# ---------------------------------------------------------------- real processes


def test_reports_child_and_descendant_with_chain(spawn: Callable[..., Tree]) -> None:
    emitted: list[list[pb.Event]] = []
    seen_fields: list[dict[str, str]] = []

    def detect(fields: Mapping[str, str]) -> list[Detection]:
        seen_fields.append(dict(fields))
        if "whoami;echo [S]" in fields["CommandLine"] and fields["AppPool"].startswith("MSEx"):
            return [Detection("t-chopper", "Chopper", Severity.HIGH)]
        return []

    # Named w3wp.exe itself: AppPool is read from w3wp ancestors only. Another run of this
    # test at the same time may add its own w3wp.exe, so results are judged by pid.
    monitor = ProcessMonitor(emitted.append, detect=detect)
    monitor.poll()  # baseline
    unrelated = spawn("unrelated", f"sh -c {shlex.quote(CHOPPER)}; :")
    tree = chopper_tree(spawn, "w3wp.exe")
    wait_for("unrelated tree", lambda: bool(psutil.Process(unrelated.pid).children()))
    unrelated_pids = {unrelated.pid} | {p.pid for p in unrelated.descendants()}
    ours = {p.pid for p in tree.descendants()}

    events = monitor.poll()
    assert emitted[-1] == events  # the baseline may hold a parallel run's w3wp.exe
    assert not {e.process.pid for e in events} & unrelated_pids
    got = by_name([e for e in events if e.process.pid in ours])
    assert set(got) == {"sh", "sleep"}, got
    sh, sleep = got["sh"], got["sleep"]
    unique_name = "w3wp.exe"

    root_cmdline = shlex.join(
        [
            str(tree.exe),
            "-c",
            f"sh -c {shlex.quote(CHOPPER)}; :",
            unique_name,
            "-ap",
            "MSExchangeOWAAppPool",
        ]
    )
    assert sh.cmdline == shlex.join(["sh", "-c", CHOPPER])
    assert sh.exe and Path(sh.exe).name in ("sh", "dash", "bash")
    assert sh.user == getpass.getuser()
    assert abs(sh.start_time_ns / 1e9 - time.time()) < 60
    assert [(a.pid, a.name, a.cmdline) for a in sh.ancestors] == [
        (tree.pid, str(tree.exe), root_cmdline)
    ]
    # The grandchild's chain goes parent first up to the root, and stops there.
    assert [a.pid for a in sleep.ancestors] == [sh.pid, tree.pid]
    assert sleep.cmdline == "sleep 30"

    fields = process_fields(sh)
    assert fields["ParentImage"] == str(tree.exe)
    assert fields["AppPool"] == "MSExchangeOWAAppPool"
    assert fields["CommandLine"] == sh.cmdline
    sh_event = next(e for e in events if e.process.pid == sh.pid)
    assert [m.rule_id for m in sh_event.matches] == ["t-chopper"]
    assert any(f["CurrentDirectory"] for f in seen_fields)  # psutil's cwd reaches the rules
    assert not {e.process.pid for e in monitor.poll()} & ours  # each process reported once
    assert monitor.sensor_status().state == pb.SENSOR_STATE_OK


def test_existing_children_at_start(spawn: Callable[..., Tree], unique_name: str) -> None:
    chopper_tree(spawn, unique_name)
    quiet = ProcessMonitor(lambda e: None, parents=[unique_name], report_existing=False)
    assert quiet.poll() == []
    assert quiet.poll() == []
    loud = ProcessMonitor(lambda e: None, parents=[unique_name.removesuffix(".exe")])
    assert set(by_name(loud.poll())) == {"sh", "sleep"}


def test_process_gone_mid_inspection(spawn: Callable[..., Tree], unique_name: str) -> None:
    class KillFirst(ProcessMonitor):
        """Ends the sleep after it was listed but before its details are read."""

        def _inspect(self, s: _Seen) -> tuple[str, str, str, str]:
            if s.name == "sleep":
                os.kill(s.pid, signal.SIGKILL)
                wait_for("sleep reaped by its shell", lambda: not psutil.pid_exists(s.pid))
            return super()._inspect(s)

    monitor = KillFirst(lambda e: None, parents=[unique_name])
    monitor.poll()
    chopper_tree(spawn, unique_name)
    got = by_name(monitor.poll())
    # What was read before it went is still worth reporting: it was a child of the worker.
    assert got["sleep"].cmdline == "" and got["sleep"].ancestors
    assert got["sh"].cmdline.startswith("sh -c")
    assert monitor.stats.vanished == 1


def test_zombie_child(spawn: Callable[..., Tree], unique_name: str, tmp_path: Path) -> None:
    # The stand-in execs into a copy of `sleep`, which never reaps the child it inherited.
    shutil.copy(shutil.which("sleep") or "/bin/sleep", tmp_path / unique_name)
    monitor = ProcessMonitor(lambda e: None, parents=[unique_name])
    monitor.poll()
    tree = spawn("launcher", f"sleep 0.1 & exec {shlex.quote(str(tmp_path / unique_name))} 30")

    def zombie_under_root() -> bool:
        try:
            root = psutil.Process(tree.pid)
            kids = root.children()
            return root.name() == unique_name and any(
                k.status() == psutil.STATUS_ZOMBIE for k in kids
            )
        except psutil.NoSuchProcess:
            return False

    wait_for("a zombie under the stand-in", zombie_under_root)
    got = by_name(monitor.poll())
    assert set(got) == {"sleep"}
    assert got["sleep"].ancestors[0].pid == tree.pid
    assert monitor.stats.zombies >= 1


def test_thread_start_stop(spawn: Callable[..., Tree], unique_name: str) -> None:
    emitted: list[pb.Event] = []
    got = threading.Event()

    def emit(events: list[pb.Event]) -> None:
        emitted.extend(events)
        got.set()

    monitor = ProcessMonitor(emit, parents=[unique_name], interval=0.05)
    monitor.start()
    try:
        assert any(t.name == "exwatch-processes" for t in threading.enumerate())
        with pytest.raises(RuntimeError, match="already started"):
            monitor.start()
        chopper_tree(spawn, unique_name)
        assert got.wait(TIMEOUT)
    finally:
        monitor.stop()
    assert not any(t.name == "exwatch-processes" for t in threading.enumerate())
    assert {"sh", "sleep"} <= set(by_name(emitted))
    monitor.stop()  # idempotent


def test_emit_and_detect_failures_are_counted(spawn: Callable[..., Tree], unique_name: str) -> None:
    def emit(events: list[pb.Event]) -> None:
        raise OSError("spool unavailable")

    def detect(fields: Mapping[str, str]) -> list[Detection]:
        raise ValueError("broken rule")

    monitor = ProcessMonitor(emit, parents=[unique_name], detect=detect)
    monitor.poll()
    chopper_tree(spawn, unique_name)
    events = monitor.poll()
    assert {e.process.name for e in events} == {"sh", "sleep"}
    assert all(not e.matches for e in events)
    assert monitor.stats.detect_errors == 2 and monitor.stats.emit_errors == 1
    assert monitor.sensor_status().state == pb.SENSOR_STATE_DEGRADED


# ---------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    ("name", "want"),
    [
        ("w3wp.exe", "w3wp"),
        ("W3WP.EXE", "w3wp"),
        ("w3wp", "w3wp"),
        (r"C:\Windows\System32\inetsrv\w3wp.exe", "w3wp"),
        ("/usr/bin/python3", "python3"),
        ("UMWorkerProcess.exe", "umworkerprocess"),
    ],
)
def test_normalize_process_name(name: str, want: str) -> None:
    assert normalize_process_name(name) == want


def test_default_parents() -> None:
    assert {normalize_process_name(p) for p in DEFAULT_PARENTS} == {
        "w3wp",
        "umworkerprocess",
        "umservice",
        "msexchangemailboxreplication",
    }
    with pytest.raises(ValueError, match="parent"):
        ProcessMonitor(lambda e: None, parents=[])
    with pytest.raises(ValueError, match="interval"):
        ProcessMonitor(lambda e: None, interval=0)


@pytest.mark.parametrize(
    ("cmdline", "want"),
    [
        (
            r'c:\windows\system32\inetsrv\w3wp.exe -ap "MSExchangeOWAAppPool" -v "v4.0"',
            "MSExchangeOWAAppPool",
        ),
        ("w3wp.exe -ap MSExchangeECPAppPool -v v4.0", "MSExchangeECPAppPool"),
        ('w3wp.exe -AP "Default App Pool"', "Default App Pool"),
        ("w3wp.exe -v v4.0", ""),
        ("w3wp.exe -apx Foo", ""),
    ],
)
def test_app_pool(cmdline: str, want: str) -> None:
    assert app_pool(cmdline) == want


def test_join_cmdline_quotes() -> None:
    assert join_cmdline(["sh", "-c", "a b;c"]) == "sh -c 'a b;c'"
    assert join_cmdline([]) == ""


def test_process_fields_names_and_app_pool_from_ancestor() -> None:
    event = pb.ProcessEvent(
        pid=7,
        name="sleep",
        exe="/usr/bin/sleep",
        cmdline="sleep 30",
        user="u",
        ancestors=[
            pb.ProcessAncestor(pid=6, name="/usr/bin/sh", cmdline="sh -c x"),
            pb.ProcessAncestor(pid=5, name=r"C:\x\w3wp.exe", cmdline='w3wp.exe -ap "P1"'),
        ],
    )
    fields = process_fields(event, current_directory="/tmp", original_file_name="sleep")
    assert tuple(fields) == PROCESS_FIELDS
    assert fields == {
        "Image": "/usr/bin/sleep",
        "OriginalFileName": "sleep",
        "CommandLine": "sleep 30",
        "ParentImage": "/usr/bin/sh",
        "ParentCommandLine": "sh -c x",
        "User": "u",
        "CurrentDirectory": "/tmp",
        "ProcessId": "7",
        "ParentProcessId": "6",
        "AppPool": "P1",
    }
    assert process_fields(pb.ProcessEvent(name="cmd.exe"))["ParentImage"] == ""
