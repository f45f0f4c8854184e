"""Junk never stops the tailer: sparse files, NUL runs, bad bytes, binary files, vanished files."""

from __future__ import annotations

import os
import time
import tracemalloc
from pathlib import Path

from agent.logs.formats import LogFormat
from agent.logs.tailer import READ_BYTES, FileTailer

HEADER = b"#Fields: time cs-uri-stem sc-status cs(User-Agent)\r\n"


def line(n: int, ua: bytes = b"curl/8") -> bytes:
    return b"10:00:%02d /owa/%d 200 %s\r\n" % (n % 60, n, ua)


def stems(records) -> list[str]:
    return [r.fields["cs-uri-stem"] for r in records]


def test_a_2gb_sparse_file_costs_one_bounded_read_per_poll(tmp_path: Path) -> None:
    sparse = tmp_path / "u_ex260102.log"
    with sparse.open("wb") as fh:
        fh.truncate(2 * 1024**3)
    tailer = FileTailer(sparse, LogFormat.IIS, None)
    tracemalloc.start()
    try:
        for polls in range(1, 21):
            result = tailer.poll()
            assert result.records == []
            assert result.more
            assert result.checkpoint.offset == polls * READ_BYTES  # bounded, but progressing
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * READ_BYTES  # one read in memory at a time, never the file


def test_a_2gb_sparse_file_is_drained_quickly_and_counted_once(tmp_path: Path) -> None:
    sparse = tmp_path / "u_ex260102.log"
    with sparse.open("wb") as fh:
        fh.truncate(2 * 1024**3)
    tailer = FileTailer(sparse, LogFormat.IIS, None)
    start = time.monotonic()
    malformed = 0
    while True:
        result = tailer.poll()
        malformed += result.malformed
        if not result.more:
            break
    assert time.monotonic() - start < 10  # ~2.5 s here: 512 polls of 4 MiB
    assert tailer.checkpoint.offset == 2 * 1024**3
    assert malformed == 1  # one junk run, counted once
    with sparse.open("ab") as fh:
        fh.write(b"\n")
    assert tailer.poll().malformed == 0  # the end of the run: nothing left to count


def test_lines_after_a_sparse_hole_are_read(tmp_path: Path) -> None:
    log = tmp_path / "u_ex260101.log"
    log.write_bytes(HEADER + line(1))
    with log.open("r+b") as fh:  # what NTFS leaves after a crash: zeroes, then the log goes on
        fh.seek(8 * 1024 * 1024, os.SEEK_END)
        fh.write(line(2) + line(3))
    tailer = FileTailer(log, LogFormat.IIS, None)
    records, malformed = [], 0
    for _ in range(10):
        result = tailer.poll()
        records += result.records
        malformed += result.malformed
    assert stems(records) == ["/owa/1", "/owa/2", "/owa/3"]
    assert malformed == 1


def test_short_nul_runs_inside_a_line_are_stripped_or_counted(tmp_path: Path) -> None:
    log = tmp_path / "u_ex260101.log"
    log.write_bytes(HEADER + b"\x00" * 300 + line(1) + b"\x00\x00\x00\r\n" + line(2)[:5]
                    + b"\x00" + line(2)[5:] + line(3))  # fmt: skip
    result = FileTailer(log, LogFormat.IIS, None).poll()
    assert stems(result.records) == ["/owa/1", "/owa/3"]
    assert result.malformed == 2
    assert any("NUL" in e for e in result.errors)


def test_bytes_that_are_not_utf8_are_parsed_escaped_and_reported(tmp_path: Path) -> None:
    log = tmp_path / "u_ex260101.log"
    log.write_bytes(HEADER + line(1, ua=b"evil\xff\xfeagent") + line(2))
    result = FileTailer(log, LogFormat.IIS, None).poll()
    assert stems(result.records) == ["/owa/1", "/owa/2"]  # not a way to hide a request
    assert result.records[0].fields["cs(User-Agent)"] == "evil\\xff\\xfeagent"
    assert result.malformed == 0
    assert any("not UTF-8" in e for e in result.errors)


def test_a_binary_file_named_like_a_log_never_raises(tmp_path: Path) -> None:
    junk = tmp_path / "u_ex260101.log"
    junk.write_bytes(bytes(range(256)) * 64 + os.urandom(64 * 1024))
    tailer = FileTailer(junk, LogFormat.IIS, None, max_line_bytes=4096, read_bytes=8192)
    malformed = 0
    for _ in range(100):
        result = tailer.poll()
        malformed += result.malformed
        assert len(result.errors) <= 21
        if not result.more:
            break
    assert malformed > 0
    assert tailer.checkpoint.offset <= junk.stat().st_size


def test_a_deleted_then_recreated_file_is_read_from_the_start(tmp_path: Path) -> None:
    log = tmp_path / "u_ex260101.log"
    log.write_bytes(b"#Date: 1\r\n" + HEADER + line(1))
    tailer = FileTailer(log, LogFormat.IIS, None)
    assert stems(tailer.poll().records) == ["/owa/1"]
    before = tailer.checkpoint
    log.unlink()
    gone = tailer.poll()
    assert gone.missing
    assert gone.checkpoint == before
    log.write_bytes(b"#Date: 2\r\n" + HEADER + line(5) + line(6) + line(7))
    back = tailer.poll()
    assert back.rotated or back.truncated  # new inode, or the same inode with new content
    assert stems(back.records) == ["/owa/5", "/owa/6", "/owa/7"]


def test_a_file_that_never_existed_reports_missing(tmp_path: Path) -> None:
    tailer = FileTailer(tmp_path / "u_ex260101.log", LogFormat.IIS, None)
    result = tailer.poll()
    assert result.missing
    assert result.records == []
    (tmp_path / "u_ex260101.log").write_bytes(HEADER + line(1))
    result = tailer.poll()
    assert not result.rotated  # first sight, not a replacement
    assert stems(result.records) == ["/owa/1"]


def test_an_overlong_line_still_being_written_is_skipped_once(tmp_path: Path) -> None:
    log = tmp_path / "u_ex260101.log"
    log.write_bytes(HEADER + line(1) + b"A" * 3000)
    tailer = FileTailer(log, LogFormat.IIS, None, max_line_bytes=1000, read_bytes=2048)
    records, malformed = [], 0
    for _ in range(3):
        result = tailer.poll()
        records += result.records
        malformed += result.malformed
    with log.open("ab") as fh:
        fh.write(b"B" * 3000 + b"\r\n" + line(2))
    for _ in range(5):
        result = tailer.poll()
        records += result.records
        malformed += result.malformed
    assert stems(records) == ["/owa/1", "/owa/2"]
    assert malformed == 1
    assert tailer.checkpoint.line == 4
