"""``exwatch-agent scan``: one-shot webshell scan of files and folders with the agent's rules.

Exit status: 0 every file clean; 1 something suspicious or malicious; 2 an error (a path that
does not exist, a rules folder that is missing or yields no rule, a file that could not be
read). An error wins over a finding, as with grep: a caller testing ``== 1`` must not mistake
"could not look" for "looked and found".
"""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import click

from agent.content import ContentScanner, RuleError, ScanResult, Verdict

DEFAULT_MAX_BYTES = 16 * 1024**2


@dataclass
class _Tally:
    files: int = 0
    flagged: int = 0
    errors: int = 0
    by_verdict: dict[str, int] = field(default_factory=dict)


def _note(message: str) -> None:
    click.echo(f"exwatch-agent scan: {message}", err=True)


def _shown(path: str | os.PathLike[str]) -> str:
    """A path as printable text: control characters (a newline in a file name) escaped."""
    text = os.fspath(path)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _inside(target: Path, root: Path) -> bool:
    try:
        target.relative_to(root)
    except ValueError:
        return False
    return True


def walk(root: Path, tally: _Tally) -> Iterator[Path]:
    """Regular files under ``root``, depth first, sorted; never follows a symlink.

    A symlink to a file inside the tree is skipped silently (its target is scanned under its
    own name); one pointing out of the tree, dangling or looping is noted on stderr and skipped.
    FIFOs, sockets and devices are noted and skipped without being opened.
    """
    real_root = root.resolve()
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name, reverse=True)
        except OSError as exc:
            tally.errors += 1
            _note(f"{_shown(folder)}: cannot list folder: {exc.strerror or exc}")
            continue
        subfolders: list[Path] = []
        for entry in reversed(entries):
            path = Path(entry.path)
            try:
                if entry.is_symlink():
                    _symlink_note(path, real_root)
                    continue
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as exc:
                tally.errors += 1
                _note(f"{_shown(path)}: {exc.strerror or exc}")
                continue
            if stat.S_ISDIR(mode):
                subfolders.append(path)
            elif stat.S_ISREG(mode):
                yield path
            else:
                _note(f"{_shown(path)}: skipped ({_kind(mode)})")
        stack.extend(reversed(subfolders))


def _symlink_note(path: Path, real_root: Path) -> None:
    try:
        target = path.resolve(strict=True)
    except RuntimeError:  # Python < 3.13 raises this for loops
        _note(f"{_shown(path)}: skipped (symlink loop)")
        return
    except OSError as exc:
        reason = "symlink loop" if exc.errno == 40 else "dangling symlink"
        _note(f"{_shown(path)}: skipped ({reason})")
        return
    if not _inside(target, real_root):
        _note(f"{_shown(path)}: skipped (symlink out of the scanned folder -> {_shown(target)})")


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "not a regular file"


def collect(paths: tuple[Path, ...], tally: _Tally) -> list[Path]:
    """Expand the command-line paths into the files to scan (explicit files are followed)."""
    files: list[Path] = []
    for path in paths:
        try:
            st = os.stat(path)  # noqa: PTH116 - an explicit symlink is the user's choice: follow it
        except OSError as exc:
            tally.errors += 1
            reason = "symlink loop" if exc.errno == 40 else (exc.strerror or str(exc))
            _note(f"{_shown(path)}: {reason}")
            continue
        if stat.S_ISDIR(st.st_mode):
            files.extend(walk(path, tally))
        elif stat.S_ISREG(st.st_mode):
            files.append(path)
        else:
            _note(f"{_shown(path)}: skipped ({_kind(st.st_mode)})")
    return files


def _json_line(result: ScanResult, max_bytes: int) -> str:
    record: dict[str, object] = {
        "path": result.path, "sha256": result.sha256, "size": result.size,
        "verdict": str(result.verdict), "rules": list(result.rule_ids),
    }
    if result.size > max_bytes and result.verdict is not Verdict.UNSCANNED:
        record["truncated"] = True  # YARA saw only the first max_bytes; the hash covers all
    if result.error:
        record["error"] = result.error
    return json.dumps(record, ensure_ascii=True)


def _table_line(result: ScanResult) -> str:
    rules = ",".join(result.rule_ids)
    extra = f"  [{result.error}]" if result.error else ""
    return f"{result.verdict.value:<10} {result.size:>12}  {_shown(result.path)}  {rules}{extra}"


def _emit(results: Iterator[ScanResult], out: TextIO, fmt: str, max_bytes: int,
          tally: _Tally) -> None:
    if fmt == "table":
        out.write(f"{'VERDICT':<10} {'SIZE':>12}  PATH  RULES\n")
    for result in results:
        tally.files += 1
        tally.by_verdict[result.verdict.value] = tally.by_verdict.get(result.verdict.value, 0) + 1
        if result.verdict in (Verdict.SUSPICIOUS, Verdict.MALICIOUS):
            tally.flagged += 1
        if result.verdict is Verdict.UNSCANNED or result.error:
            tally.errors += 1
        out.write((_json_line(result, max_bytes) if fmt == "json" else _table_line(result)) + "\n")
        out.flush()


def _scan_all(scanner: ContentScanner, files: list[Path]) -> Iterator[ScanResult]:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    console = Console(stderr=True)
    if not console.is_terminal:
        for path in files:
            yield scanner.scan_file(path)
        return
    # Progress only for a person watching; rich's refresh thread is stopped by the context.
    with Progress(TextColumn("scanning"), BarColumn(), MofNCompleteColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("scan", total=len(files))
        for path in files:
            yield scanner.scan_file(path)
            progress.advance(task)


@click.command("scan")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="json",
              show_default=True, help="json: one object per file per line.")
@click.option("--rules", "rule_dirs", multiple=True,
              type=click.Path(path_type=Path, file_okay=False),
              help="Extra folder of .yar/.yara rules (repeatable), e.g. signature-base/yara.")
@click.option("--max-bytes", type=click.IntRange(min=1), default=DEFAULT_MAX_BYTES,
              show_default=True, help="YARA scans this many leading bytes; the hash covers all.")
def scan(paths: tuple[Path, ...], fmt: str, rule_dirs: tuple[Path, ...], max_bytes: int) -> None:
    """Scan files and folders for webshells; exit 0 clean, 1 found, 2 error."""
    for folder in rule_dirs:
        if not folder.is_dir():
            _note(f"--rules {_shown(folder)}: not a folder")
            sys.exit(2)
    try:
        scanner = ContentScanner.load(rule_dirs, max_bytes=max_bytes)
    except RuleError as exc:
        _note(f"built-in rules are broken: {exc}")
        sys.exit(2)
    for problem in scanner.problems:
        _note(f"rule skipped: {problem}")
    if rule_dirs and scanner.user_rule_count == 0:
        _note("no usable rule in the --rules folders")
        sys.exit(2)

    tally = _Tally()
    files = collect(paths, tally)
    _emit(_scan_all(scanner, files), sys.stdout, fmt, max_bytes, tally)
    if fmt == "table":
        counts = ", ".join(f"{n} {v}" for v, n in sorted(tally.by_verdict.items()))
        _note(f"{tally.files} files ({counts or 'none'}), rules {scanner.version}")
    if tally.errors:
        sys.exit(2)
    sys.exit(1 if tally.flagged else 0)
