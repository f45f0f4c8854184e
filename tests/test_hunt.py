"""Retro-hunt over files on disk: candidates, line numbers, since, CLI output, exit codes."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from agent.errors import MalformedLine
from agent.hunt import HuntError, HuntStats, hunt, hunt_paths
from agent.logrecord import LogRecord
from agent.sigma import SigmaRuleSet

FIELDS = (
    "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) "
    "cs(Referer) sc-status sc-substatus sc-win32-status time-taken"
)
HEADER = [
    "#Software: Microsoft Internet Information Services 10.0",
    "#Version: 1.0",
    "#Date: 2026-01-20 00:00:00",
    f"#Fields: {FIELDS}",
]
UA = "Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)+AppleWebKit/537.36"


def line(
    stem: str,
    query: str = "-",
    *,
    method: str = "GET",
    status: int = 200,
    time: str = "10:00:00",
    date: str = "2026-01-20",
) -> str:
    return (
        f"{date} {time} 10.0.0.5 {method} {stem} {query} 443 - 203.0.113.7 {UA} - {status} 0 0 15"
    )


class IisParser:
    """Stand-in for agent.logs.parse.LineParser (W3C only), so the hunt machinery is tested on
    its own; test_hunt_with_real_parsers runs the real one."""

    def __init__(self, fmt: str, file: str) -> None:
        self.file = file
        self.columns: list[str] | None = None

    def feed(self, text: str, line_no: int) -> LogRecord | None:
        if text.startswith("#"):
            if text.startswith("#Fields:"):
                self.columns = text.split()[1:]
            return None
        values = text.split(" ")
        if self.columns is None or len(values) != len(self.columns):
            raise MalformedLine("wrong number of fields", file=self.file, line=line_no)
        return LogRecord(
            "iis", dict(zip(self.columns, values, strict=True)), self.file, line_no, text
        )


def write_log(folder: Path, name: str, lines: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


BENIGN = [
    line("/owa/"),
    line("/EWS/Exchange.asmx", method="POST"),
    line(
        "/Microsoft-Server-ActiveSync/default.eas",
        "Cmd=Sync&User=john%40contoso.com",
        method="POST",
    ),
    line("/owa/auth/logon.aspx", "url=https%3a%2f%2fmail%2fowa"),
    line("/ecp/", status=302),
]
SHELL = line("/owa/auth/aKdMadOeT.aspx", "cmd=whoami")
PROXYSHELL = line(
    "/autodiscover/autodiscover.json",
    "@evil.com/mapi/nspi/?&Email=autodiscover/autodiscover.json%253F@evil.com",
    status=200,
)
ENCODED = line("/aspnet_client/%73hell.aspx", "-", method="POST")


@pytest.fixture(scope="module")
def ruleset() -> SigmaRuleSet:
    return SigmaRuleSet.load([], builtin=True)


def test_hunt_finds_attacks_with_exact_line_numbers(tmp_path: Path, ruleset: SigmaRuleSet) -> None:
    lines = (
        HEADER
        + BENIGN * 50
        + [SHELL]
        + BENIGN * 10
        + ["garbage"]
        + [PROXYSHELL]
        + HEADER
        + [ENCODED]
    )
    path = write_log(tmp_path / "W3SVC1", "u_ex260120.log", lines)
    stats = HuntStats()
    found = list(hunt_paths([tmp_path], ruleset, stats=stats, parser_factory=IisParser))
    by_line = {f.line: f.detection.rule_id for f in found}
    expected = {lines.index(SHELL) + 1, lines.index(PROXYSHELL) + 1, len(lines)}
    assert set(by_line) == expected
    assert all(f.file == str(path) for f in found)
    assert stats.lines == len(lines) and stats.files == 1
    # Only the attacks and the 60 benign logon-page lines (which share every literal with the
    # owa/auth webshell rules) were parsed: the other 248 lines never were.
    assert stats.candidates == 60 + 3
    assert stats.malformed == 0  # "garbage" is no candidate, so nobody parsed it


def test_chunk_boundaries_do_not_lose_or_shift_lines(
    tmp_path: Path, ruleset: SigmaRuleSet, monkeypatch: pytest.MonkeyPatch
) -> None:
    import agent.hunt

    monkeypatch.setattr(agent.hunt, "CHUNK_SIZE", 97)  # cuts lines everywhere
    lines = HEADER + [*BENIGN, SHELL] * 30 + [PROXYSHELL]
    write_log(tmp_path / "W3SVC1", "u_ex260120.log", [*lines[:-1], lines[-1]])
    (tmp_path / "W3SVC1" / "u_ex260120.log").write_bytes(
        (tmp_path / "W3SVC1" / "u_ex260120.log").read_bytes().rstrip(b"\n")
    )  # no final newline
    found = list(hunt_paths([tmp_path], ruleset, parser_factory=IisParser))
    shell_lines = sorted({f.line for f in found if "aKdMadOeT" in f.record.raw})
    assert shell_lines == [i + 1 for i, text in enumerate(lines) if text == SHELL]
    assert any(f.line == len(lines) for f in found)


@pytest.mark.parametrize("chunk", [97, 4 * 1024 * 1024])
def test_limit_hunts_only_the_first_bytes(
    tmp_path: Path, ruleset: SigmaRuleSet, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    import agent.hunt

    monkeypatch.setattr(agent.hunt, "CHUNK_SIZE", chunk)
    lines = HEADER + [*BENIGN, SHELL] * 5
    log = write_log(tmp_path / "W3SVC1", "u_ex260120.log", lines)
    text = log.read_bytes()
    third = text.index(b"aKdMadOeT", text.index(b"aKdMadOeT", text.index(b"aKdMadOeT") + 1) + 1)
    limit = text.rindex(b"\n", 0, third) + 1  # up to the line before the third shell
    found = list(hunt_paths([tmp_path], ruleset, parser_factory=IisParser, limits={log: limit}))
    shell_lines = [i + 1 for i, t in enumerate(lines) if t == SHELL]
    assert sorted({f.line for f in found}) == shell_lines[:2]


def test_since_skips_old_records_and_files(tmp_path: Path, ruleset: SigmaRuleSet) -> None:
    old = write_log(
        tmp_path / "a",
        "u_ex250101.log",
        [*HEADER, line("/owa/auth/x.aspx", "cmd=whoami", date="2025-01-01")],
    )
    os.utime(old, (1_700_000_000, 1_700_000_000))
    write_log(
        tmp_path / "b",
        "u_ex260120.log",
        [*HEADER, line("/owa/auth/old.aspx", "cmd=whoami", date="2026-01-01"), SHELL],
    )
    since = datetime(2026, 1, 10, tzinfo=UTC)
    found = list(hunt_paths([tmp_path], ruleset, since, parser_factory=IisParser))
    assert {f.record.fields["cs-uri-stem"] for f in found} == {"/owa/auth/aKdMadOeT.aspx"}


def test_system_root_is_expanded_and_other_files_ignored(
    tmp_path: Path, ruleset: SigmaRuleSet
) -> None:
    logs = tmp_path / "inetpub" / "logs" / "LogFiles" / "W3SVC1"
    write_log(logs, "u_ex260120.log", [*HEADER, SHELL])
    (tmp_path / "inetpub" / "wwwroot").mkdir(parents=True)
    (tmp_path / "inetpub" / "wwwroot" / "notes.txt").write_text("cmd=whoami /owa/auth/x.aspx\n")
    found = list(hunt_paths([tmp_path], ruleset, parser_factory=IisParser))
    assert found and {f.file for f in found} == {str(logs / "u_ex260120.log")}


def test_missing_path_is_an_error(tmp_path: Path, ruleset: SigmaRuleSet) -> None:
    with pytest.raises(HuntError, match="no such"):
        list(hunt_paths([tmp_path / "nope"], ruleset, parser_factory=IisParser))


def _real_parser_available() -> bool:
    try:
        import agent.logs.parse  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture
def cli_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI uses the real parsers when they exist, the stand-in otherwise."""
    if not _real_parser_available():
        import agent.hunt

        monkeypatch.setattr(agent.hunt, "_default_parser", IisParser)


