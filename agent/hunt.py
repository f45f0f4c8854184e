"""Retro-hunt: run the Sigma rules over logs already on disk, fast enough for years of IIS logs.

Parsing every line would cost microseconds a line. Instead each file is read in large byte
chunks; the chunk is lower-cased, ``+`` turned into spaces and percent-decoded exactly as the
matcher normalises field values (:func:`agent.sigma.normalize_folded`), and one compiled regex
of the rule set's literals finds the few lines that could match. Only those lines (plus the
``#`` header lines that tell the parser the column layout) are parsed and evaluated. Line
numbers come from counting newlines, so they stay exact although most lines are never split.

The live agent calls :func:`hunt_paths` for its first-start look-back; operators run
``exwatch-agent hunt``.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote_to_bytes

import click

from agent.detection import Detection
from agent.errors import AgentError, MalformedLine
from agent.logrecord import LogRecord
from agent.sigma import RuleError, SigmaRuleSet
from agent.sigma.prefilter import literal_score

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
_DECODE_ROUNDS = 3  # as agent.sigma.matcher.normalize


def _header_lines(block: bytes) -> list[int]:
    """Starts of ``#`` lines (W3C/CSV headers; IIS repeats them after every restart).

    A one-byte find is memchr; '#' is rare in log data, so this is nearly free.
    """
    out = [0] if block.startswith((b"#", b"\xef\xbb\xbf#")) else []
    pos = block.find(b"#", 1)
    while pos >= 0:
        if block[pos - 1] == 0x0A:
            out.append(pos)
        pos = block.find(b"#", pos + 1)
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


try:  # RE2 scans an alternation of many patterns as one DFA, ~10x faster than re here.
    import re2 as _fast_re  # type: ignore[import-not-found,import-untyped,unused-ignore]
except ImportError:  # pragma: no cover - optional accelerator
    _fast_re = None


def _compile(pattern: bytes) -> Any:
    if _fast_re is not None:
        options = _fast_re.Options()
        options.max_mem = 256 << 20
        return _fast_re.compile(pattern, options)
    return re.compile(pattern)


def _decode_line(line: bytes) -> bytes:
    """One line as :func:`agent.sigma.normalize_folded` sees it (``line`` is already lowered and
    has ``+`` as space)."""
    for _ in range(_DECODE_ROUNDS):
        if b"%" not in line:
            break
        decoded = unquote_to_bytes(line)
        if decoded == line:
            break
        line = decoded.lower()
    return line


def _decode_block(raw: bytes) -> bytes:
    """Several lines as :func:`agent.sigma.normalize_folded` would see them, one pass each
    step; encoded line breaks become spaces so that line k stays line k."""
    text = raw.lower()
    if b"+" in text:
        text = text.replace(b"+", b" ")
    for _ in range(_DECODE_ROUNDS):
        if b"%" not in text:
            break
        protected = text.replace(b"%0a", b"%20").replace(b"%0d", b"%20")
        decoded = unquote_to_bytes(protected)
        if decoded == protected:
            break
        text = decoded.lower()
    return text


def _line_view(raw: bytes) -> bytes:
    """A raw line as :func:`agent.sigma.normalize_folded` would see it (ASCII folding)."""
    line = raw.lower()
    if b"+" in line:
        line = line.replace(b"+", b" ")
    return _decode_line(line) if b"%" in line else line


def _ascii_literal(lit: str) -> bytes:
    """The longest ASCII run of ``lit``: bytes.lower() only folds ASCII, and any piece of a
    required literal is itself required."""
    runs = re.findall(r"[\x00-\x7f]+", lit)
    return max(runs, key=len).encode() if runs else b""


# Characters that benign clients percent-encode all the time (e-mail addresses, redirect URLs).
# A scan literal containing them would send most lines down the slow decode path.
_OFTEN_ENCODED = frozenset("@:")


def _scan_score(lit: str) -> float:
    return literal_score(lit) - (100.0 if _OFTEN_ENCODED & set(lit) else 0.0)


@dataclass(frozen=True, slots=True)
class _Prefilter:
    """What the scanner searches for in a chunk.

    Each rule clause (a set of literals that must all occur) is represented by its two most
    selective literals, searched as one line-bounded regex (``A[^\\n]*B|B[^\\n]*A``), so that
    a line must hold both before Python looks at it. Lines that hold a percent-escape of a
    character of those literals are decoded and searched again, so encoding cannot hide an
    attack. Candidates are then checked against their full clauses.
    """

    regex: Any
    escapes: re.Pattern[bytes]
    line_regex: re.Pattern[bytes]
    groups: tuple[tuple[tuple[bytes, ...], tuple[tuple[bytes, ...], ...]], ...]


def _prefilter(ruleset: SigmaRuleSet, fmt: str) -> _Prefilter | bool | None:
    """The compiled prefilter for ``fmt``; None = every line is a candidate; False = no rule
    applies to this format at all."""
    clauses = ruleset.clauses(fmt)
    if clauses is None:
        return None
    if not clauses:
        return False
    groups: dict[tuple[bytes, ...], list[tuple[bytes, ...]]] = {}
    for clause in clauses:
        ranked = sorted(clause, key=lambda lit: (-_scan_score(lit), lit))
        full = tuple(b for b in (_ascii_literal(lit) for lit in ranked) if b)
        if not full:
            return None
        key = tuple(sorted(full[:2]))
        groups.setdefault(key, []).append(full)
    singles = {key[0] for key in groups if len(key) == 1}
    alternatives: list[bytes] = []
    chars: set[int] = set()

    def raw_form(lit: bytes) -> bytes:
        # The chunk is scanned as read (no lower(), no '+' replacement: two passes saved), so
        # the pattern folds case and accepts IIS's '+' for a space.
        return re.escape(lit).replace(b"\\ ", b"[ +]").replace(b" ", b"[ +]")

    line_alternatives: list[bytes] = []
    for key in groups:
        chars.update(b"".join(key))
        if len(key) == 1:
            alternatives.append(raw_form(key[0]))
            line_alternatives.append(re.escape(key[0]))
        elif not singles & set(key):  # a pair containing a single is implied by the single
            a, b = (raw_form(lit) for lit in key)
            alternatives += [a + rb"[^\n]*" + b, b + rb"[^\n]*" + a]
            a, b = (re.escape(lit) for lit in key)
            line_alternatives += [a + rb"[^\n]*" + b, b + rb"[^\n]*" + a]
    # %25 is an encoded '%' (double encoding); letters may arrive encoded in either case.
    codes = {b"25"} | {f"{c:02x}".encode() for c in chars}
    codes |= {f"{ord(chr(c).upper()):02x}".encode() for c in chars if chr(c).isalpha()}
    escapes = b"(?i)%(?:" + b"|".join(sorted(codes)) + b")"
    # The chunk-wide scan is RE2's job; escapes start with a literal '%', which re finds fast,
    # and per-line searches are too short for RE2's per-call setup to pay off.
    return _Prefilter(
        _compile(b"(?i)" + b"|".join(alternatives)),
        re.compile(escapes),
        re.compile(b"|".join(line_alternatives)),
        tuple((key, tuple(v)) for key, v in groups.items()),
    )


def _line_bounds(view: bytes, pos: int) -> tuple[int, int]:
    start = view.rfind(b"\n", 0, pos) + 1
    end = view.find(b"\n", pos)
    return start, len(view) if end < 0 else end


def _candidate_lines(block: bytes, pre: _Prefilter) -> list[int]:
    """Offsets (in ``block``) of the starts of lines that satisfy a clause of the prefilter.

    The chunk is searched as read; only candidate lines are lowered, ``+``-replaced and decoded.
    """
    view = block
    found: dict[int, int] = {}  # line start -> line end
    search_chunk = pre.regex.search
    pos = 0
    # One verdict per line: after a hit, continue at the next line.
    while (m := search_chunk(view, pos)) is not None:
        start, end = _line_bounds(view, m.start())
        found[start] = end
        pos = end + 1
    if b"%" in view:
        # Lines holding a percent-escape of a character the scan looks for: decode them all in
        # one pass (newline count preserved) and scan again, so encoding hides nothing.
        search_escape = pre.escapes.search
        spans: list[tuple[int, int]] = []
        pos = 0
        while (m := search_escape(view, pos)) is not None:
            start, end = _line_bounds(view, m.start())
            pos = end + 1
            if start not in found:
                spans.append((start, end))
        if spans:
            blob = _decode_block(b"\n".join(view[a:b] for a, b in spans))
            index = 0
            counted = 0
            pos = 0
            while (m := search_chunk(blob, pos)) is not None:
                index += blob.count(b"\n", counted, m.start())
                counted = m.start()
                start, end = spans[index]
                found[start] = end
                nl = blob.find(b"\n", m.start())
                if nl < 0:
                    break
                pos = nl + 1
    out = []
    for start in sorted(found):
        line = _line_view(view[start : found[start]])
        for key, clauses in pre.groups:
            if key[0] not in line or key[-1] not in line:
                continue
            if any(all(lit in line for lit in clause) for clause in clauses):
                out.append(start)
                break
    return out


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
) -> Iterator[HuntFinding]:
    """Every finding in one log file of format ``fmt`` (an ``agent.logs`` format value)."""
    stats = stats if stats is not None else HuntStats()
    pre = _prefilter(ruleset, fmt)
    parser = (parser_factory or _default_parser)(fmt, str(path))
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    stats.files += 1
    scan_pre = pre if isinstance(pre, _Prefilter) else None
    with open(path, "rb") as handle:
        carry = b""
        base = 0  # lines before the current block
        while True:
            chunk = handle.read(CHUNK_SIZE)
            if on_bytes is not None and chunk:
                on_bytes(len(chunk))
            stats.bytes += len(chunk)
            if chunk:
                data = carry + chunk
                cut = data.rfind(b"\n")
                if cut < 0:
                    carry = data
                    continue
                block, carry = data[: cut + 1], data[cut + 1 :]
            else:
                if not carry:
                    break
                block, carry = carry + b"\n", b""
            lines_in_block = block.count(b"\n")
            if pre is not False:
                yield from _scan_block(block, base, scan_pre, parser, ruleset, since, stats)
            stats.lines += lines_in_block
            base += lines_in_block
            if not chunk:
                break


def _scan_block(
    block: bytes,
    base: int,
    pre: _Prefilter | None,
    parser: LineParser,
    ruleset: SigmaRuleSet,
    since: datetime | None,
    stats: HuntStats,
) -> Iterator[HuntFinding]:
    if pre is None:
        starts = [0, *[m.end() for m in re.finditer(rb"\n", block)][:-1]]
    else:
        headers = _header_lines(block)
        cands = _candidate_lines(block, pre)
        stats.candidates += len(cands)
        starts = sorted(set(headers) | set(cands))
    line_no = base
    prev = 0
    for start in starts:
        line_no += block.count(b"\n", prev, start)
        prev = start
        end = block.find(b"\n", start)
        raw = block[start:end].rstrip(b"\r").decode("utf-8", "replace")
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
        for detection in ruleset.match(record):
            stats.findings += 1
            yield HuntFinding(record.file, record.line, detection, record)


def hunt_paths(
    paths: Sequence[Path],
    ruleset: SigmaRuleSet,
    since: datetime | None = None,
    *,
    stats: HuntStats | None = None,
    parser_factory: ParserFactory | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> Iterator[HuntFinding]:
    """Every finding in every log under ``paths`` (log folders, files, or system roots).

    A path that does not exist raises HuntError; a file that fails mid-way is recorded in
    ``stats.errors`` and the hunt goes on (a log rotated away under us is no reason to stop).
    Files last written before ``since`` are skipped whole.
    """
    stats = stats if stats is not None else HuntStats()
    cutoff = None
    if since is not None:
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
        cutoff = since.timestamp()
    for path, fmt in discover_logs(paths):
        try:
            if cutoff is not None and path.stat().st_mtime < cutoff:
                continue
            yield from hunt_file(
                path,
                fmt,
                ruleset,
                since=since,
                stats=stats,
                parser_factory=parser_factory,
                on_bytes=on_bytes,
            )
        except OSError as exc:
            stats.errors.append(f"{path}: {exc.strerror or exc}")


# ---------------------------------------------------------------------------------------------
# Command line


def _table(findings: list[HuntFinding]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("severity", "file:line", "rule", "request")
    for f in findings:
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
def hunt(
    paths: tuple[Path, ...],
    since: datetime | None,
    output: str,
    rule_paths: tuple[Path, ...],
    no_builtin: bool,
) -> None:
    """Hunt the IIS and Exchange logs under PATH... (folders, files or a system root).

    Exit status: 0 nothing found, 1 something found, 2 error.
    """
    try:
        ruleset = SigmaRuleSet.load(list(rule_paths), builtin=not no_builtin)
    except RuleError as exc:
        click.echo(f"exwatch-agent hunt: bad rules: {exc}", err=True)
        sys.exit(2)
    for problem in ruleset.problems:
        click.echo(f"exwatch-agent hunt: skipped {problem}", err=True)

    stats = HuntStats()
    findings: list[HuntFinding] = []
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
