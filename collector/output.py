"""How the collector's commands print rows: a readable table, or JSON for scripts."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table


def emit(
    rows: Sequence[Mapping[str, Any]], fmt: str, columns: Sequence[str], *, empty: str = "none"
) -> None:
    """``fmt`` "json": the rows as a JSON array; else a table of ``columns`` (lists joined)."""
    if fmt == "json":
        json.dump(list(rows), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return
    if not rows:
        click.echo(empty)
        return
    table = Table(box=None, header_style="bold")
    for column in columns:
        table.add_column(column.replace("_", " "), overflow="fold")
    for row in rows:
        values = (row.get(c, "") for c in columns)
        table.add_row(*(", ".join(map(str, v)) if isinstance(v, list) else str(v) for v in values))
    Console(width=max(120, Console().width)).print(table)
