"""``exwatch-collector``: serve, and inspect what the collector holds."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from collector.config import load_config
from collector.console.cli import alert_assign, alert_comment
from collector.console.cli import register as register_console_commands
from collector.console.containment import (
    decide,
    list_requests,
    request_containment,
    set_approval_policy,
)
from collector.console.data import ConsoleError, cli_principal
from collector.containment import APPROVABLE, DEFAULT_MINUTES, MAX_MINUTES, containment_request
from collector.errors import CollectorError
from collector.notify.cli import notifications
from collector.notify.routes import Routes
from collector.output import emit
from collector.patch import exposure, exposure_summary
from collector.store import Store, open_database
from collector.store.backend import Connection

DATA_DIR_HELP = "Collector data folder (default ./var)."
CONFIG_HELP = "Collector config file (its [store] may name a PostgreSQL database)."


@contextlib.contextmanager
def _store(data_dir: Path | None, config: Path | None, *, create: bool = False) -> Iterator[Store]:
    """The store for one command; its errors become the command's error message."""
    store = _open_store(data_dir, config, create=create)
    try:
        yield store
    except CollectorError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        store.close()


def _open_store(data_dir: Path | None, config: Path | None, *, create: bool = False) -> Store:
    cfg = load_config(config, data_dir=data_dir)
    database = open_database(cfg.store_target)
    try:
        if not create and not database.exists():
            raise click.ClickException(
                f"no collector store at {database}; start one with 'exwatch-collector serve' "
                "or pass --data-dir"
            )
        routes = Routes.from_config(cfg.notify or None)
        # With the config's routes, a status change made here pages like one made in the
        # console.
        return Store(database, routes=routes)
    except CollectorError as exc:
        database.close()
        raise click.ClickException(str(exc)) from exc
    except BaseException:
        database.close()
        raise


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
@click.option("--listen", help="Agents' mutual-TLS address HOST:PORT (default 127.0.0.1:50051).")
@click.option("--enroll-listen", help="Enrollment TLS address HOST:PORT (default 127.0.0.1:50052).")
@click.option(
    "--console-listen",
    help="Web console HOST:PORT (default 127.0.0.1:8080; an empty string turns it off).",
)
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), help=DATA_DIR_HELP)
@click.option(
    "--insecure-loopback",
    is_flag=True,
    default=None,
    help="Plain gRPC on a loopback address, no enrollment (local demo only).",
)
@click.option(
    "--ingest-workers",
    type=click.IntRange(0, 64),
    help="Processes committing agents' batches beside the gRPC one (0: none; default: 2 "
    "on more than one core).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
def serve(
    config_path: Path | None,
    listen: str | None,
    enroll_listen: str | None,
    console_listen: str | None,
    data_dir: Path | None,
    insecure_loopback: bool | None,
    ingest_workers: int | None,
    verbose: bool,
) -> None:
    """Run the collector in the foreground until interrupted."""
    # Here, not at the top: the web stack and gRPC server would slow every other command,
    # and the ingest workers import this module too.
    from collector.console.app import bootstrap_admin
    from collector.server import serve as run_server

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        cfg = load_config(
            config_path,
            listen=listen,
            enroll_listen=enroll_listen,
            console_listen=console_listen,
            data_dir=data_dir,
            insecure_loopback=insecure_loopback,
            ingest_workers=ingest_workers,
        )
        if cfg.console_listen:
            first = bootstrap_admin(cfg.store_target)
            if first:
                click.echo(
                    f"console: first admin account {first[0]!r}, password {first[1]!r} "
                    "(shown once; change it with 'exwatch-collector user passwd')"
                )
        asyncio.run(run_server(cfg))
    except CollectorError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        pass


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
    with _store(data_dir, config_path) as store:
        rows = store.list_alerts(tenant=tenant, status=status, limit=limit)
    if fmt == "table":  # the table's column names read better than the JSON keys
        rows = [{**a, "host": a["hosts"], "events": a["event_count"]} for a in rows]
    emit(
        rows,
        fmt,
        ["id", "severity", "status", "host", "title", "last_seen", "events"],
        empty="no alerts",
    )


@main.group()
def alert() -> None:
    """Change an alert's status."""


def _set_status(
    alert_id: int,
    status: str,
    comment: str,
    actor: str,
    data_dir: Path | None,
    config: Path | None,
) -> None:
    with _store(data_dir, config) as store:
        row = store.set_alert_status(alert_id, status, actor=actor, comment=comment)
    click.echo(f"alert {row['id']} is {row['status']}")


def _status_command(status: str, verb: str) -> click.Command:
    @click.command(name=verb, help=f"Mark an alert {status}.")
    @click.argument("alert_id", type=int)
    @click.option("--comment", default="", help="Why.")
    @click.option("--by", "actor", default="cli", show_default=True, help="Who.")
    @click.option(
        "--data-dir", type=click.Path(path_type=Path, file_okay=False), help=DATA_DIR_HELP
    )
    @click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path, dir_okay=False),
        envvar="EXWATCH_COLLECTOR_CONFIG",
        help="Collector TOML config: its [notify] routes follow the status change.",
    )
    def command(
        alert_id: int, comment: str, actor: str, data_dir: Path | None, config_path: Path | None
    ) -> None:
        _set_status(alert_id, status, comment, actor, data_dir, config_path)

    return command


