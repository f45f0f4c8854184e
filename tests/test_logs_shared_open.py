"""open_shared: read-only, and the writer may still rename or delete the file meanwhile."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from agent.platform import open_shared


def test_reads_bytes_and_leaves_the_file_deletable_and_renamable(tmp_path: Path) -> None:
    log = tmp_path / "u_ex260101.log"
    log.write_bytes(b"#Fields: a\r\n1\r\n")
    with open_shared(log) as fh:
        assert fh.read(9) == b"#Fields: "
        log.rename(tmp_path / "rotated.log")  # what IIS/Exchange cleanup may do
        (tmp_path / "rotated.log").unlink()
        assert fh.read() == b"a\r\n1\r\n"
        assert os.fstat(fh.fileno()).st_size == 15
    assert not (tmp_path / "rotated.log").exists()


def test_is_read_only(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_bytes(b"x")
    with open_shared(log) as fh, pytest.raises(io.UnsupportedOperation):
        fh.write(b"y")


def test_a_missing_file_raises_file_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        open_shared(tmp_path / "nope.log")
