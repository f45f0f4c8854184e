"""Restarts from a checkpoint: exactly the remaining records, whatever was written meanwhile."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.logs.formats import LogFormat
from agent.logs.locations import discover
from agent.logs.tailer import Checkpoint, FileTailer

W3C_HEADER = "#Software: Microsoft Internet Information Services 10.0\r\n#Fields: time cs-uri-stem sc-status\r\n"  # noqa: E501
CSV_HEADER = "\ufeff#Software: Microsoft Exchange Server\r\n#Log-type: HttpProxy Logs\r\n#Fields: DateTime,UrlStem,AnchorMailbox\r\n"  # noqa: E501


def w3c(n: int) -> str:
    return f"10:00:{n % 60:02d} /owa/{n} 200\r\n"


def proxy(n: int, multiline: bool = False) -> str:
    anchor = f'"ServerInfo~a]@x:444/ecp/{n}#,\r\nsecond line ""q"""' if multiline else f"a{n}"
    return f"2026-01-01T00:00:{n % 60:02d}Z,/ecp/{n}.js,{anchor}\r\n"


def roundtrip(cp: Checkpoint) -> Checkpoint:
    """What the spool stores and a restarted agent loads."""
    return Checkpoint(**json.loads(json.dumps(dataclasses.asdict(cp))))