alert.add_command(_status_command("acknowledged", "ack"))
alert.add_command(_status_command("resolved", "resolve"))
alert.add_command(_status_command("open", "reopen"))
alert.add_command(alert_assign)
alert.add_command(alert_comment)


# ---------------------------------------------------------------- enrollment and agents


@main.command()
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), help=DATA_DIR_HELP)
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--name",
    "names",
    multiple=True,
    help="DNS name or IP agents use to reach the collector (repeatable; localhost, "
    "127.0.0.1 and this host's names are always included).",
)
@click.option("--force", is_flag=True, help="Replace an existing CA (every agent must re-enroll).")
def init(
    data_dir: Path | None, config_path: Path | None, names: tuple[str, ...], force: bool
) -> None:
    """Create the collector's CA and server certificate."""
    from collector.pki import PKIPaths, default_server_names, init_pki

    cfg = load_config(config_path, data_dir=data_dir)
    paths = PKIPaths(cfg.pki_path)
    try:
        init_pki(paths, names=[*names, *default_server_names()], force=force)
    except CollectorError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"CA and server certificate written to {paths.folder}")
    click.echo(f"Give agents the CA certificate: {paths.ca_cert}")


@main.group()
def token() -> None:
    """Enrollment tokens."""


def _parse_duration(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise click.BadParameter(f"expected a number and s, m, h or d (like 24h), got {text!r}")
    return int(text[:-1]) * units[text[-1]]


@token.command("create")
@click.option("--tenant", required=True, help="Tenant the enrolled agents belong to.")
@click.option(
    "--uses",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="How many agents may enroll with it.",
)
@click.option("--expires", default="24h", show_default=True, help="Lifetime, e.g. 30m, 24h, 7d.")
@click.option("--note", default="", help="A reminder of what it is for.")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), help=DATA_DIR_HELP)
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), help=CONFIG_HELP
)
def token_create(
    tenant: str, uses: int, expires: str, note: str, data_dir: Path | None, config_path: Path | None
) -> None:
    """Make an enrollment token and print it (it is shown only once)."""
    seconds = _parse_duration(expires)
    with _store(data_dir, config_path, create=True) as store:
        value = store.create_token(
            tenant,
            uses=uses,
            expires_ns=time.time_ns() + seconds * 10**9,
            now_ns=time.time_ns(),
            note=note,
        )
    click.echo(value)


@token.command("list")
@click.option("--tenant")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), help=DATA_DIR_HELP)
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), help=CONFIG_HELP
)
def token_list(
    tenant: str | None, fmt: str, data_dir: Path | None, config_path: Path | None
) -> None:
    """List enrollment tokens (their values are not stored)."""
    with _store(data_dir, config_path) as store:
        rows = store.list_tokens(tenant=tenant)
    emit(rows, fmt, ["id", "tenant", "uses_left", "expires_ns", "note"])


@main.group()
def agent() -> None:
    """Enrolled agents."""


