"""Offline .evtx reading: the error paths (no .evtx sample is shipped; see the module)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.errors import AgentError
from agent.winevent.evtx import EvtxError, EvtxReader


@pytest.mark.parametrize("content", [b"", b"hello", b"ElfFile\x00" + b"\x00" * 100])
def test_not_an_evtx_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.evtx"
    path.write_bytes(content)
    with pytest.raises(EvtxError, match=r"not a readable \.evtx file") as info:
        list(EvtxReader(path).events())
    assert isinstance(info.value, AgentError)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(EvtxError):
        list(EvtxReader(tmp_path / "missing.evtx").mapped())
