"""Known-bad and known-good SHA-256 lists: one ``<sha256>  <label>`` per line, ``#`` comments."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from agent.errors import AgentError

_LINE = re.compile(r"^([0-9A-Fa-f]{64})(?:\s+(.*))?$")


class HashListError(AgentError):
    """A hash list line that is not ``<sha256>  <label>``. Carries the file and line number."""

    def __init__(self, reason: str, *, file: str, line: int) -> None:
        self.reason = reason
        self.file = file
        self.line = line
        super().__init__(f"{file}:{line}: {reason}")


def parse_hash_list(text: str, *, source: str) -> dict[str, str]:
    """Map lowercase SHA-256 to label. Raises HashListError naming the first bad line."""
    entries: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise HashListError(f"expected '<64 hex digits>  <label>', got {line[:80]!r}",
                                file=source, line=number)
        label = (match.group(2) or "").strip() or "listed hash"
        # The first entry wins so that a later duplicate cannot silently relabel an IOC.
        entries.setdefault(match.group(1).lower(), label)
    return entries


def load_hash_lists(paths: list[Path]) -> dict[str, str]:
    """Merge several lists (a missing file is an error: the caller chose these paths)."""
    merged: dict[str, str] = {}
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise HashListError(f"cannot read: {exc}", file=str(path), line=0) from exc
        for digest, label in parse_hash_list(text, source=str(path)).items():
            merged.setdefault(digest, label)
    return merged


def lookup(table: Mapping[str, str], sha256: str) -> str | None:
    """Label of ``sha256`` in ``table`` (case-insensitive), or None."""
    return table.get(sha256.lower()) if sha256 else None