@agent.command("list")
@click.option("--tenant")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), help=DATA_DIR_HELP)
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), help=CONFIG_HELP
)
def agent_list(
    tenant: str | None, fmt: str, data_dir: Path | None, config_path: Path | None
) -> None:
    """List agents with their tenant, last contact, Exchange build and patch status (JSON:
    each tracked CVE's status and the update that fixes it)."""
    with _store(data_dir, config_path) as store:
        rows = store.list_agents(tenant=tenant)
    for row in rows:
        row["patch_status"] = exposure(row["exchange_build"])
        row["patch"] = exposure_summary(row["patch_status"])
    columns = ["id", "tenant", "hostname", "agent_version", "exchange_build", "patch"]
    emit(rows, fmt, [*columns, "last_seen_ns", "revoked_ns"])


@agent.command("revoke")
@click.argument("agent_id")
@click.option("--reason", default="", help="Why (kept with the revocation).")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), help=DATA_DIR_HELP)
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), help=CONFIG_HELP
)
def agent_revoke(
    agent_id: str, reason: str, data_dir: Path | None, config_path: Path | None
) -> None:
    """Cut an agent off: its certificates are denied and its stream is closed."""
    with _store(data_dir, config_path) as store:
        count = store.revoke_agent(agent_id, reason=reason, now_ns=time.time_ns())
    click.echo(f"agent {agent_id} revoked ({count} certificates denied)")


# ---------------------------------------------------------------- maintenance and suppression


def _window(start: str | None, duration: str) -> tuple[int, int]:
    from datetime import UTC, datetime

    if start:
        try:
            begin = datetime.fromisoformat(start)
        except ValueError as exc:
            raise click.BadParameter(f"expected an ISO date/time, got {start!r}") from exc
        begin = begin if begin.tzinfo else begin.replace(tzinfo=UTC)
        starts_ns = int(begin.timestamp() * 1e9)
    else:
        starts_ns = time.time_ns()
    return starts_ns, starts_ns + _parse_duration(duration) * 10**9


@main.group()
def maintenance() -> None:
    """Maintenance windows: clean page changes (a patch day) raise no alert."""


@maintenance.command("add")
@click.option("--tenant", required=True)
@click.option(
    "--host", default="", help="Host name or agent id (default: every host of the tenant)."
)
@click.option("--start", help="ISO date/time (default now, UTC when no zone is given).")
@click.option("--duration", default="4h", show_default=True, help="e.g. 90m, 4h, 1d.")
@click.option("--reason", required=True, help="What the window is for (kept for the audit).")
@click.option("--by", "actor", default="cli", show_default=True)
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), help=DATA_DIR_HELP)
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), help=CONFIG_HELP
)
def maintenance_add(
    tenant: str,
    host: str,
    start: str | None,
    duration: str,
    reason: str,
    actor: str,
    data_dir: Path | None,
    config_path: Path | None,
) -> None:
    """Open a maintenance window. Content judged bad still alerts."""
    starts_ns, ends_ns = _window(start, duration)
    with _store(data_dir, config_path) as store:
        sid = store.add_suppression(
            tenant,
            "maintenance",
            starts_ns=starts_ns,
            ends_ns=ends_ns,
            host=host,
            reason=reason,
            actor=actor,
            now_ns=time.time_ns(),
        )
    click.echo(f"maintenance window {sid} for {host or 'every host'} of {tenant}")


@main.group()
def suppress() -> None:
    """Suppression rules by key (rule, path pattern, host)."""


@suppress.command("add")
@click.option("--tenant", required=True)
@click.option("--host", default="", help="Host name or agent id (default: every host).")
@click.option(
    "--rule", default="", help="Alert rule id to hide (e.g. exwatch.webroot.page_written)."
)
@click.option("--path", "path_glob", default="", help="Path pattern, e.g. '*\\owa\\auth\\custom*'.")
@click.option("--duration", default="30d", show_default=True)
@click.option("--reason", required=True)
@click.option("--by", "actor", default="cli", show_default=True)
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), help=DATA_DIR_HELP)
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), help=CONFIG_HELP
)
def suppress_add(
    tenant: str,
    host: str,
    rule: str,
    path_glob: str,
    duration: str,
    reason: str,
    actor: str,
    data_dir: Path | None,
    config_path: Path | None,
) -> None:
    """Hide matching alerts for a while. Content judged bad is never hidden."""
    starts_ns, ends_ns = _window(None, duration)
    with _store(data_dir, config_path) as store:
        sid = store.add_suppression(
            tenant,
            "suppress",
            starts_ns=starts_ns,
            ends_ns=ends_ns,
            host=host,
            rule=rule,
            path_glob=path_glob,
            reason=reason,
            actor=actor,
            now_ns=time.time_ns(),
        )
    click.echo(f"suppression {sid} added")


