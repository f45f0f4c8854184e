"""Exact tailing on real files: halves, restarts, truncation, replacement, junk."""

from __future__ import annotations

import os
import time
from pathlib import Path

from agent.logs.formats import LogFormat, detect_format
from agent.logs.tailer import FileTailer

HEADER = (
    "#Software: Microsoft Internet Information Services 10.0\r\n"
    "#Fields: time cs-uri-stem sc-status\r\n"
)


def line(n: int) -> str:
    return f"10:00:{n % 60:02d} /owa/{n} 200\r\n"


def stems(records) -> list[str]:
    return [r.fields["cs-uri-stem"] for r in records]


def test_a_line_written_in_two_halves_is_read_once_complete(tmp_path: Path) -> None:
    log = tmp_path / "u_ex260101.log"
    log.write_text(HEADER + line(1) + "10:00:02 /owa/", newline="")
    tailer = FileTailer(log, LogFormat.IIS, None)
    assert stems(tailer.poll().records) == ["/owa/1"]
    with log.open("a", newline="") as fh:
        fh.write("2 200\r\n")
    result = tailer.poll()
    assert stems(result.records) == ["/owa/2"]
    assert result.records[0].line == 4


def test_restart_from_checkpoint_neither_loses_nor_repeats(tmp_path: Path) -> None:
    log = tmp_path / "u_ex260101.log"
    log.write_text(HEADER + "".join(line(i) for i in range(5)), newline="")
    first = FileTailer(log, LogFormat.IIS, None)
    assert len(first.poll().records) == 5
    checkpoint = first.checkpoint
    with log.open("a", newline="") as fh:
        fh.write("".join(line(i) for i in range(5, 8)))
    again = FileTailer(log, LogFormat.IIS, checkpoint)  # a new process: only the checkpoint
    result = again.poll()
    assert stems(result.records) == ["/owa/5", "/owa/6", "/owa/7"]
    assert result.records[0].fields["sc-status"] == "200"  # the header came with the checkpoint
    assert [r.line for r in result.records] == [8, 9, 10]


def test_truncation_and_replacement_start_over(tmp_path: Path) -> None:
    log = tmp_path / "HttpProxy_2026010110-1.LOG"
    header = "#Log-type: HttpProxy Logs\r\n#Fields: UrlStem,HttpStatus\r\n"
    log.write_text(header + "/a,200\r\n/b,200\r\n", newline="")
    tailer = FileTailer(log, LogFormat.HTTPPROXY, None)
    assert len(tailer.poll().records) == 2
    log.write_text(header + "/c,200\r\n", newline="")  # truncated and rewritten, shorter
    result = tailer.poll()
    assert result.truncated or result.rotated
    assert [r.fields["UrlStem"] for r in result.records] == ["/c"]
    replacement = tmp_path / "new.LOG"
    replacement.write_text(header + "/d,200\r\n/e,200\r\n/f,200\r\n/g,200\r\n", newline="")
    replacement.replace(log)  # same name, another file (longer than the old offset)
    result = tailer.poll()
    assert result.rotated
    assert [r.fields["UrlStem"] for r in result.records] == ["/d", "/e", "/f", "/g"]


def test_malformed_and_binary_lines_are_counted_not_fatal(tmp_path: Path) -> None:
    log = tmp_path / "u_ex260101.log"
    log.write_bytes(HEADER.encode() + b"only-two fields\r\n\xff\xfe\x00bad\r\n" + line(1).encode())
    result = FileTailer(log, LogFormat.IIS, None).poll()
    assert stems(result.records) == ["/owa/1"]
    assert result.malformed == 2


def test_overlong_line_is_skipped_and_reading_goes_on(tmp_path: Path) -> None:
    log = tmp_path / "u_ex260101.log"
    log.write_text(HEADER + "x" * 5000 + "\r\n" + line(1), newline="")
    tailer = FileTailer(log, LogFormat.IIS, None, max_line_bytes=1000, read_bytes=1024)
    records, malformed = [], 0
    for _ in range(10):
        result = tailer.poll()
        records += result.records
        malformed += result.malformed
    assert stems(records) == ["/owa/1"]
    assert malformed == 1


