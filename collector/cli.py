"""``exwatch-collector``: serve, and inspect what the collector holds."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from collector.config import load_config
from collector.errors import CollectorError
from collector.store import SQLiteStore

DATA_DIR_HELP = "Collector data folder (default ./var)."


def _open_store(data_dir: Path | None, config: Path | None) -> SQLiteStore:
    cfg = load_config(config, data_dir=data_dir)
    if not cfg.store_path.exists():
        raise click.ClickException(
            f"no collector store at {cfg.store_path}; start one with 'exwatch-collector serve' "
            "or pass --data-dir"
        )
    return SQLiteStore(cfg.store_path)


@click.group()
@click.version_option(package_name="exwatch")
def main() -> None:
    """exwatch collector: receives agents' events, raises alerts."""


@main.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Collector TOML config.",
)
@click.option("--listen", help="gRPC address HOST:PORT (default 127.0.0.1:50051).")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), help=DATA_DIR_HELP)
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
def serve(
    config_path: Path | None, listen: str | None, data_dir: Path | None, verbose: bool
) -> None:
    """Run the collector in the foreground until interrupted."""
    from collector.server import serve as run_server

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        cfg = load_config(config_path, listen=listen, data_dir=data_dir)
        asyncio.run(run_server(cfg))
    except CollectorError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        pass


def _print_alerts(alerts: list[dict[str, Any]]) -> None:
    table = Table(box=None, header_style="bold")
    for column in ("id", "severity", "status", "host", "title", "last seen", "events"):
        table.add_column(column, overflow="fold")
    for a in alerts:
        table.add_row(
            str(a["id"]),
            a["severity"],
            a["status"],
            ", ".join(a["hosts"]),
            a["title"],
            a["last_seen"],
            str(a["event_count"]),
        )
    Console(width=max(120, Console().width)).print(table)


@main.command()
@click.option("--tenant", help="Only this tenant's alerts.")
@click.option("--status", type=click.Choice(["open", "acknowledged", "resolved"]))
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)
@click.option("--limit", type=click.IntRange(1), default=1000, show_default=True)
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), help=DATA_DIR_HELP)
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False))
def alerts(
    tenant: str | None,
    status: str | None,
    fmt: str,
    limit: int,
    data_dir: Path | None,
    config_path: Path | None,
) -> None:
    """List alerts, newest first."""
    store = _open_store(data_dir, config_path)
    try:
        rows = store.list_alerts(tenant=tenant, status=status, limit=limit)
    finally:
        store.close()
    if fmt == "json":
        json.dump(rows, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif rows:
        _print_alerts(rows)
    else:
        click.echo("no alerts")


@main.group()
def alert() -> None:
    """Change an alert's status."""


def _set_status(
    alert_id: int, status: str, comment: str, actor: str, data_dir: Path | None
) -> None:
    store = _open_store(data_dir, None)
    try:
        row = store.set_alert_status(alert_id, status, actor=actor, comment=comment)
    except CollectorError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()
    click.echo(f"alert {row['id']} is {row['status']}")


def _status_command(status: str, verb: str) -> click.Command:
    @click.command(name=verb, help=f"Mark an alert {status}.")
    @click.argument("alert_id", type=int)
    @click.option("--comment", default="", help="Why.")
    @click.option("--by", "actor", default="cli", show_default=True, help="Who.")
    @click.option(
        "--data-dir", type=click.Path(path_type=Path, file_okay=False), help=DATA_DIR_HELP
    )
    def command(alert_id: int, comment: str, actor: str, data_dir: Path | None) -> None:
        _set_status(alert_id, status, comment, actor, data_dir)

    return command


alert.add_command(_status_command("acknowledged", "ack"))
alert.add_command(_status_command("resolved", "resolve"))
alert.add_command(_status_command("open", "reopen"))
