"""Console accounts from the terminal: ``user``, ``apitoken`` and ``tenant`` command groups
for ``exwatch-collector`` (register them with ``register(main)``).

The operator at the collector's terminal holds the database file, so these commands act
as an admin; every change is audited as ``cli:<login name>``.
"""

from __future__ import annotations

import getpass
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from collector.cli_store import store_connection
from collector.console import data, passwords
from collector.output import emit
from collector.store.backend import Connection

T = TypeVar("T")
DATA_DIR_HELP = "Collector data folder (default ./var)."


def _actor() -> data.Principal:
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        name = "unknown"
    return data.cli_principal(f"cli:{name}")


def _write(conn: Connection, fn: Callable[[Connection], T]) -> T:
    try:
        with conn.transaction():
            return fn(conn)
    except data.ConsoleError as exc:
        raise click.ClickException(str(exc)) from exc


def _password(from_stdin: bool) -> tuple[str, bool]:
    """(password, generated?)"""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    return passwords.generate_password(), True


def _common(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option(
        "--data-dir", type=click.Path(path_type=Path, file_okay=False), help=DATA_DIR_HELP
    )(fn)
    return click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False))(
        fn
    )


FORMAT = click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True
)


# ---------------------------------------------------------------------------- users


@click.group()
def user() -> None:
    """Console users (local accounts)."""


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(data.ROLES), required=True)
@click.option("--tenant", "tenants", multiple=True, help="A tenant they may see (repeatable).")
@click.option("--all-tenants", is_flag=True, help="read_only: every tenant.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@_common
def user_add(
    username: str,
    role: str,
    tenants: tuple[str, ...],
    all_tenants: bool,
    password_stdin: bool,
    data_dir: Path | None,
    config_path: Path | None,
) -> None:
    """Create a user; prints a random password unless --password-stdin."""
    password, generated = _password(password_stdin)
    try:
        password_hash = passwords.hash_password(password)
    except data.Invalid as exc:
        raise click.ClickException(str(exc)) from exc
    with store_connection(data_dir, config_path) as conn:
        created = _write(
            conn,
            lambda c: data.create_user(
                c,
                _actor(),
                username=username,
                password_hash=password_hash,
                role=role,
                tenants=list(tenants),
                all_tenants=all_tenants,
            ),
        )
    click.echo(f"user {created['username']} ({created['role']}) created")
    if generated:
        click.echo(f"password (shown once): {password}")


@user.command("list")
@FORMAT
@_common
def user_list(fmt: str, data_dir: Path | None, config_path: Path | None) -> None:
    """List users with their role and tenants."""
    with store_connection(data_dir, config_path) as conn:
        rows = data.list_users(conn, _actor())
    for r in rows:
        r["tenants"] = ["*"] if r["all_tenants"] else r["tenants"]
    emit(rows, fmt, ["id", "username", "role", "tenants", "disabled", "last_login"])


@user.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the new password from stdin.")
@_common
def user_passwd(
    username: str, password_stdin: bool, data_dir: Path | None, config_path: Path | None
) -> None:
    """Set a new password (random unless --password-stdin); ends their sessions."""
    password, generated = _password(password_stdin)
    try:
        password_hash = passwords.hash_password(password)
    except data.Invalid as exc:
        raise click.ClickException(str(exc)) from exc
    with store_connection(data_dir, config_path) as conn:
        _write(conn, lambda c: data.update_user(c, _actor(), username, password_hash=password_hash))
    click.echo(f"password of {username} changed")
    if generated:
        click.echo(f"password (shown once): {password}")


def _set_disabled(
    username: str, disabled: bool, data_dir: Path | None, config: Path | None
) -> None:
    with store_connection(data_dir, config) as conn:
        _write(conn, lambda c: data.update_user(c, _actor(), username, disabled=disabled))
    click.echo(f"user {username} {'disabled' if disabled else 'enabled'}")


@user.command("disable")
@click.argument("username")
@_common
def user_disable(username: str, data_dir: Path | None, config_path: Path | None) -> None:
    """Lock a user out: sessions end, API tokens stop working."""
    _set_disabled(username, True, data_dir, config_path)


@user.command("enable")
@click.argument("username")
@_common
def user_enable(username: str, data_dir: Path | None, config_path: Path | None) -> None:
    """Let a disabled user sign in again."""
    _set_disabled(username, False, data_dir, config_path)


# ---------------------------------------------------------------------------- API tokens


@click.group()
def apitoken() -> None:
    """Console API tokens (bearer tokens acting as a user)."""


@apitoken.command("create")
@click.option("--user", "username", required=True, help="The user it acts as.")
@click.option("--name", default="", help="What it is for.")
@click.option("--expires-days", type=click.IntRange(1, 3650), help="Lifetime (default: none).")
@_common
def apitoken_create(
    username: str,
    name: str,
    expires_days: int | None,
    data_dir: Path | None,
    config_path: Path | None,
) -> None:
    """Make a token and print it (it is shown only once)."""
    expires = time.time_ns() + expires_days * 86_400 * 10**9 if expires_days else 0
    with store_connection(data_dir, config_path) as conn:
        created = _write(
            conn,
            lambda c: data.create_api_token(
                c, _actor(), name=name, username=username, expires_ns=expires
            ),
        )
    click.echo(created["token"])


@apitoken.command("revoke")
@click.argument("token_id", type=int)
@_common
def apitoken_revoke(token_id: int, data_dir: Path | None, config_path: Path | None) -> None:
    """Revoke a token by id (see 'apitoken list')."""
    with store_connection(data_dir, config_path) as conn:
        _write(conn, lambda c: data.revoke_api_token(c, _actor(), token_id))
    click.echo(f"API token {token_id} revoked")


@apitoken.command("list")
@FORMAT
@_common
def apitoken_list(fmt: str, data_dir: Path | None, config_path: Path | None) -> None:
    """List API tokens (their values are not stored)."""
    with store_connection(data_dir, config_path) as conn:
        rows = data.list_api_tokens(conn, _actor())
    emit(rows, fmt, ["id", "user", "name", "prefix", "created", "last_used", "revoked"])


# ---------------------------------------------------------------------------- tenants


@click.group()
def tenant() -> None:
    """Tenants (customers)."""


@tenant.command("list")
@FORMAT
@_common
def tenant_list(fmt: str, data_dir: Path | None, config_path: Path | None) -> None:
    """Tenants with their hosts and open alerts."""
    with store_connection(data_dir, config_path) as conn:
        rows = data.tenant_summaries(
            conn, _actor(), now=time.time_ns(), offline_after_ns=90 * 10**9
        )
    if fmt == "table":
        for r in rows:
            r["unresolved"] = " ".join(
                f"{k}:{v}" for k, v in r["unresolved_by_severity"].items() if v
            )
    emit(
        rows, fmt, ["tenant", "hosts", "online", "offline", "revoked", "open_alerts", "unresolved"]
    )


def register(main: click.Group) -> None:
    """Add the console's command groups to ``exwatch-collector``."""
    for group in (user, apitoken, tenant):
        main.add_command(group)


@click.command("assign")
@click.argument("alert_id", type=int)
@click.argument("assignee")
@click.option("--by", "actor", default="cli", show_default=True, help="Who.")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False))
def alert_assign(
    alert_id: int, assignee: str, actor: str, data_dir: Path | None, config_path: Path | None
) -> None:
    """Assign an alert to a console user ("" to nobody)."""
    with store_connection(data_dir, config_path) as conn:
        row = _write(
            conn, lambda c: data.assign_alert(c, data.cli_principal(actor), alert_id, assignee)
        )
    click.echo(f"alert {row['id']} assigned to {assignee or 'nobody'}")


@click.command("comment")
@click.argument("alert_id", type=int)
@click.argument("text")
@click.option("--by", "actor", default="cli", show_default=True, help="Who.")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False))
def alert_comment(
    alert_id: int, text: str, actor: str, data_dir: Path | None, config_path: Path | None
) -> None:
    """Add a comment to an alert's record (audited, shown in the console)."""
    with store_connection(data_dir, config_path) as conn:
        _write(conn, lambda c: data.add_comment(c, data.cli_principal(actor), alert_id, text))
    click.echo(f"comment added to alert {alert_id}")
