"""IIS and HttpProxy log folders that stop growing while IIS is serving.

An intruder covering tracks switches IIS logging off or points it elsewhere; the log
source then simply reads nothing. What gives it away is a folder that was being written
and has had no new line for ``quiet_seconds`` while IIS is evidently serving: a worker
process (w3wp.exe) holds an established TCP connection on a site port, or another watched
log folder is still growing. That is reported once (``log_quiet``, degraded); when lines
come back, ``log_resumed``.

A folder's growth is read from the file system (total size and newest modification time
of its logs), so a rotation to a new file counts as growth and a folder whose logs were
deleted counts as quiet.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from agent.events import sensor_event
from agent.logs.locations import discover
from agent.sources.processes import normalize_process_name
from protos import exwatch_pb2 as pb

log = logging.getLogger("exwatch.agent.logquiet")

SENSOR = "log_folders"
# Checks per quiet period (at most once a minute): how late past the limit a report can be.
CHECKS_PER_PERIOD = 4

Emit = Callable[[list[pb.Event]], None]
Signature = tuple[int, int]  # (total size, newest mtime_ns) of a folder's logs


@dataclass(slots=True)
class _Folder:
    signature: Signature
    last_growth: float  # monotonic
    written: bool = False  # grew at least once while watched
    quiet: bool = False  # reported quiet, not yet resumed


def _grew(before: Signature, after: Signature) -> bool:
    return after[0] > before[0] or after[1] > before[1]


def folder_signatures(globs: Iterable[str]) -> dict[Path, Signature]:
    """(total size, newest mtime_ns) of the log files each matching folder holds."""
    out: dict[Path, Signature] = {}
    for path in discover(globs):
        try:
            st = path.stat()
        except OSError:
            continue  # rotated away between listing and stat
        size, newest = out.get(path.parent, (0, 0))
        out[path.parent] = (size + st.st_size, max(newest, st.st_mtime_ns))
    return out


def serving_connections(workers: frozenset[str], ports: frozenset[int]) -> list[str]:
    """'name pid N' for every worker process with established TCP connections on a site
    port; processes we may not inspect are passed over."""
    found = []
    for proc in psutil.process_iter(["name"]):
        name = proc.info["name"] or ""
        if normalize_process_name(name) not in workers:
            continue
        try:
            established = sum(
                1
                for c in proc.net_connections(kind="tcp")
                if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port in ports
            )
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if established:
            found.append(f"{name} pid {proc.pid} with {established} connections")
    return found


class QuietLogWatch:
    """Checks the IIS/HttpProxy log folders every ``quiet_seconds / 4`` (at most a minute)."""

    def __init__(
        self,
        globs: Sequence[str],
        emit: Emit,
        *,
        quiet_seconds: float,
        workers: Iterable[str],
        site_ports: Iterable[int],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if quiet_seconds <= 0:
            raise ValueError("quiet_seconds must be positive")
        self.globs = tuple(globs)
        self.emit = emit
        self.quiet_seconds = quiet_seconds
        self.workers = frozenset(normalize_process_name(w) for w in workers)
        self.site_ports = frozenset(site_ports)
        self.clock = clock
        self._folders: dict[Path, _Folder] = {}
        self._lock = threading.Lock()  # the heartbeat reads what check() writes
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="exwatch-logquiet", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        interval = min(self.quiet_seconds / CHECKS_PER_PERIOD, 60.0)
        while True:
            try:
                self.check()
            except Exception:  # one failed look must not end the watch
                log.exception("log folder check failed")
            if self._stop.wait(interval):
                return

    def check(self) -> None:
        """One look at every folder: note growth, report quiet and resumed folders."""
        current = folder_signatures(self.globs)
        with self._lock:
            events = self._judge(current, self.clock())
        if events:
            self.emit(events)

    def _judge(self, current: dict[Path, Signature], now: float) -> list[pb.Event]:
        for folder in self._folders.keys() - current.keys():
            current[folder] = (0, 0)  # its logs are gone: no growth from here on
        events: list[pb.Event] = []
        for folder, signature in current.items():
            state = self._folders.get(folder)
            if state is None:
                self._folders[folder] = _Folder(signature, now)
                continue
            if _grew(state.signature, signature):
                state.last_growth, state.written = now, True
                if state.quiet:
                    state.quiet = False
                    detail = f"{folder}: new lines again"
                    log.info("log folder %s", detail)
                    events.append(sensor_event(SENSOR, pb.SENSOR_STATE_OK, "log_resumed", detail))
            state.signature = signature
        overdue = [
            (folder, state)
            for folder, state in self._folders.items()
            if state.written and not state.quiet and now - state.last_growth >= self.quiet_seconds
        ]
        if overdue:
            evidence = self._serving(now)
            for folder, state in overdue if evidence else ():
                state.quiet = True
                detail = (
                    f"{folder}: no new line for {now - state.last_growth:.0f} s while IIS is "
                    f"serving ({'; '.join(evidence)})"
                )
                log.warning("log folder %s", detail)
                events.append(sensor_event(SENSOR, pb.SENSOR_STATE_DEGRADED, "log_quiet", detail))
        return events

    def _serving(self, now: float) -> list[str]:
        """Why we believe IIS is serving right now; empty when we cannot tell."""
        evidence = serving_connections(self.workers, self.site_ports)
        growing = [
            str(folder)
            for folder, state in self._folders.items()
            if state.written and now - state.last_growth < self.quiet_seconds
        ]
        if growing:
            evidence.append(f"still growing: {', '.join(growing[:3])}")
        return evidence

    def sensor_status(self) -> pb.SensorStatus:
        with self._lock:
            quiet = [str(f) for f, s in self._folders.items() if s.quiet]
            total = len(self._folders)
            written = sum(1 for s in self._folders.values() if s.written)
        if quiet:
            return pb.SensorStatus(
                name=SENSOR,
                state=pb.SENSOR_STATE_DEGRADED,
                detail=f"quiet while IIS is serving: {', '.join(quiet)}",
            )
        return pb.SensorStatus(
            name=SENSOR,
            state=pb.SENSOR_STATE_OK,
            detail=f"{total} log folders, {written} written since start, none quiet",
        )