def test_rotation_while_stopped_reads_old_file_to_its_end_then_the_new_ones(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "W3SVC1"
    folder.mkdir()
    old = folder / "u_ex260101.log"
    old.write_text(W3C_HEADER + w3c(1) + w3c(2), newline="")
    tailer = FileTailer(old, LogFormat.IIS, None)
    assert len(tailer.poll().records) == 2
    saved = roundtrip(tailer.checkpoint)
    # --- agent stopped: IIS finishes the old day and starts two more files
    with old.open("a", newline="") as fh:
        fh.write(w3c(3) + w3c(4))
    (folder / "u_ex260103.log").write_text(W3C_HEADER + w3c(7), newline="")
    (folder / "u_ex260102.log").write_text(W3C_HEADER + w3c(5) + w3c(6), newline="")
    # --- restart: the caller walks discover() in order, each file from its checkpoint
    checkpoints = {str(old): saved}
    stems = []
    for path in discover([str(folder / "u_ex*.log")]):
        result = FileTailer(path, LogFormat.IIS, checkpoints.get(str(path))).poll()
        assert not (result.rotated or result.truncated)
        stems += [r.fields["cs-uri-stem"] for r in result.records]
    assert stems == [f"/owa/{i}" for i in range(3, 8)]


def test_header_change_mid_file_survives_a_restart(tmp_path: Path) -> None:
    log = tmp_path / "u_ex260101.log"
    later = "#Fields: cs-uri-stem time\r\n/late 10:01:00\r\n"
    log.write_text(W3C_HEADER + w3c(1) + later, newline="")
    first = FileTailer(log, LogFormat.IIS, None)
    assert len(first.poll().records) == 2
    assert first.checkpoint.header == "#Fields: cs-uri-stem time"
    with log.open("a", newline="") as fh:
        fh.write("/after 10:02:00\r\n")
    result = FileTailer(log, LogFormat.IIS, roundtrip(first.checkpoint)).poll()
    assert [dict(r.fields) for r in result.records] == [
        {"cs-uri-stem": "/after", "time": "10:02:00"}
    ]


def test_a_checkpoint_without_header_finds_it_again(tmp_path: Path) -> None:
    log = tmp_path / "HttpProxy_2026010100-1.LOG"
    log.write_text(CSV_HEADER + proxy(1) + proxy(2), newline="")
    first = FileTailer(log, LogFormat.HTTPPROXY, None)
    first.poll()
    bare = dataclasses.replace(first.checkpoint, header="")  # e.g. written by an older agent
    with log.open("a", newline="") as fh:
        fh.write(proxy(3))
    tailer = FileTailer(log, LogFormat.HTTPPROXY, bare, read_bytes=1024)
    result = tailer.poll()
    assert [r.fields["UrlStem"] for r in result.records] == ["/ecp/3.js"]
    assert result.checkpoint.header.startswith("#Fields: DateTime")


def test_a_quoted_line_break_split_across_polls_and_a_restart(tmp_path: Path) -> None:
    log = tmp_path / "HttpProxy_2026010100-1.LOG"
    record = proxy(2, multiline=True)
    half = record.index("second")
    log.write_text(CSV_HEADER + proxy(1) + record[:half], newline="")
    tailer = FileTailer(log, LogFormat.HTTPPROXY, None)
    result = tailer.poll()
    assert [r.fields["UrlStem"] for r in result.records] == ["/ecp/1.js"]
    assert result.checkpoint.line == 4  # not inside the open record
    restarted = FileTailer(log, LogFormat.HTTPPROXY, roundtrip(result.checkpoint))
    assert restarted.poll().records == []  # still open: nothing, and no error
    with log.open("a", newline="") as fh:
        fh.write(record[half:] + proxy(3))
    result = restarted.poll()
    assert [r.line for r in result.records] == [5, 7]
    assert result.records[0].fields["AnchorMailbox"] == (
        'ServerInfo~a]@x:444/ecp/2#,\nsecond line "q"'
    )
    assert result.malformed == 0


def read_all(path: Path, fmt: LogFormat, cp: Checkpoint | None, read_bytes: int) -> tuple[
    list[tuple[int, dict[str, str]]], Checkpoint | None
]:
    out: list[tuple[int, dict[str, str]]] = []
    tailer = FileTailer(path, fmt, cp, read_bytes=read_bytes, max_line_bytes=256)
    for _ in range(1000):
        result = tailer.poll()
        assert result.malformed == 0 and not result.errors
        out += [(r.line, dict(r.fields)) for r in result.records]
        if not result.more:
            break
    return out, roundtrip(tailer.checkpoint) if tailer.checkpoint else None


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fmt=st.sampled_from([LogFormat.IIS, LogFormat.HTTPPROXY]),
    kinds=st.lists(st.booleans(), min_size=1, max_size=25),
    cuts=st.lists(st.floats(min_value=0, max_value=1), min_size=2, max_size=12),
    restarts=st.lists(st.booleans(), min_size=13, max_size=13),
    read_bytes=st.sampled_from([257, 400, 4096]),
)
def test_any_write_pattern_with_restarts_yields_each_record_once(
    tmp_path_factory, fmt: LogFormat, kinds: list[bool], cuts: list[float],
    restarts: list[bool], read_bytes: int,
) -> None:  # fmt: skip
    folder = tmp_path_factory.mktemp("tail")
    log = folder / ("u_ex260101.log" if fmt is LogFormat.IIS else "HttpProxy_2026010100-1.LOG")
    if fmt is LogFormat.IIS:
        text = W3C_HEADER + "".join(w3c(i) for i in range(len(kinds)))
    else:
        text = CSV_HEADER + "".join(proxy(i, multiline=m) for i, m in enumerate(kinds))
    data = text.encode()
    expected_all: list[tuple[int, dict[str, str]]] = []
    # the reference: read everything at once
    log.write_bytes(data)
    expected_all, _ = read_all(log, fmt, None, 1 << 20)
    assert len(expected_all) == len(kinds)
    log.unlink()
    # now write it in arbitrary pieces, polling in between, restarting at random
    log.write_bytes(b"")
    got: list[tuple[int, dict[str, str]]] = []
    tailer = FileTailer(log, fmt, None, read_bytes=read_bytes, max_line_bytes=256)
    written = 0
    for i, fraction in enumerate([*sorted(cuts), 1.0]):
        cut = int(fraction * len(data))
        if cut > written:
            with log.open("ab") as fh:
                fh.write(data[written:cut])
            written = cut
        for _ in range(1000):
            result = tailer.poll()
            assert result.malformed == 0, result.errors
            got += [(r.line, dict(r.fields)) for r in result.records]
            if not result.more:
                break
        if i < len(restarts) and restarts[i]:
            tailer = FileTailer(log, fmt, roundtrip(tailer.checkpoint),
                                read_bytes=read_bytes, max_line_bytes=256)  # fmt: skip
    assert got == expected_all