@suppress.command("list")
@click.option("--tenant")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), help=DATA_DIR_HELP)
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), help=CONFIG_HELP
)
def suppress_list(
    tenant: str | None, fmt: str, data_dir: Path | None, config_path: Path | None
) -> None:
    """List maintenance windows and suppression rules, with how many events each hid."""
    with _store(data_dir, config_path) as store:
        rows = store.list_suppressions(tenant=tenant)
    emit(
        rows,
        fmt,
        ["id", "tenant", "kind", "host", "rule", "path_glob", "ends_ns", "hits", "reason"],
    )


@suppress.command("delete")
@click.argument("suppression_id", type=int)
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), help=DATA_DIR_HELP)
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), help=CONFIG_HELP
)
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), help=CONFIG_HELP
)
def suppress_delete(suppression_id: int, data_dir: Path | None, config_path: Path | None) -> None:
    """End a maintenance window or suppression now."""
    with _store(data_dir, config_path) as store:
        store.delete_suppression(suppression_id)
    click.echo(f"suppression {suppression_id} deleted")


# ---------------------------------------------------------------- response actions


def _queue(
    agent_id: str,
    kind: str,
    argument: str,
    reason: str,
    actor: str,
    data_dir: Path | None,
    config_path: Path | None,
) -> None:
    with _store(data_dir, config_path) as store:
        command_id = store.queue_command(
            agent_id, kind, argument, actor=actor, reason=reason, now_ns=time.time_ns()
        )
    click.echo(
        f"{kind} queued as command {command_id}; the agent confirms it "
        "(see 'exwatch-collector commands')"
    )


_AGENT = click.option("--agent", "agent_id", required=True, help="Agent id (see 'agent list').")
_REASON = click.option("--reason", default="", help="Why (kept with the command).")
_BY = click.option("--by", "actor", default="cli", show_default=True, help="Who.")


def _DATA(f: Any) -> Any:
    """--data-dir and --config: where the store is."""
    f = click.option(
        "--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), help=CONFIG_HELP
    )(f)
    return click.option(
        "--data-dir", type=click.Path(path_type=Path, file_okay=False), help=DATA_DIR_HELP
    )(f)


@main.command()
@_AGENT
@click.argument("path")
@_REASON
@_BY
@_DATA
def quarantine(
    agent_id: str,
    path: str,
    reason: str,
    actor: str,
    data_dir: Path | None,
    config_path: Path | None,
) -> None:
    """Move PATH (inside a watched root on the agent's host) into the agent's vault."""
    _queue(agent_id, "quarantine", path, reason, actor, data_dir, config_path)


@main.command()
@_AGENT
@click.argument("vault_id")
@_REASON
@_BY
@_DATA
def restore(
    agent_id: str,
    vault_id: str,
    reason: str,
    actor: str,
    data_dir: Path | None,
    config_path: Path | None,
) -> None:
    """Put a quarantined file back where it was."""
    _queue(agent_id, "restore", vault_id, reason, actor, data_dir, config_path)


@main.command()
@_AGENT
@_REASON
@_BY
@_DATA
def rescan(
    agent_id: str, reason: str, actor: str, data_dir: Path | None, config_path: Path | None
) -> None:
    """Have the agent diff its web roots against its inventory now."""
    _queue(agent_id, "rescan", "", reason, actor, data_dir, config_path)


@main.command()
@click.argument("agent_id", metavar="AGENT")
@click.argument("path")
@_REASON
@_BY
@_DATA
def collect(
    agent_id: str,
    path: str,
    reason: str,
    actor: str,
    data_dir: Path | None,
    config_path: Path | None,
) -> None:
    """Have AGENT send the file at PATH (inside its web roots, staging or log folders) as
    evidence; the collector keeps it inert, for 'incident export'. Nothing changes on the host."""
    _queue(agent_id, "collect", path, reason, actor, data_dir, config_path)


@main.group()
def incident() -> None:
    """Incidents (alerts) and their evidence, for responders."""


