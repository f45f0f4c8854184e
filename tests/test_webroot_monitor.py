"""Web-root integrity with real watchdog observers on real directories."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from watchdog.observers.api import BaseObserver

from agent.layout import WatchedRoot
from agent.sources.webroot import WebRootMonitor
from agent.spool import Spool
from agent.state import StateDB
from protos import exwatch_pb2 as pb

CREATED, MODIFIED, DELETED, MOVED = (
    pb.FILE_ACTION_CREATED,
    pb.FILE_ACTION_MODIFIED,
    pb.FILE_ACTION_DELETED,
    pb.FILE_ACTION_MOVED,
)


class Harness:
    def __init__(self, tmp: Path, root: Path, watched: WatchedRoot | None = None, **kw) -> None:
        self.tmp, self.root, self.kw = tmp, root, kw
        self.watched = watched or WatchedRoot(root, "webroot", True)
        self.events: list[pb.Event] = []
        self.monitor: WebRootMonitor | None = None
        self.start()

    def start(self) -> None:
        self.db = StateDB(self.tmp / "agent.db")
        self.spool = Spool(self.db, max_bytes=10**9)
        kw = {"settle_seconds": 0.15, "rescan_seconds": 3600.0, **self.kw}
        self.monitor = WebRootMonitor([self.watched], self.db, self.spool, **kw)
        self.monitor.start()
        assert self.monitor.ready.wait(10)

    def stop(self) -> None:
        assert self.monitor
        self.monitor.stop()
        self.db.close()

    def drain(self) -> list[pb.Event]:
        while batch := self.spool.cut_batch(max_events=10_000, max_bytes=10**9):
            self.events.extend(batch.events)
            self.spool.acknowledge(batch.sequence)
        return self.events

    def files(self) -> list[pb.FileEvent]:
        return [e.file for e in self.drain() if e.HasField("file")]

    def sensors(self) -> list[pb.SensorEvent]:
        return [e.sensor for e in self.drain() if e.HasField("sensor")]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.02)
        raise AssertionError(f"timed out; events: {self.drain()}")

    def quiet(self, seconds: float = 0.6) -> None:
        """Let anything still pending settle (for asserting that nothing more comes)."""
        time.sleep(seconds)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "aspnet_client"
    r.mkdir()
    (r / "existing.aspx").write_text('<%@ Page Language="C#" %>ok')
    return r


@pytest.fixture
def h(tmp_path: Path, root: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path, root)
    yield harness
    harness.stop()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_first_start_takes_a_silent_baseline(h: Harness) -> None:
    assert h.files() == []
    [notice] = h.sensors()
    assert notice.kind == "baseline" and notice.count == 1


def test_created_file_is_reported_with_hash(h: Harness, root: Path) -> None:
    data = b'<%@ Page Language="Jscript"%><%eval(Request.Item["k"],"unsafe");%>'
    (root / "shell.aspx").write_bytes(data)
    h.wait_for(lambda: len(h.files()) == 1)
    [f] = h.files()
    assert (f.action, f.path, f.sha256, f.size) == (
        CREATED,
        str(root / "shell.aspx"),
        sha(data),
        len(data),
    )
    assert f.root == str(root) and f.root_kind == "webroot" and not f.found_by_rescan


def test_file_written_in_pieces_is_one_event_after_it_settles(h: Harness, root: Path) -> None:
    with (root / "slow.aspx").open("wb") as fh:
        for _ in range(8):
            fh.write(b"x" * 1000)
            fh.flush()
            time.sleep(0.05)  # shorter than the settle time
    h.wait_for(lambda: len(h.files()) >= 1)
    h.quiet()
    [f] = h.files()
    assert f.size == 8000 and f.sha256 == sha(b"x" * 8000)


def test_modify_and_delete_carry_old_hash(h: Harness, root: Path) -> None:
    target = root / "existing.aspx"
    old = sha(target.read_bytes())
    target.write_bytes(b"changed")
    h.wait_for(lambda: len(h.files()) == 1)
    target.unlink()
    h.wait_for(lambda: len(h.files()) == 2)
    modified, deleted = h.files()
    assert (modified.action, modified.old_sha256, modified.sha256) == (
        MODIFIED,
        old,
        sha(b"changed"),
    )
    assert (deleted.action, deleted.old_sha256, deleted.sha256) == (DELETED, sha(b"changed"), "")


def test_touch_without_content_change_is_not_reported(h: Harness, root: Path) -> None:
    target = root / "existing.aspx"
    os.utime(target, (1, 1))
    h.quiet()
    assert h.files() == []


def test_rename_within_root_is_a_move(h: Harness, root: Path) -> None:
    old = sha((root / "existing.aspx").read_bytes())
    (root / "existing.aspx").rename(root / "renamed.aspx")
    h.wait_for(lambda: len(h.files()) == 1)
    [f] = h.files()
    assert (f.action, f.old_path, f.path, f.sha256, f.old_sha256) == (
        MOVED,
        str(root / "existing.aspx"),
        str(root / "renamed.aspx"),
        old,
        old,
    )


def test_temp_file_renamed_into_place_reports_the_page(h: Harness, root: Path) -> None:
    tmp = root / "upload.tmp"
    tmp.write_bytes(b"<%@ Page %>shell")
    tmp.rename(root / "shell.aspx")
    h.wait_for(lambda: any(f.path.endswith("shell.aspx") for f in h.files()))
    h.quiet()
    final = [f for f in h.files() if f.path.endswith("shell.aspx")]
    assert len(final) == 1 and final[0].sha256 == sha(b"<%@ Page %>shell")


def test_copied_in_with_an_old_mtime(h: Harness, root: Path) -> None:
    target = root / "old.aspx"
    target.write_bytes(b"backdated")
    os.utime(target, (946684800, 946684800))  # 2000-01-01: timestomping does not hide it
    h.wait_for(lambda: len(h.files()) == 1)
    assert h.files()[0].mtime_ns == 946684800 * 10**9


def test_new_nested_folder_and_folder_moved_in(h: Harness, root: Path, tmp_path: Path) -> None:
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "deep.aspx").write_bytes(b"deep")
    outside = tmp_path / "outside"
    (outside / "x").mkdir(parents=True)
    (outside / "x" / "one.aspx").write_bytes(b"1")
    (outside / "two.aspx").write_bytes(b"2")
    outside.rename(root / "moved_in")
    expected = {
        str(root / "a/b/deep.aspx"),
        str(root / "moved_in/x/one.aspx"),
        str(root / "moved_in/two.aspx"),
    }
    h.wait_for(lambda: {f.path for f in h.files()} >= expected)
    h.quiet()
    assert sorted(f.path for f in h.files()) == sorted(expected)
    assert all(f.action == CREATED for f in h.files())


def test_burst_of_1000_files_all_seen_none_twice(h: Harness, root: Path) -> None:
    for i in range(1000):
        (root / f"f{i:04}.aspx").write_bytes(f"page {i}".encode())
    h.wait_for(lambda: len(h.files()) >= 1000, timeout=60)
    h.quiet(1.0)
    paths = [f.path for f in h.files()]
    assert len(paths) == 1000 == len(set(paths))


def test_changes_while_stopped_are_found_at_start(h: Harness, root: Path) -> None:
    h.stop()
    (root / "dropped.aspx").write_bytes(b"while stopped")
    (root / "existing.aspx").unlink()
    h.start()
    h.wait_for(lambda: len(h.files()) == 2)
    by_action = {f.action: f for f in h.files()}
    assert by_action[CREATED].path.endswith("dropped.aspx") and by_action[CREATED].found_by_rescan
    assert by_action[DELETED].path.endswith("existing.aspx")
    assert any(s.kind == "changed_while_stopped" and s.count == 2 for s in h.sensors())


class _DeafObserver(BaseObserver):
    """An observer that never reports anything: a stand-in for a silent overflow."""

    def __init__(self) -> None:
        from watchdog.observers.polling import PollingEmitter

        super().__init__(PollingEmitter, timeout=1)

    def schedule(self, *args, **kwargs):
        from watchdog.observers.api import ObservedWatch

        return ObservedWatch(args[1], recursive=True)


def test_snapshot_diff_reports_what_the_os_missed(tmp_path: Path, root: Path) -> None:
    h = Harness(tmp_path, root, observer_factory=_DeafObserver, rescan_seconds=0.3)
    try:
        (root / "missed.aspx").write_bytes(b"overflowed")
        h.wait_for(lambda: len(h.files()) == 1)
        assert h.files()[0].found_by_rescan
        h.wait_for(lambda: any(s.kind == "missed_changes" for s in h.sensors()))
        missed = next(s for s in h.sensors() if s.kind == "missed_changes")
        assert missed.state == pb.SENSOR_STATE_DEGRADED and missed.count == 1
    finally:
        h.stop()


def test_root_deleted_and_recreated_is_rewatched_and_reported(h: Harness, root: Path) -> None:
    import shutil

    shutil.rmtree(root)
    h.wait_for(lambda: any(s.kind == "watch_lost" for s in h.sensors()))
    h.wait_for(lambda: any(f.action == DELETED for f in h.files()))
    root.mkdir()
    (root / "again.aspx").write_bytes(b"x")
    h.wait_for(lambda: any(s.kind == "watch_restored" for s in h.sensors()))
    h.wait_for(lambda: any(f.path.endswith("again.aspx") for f in h.files()))
    (root / "later.aspx").write_bytes(b"y")  # the new watch is live
    h.wait_for(lambda: any(f.path.endswith("later.aspx") for f in h.files()))


def test_hostile_names_fifo_and_symlink_loop_do_not_break_the_sensor(
    h: Harness, root: Path
) -> None:
    names = ["-rf.aspx", "ünïcødé 名前.aspx", "x" * 200 + ".aspx", "sp ace.aspx", "nl\nname.aspx"]
    for n in names:
        (root / n).write_bytes(b"hostile")
    os.mkfifo(root / "pipe.aspx")
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "dangling.aspx").symlink_to(root / "nowhere")
    h.wait_for(lambda: len(h.files()) >= len(names))
    h.quiet()
    assert sorted(Path(f.path).name for f in h.files()) == sorted(names)
    (root / "after.aspx").write_bytes(b"still alive")
    h.wait_for(lambda: any(f.path.endswith("after.aspx") for f in h.files()))


def test_ignored_extensions_are_not_reported(tmp_path: Path, root: Path) -> None:
    h = Harness(tmp_path, root, ignore_extensions=(".log",))
    try:
        (root / "trace.LOG").write_bytes(b"noise")
        (root / "page.aspx").write_bytes(b"signal")
        h.wait_for(lambda: len(h.files()) >= 1)
        h.quiet()
        assert [Path(f.path).name for f in h.files()] == ["page.aspx"]
    finally:
        h.stop()


def test_large_file_is_reported_unhashed(tmp_path: Path, root: Path) -> None:
    h = Harness(tmp_path, root, max_hash_bytes=1024)
    try:
        with (root / "big.bin").open("wb") as fh:
            fh.truncate(10 * 1024 * 1024)
        h.wait_for(lambda: len(h.files()) == 1)
        [f] = h.files()
        assert f.size == 10 * 1024 * 1024 and f.sha256 == ""
    finally:
        h.stop()
