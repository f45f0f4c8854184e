"""Web-root integrity: live OS notifications (watchdog) plus a periodic snapshot diff.

The OS tells us *that* something changed; the inventory tells us *what* changed. A path
reported by the OS goes into ``pending``; once its writes have settled it is hashed (and
its content judged) and compared with the inventory, and any difference becomes one event.
The snapshot diff walks every root on a timer and at start: what it finds that the OS
never reported is reported as well, and counted as a sensor-health problem, because
ReadDirectoryChangesW overflows silently and inotify can run out of watches.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
    FileSystemMovedEvent,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

from agent.content import ContentScanner, Verdict
from agent.detection import Detection
from agent.events import new_event, sensor_event
from agent.inventory import FileState, Inventory
from agent.layout import WatchedRoot
from agent.spool import Spool
from agent.state import StateDB
from protos import exwatch_pb2 as pb

log = logging.getLogger("exwatch.agent.webroot")

SENSOR = "webroot"
HASH_CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Analysis:
    """What the content analyser says about a settled file."""

    sha256: str
    verdict: pb.Verdict.ValueType = pb.VERDICT_UNSPECIFIED
    detections: tuple[Detection, ...] = ()


Analyzer = Callable[[Path, int], Analysis]


def hash_only(path: Path, max_bytes: int) -> Analysis:
    """The analyser used when no content scanner is configured: SHA-256 only."""
    return Analysis(sha256=sha256_file(path, max_bytes))


_VERDICTS: dict[Verdict, pb.Verdict.ValueType] = {
    Verdict.CLEAN: pb.VERDICT_CLEAN,
    Verdict.SUSPICIOUS: pb.VERDICT_SUSPICIOUS,
    Verdict.MALICIOUS: pb.VERDICT_MALICIOUS,
    Verdict.UNSCANNED: pb.VERDICT_UNSPECIFIED,
}


def scanning_analyzer(scanner: ContentScanner) -> Analyzer:
    """Hash and judge the content (YARA, hash lists); files over the hash cap are only
    reported, as with ``hash_only``."""

    def analyze(path: Path, max_bytes: int) -> Analysis:
        if path.stat().st_size > max_bytes:
            return Analysis(sha256="")
        result = scanner.scan_file(path)
        if result.error:
            log.warning("content scan of %s: %s", path, result.error)
        return Analysis(result.sha256, _VERDICTS[result.verdict], result.detections)

    return analyze


def sha256_file(path: Path, max_bytes: int) -> str:
    """Streaming SHA-256; '' for files over ``max_bytes`` (reported unhashed, not read)."""
    if path.stat().st_size > max_bytes:
        return ""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass(slots=True)
class _Pending:
    last_event: float
    moved_from: str | None = None
    closed: bool = False
    seen_stat: tuple[int, int] | None = None  # (size, mtime_ns) at the previous settle check


@dataclass(slots=True)
class _RootWatch:
    root: WatchedRoot
    watch: ObservedWatch | None = None
    healthy: bool = False
    problem: str = ""
    key: str = field(init=False)

    def __post_init__(self) -> None:
        self.key = str(self.root.path)


class _Handler(FileSystemEventHandler):
    def __init__(self, monitor: WebRootMonitor) -> None:
        self.monitor = monitor

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.monitor._on_os_event(event)


class WebRootMonitor:
    """Watches roots; reports every create, change, delete and rename once it settles."""

    def __init__(
        self,
        roots: list[WatchedRoot],
        db: StateDB,
        spool: Spool,
        *,
        settle_seconds: float = 0.25,
        rescan_seconds: float = 300.0,
        max_hash_bytes: int = 256 * 1024 * 1024,
        ignore_extensions: tuple[str, ...] = (),
        analyzer: Analyzer = hash_only,
        observer_factory: Callable[[], BaseObserver] = Observer,
    ) -> None:
        self.roots = [_RootWatch(r) for r in roots]
        self.db = db
        self.spool = spool
        self.inventory = Inventory(db)
        self.settle = settle_seconds
        self.rescan_seconds = rescan_seconds
        self.max_hash_bytes = max_hash_bytes
        self.ignore = tuple(e.lower() for e in ignore_extensions)
        self.analyzer = analyzer
        self._observer_factory = observer_factory
        self._observer: BaseObserver | None = None
        self._pending: dict[str, _Pending] = {}
        self._folders_to_walk: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._rescan_now = threading.Event()
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()  # set once the first snapshot diff is done
        self.events_reported = 0
        self.missed_by_os = 0
        # Set by the budget governor: periodic rescans come this many times less often.
        self.rescan_slowdown = 1.0

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        self._observer = self._observer_factory()
        self._observer.name = "exwatch-webroot-observer"
        self._observer.start()
        for rw in self.roots:
            self._establish(rw, announce=False)
        self._thread = threading.Thread(target=self._run, name="exwatch-webroot", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._wake:
            self._wake.notify_all()
        if self._thread:
            self._thread.join()
        if self._observer:
            self._observer.stop()
            self._observer.join()

    def request_rescan(self) -> None:
        """Run the snapshot diff now (a command from the collector)."""
        self._rescan_now.set()
        with self._wake:
            self._wake.notify_all()

    def sensor_status(self) -> pb.SensorStatus:
        broken = [f"{rw.key}: {rw.problem}" for rw in self.roots if not rw.healthy]
        if not broken:
            return pb.SensorStatus(
                name=SENSOR,
                state=pb.SENSOR_STATE_OK,
                detail=f"{len(self.roots)} roots watched; "
                f"{self.missed_by_os} changes found only by rescans",
            )
        return pb.SensorStatus(
            name=SENSOR, state=pb.SENSOR_STATE_DEGRADED, detail="; ".join(broken)
        )

    def _establish(self, rw: _RootWatch, *, announce: bool) -> None:
        """(Re)start the OS watch on one root; report a change of health."""
        assert self._observer is not None
        if rw.watch is not None:
            with contextlib.suppress(KeyError):  # already gone with its folder
                self._observer.unschedule(rw.watch)
            rw.watch = None
        if not rw.root.path.is_dir():
            self._set_health(rw, False, "folder does not exist", announce)
            return
        try:
            rw.watch = self._observer.schedule(
                _Handler(self), str(rw.root.path), recursive=rw.root.recursive
            )
        except OSError as exc:  # e.g. inotify watch limit reached (ENOSPC)
            self._set_health(rw, False, f"cannot watch: {exc}; covered by rescans only", announce)
            return
        self._set_health(rw, True, "", announce)

    def _set_health(self, rw: _RootWatch, healthy: bool, problem: str, announce: bool) -> None:
        was = rw.healthy
        rw.healthy, rw.problem = healthy, problem
        if not healthy:
            # A derived root that a host simply lacks is normal; a configured or lost one is not.
            level = logging.WARNING if rw.root.configured or was else logging.INFO
            log.log(level, "web root %s: %s", rw.key, problem)
        if announce and was != healthy:
            kind, state = (
                ("watch_restored", pb.SENSOR_STATE_OK)
                if healthy
                else ("watch_lost", pb.SENSOR_STATE_DEGRADED)
            )
            detail = f"{rw.key}: {problem}" if problem else f"{rw.key}: watching again"
            self.spool.put([sensor_event(SENSOR, state, kind, detail)])

    # ------------------------------------------------------------------ OS events

    def _ignored(self, path: str) -> bool:
        return bool(self.ignore) and path.lower().endswith(self.ignore)

    def _on_os_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        src = os.fsdecode(event.src_path)
        now = time.monotonic()
        with self._wake:
            if event.is_directory:
                if isinstance(event, DirCreatedEvent):
                    self._folders_to_walk.add(src)  # files moved in with it raise no events
                elif isinstance(event, DirMovedEvent):
                    self._folders_to_walk.add(os.fsdecode(event.dest_path))
                    self._folders_to_walk.add(src)
                elif isinstance(event, DirDeletedEvent):
                    self._folders_to_walk.add(src)
            elif isinstance(event, FileSystemMovedEvent):
                dest = os.fsdecode(event.dest_path)
                before = self._pending.pop(src, None)
                self._pending[dest] = _Pending(
                    now,
                    moved_from=src
                    if before is None or before.moved_from is None
                    else before.moved_from,
                )
            else:
                entry = self._pending.get(src)
                if entry is None:
                    entry = self._pending[src] = _Pending(now)
                entry.last_event = now
                entry.closed = isinstance(event, FileClosedEvent)
            self._wake.notify()

    # ------------------------------------------------------------------ worker

    def _run(self) -> None:
        try:
            self._rescan(startup=True)
        except Exception:
            log.exception("startup scan failed")
        self.ready.set()
        last_rescan = time.monotonic()
        next_health = time.monotonic() + 1.0
        while not self._stop.is_set():
            try:
                self._process_due()
                now = time.monotonic()
                if now >= next_health:
                    self._check_roots()
                    next_health = now + 1.0
                due = last_rescan + self.rescan_seconds * self.rescan_slowdown
                if now >= due or self._rescan_now.is_set():
                    self._rescan_now.clear()
                    self._rescan(startup=False)
                    last_rescan = time.monotonic()
            except Exception:  # never let one bad file stop the sensor
                log.exception("web-root worker error")
            with self._wake:
                if not self._pending and not self._folders_to_walk and not self._stop.is_set():
                    self._wake.wait(timeout=0.5)
                elif not self._stop.is_set():
                    self._wake.wait(timeout=min(0.05, self.settle / 2))

    def _check_roots(self) -> None:
        for rw in self.roots:
            exists = rw.root.path.is_dir()
            if rw.healthy and not exists:
                self._establish(rw, announce=True)
                self._queue_folder(rw.key)  # report what vanished with it
            elif not rw.healthy and exists:
                self._establish(rw, announce=True)
                if rw.healthy:
                    self._queue_folder(rw.key)  # whatever appeared while unwatched

    def _queue_folder(self, folder: str) -> None:
        with self._wake:
            self._folders_to_walk.add(folder)

    def _process_due(self) -> None:
        with self._wake:
            folders, self._folders_to_walk = self._folders_to_walk, set()
        for folder in folders:
            self._expand_folder(folder)
        now = time.monotonic()
        with self._wake:
            due = [
                (p, e)
                for p, e in self._pending.items()
                if e.closed or now - e.last_event >= self.settle
            ]
            # How many paths of each root are changing together right now.
            burst = Counter(rw.key for rw in map(self._root_of, self._pending) if rw)
        for path, entry in due:
            if self._stop.is_set():
                return
            if not self._settled(path, entry):
                continue
            with self._wake:
                if self._pending.get(path) is entry:
                    del self._pending[path]
            rw = self._root_of(path)
            self._report(
                path,
                moved_from=entry.moved_from,
                by_rescan=False,
                burst=burst[rw.key] if rw else 1,
            )

    def _settled(self, path: str, entry: _Pending) -> bool:
        """Size and mtime unchanged since the last look (a close-after-write counts as settled)."""
        try:
            st = os.lstat(path)
        except OSError:
            return True  # gone: report the delete now
        current = (st.st_size, st.st_mtime_ns)
        if entry.closed or entry.seen_stat == current:
            return True
        entry.seen_stat = current
        entry.last_event = time.monotonic()
        return False

    def _expand_folder(self, folder: str) -> None:
        """A folder appeared, vanished or moved: queue every file in it and every file we
        recorded under it."""
        now = time.monotonic()
        paths = set(self.inventory.paths_below(folder, os.sep))
        paths.update(p for p, _ in _walk(Path(folder)))
        with self._wake:
            for p in paths:
                self._pending.setdefault(p, _Pending(now - self.settle))

    # ------------------------------------------------------------------ judging a path

    def _root_of(self, path: str) -> _RootWatch | None:
        best = None
        for rw in self.roots:
            if rw.root.covers(path) and (best is None or len(rw.key) > len(best.key)):
                best = rw
        return best

    def _report(
        self, path: str, *, moved_from: str | None, by_rescan: bool, burst: int = 1
    ) -> bool:
        """Compare ``path`` with the inventory; commit an event and the new state. True if
        something was reported."""
        rw = self._root_of(path)
        if rw is None or self._ignored(path):
            return False
        old = self.inventory.get(path)
        origin = self.inventory.get(moved_from) if moved_from else None
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
        except OSError as exc:
            log.warning("cannot stat %s: %s", path, exc)
            return False
        if st is None or not stat.S_ISREG(st.st_mode):
            # Gone (or replaced by something that is not a regular file).
            if moved_from and origin:
                self._commit(
                    rw,
                    moved_from,
                    None,
                    _file_event(
                        pb.FILE_ACTION_DELETED, moved_from, rw, old=origin, by_rescan=by_rescan
                    ),
                )
            if old is None:
                return False
            return self._commit(
                rw,
                path,
                None,
                _file_event(pb.FILE_ACTION_DELETED, path, rw, old=old, by_rescan=by_rescan),
            )
        try:
            analysis = self.analyzer(Path(path), self.max_hash_bytes)
        except OSError as exc:
            log.warning("cannot read %s: %s", path, exc)
            analysis = Analysis(sha256="")
        new = FileState(st.st_size, analysis.sha256, st.st_mtime_ns)
        if moved_from and origin is not None:
            action = pb.FILE_ACTION_MOVED
            previous = origin
        elif old is None:
            action, previous = pb.FILE_ACTION_CREATED, None
        elif old.sha256 == new.sha256 and old.size == new.size and new.sha256:
            # Same content (a touch, or an mtime change): record, do not report.
            if old != new:
                with self.db.transaction() as conn:
                    Inventory.put(conn, path, rw.key, new)
            return False
        else:
            action, previous = pb.FILE_ACTION_MODIFIED, old
        event = _file_event(
            action,
            path,
            rw,
            old=previous,
            new=new,
            by_rescan=by_rescan,
            analysis=analysis,
            old_path=moved_from if moved_from and action == pb.FILE_ACTION_MOVED else "",
            burst=burst,
        )
        event.file.attributes = getattr(st, "st_file_attributes", 0)  # Windows only
        return self._commit(rw, path, new, event, moved_from=moved_from if origin else None)

    def _commit(
        self,
        rw: _RootWatch,
        path: str,
        new: FileState | None,
        event: pb.Event,
        *,
        moved_from: str | None = None,
    ) -> bool:
        with self.db.transaction() as conn:
            if new is None:
                Inventory.delete(conn, path)
            else:
                Inventory.put(conn, path, rw.key, new)
            if moved_from:
                Inventory.delete(conn, moved_from)
            self.spool.append(conn, [event])
        self.spool.notify()
        self.events_reported += 1
        return True

    # ------------------------------------------------------------------ snapshot diff

    def _rescan(self, *, startup: bool) -> None:
        """Walk every root and report what differs from the inventory."""
        for rw in self.roots:
            if self._stop.is_set():
                return
            recorded = self.inventory.under(rw.key)
            if not recorded and not rw.root.path.is_dir():
                continue
            if startup and not recorded:
                self._baseline(rw)
                continue
            changed: list[str] = []
            seen: set[str] = set()
            for path, st in _walk(rw.root.path, rw.root.recursive):
                if not rw.root.covers(path):
                    continue
                seen.add(path)
                old = recorded.get(path)
                if old is None or (old.size, old.mtime_ns) != (st.st_size, st.st_mtime_ns):
                    changed.append(path)
            changed += recorded.keys() - seen
            changed = [p for p in changed if not self._is_pending(p)]
            found = sum(
                self._report(path, moved_from=None, by_rescan=True, burst=len(changed))
                for path in changed
            )
            if found:
                self.missed_by_os += 0 if startup else found
                kind = "changed_while_stopped" if startup else "missed_changes"
                detail = f"{found} changes in {rw.key} found by " + (
                    "the start-up scan" if startup else "the snapshot diff, not reported by the OS"
                )
                log.warning(detail)
                state = pb.SENSOR_STATE_OK if startup else pb.SENSOR_STATE_DEGRADED
                self.spool.put([sensor_event(SENSOR, state, kind, detail, count=found)])

    def _is_pending(self, path: str) -> bool:
        with self._wake:
            return path in self._pending

    def _baseline(self, rw: _RootWatch) -> None:
        """First start: record what is there without reporting each file."""
        count = 0
        batch: list[tuple[str, FileState]] = []
        for path, st in _walk(rw.root.path, rw.root.recursive):
            if self._ignored(path) or not rw.root.covers(path):
                continue
            try:
                digest = sha256_file(Path(path), self.max_hash_bytes)
            except OSError as exc:
                log.warning("baseline: cannot read %s: %s", path, exc)
                continue
            batch.append((path, FileState(st.st_size, digest, st.st_mtime_ns)))
            if len(batch) >= 500:
                count += self._put_all(rw, batch)
                if count % 5000 == 0:  # a big tree takes a while: show that it moves
                    log.info("baseline of %s: %d files so far", rw.key, count)
        count += self._put_all(rw, batch)
        log.info("baseline of %s: %d files", rw.key, count)
        self.spool.put(
            [
                sensor_event(
                    SENSOR,
                    pb.SENSOR_STATE_OK,
                    "baseline",
                    f"{rw.key}: baseline of {count} files",
                    count=count,
                )
            ]
        )

    def _put_all(self, rw: _RootWatch, batch: list[tuple[str, FileState]]) -> int:
        with self.db.transaction() as conn:
            for path, state in batch:
                Inventory.put(conn, path, rw.key, state)
        n = len(batch)
        batch.clear()
        return n


def _walk(root: Path, recursive: bool = True) -> Iterator[tuple[str, os.stat_result]]:
    """Regular files under ``root`` (or only in it), never following links (so link loops
    cannot trap us)."""
    stack = [str(root)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    if recursive:
                        stack.append(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    yield entry.path, entry.stat(follow_symlinks=False)
            except OSError:
                continue


def _file_event(
    action: pb.FileAction.ValueType,
    path: str,
    rw: _RootWatch,
    *,
    old: FileState | None = None,
    new: FileState | None = None,
    by_rescan: bool,
    analysis: Analysis | None = None,
    old_path: str = "",
    burst: int = 1,
) -> pb.Event:
    event = new_event(matches=analysis.detections if analysis else ())
    f = event.file
    f.burst = burst
    f.action = action
    f.path = path
    f.old_path = old_path
    f.root = rw.key
    f.root_kind = rw.root.kind
    f.found_by_rescan = by_rescan
    if old is not None:
        f.old_sha256 = old.sha256
    if new is not None:
        f.size = new.size
        f.sha256 = new.sha256
        f.mtime_ns = new.mtime_ns
    elif old is not None:
        f.size = old.size
        f.mtime_ns = old.mtime_ns
    if analysis is not None:
        f.verdict = analysis.verdict
    return event
