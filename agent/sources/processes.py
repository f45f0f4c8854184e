"""Children (and their descendants) of Exchange's web and UM worker processes, by polling.

A webshell runs its commands as children of ``w3wp.exe``; the CVE-2021-26857 chain runs them
under ``UMWorkerProcess.exe``. This source watches for new processes under configured root
parents and reports each one as a ``ProcessEvent`` with its ancestry up to the root.

Cost: every poll lists pids (one cheap call) and inspects only pids it has not seen before;
only descendants of a root are inspected fully. Limits, by design of polling:

- A child that starts and exits between two polls is never seen. On Windows the Security 4688
  and Sysmon 1 channels (``agent.winevent``) are the complete record of process creation;
  this source is the fallback where neither is enabled, and the enrichment where they are.
- A pid that is freed and reused between two polls looks like the same process and is missed
  for the same reason.
- ``AccessDenied`` (the agent not running as LocalSystem), zombies and processes that exit
  while being inspected are counted in :class:`ProcessStats`; what could be read is still
  reported, because a short-lived child of w3wp is the very thing we are looking for.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import psutil

from agent.detection import Detection
from agent.events import new_event
from protos import exwatch_pb2 as pb

__all__ = [
    "DEFAULT_PARENTS",
    "PROCESS_FIELDS",
    "ProcessMonitor",
    "ProcessStats",
    "app_pool",
    "join_cmdline",
    "normalize_process_name",
    "process_fields",
]

log = logging.getLogger("exwatch.agent.processes")

SENSOR = "processes"
DEFAULT_PARENTS = (
    "w3wp.exe",
    "UMWorkerProcess.exe",
    "UMService.exe",
    "MSExchangeMailboxReplication.exe",
)
# The Sysmon-style names process rules use; every source of process creation produces these.
PROCESS_FIELDS = (
    "Image",
    "OriginalFileName",
    "CommandLine",
    "ParentImage",
    "ParentCommandLine",
    "User",
    "CurrentDirectory",
    "ProcessId",
    "ParentProcessId",
    "AppPool",
)

Emit = Callable[[list[pb.Event]], None]
Detect = Callable[[Mapping[str, str]], list[Detection]]


def normalize_process_name(name: str) -> str:
    """Compare process names as Windows does: case-insensitively, ``.exe`` optional, and by
    the last path component (``C:\\Windows\\System32\\inetsrv\\w3wp.exe`` -> ``w3wp``)."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip().casefold()
    return base.removesuffix(".exe")


def join_cmdline(args: Iterable[str]) -> str:
    """One command-line string from psutil's argument list, quoted as this OS would.

    Windows has no argv, only a string that psutil splits with CommandLineToArgvW;
    ``list2cmdline`` is the inverse that Python's own ``subprocess`` uses. Elsewhere, POSIX
    shell quoting so that an argument with spaces reads back as one.
    """
    args = list(args)
    if os.name == "nt":
        return subprocess.list2cmdline(args)
    return shlex.join(args)


# w3wp's command line names its application pool: ``w3wp.exe -ap "MSExchangeOWAAppPool" ...``.
_APP_POOL = re.compile(r"""(?:^|\s)-ap\s+(?:"([^"]*)"|'([^']*)'|(\S+))""", re.IGNORECASE)


def app_pool(cmdline: str) -> str:
    """The IIS application pool of a w3wp command line, or ''."""
    m = _APP_POOL.search(cmdline)
    if not m:
        return ""
    return next((g for g in m.groups() if g is not None), "")


def process_fields(
    event: pb.ProcessEvent, *, current_directory: str = "", original_file_name: str = ""
) -> dict[str, str]:
    """The Sysmon-style record that ``process_creation`` rules evaluate.

    The same names come from psutil, Security 4688 and Sysmon 1, so one rule covers all three.
    ``ParentImage`` is the parent ancestor's ``name``, which holds the image path whenever the
    source knows it. ``AppPool`` is the application pool of the nearest w3wp ancestor (or of
    the process itself if it is w3wp), so rules can tell an Exchange pool from another site.
    ``CurrentDirectory`` and ``OriginalFileName`` are not on the wire event; pass them when
    the source has them.
    """
    parent = event.ancestors[0] if event.ancestors else None
    pool = ""
    for name, cmdline in [(event.exe or event.name, event.cmdline)] + [
        (a.name, a.cmdline) for a in event.ancestors
    ]:
        if normalize_process_name(name) == "w3wp":
            pool = app_pool(cmdline)
            break
    return {
        "Image": event.exe or event.name,
        "OriginalFileName": original_file_name,
        "CommandLine": event.cmdline,
        "ParentImage": parent.name if parent else "",
        "ParentCommandLine": parent.cmdline if parent else "",
        "User": event.user,
        "CurrentDirectory": current_directory,
        "ProcessId": str(event.pid) if event.pid else "",
        "ParentProcessId": str(parent.pid) if parent and parent.pid else "",
        "AppPool": pool,
    }