def test_binary_file_named_like_a_log_is_not_a_log(tmp_path: Path) -> None:
    junk = tmp_path / "u_ex260101.log"
    junk.write_bytes(bytes(range(256)) * 8)
    assert detect_format(junk, junk.read_bytes()[:4096]) is None


def test_2gb_sparse_file_is_skipped_quickly(tmp_path: Path) -> None:
    sparse = tmp_path / "u_ex260102.log"
    with sparse.open("wb") as fh:
        fh.truncate(2 * 1024**3)
    with sparse.open("rb") as fh:
        assert detect_format(sparse, fh.read(4096)) is None  # never tailed at all
    # and even if something did tail it, one poll reads a bounded amount and moves on
    tailer = FileTailer(sparse, LogFormat.IIS, None)
    start = time.monotonic()
    result = tailer.poll()
    assert time.monotonic() - start < 5
    assert result.records == []
    assert 0 < result.checkpoint.offset <= 4 * 1024 * 1024


def test_end_checkpoint_skips_what_exists(tmp_path: Path) -> None:
    log = tmp_path / "u_ex260101.log"
    log.write_text(HEADER + line(1) + line(2) + "10:00:03 /partial", newline="")
    tailer = FileTailer(log, LogFormat.IIS, None)
    end = tailer.end_checkpoint()
    assert end.line == 4
    assert end.header == "#Fields: time cs-uri-stem sc-status"
    with log.open("a", newline="") as fh:
        fh.write(" 200\r\n" + line(4))
    result = FileTailer(log, LogFormat.IIS, end).poll()
    assert stems(result.records) == ["/partial", "/owa/4"]


def test_vanished_file_keeps_its_checkpoint(tmp_path: Path) -> None:
    log = tmp_path / "u_ex260101.log"
    log.write_text(HEADER + line(1), newline="")
    tailer = FileTailer(log, LogFormat.IIS, None)
    tailer.poll()
    before = tailer.checkpoint
    log.unlink()
    result = tailer.poll()
    assert result.errors
    assert result.checkpoint == before


def test_a_quiet_file_costs_a_stat_not_an_open(tmp_path: Path, monkeypatch) -> None:
    import agent.logs.tailer as tailer_module

    opened: list[Path] = []
    real_open = tailer_module.open_shared

    def counting_open(path: Path):
        opened.append(path)
        return real_open(path)

    monkeypatch.setattr(tailer_module, "open_shared", counting_open)
    log = tmp_path / "u_ex260101.log"
    log.write_text(HEADER + line(1), newline="")
    tailer = FileTailer(log, LogFormat.IIS, None)
    assert stems(tailer.poll().records) == ["/owa/1"]
    for _ in range(3):
        assert tailer.poll().records == []
    assert len(opened) == 1
    with log.open("a", newline="") as fh:
        fh.write(line(2))
    assert stems(tailer.poll().records) == ["/owa/2"]
    assert len(opened) == 2


def test_a_file_rewritten_to_the_same_size_is_read_again(tmp_path: Path) -> None:
    log = tmp_path / "u_ex260101.log"
    log.write_text(HEADER + line(1), newline="")
    tailer = FileTailer(log, LogFormat.IIS, None)
    assert stems(tailer.poll().records) == ["/owa/1"]
    assert tailer.poll().records == []
    before = log.stat()
    log.write_text(HEADER + line(7), newline="")  # same size, other bytes, same inode
    assert log.stat().st_size == before.st_size
    os.utime(log, ns=(before.st_atime_ns, before.st_mtime_ns + 10**9))
    result = tailer.poll()
    assert result.truncated and stems(result.records) == ["/owa/7"]


def test_a_file_replaced_by_one_of_the_same_size_is_read_again(tmp_path: Path) -> None:
    log = tmp_path / "u_ex260101.log"
    log.write_text(HEADER + line(1), newline="")
    tailer = FileTailer(log, LogFormat.IIS, None)
    assert stems(tailer.poll().records) == ["/owa/1"]
    stat = log.stat()
    new = tmp_path / "next.log"
    new.write_text(HEADER + line(8), newline="")
    os.utime(new, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even the same time
    new.replace(log)
    result = tailer.poll()
    assert result.rotated and stems(result.records) == ["/owa/8"]