@pytest.mark.usefixtures("cli_parser")
def test_cli_json_and_exit_codes(tmp_path: Path) -> None:
    write_log(tmp_path / "W3SVC1", "u_ex260120.log", [*HEADER, *BENIGN, SHELL])
    result = CliRunner().invoke(hunt, [str(tmp_path)])
    assert result.exit_code == 1, result.output
    rows = [json.loads(x) for x in result.stdout.splitlines()]
    assert rows and all(
        set(r) == {"file", "line", "rule_id", "title", "severity", "tags", "record"} for r in rows
    )
    assert rows[0]["line"] == len(HEADER) + len(BENIGN) + 1
    assert rows[0]["record"]["cs-uri-stem"] == "/owa/auth/aKdMadOeT.aspx"
    assert "attack.t1505.003" in rows[0]["tags"]

    clean = tmp_path / "clean"
    write_log(clean / "W3SVC1", "u_ex260120.log", [*HEADER, *BENIGN])
    assert CliRunner().invoke(hunt, [str(clean)]).exit_code == 0
    table = CliRunner().invoke(hunt, [str(tmp_path), "--format", "table"])
    assert table.exit_code == 1 and "aKdMadOeT" in table.stdout


def test_cli_errors_exit_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(hunt, [str(tmp_path / "missing")])
    assert result.exit_code == 2 and "no such" in result.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text("title: [unclosed\n")
    result = CliRunner().invoke(hunt, [str(tmp_path), "--rules", str(bad)])
    assert result.exit_code == 2 and "bad.yml" in result.stderr
