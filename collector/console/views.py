"""Small presentation helpers shared by the templates (Jinja filters)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def ago(ns: int | None, now_ns: int | None = None) -> str:
    """ "42 s ago", "3 h ago": what an analyst reads at a glance ("never" for 0)."""
    if not ns:
        return "never"
    seconds = ((now_ns or time.time_ns()) - ns) / 1e9
    if seconds < 0:
        return "just now"
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return f"{int(seconds)} s ago"


def short_time(iso: str) -> str:
    """2026-11-03T10:22:01.123Z -> 2026-11-03 10:22:01 (the table columns stay narrow)."""
    return iso.replace("T", " ")[:19] if iso else ""


def size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


def cve_tags(tags: list[str]) -> list[str]:
    return [t.replace("cve.", "CVE-").upper() for t in tags if t.startswith("cve.")]


FILTERS: dict[str, Callable[..., Any]] = {
    "ago": ago,
    "short_time": short_time,
    "size": size,
    "cve_tags": cve_tags,
}
