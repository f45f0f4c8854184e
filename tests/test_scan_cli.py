"""``exwatch-agent scan``: output, exit codes and awkward trees, through click's runner."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from test_content_samples import BENIGN, CHOPPER

from agent.scan import scan

CLEAN_PAGE = b'<%@ Page Language="C#" %><html><body><%= DateTime.Now %></body></html>'


def run(*args: str) -> Result:
    return CliRunner().invoke(scan, list(args), catch_exceptions=False)


def lines(result: Result) -> list[dict[str, object]]:
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_clean_tree_exits_0(tmp_path: Path) -> None:
    (tmp_path / "a.aspx").write_bytes(CLEAN_PAGE)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.aspx").write_bytes(CLEAN_PAGE)
    result = run(str(tmp_path))
    assert result.exit_code == 0, result.stderr
    records = lines(result)
    assert [Path(str(r["path"])).name for r in records] == ["a.aspx", "b.aspx"]
    for record in records:
        assert set(record) == {"path", "sha256", "size", "verdict", "rules"}
        assert record["verdict"] == "clean" and record["rules"] == []
        assert record["size"] == len(CLEAN_PAGE)


def test_benign_corpus_exits_0() -> None:
    result = run(str(BENIGN))
    assert result.exit_code == 0, result.stdout


def test_shell_exits_1_with_rule_ids(tmp_path: Path) -> None:
    (tmp_path / "ok.aspx").write_bytes(CLEAN_PAGE)
    (tmp_path / "shell.aspx").write_bytes(CHOPPER)
    result = run(str(tmp_path))
    assert result.exit_code == 1
    shell = next(r for r in lines(result) if str(r["path"]).endswith("shell.aspx"))
    assert shell["verdict"] == "malicious"
    assert "exw.ws.eval_unsafe" in shell["rules"]  # type: ignore[operator]


def test_single_file_argument(tmp_path: Path) -> None:
    path = tmp_path / "shell.aspx"
    path.write_bytes(CHOPPER)
    result = run(str(path))
    assert result.exit_code == 1
    assert len(lines(result)) == 1


def test_nonexistent_path_exits_2_but_scans_the_rest(tmp_path: Path) -> None:
    (tmp_path / "a.aspx").write_bytes(CLEAN_PAGE)
    result = run(str(tmp_path / "missing"), str(tmp_path))
    assert result.exit_code == 2
    assert "missing" in result.stderr
    assert len(lines(result)) == 1


def test_bad_rules_folder_exits_2(tmp_path: Path) -> None:
    (tmp_path / "a.aspx").write_bytes(CLEAN_PAGE)
    assert run("--rules", str(tmp_path / "nope"), str(tmp_path)).exit_code == 2
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "broken.yar").write_text("rule X { condition: ")
    result = run("--rules", str(rules), str(tmp_path / "a.aspx"))
    assert result.exit_code == 2
    assert "broken.yar" in result.stderr


def test_user_rules_are_used_and_problems_reported(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "mine.yar").write_text(
        'rule Mine { meta: score = 80 strings: $a = "my-ioc" condition: $a }')
    (rules / "broken.yar").write_text("rule X { condition: ")
    target = tmp_path / "t.aspx"
    target.write_bytes(b"... my-ioc ...")
    result = run("--rules", str(rules), str(target))
    assert result.exit_code == 1
    assert lines(result)[0]["rules"] == ["Mine"]
    assert "broken.yar" in result.stderr


def test_max_bytes_marks_truncation(tmp_path: Path) -> None:
    path = tmp_path / "big.aspx"
    path.write_bytes(CLEAN_PAGE + b" " * 5000)
    record = lines(run("--max-bytes", "1000", str(path)))[0]
    assert record["truncated"] is True
    assert record["size"] == len(CLEAN_PAGE) + 5000


def test_table_format(tmp_path: Path) -> None:
    (tmp_path / "shell.aspx").write_bytes(CHOPPER)
    result = run("--format", "table", str(tmp_path))
    assert result.exit_code == 1
    out = result.stdout.splitlines()
    assert out[0].split() == ["VERDICT", "SIZE", "PATH", "RULES"]
    assert out[1].startswith("malicious") and "shell.aspx" in out[1]
    assert "1 files (1 malicious)" in result.stderr


@pytest.mark.timeout(30)
def test_fifo_device_symlinks_are_skipped_with_notes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "page.aspx").write_bytes(CLEAN_PAGE)
    os.mkfifo(root / "pipe.aspx")  # opening it for reading would block the scan
    (root / "loop1").symlink_to(root / "loop2")
    (root / "loop2").symlink_to(root / "loop1")
    outside = tmp_path / "outside.aspx"
    outside.write_bytes(CHOPPER)
    (root / "out.aspx").symlink_to(outside)
    (root / "inside.aspx").symlink_to(root / "page.aspx")
    (root / "dirloop").symlink_to(root)
    result = run(str(root))
    assert result.exit_code == 0, result.stdout + result.stderr
    assert [Path(str(r["path"])).name for r in lines(result)] == ["page.aspx"]
    assert "pipe.aspx: skipped (FIFO)" in result.stderr
    assert "symlink loop" in result.stderr
    assert "out.aspx: skipped (symlink out of the scanned folder" in result.stderr
    assert "inside.aspx" not in result.stderr


def test_explicit_fifo_and_device(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "p")
    result = run(str(tmp_path / "p"), "/dev/null")
    assert result.exit_code == 0
    assert "skipped (FIFO)" in result.stderr and "skipped (device)" in result.stderr


def test_hostile_file_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    names = ["-n.aspx", "--rules.aspx", "ü外壳.aspx", "y" * 240 + ".aspx", "tab\there.aspx",
             "new\nline.aspx"]
    for name in names:
        (tmp_path / name).write_bytes(CHOPPER)
    raw = os.fsencode(tmp_path) + b"/latin1-\xe9.aspx"
    with open(raw, "wb") as fh:
        fh.write(CHOPPER)
    result = run("--", str(tmp_path))
    assert result.exit_code == 1
    records = lines(result)
    assert len(records) == len(names) + 1
    assert all(r["verdict"] == "malicious" for r in records)
    assert {Path(str(r["path"])).name for r in records} >= set(names)
    # A leading-dash file named directly after "--".
    monkeypatch.chdir(tmp_path)
    assert run("--", "-n.aspx").exit_code == 1
    table = run("--format", "table", str(tmp_path))
    assert "new\\nline.aspx" in table.stdout  # control characters escaped, one line per file
    assert len(table.stdout.splitlines()) == len(names) + 2


def test_no_progress_bar_when_not_a_terminal(tmp_path: Path) -> None:
    (tmp_path / "a.aspx").write_bytes(CLEAN_PAGE)
    result = run(str(tmp_path))
    assert "scanning" not in result.stderr
