"""Retro-hunt: run the Sigma rules over logs already on disk, fast enough for years of IIS logs.

Parsing every line would cost microseconds a line. Instead each file is read in large byte
chunks, and :mod:`agent.hunt_prefilter` searches each raw chunk at once for the few lines that
could match a rule once decoded as the matcher decodes field values. Only those lines (plus the
``#`` header lines that tell the parser the column layout) are parsed, and on each only the
rules owning a clause the line satisfies are evaluated. Line numbers come from counting
newlines, so they stay exact although most lines are never split.

The live agent calls :func:`hunt_paths` for its first-start look-back; operators run
``exwatch-agent hunt``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import click

from agent import geoip
from agent.detection import Detection
from agent.errors import AgentError, MalformedLine
from agent.hunt_prefilter import LinePrefilter, prefilter_for
from agent.logrecord import LogRecord
from agent.platform.shared_open import open_shared
from agent.sigma import RuleError, SigmaRuleSet
from agent.sigma.correlation import CorrelationFinding

__all__ = [
    "HuntError",
    "HuntFinding",
    "HuntStats",
    "discover_logs",
    "hunt",
    "hunt_file",
    "hunt_paths",
]

CHUNK_SIZE = 4 * 1024 * 1024  # large enough that per-chunk Python overhead vanishes
_HEAD_SIZE = 4096


def _header_lines(block: bytearray, end: int) -> list[int]:
    """Starts of ``#`` lines in ``block[:end]`` (W3C/CSV headers; IIS repeats them after every
    restart).

    A one-byte find is memchr; '#' is rare in log data, so this is nearly free.
    """
    out = [0] if block.startswith((b"#", b"\xef\xbb\xbf#")) else []
    pos = block.find(b"#", 1, end)
    while pos >= 0:
        if block[pos - 1] == 0x0A:
            out.append(pos)
        pos = block.find(b"#", pos + 1, end)
    return out


class HuntError(AgentError):
    """A path to hunt cannot be read."""


class LineParser(Protocol):
    def feed(self, line: str, line_no: int) -> LogRecord | None: ...


ParserFactory = Callable[[str, str], LineParser]  # (format, file) -> parser


def _default_parser(fmt: str, file: str) -> LineParser:
    from agent.logs.formats import LogFormat
    from agent.logs.parse import (  # type: ignore[import-not-found,unused-ignore]
        LineParser as RealParser,
    )

    parser: LineParser = RealParser(LogFormat(fmt), file)
    return parser


@dataclass(frozen=True, slots=True)
class HuntFinding:
    """One rule that matched one line of one file."""

    file: str
    line: int
    detection: Detection
    record: LogRecord

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "line": self.line,
            "rule_id": self.detection.rule_id,
            "title": self.detection.title,
            "severity": self.detection.severity.name.lower(),
            "tags": list(self.detection.tags),
            "record": dict(self.record.fields),
        }


@dataclass
class HuntStats:
    """What a hunt covered, for the summary line and for tests."""

    files: int = 0
    lines: int = 0
    bytes: int = 0
    candidates: int = 0
    parsed: int = 0
    malformed: int = 0
    findings: int = 0
    errors: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Finding the logs


def _log_roots(path: Path) -> list[Path]:
    """A system root (as ``run --root`` takes it) stands for its IIS and Exchange log folders."""
    inetpub = path / "inetpub" / "logs" / "LogFiles"
    exchange = path / "Program Files" / "Microsoft" / "Exchange Server" / "V15" / "Logging"
    roots = [p for p in (inetpub, exchange) if p.is_dir()]
    return roots or [path]


def discover_logs(paths: Sequence[Path]) -> Iterator[tuple[Path, str]]:
    """Every file under ``paths`` that is a log we understand, with its format.

    Raises HuntError for a path that does not exist or cannot be read; files inside a folder
    that cannot be read are skipped (reported by :func:`hunt_paths`).
    """
    from agent.logs.formats import detect_format

    for path in paths:
        if not path.exists():
            raise HuntError(f"{path}: no such file or folder")
        if path.is_file():
            candidates: Iterable[Path] = [path]
        else:
            try:
                with os.scandir(path) as entries:
                    next(entries, None)
            except OSError as exc:
                raise HuntError(f"{path}: cannot read folder: {exc.strerror or exc}") from exc
            candidates = sorted(
                p for root in _log_roots(path) for p in root.rglob("*") if p.is_file()
            )
        for file in candidates:
            try:
                with open(file, "rb") as handle:
                    head = handle.read(_HEAD_SIZE)
            except OSError as exc:
                if file == path:
                    raise HuntError(f"{file}: cannot read: {exc.strerror or exc}") from exc
                continue
            fmt = detect_format(file, head)
            if fmt is not None:
                yield file, str(fmt)


# ---------------------------------------------------------------------------------------------
# Scanning one file


def _prefilter(ruleset: SigmaRuleSet, fmt: str) -> LinePrefilter | bool | None:
    """The line prefilter for ``fmt``; None = every line is a candidate; False = no rule
    applies to this format at all."""
    clauses = ruleset.clauses(fmt)
    if clauses is None:
        return None
    if not clauses:
        return False
    return prefilter_for(clauses)


def _timestamp(fields: Any) -> datetime | None:
    """The time a record says it was written (UTC), if it says so in a form we know."""
    text = ""
    if "date" in fields and "time" in fields:
        text = f"{fields['date']}T{fields['time']}"
    else:
        for key in ("DateTime", "TimeStamp", "date-time", "Timestamp"):
            if fields.get(key):
                text = fields[key]
                break
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def hunt_file(
    path: Path,
    fmt: str,
    ruleset: SigmaRuleSet,
    *,
    since: datetime | None = None,
    stats: HuntStats | None = None,
    parser_factory: ParserFactory | None = None,
    on_bytes: Callable[[int], None] | None = None,
    limit: int | None = None,
) -> Iterator[HuntFinding]:
    """Every finding in one log file of format ``fmt`` (an ``agent.logs`` format value), in
    its first ``limit`` bytes when given. The file is opened so that IIS and Exchange can
    still rotate or delete it meanwhile."""
    stats = stats if stats is not None else HuntStats()
    pre = _prefilter(ruleset, fmt)
    parser = (parser_factory or _default_parser)(fmt, str(path))
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    stats.files += 1
    scan_pre = pre if isinstance(pre, LinePrefilter) else None
    first_line = stats.lines  # lines of earlier files
    with open_shared(path) as handle:
        for block, end in _blocks(handle, stats, on_bytes, limit):
            if pre is False:
                stats.lines += block.count(b"\n", 0, end)
            else:
                yield from _scan_block(
                    block,
                    end,
                    stats.lines - first_line,
                    scan_pre,
                    parser,
                    ruleset,
                    fmt,
                    since,
                    stats,
                )


def _blocks(
    handle: BinaryIO,
    stats: HuntStats,
    on_bytes: Callable[[int], None] | None,
    limit: int | None = None,
) -> Iterator[tuple[bytearray, int]]:
    """The file's whole lines a few MB at a time, as ``(buffer, end)``: ``buffer[:end]`` ends
    with a line break (one is added after a last line without). One buffer is filled again and
    again, so reading costs no copies; a block must be used up before the next one is asked."""
    buf = bytearray(CHUNK_SIZE)
    filled = 0
    left = -1 if limit is None else limit  # bytes still to read (-1: to the end)
    while True:
        if filled == len(buf):  # a line longer than the buffer
            buf.extend(bytes(len(buf)))
        stop = len(buf) if left < 0 else min(len(buf), filled + left)
        with memoryview(buf) as view:
            count = handle.readinto(view[filled:stop]) if stop > filled else 0  # type: ignore[attr-defined]
        left = left - count if left >= 0 else left
        if not count:
            if filled:
                buf[filled : filled + 1] = b"\n"
                yield buf, filled + 1
            return
        stats.bytes += count
        if on_bytes is not None:
            on_bytes(count)
        filled += count
        cut = buf.rfind(b"\n", 0, filled)
        if cut < 0:
            continue
        yield buf, cut + 1
        rest = filled - cut - 1
        buf[:rest] = buf[cut + 1 : filled]  # the unfinished line moves to the front
        filled = rest


def _scan_block(
    block: bytearray,
    end: int,
    base: int,
    pre: LinePrefilter | None,
    parser: LineParser,
    ruleset: SigmaRuleSet,
    fmt: str,
    since: datetime | None,
    stats: HuntStats,
) -> Iterator[HuntFinding]:
    # Line start -> indexes of the rule set's clauses for ``fmt`` that the line satisfies: only
    # rules owning one of them are evaluated on it.
    satisfied: dict[int, frozenset[int]] = {}
    if pre is None:
        starts = [0, *[m.end() for m in re.finditer(rb"\n", block[:end])][:-1]]
    else:
        headers = _header_lines(block, end)
        satisfied = dict(pre.matches(block, end))
        stats.candidates += len(satisfied)
        starts = sorted(satisfied.keys() | headers)
    # Newlines are counted once over the block: up to each line parsed, then to the end.
    line_no = base
    prev = 0
    for start in starts:
        line_no += block.count(b"\n", prev, start)
        prev = start
        stop = block.find(b"\n", start, end)
        raw = block[start:stop].rstrip(b"\r").decode("utf-8", "replace")
        if raw.startswith("\ufeff"):
            raw = raw[1:]
        try:
            record = parser.feed(raw, line_no + 1)
        except MalformedLine:
            stats.malformed += 1
            continue
        if record is None:
            continue
        stats.parsed += 1
        if since is not None:
            when = _timestamp(record.fields)
            if when is not None and when < since:
                continue
        # A parser may name its records' source otherwise; then the clauses say nothing.
        hint = satisfied.get(start) if record.source == fmt else None
        # silent: for hunt_paths' correlator
        for detection in ruleset.match(record, silent=True, satisfied=hint):
            stats.findings += 1
            yield HuntFinding(record.file, record.line, detection, record)
    stats.lines += line_no - base + block.count(b"\n", prev, end)


def hunt_paths(
    paths: Sequence[Path],
    ruleset: SigmaRuleSet,
    since: datetime | None = None,
    *,
    stats: HuntStats | None = None,
    parser_factory: ParserFactory | None = None,
    on_bytes: Callable[[int], None] | None = None,
    limits: Mapping[Path, int] | None = None,
) -> Iterator[HuntFinding | CorrelationFinding]:
    """Every finding in every log under ``paths`` (log folders, files, or system roots), then
    every correlation rule's episode (password spray, brute force) over them.

    ``limits``: per file, how many bytes to hunt (the live agent hunts what was there when it
    started, and tails the rest).

    A path that does not exist raises HuntError; a file that fails mid-way is recorded in
    ``stats.errors`` and the hunt goes on (a log rotated away under us is no reason to stop).
    Files last written before ``since`` are skipped whole.
    """
    stats = stats if stats is not None else HuntStats()
    cutoff = None
    if since is not None:
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
        cutoff = since.timestamp()
    correlator = ruleset.correlator(defer=True)
    for path, fmt in discover_logs(paths):
        try:
            if cutoff is not None and path.stat().st_mtime < cutoff:
                continue
            for finding in hunt_file(
                path,
                fmt,
                ruleset,
                since=since,
                stats=stats,
                parser_factory=parser_factory,
                on_bytes=on_bytes,
                limit=None if limits is None else limits.get(path),
            ):
                correlator.observe(finding.record, finding.detection)
                if ruleset.emits(finding.detection.rule_id):
                    yield finding
                else:
                    stats.findings -= 1  # a rule that only feeds correlation rules
        except OSError as exc:
            stats.errors.append(f"{path}: {exc.strerror or exc}")
    for report in correlator.flush():
        stats.findings += 1
        yield report


# ---------------------------------------------------------------------------------------------
# Command line


def _table(findings: list[HuntFinding | CorrelationFinding]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("severity", "file:line", "rule", "request")
    for f in findings:
        if isinstance(f, CorrelationFinding):
            table.add_row(
                f.detection.severity.name.lower(),
                f"{f.file}:{f.line}",
                f.detection.title,
                f.summary(),
            )
            continue
        fields = f.record.fields
        what = (
            " ".join(
                v
                for v in (
                    fields.get("cs-method") or fields.get("Method"),
                    fields.get("cs-uri-stem")
                    or fields.get("UrlStem")
                    or fields.get("Cmdlet")
                    or fields.get("S:CMD"),
                )
                if v
            )
            or f.record.raw[:80]
        )
        table.add_row(
            f.detection.severity.name.lower(), f"{f.file}:{f.line}", f.detection.title, what
        )
    # Piped output must not be cut to 80 columns: paths and titles are what the reader needs.
    Console(file=sys.stdout, width=None if sys.stdout.isatty() else 240).print(table)


@click.command("hunt")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]),
    help="Skip records (and files last written) before this UTC date/time.",
)
@click.option(
    "--format",
    "output",
    type=click.Choice(["json", "table"]),
    default="json",
    show_default=True,
    help="json: one object per line per detection; table: for people.",
)
@click.option(
    "--rules",
    "rule_paths",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Extra Sigma rule file or folder (repeatable); added to the built-in rules.",
)
@click.option("--no-builtin", is_flag=True, help="Use only the --rules given.")
@click.option(
    "--geoip",
    "geoip_database",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Offline GeoIP database (MaxMind format): rules may count client countries.",
)
def hunt(
    paths: tuple[Path, ...],
    since: datetime | None,
    output: str,
    rule_paths: tuple[Path, ...],
    no_builtin: bool,
    geoip_database: Path | None,
) -> None:
    """Hunt the IIS and Exchange logs under PATH... (folders, files or a system root).

    Exit status: 0 nothing found, 1 something found, 2 error.
    """
    try:
        ruleset = SigmaRuleSet.load(list(rule_paths), builtin=not no_builtin)
    except RuleError as exc:
        click.echo(f"exwatch-agent hunt: bad rules: {exc}", err=True)
        sys.exit(2)
    try:
        geoip.set_database(geoip_database)
    except geoip.GeoIPError as exc:
        click.echo(f"exwatch-agent hunt: {exc}", err=True)
        sys.exit(2)
    for problem in ruleset.problems:
        click.echo(f"exwatch-agent hunt: skipped {problem}", err=True)

    stats = HuntStats()
    findings: list[HuntFinding | CorrelationFinding] = []
    try:
        files = list(discover_logs(list(paths)))
    except HuntError as exc:
        click.echo(f"exwatch-agent hunt: {exc}", err=True)
        sys.exit(2)
    total = sum(p.stat().st_size for p, _ in files)
    progress = None
    if sys.stderr.isatty():
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

        progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
    try:
        if progress is not None:
            progress.start()
            task = progress.add_task("hunting", total=total)
            on_bytes: Callable[[int], None] | None = lambda n: progress.advance(task, n)  # noqa: E731
        else:
            on_bytes = None
        try:
            for finding in hunt_paths(
                [p for p, _ in files], ruleset, since, stats=stats, on_bytes=on_bytes
            ):
                if output == "json":
                    click.echo(json.dumps(finding.to_json(), ensure_ascii=False))
                else:
                    findings.append(finding)
        except HuntError as exc:
            stats.errors.append(str(exc))
    finally:
        if progress is not None:
            progress.stop()
    if output == "table":
        _table(findings)
    for error in stats.errors:
        click.echo(f"exwatch-agent hunt: {error}", err=True)
    click.echo(
        f"exwatch-agent hunt: {stats.files} files, {stats.lines} lines, "
        f"{stats.candidates} candidates, {stats.malformed} malformed, "
        f"{stats.findings} detections",
        err=True,
    )
    sys.exit(2 if stats.errors else (1 if stats.findings else 0))