@dataclass(slots=True)
class ProcessStats:
    """Counters for the heartbeat and sensor health."""

    polls: int = 0
    inspected: int = 0  # new pids looked at
    reported: int = 0  # process events emitted
    vanished: int = 0  # watched processes that exited while being inspected
    gone_before_glance: int = 0  # any new pid that exited before we could read its parent
    access_denied: int = 0  # processes with at least one attribute we were refused
    zombies: int = 0
    detect_errors: int = 0
    emit_errors: int = 0  # batches the callback refused (logged; events in them lost)
    poll_errors: int = 0


@dataclass(slots=True)
class _Known:
    """A root or a reported descendant: what its children's ancestry needs."""

    pid: int
    ppid: int
    create_time: float
    image: str  # exe path when readable, else name
    cmdline: str
    is_root: bool


@dataclass(slots=True)
class _Seen:
    pid: int
    ppid: int
    name: str
    create_time: float
    proc: psutil.Process = field(repr=False)


class ProcessMonitor:
    """Polls for new processes under the configured root parents.

    ``emit`` receives one list of events per poll that found something (the agent's spool
    ``put``). ``detect`` receives :func:`process_fields` of each process and returns the rules
    that matched; its result goes into the event's ``matches``.
    """

    def __init__(
        self,
        emit: Emit,
        *,
        parents: Iterable[str] = DEFAULT_PARENTS,
        interval: float = 1.0,
        detect: Detect | None = None,
        report_existing: bool = True,
        max_ancestors: int = 16,
    ) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.emit = emit
        self.detect = detect
        self.interval = interval
        self.parents = frozenset(normalize_process_name(p) for p in parents)
        if not self.parents:
            raise ValueError("at least one parent process name is needed")
        # Children already running when the agent starts may be a shell left behind before
        # it was installed: report them on the first poll unless told otherwise.
        self.report_existing = report_existing
        self.max_ancestors = max_ancestors
        self.stats = ProcessStats()
        self._known_pids: set[int] = set()
        self._tracked: dict[int, _Known] = {}
        self._first = True
        self._poll_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("process monitor already started")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="exwatch-processes", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception:  # one bad poll must not end the sensor
                self.stats.poll_errors += 1
                log.exception("process poll failed")
            self._stop.wait(self.interval)

    def sensor_status(self) -> pb.SensorStatus:
        s = self.stats
        roots = sum(1 for k in self._tracked.values() if k.is_root)
        detail = (
            f"{roots} parent processes watched; {s.reported} reported, {s.vanished} vanished, "
            f"{s.access_denied} access denied, {s.zombies} zombies"
        )
        healthy = s.emit_errors == 0 and (s.polls == 0 or s.poll_errors < s.polls)
        state = pb.SENSOR_STATE_OK if healthy else pb.SENSOR_STATE_DEGRADED
        return pb.SensorStatus(name=SENSOR, state=state, detail=detail)

    # ------------------------------------------------------------------ polling

    def poll(self) -> list[pb.Event]:
        """One poll: find new descendants of the roots, emit and return their events."""
        with self._poll_lock:
            events = self._poll()
        if events:
            try:
                self.emit(events)
            except Exception:
                self.stats.emit_errors += 1
                log.exception("could not hand %d process events to the spool", len(events))
        return events

    def _poll(self) -> list[pb.Event]:
        self.stats.polls += 1
        pids = set(psutil.pids())
        new = pids - self._known_pids
        self._known_pids = pids
        for gone in [pid for pid in self._tracked if pid not in pids]:
            del self._tracked[gone]
        first, self._first = self._first, False

        seen = [s for s in (self._glance(pid) for pid in new) if s is not None]
        # Parents before children, so a child and its own child born in one interval chain up.
        seen.sort(key=lambda s: (s.create_time, s.pid))
        for s in seen:
            if normalize_process_name(s.name) in self.parents:
                self._track_root(s)

        events: list[pb.Event] = []
        for s in seen:
            if s.pid in self._tracked or not self._under_root(s):
                continue
            event = self._report(s, announce=self.report_existing or not first)
            if event is not None:
                events.append(event)
        self.stats.reported += len(events)
        return events

    def _glance(self, pid: int) -> _Seen | None:
        """Name, parent and start of a new pid: the little every new process costs."""
        self.stats.inspected += 1
        try:
            proc = psutil.Process(pid)
            with proc.oneshot():
                return _Seen(pid, proc.ppid(), proc.name(), proc.create_time(), proc)
        except psutil.ZombieProcess:
            self.stats.zombies += 1
        except psutil.NoSuchProcess:
            # Could have been a short-lived child of a root: the polling limit, counted.
            self.stats.gone_before_glance += 1
        except psutil.AccessDenied:
            self.stats.access_denied += 1
        return None

    def _under_root(self, s: _Seen) -> bool:
        parent = self._tracked.get(s.ppid)
        # A parent that started after its "child" is a reused pid, not the parent.
        return parent is not None and parent.create_time <= s.create_time

    def _track_root(self, s: _Seen) -> None:
        exe, cmdline, *_ = self._details(s)
        self._tracked[s.pid] = _Known(
            s.pid, s.ppid, s.create_time, exe or s.name, cmdline, is_root=True
        )

    def _details(self, s: _Seen) -> tuple[str, str, str, str]:
        """(exe, cmdline, user, cwd); each '' when refused or gone. Counted once per process."""
        values = {"exe": "", "cmdline": "", "username": "", "cwd": ""}
        denied = vanished = zombie = False
        with s.proc.oneshot():
            for attr in values:
                try:
                    raw = getattr(s.proc, attr)()
                except psutil.ZombieProcess:
                    zombie = True
                    continue
                except psutil.NoSuchProcess:
                    vanished = True
                    break
                except psutil.AccessDenied:
                    denied = True
                    continue
                except OSError as exc:  # e.g. a partially torn-down process on Windows
                    log.debug("process %d: %s: %s", s.pid, attr, exc)
                    continue
                values[attr] = join_cmdline(raw) if attr == "cmdline" else str(raw or "")
        self.stats.access_denied += denied
        self.stats.vanished += vanished
        self.stats.zombies += zombie
        return values["exe"], values["cmdline"], values["username"], values["cwd"]

    def _report(self, s: _Seen, *, announce: bool) -> pb.Event | None:
        """Track a new descendant; its event, unless ``announce`` is off (existing at start)."""
        exe, cmdline, user, cwd = self._inspect(s)
        known = _Known(s.pid, s.ppid, s.create_time, exe or s.name, cmdline, is_root=False)
        self._tracked[s.pid] = known
        if not announce:
            return None
        process = pb.ProcessEvent(
            pid=s.pid,
            name=s.name,
            exe=exe,
            cmdline=cmdline,
            user=user,
            start_time_ns=int(s.create_time * 1_000_000_000),
            ancestors=self._ancestors(known),
        )
        matches: list[Detection] = []
        if self.detect is not None:
            try:
                matches = self.detect(process_fields(process, current_directory=cwd))
            except Exception:  # a broken rule must not cost us the event
                self.stats.detect_errors += 1
                log.exception("process rules failed on pid %d", s.pid)
        event = new_event(matches=matches)
        event.process.CopyFrom(process)
        return event

    def _inspect(self, s: _Seen) -> tuple[str, str, str, str]:
        """Full details of a descendant (a seam for tests that end a process mid-inspection)."""
        return self._details(s)

    def _ancestors(self, known: _Known) -> list[pb.ProcessAncestor]:
        """Parent first, up to and including the root parent."""
        out: list[pb.ProcessAncestor] = []
        current = self._tracked.get(known.ppid)
        while current is not None and len(out) < self.max_ancestors:
            out.append(
                pb.ProcessAncestor(pid=current.pid, name=current.image, cmdline=current.cmdline)
            )
            if current.is_root:
                break
            current = self._tracked.get(current.ppid)
        return out
