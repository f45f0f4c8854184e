"""``exwatch-collector notifications``: what was sent, what waits, what is dead; retry the
dead; send a test message on a channel."""

from __future__ import annotations

import asyncio
import time
import tomllib
from pathlib import Path
from typing import Any

import click

from collector.cli_store import store_connection
from collector.errors import CollectorError
from collector.notify import outbox
from collector.notify.channels.base import DeliveryError, iso, sample_message
from collector.notify.routes import Routes
from collector.notify.worker import send_now
from collector.output import emit

_DATA = click.option(
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Collector data folder (default: the config's data_dir, else ./var).",
)
_CONFIG = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Collector TOML config.",
)


def _read_config(config_path: Path | None) -> dict[str, Any]:
    if config_path is None:
        return {}
    try:
        return tomllib.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise click.ClickException(f"{config_path}: {exc}") from exc


@click.group("notifications")
def notifications() -> None:
    """The notification outbox: pages sent, waiting, or dead after too many failures."""


@notifications.command("list")
@click.option("--state", type=click.Choice(outbox.STATES), help="Only this state.")
@click.option("--tenant", help="Only this tenant's notifications.")
@click.option("--limit", type=click.IntRange(1), default=200, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@_DATA
@_CONFIG
def list_command(
    state: str | None,
    tenant: str | None,
    limit: int,
    fmt: str,
    data_dir: Path | None,
    config_path: Path | None,
) -> None:
    """List notifications, newest first, with attempts and the last error."""
    with store_connection(data_dir, config_path) as conn:
        rows = outbox.list_notifications(conn, state, tenant=tenant, limit=limit)
    for row in rows:
        row["next_attempt"] = iso(row["next_attempt_ns"]) if row["state"] == "pending" else ""
        row["created"] = iso(row["created_ns"])
        row["sent"] = iso(row["sent_ns"]) if row["sent_ns"] else ""
    emit(
        rows,
        fmt,
        [
            "id",
            "state",
            "channel",
            "reason",
            "tenant",
            "alert_id",
            "attempts",
            "next_attempt",
            "last_error",
        ],
        empty="no notifications",
    )


@notifications.command("retry")
@click.argument("notification_id", type=int)
@_DATA
@_CONFIG
def retry_command(notification_id: int, data_dir: Path | None, config_path: Path | None) -> None:
    """Send a dead notification again (the running collector picks it up)."""
    with store_connection(data_dir, config_path) as conn:
        try:
            outbox.retry(conn, notification_id, now_ns=time.time_ns())
        except CollectorError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"notification {notification_id} queued again")


@notifications.command("test")
@click.option("--channel", "channel_name", required=True, help="A [notify.channels.NAME].")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    required=True,
    help="Collector TOML config with the [notify] section.",
)
def test_command(channel_name: str, config_path: Path) -> None:
    """Send a test message on one channel now, bypassing the outbox, and report the
    result (PagerDuty: this triggers a real, informational incident)."""
    try:
        routes = Routes.from_config(_read_config(config_path).get("notify"))
    except CollectorError as exc:
        raise click.ClickException(str(exc)) from exc
    channel = routes.channel(channel_name)
    if channel is None:
        known = ", ".join(routes.channels) or "none"
        raise click.ClickException(f"no channel {channel_name!r} (configured: {known})")
    message = sample_message(channel_name, now_ns=time.time_ns())
    try:
        asyncio.run(send_now(routes, channel_name, message))
    except DeliveryError as exc:
        raise click.ClickException(f"{channel_name}: {exc}") from exc
    click.echo(f"test notification sent to {channel_name} ({channel.target()})")