@incident.command("export")
@click.argument("alert_id", type=int)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    help="The archive to write (default incident-ALERT_ID.zip here).",
)
@_BY
@_DATA
def incident_export(
    alert_id: int, out: Path | None, actor: str, data_dir: Path | None, config_path: Path | None
) -> None:
    """Write one zip with the incident's timeline (JSON and HTML), every evidence event,
    the collected and quarantined files (inert, hashed), each host's inventory and patch
    status, the alert's history and a manifest of SHA-256s."""
    from collector.export import export_to_file

    target = out or Path(f"incident-{alert_id}.zip")
    try:
        manifest = export_to_file(
            load_config(config_path, data_dir=data_dir).store_target, alert_id, target, actor=actor
        )
    except CollectorError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"incident {alert_id}: {len(manifest['members']) + 1} members, "
        f"{len(manifest['files'])} files, written to {target}"
    )


@main.command()
@click.option("--agent", "agent_id", help="Only this agent's commands.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@_DATA
def commands(
    agent_id: str | None, fmt: str, data_dir: Path | None, config_path: Path | None
) -> None:
    """Response actions with who asked, when, and what the agent answered."""
    with _store(data_dir, config_path) as store:
        rows = store.list_commands(agent_id=agent_id)
    emit(rows, fmt, ["id", "agent_id", "kind", "argument", "status", "result", "requested_by"])


register_console_commands(main)
main.add_command(notifications)


@main.group()
def rules() -> None:
    """Rule bundles pushed to agents."""


@rules.command("push")
@click.argument(
    "folders",
    nargs=-1,
    required=True,
    type=click.Path(path_type=Path, file_okay=False, exists=True),
)
@click.option(
    "--tenant",
    default="*",
    show_default=True,
    help="Tenant whose agents get it ('*': every tenant without a bundle of its own).",
)
@_BY
@_DATA
def rules_push(
    folders: tuple[Path, ...],
    tenant: str,
    actor: str,
    data_dir: Path | None,
    config_path: Path | None,
) -> None:
    """Push the Sigma and YARA files under FOLDERS to the agents (applied without a
    restart, after each agent has validated them; a bad bundle leaves the old rules)."""
    from collector.rulebundle import build_bundle

    with _store(data_dir, config_path) as store:
        bundle = build_bundle(list(folders))
        store.set_rule_bundle(tenant, bundle, actor=actor, now_ns=time.time_ns())
    click.echo(f"bundle {bundle.version} ({len(bundle.files)} files) in force for {tenant}")


# ---------------------------------------------------------------- containment


@contextlib.contextmanager
def _containment_transaction(
    data_dir: Path | None, config_path: Path | None
) -> Iterator[Connection]:
    """One write transaction on the store for a containment command; a refusal (role,
    approval, bad input) becomes the command's error and nothing is written."""
    with _store(data_dir, config_path) as store:
        conn = store.database.connect()
        try:
            with conn.transaction():
                yield conn
        except ConsoleError as exc:
            raise click.ClickException(str(exc)) from exc
        finally:
            conn.close()


@main.group()
def contain() -> None:
    """Contain a host: isolate it, block an address, take Exchange web access offline;
    and approve the requests a tenant makes wait for a second analyst."""


def _contain_command(action: str, help_text: str, *, timed: bool, address: bool) -> click.Command:
    def callback(**options: Any) -> None:
        agent_id = options["agent_id"]
        with _containment_transaction(options["data_dir"], options["config_path"]) as conn:
            request = containment_request(
                action,
                minutes=options.get("minutes"),
                allow=options.get("allow", ()),
                address=options.get("address_text", ""),
            )
            principal = cli_principal(options["actor"])
            queued = request_containment(conn, principal, agent_id, request, options["reason"])
        if queued["status"] == "awaiting_approval":
            click.echo(
                f"{action} for {agent_id} awaits a second analyst's approval as command "
                f"{queued['command']} ('exwatch-collector contain approve {queued['command']} "
                "--by USER'); nothing is sent before"
            )
        else:
            click.echo(
                f"{action} queued as command {queued['command']}; the agent confirms it "
                "(see 'exwatch-collector commands')"
            )

    params: list[click.Parameter] = [click.Argument(["agent_id"], metavar="AGENT")]
    if address:
        params.append(click.Argument(["address_text"], metavar="ADDRESS"))
    if timed:
        params.append(
            click.Option(
                ["--minutes"],
                type=click.IntRange(0, MAX_MINUTES),
                help="Time limit; it lifts by itself after it (default: "
                + ("until unblocked)." if address else f"{DEFAULT_MINUTES})."),
            )
        )
    if action == "isolate":
        params.append(
            click.Option(
                ["--allow"],
                multiple=True,
                help="Also allowed: an address or CIDR network (repeatable); the collector "
                "and the agent's management networks always are.",
            )
        )
    params += [
        click.Option(["--reason"], default="", help="Why (kept with the command)."),
        click.Option(["--by", "actor"], default="cli", show_default=True, help="Who."),
        click.Option(
            ["--data-dir"], type=click.Path(path_type=Path, file_okay=False), help=DATA_DIR_HELP
        ),
        click.Option(
            ["--config", "config_path"],
            type=click.Path(path_type=Path, dir_okay=False),
            help=CONFIG_HELP,
        ),
    ]

    return click.Command(action, params=params, callback=callback, help=help_text)


for _action, _help, _timed, _address in (
    ("isolate", "Cut AGENT's host off the network but for the collector and the management "
     "networks, for --minutes (renewing extends).", True, False),
    ("release", "Lift AGENT's isolation now.", False, False),
    ("block", "Drop traffic from and to ADDRESS at AGENT's host firewall.", True, True),
    ("unblock", "Lift the block of ADDRESS on AGENT's host.", False, True),
    ("web-offline", "Stop the IIS application pools of Exchange's web front ends (OWA, ECP, "
     "autodiscover, EWS, ActiveSync, MAPI) on AGENT's host, for --minutes.", True, False),
    ("web-online", "Start Exchange's web front ends on AGENT's host again.", False, False),
):  # fmt: skip
    contain.add_command(_contain_command(_action, _help, timed=_timed, address=_address))


def _decide(
    command_id: str, actor: str, data_dir: Path | None, config_path: Path | None, *, approve: bool
) -> None:
    with _containment_transaction(data_dir, config_path) as conn:
        done = decide(conn, cli_principal(actor), command_id, approve=approve)
    sent = "; the command is sent to the agent" if approve else ""
    click.echo(f"{done['action']} for {done['agent_id']} {done['status']} by {actor}{sent}")


@contain.command("approve")
@click.argument("command_id")
@_BY
@_DATA
def contain_approve(
    command_id: str, actor: str, data_dir: Path | None, config_path: Path | None
) -> None:
    """Approve a request awaiting a second analyst (not your own): it is sent then."""
    _decide(command_id, actor, data_dir, config_path, approve=True)


@contain.command("refuse")
@click.argument("command_id")
@_BY
@_DATA
def contain_refuse(
    command_id: str, actor: str, data_dir: Path | None, config_path: Path | None
) -> None:
    """Refuse (or, as its requester, withdraw) a request awaiting approval."""
    _decide(command_id, actor, data_dir, config_path, approve=False)


@contain.command("requests")
@click.option("--agent", "agent_id", help="Only this agent's requests.")
@click.option("--all", "every", is_flag=True, help="Decided ones too, not only those waiting.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@_DATA
def contain_requests(
    agent_id: str | None, every: bool, fmt: str, data_dir: Path | None, config_path: Path | None
) -> None:
    """Containment requests that need (or needed) a second analyst's approval."""
    with _containment_transaction(data_dir, config_path) as conn:
        rows = list_requests(
            conn, cli_principal("cli"), agent_id=agent_id, status=None if every else "awaiting"
        )
    emit(rows, fmt, ["id", "agent_id", "action", "argument", "status", "requested_by",
                     "decided_by", "reason"])  # fmt: skip


@contain.command("policy")
@click.argument("tenant")
@click.option(
    "--require",
    "actions",
    multiple=True,
    type=click.Choice(APPROVABLE),
    help="An action that needs a second analyst in TENANT (repeatable); none given: none does.",
)
@_BY
@_DATA
def contain_policy(
    tenant: str,
    actions: tuple[str, ...],
    actor: str,
    data_dir: Path | None,
    config_path: Path | None,
) -> None:
    """Set which containment actions of TENANT wait for a second analyst's approval."""
    with _containment_transaction(data_dir, config_path) as conn:
        now = set_approval_policy(conn, cli_principal(actor), tenant, list(actions))
    click.echo(f"{tenant}: " + (f"{', '.join(now)} need approval" if now else "no approvals"))
