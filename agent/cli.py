"""``exwatch-agent``: run the agent, enroll it, and the one-shot tools that share its
detection."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import replace
from pathlib import Path

import click

from agent.config import AgentConfig, load_config, validate
from agent.errors import AgentError
from agent.hunt import hunt
from agent.scan import scan
from agent.simulate import simulate_command

DATA_DIR_HELP = "Agent state folder (overrides the config)."


def _load(config_path: Path | None, data_dir: Path | None) -> AgentConfig:
    config = load_config(config_path) if config_path else AgentConfig()
    return replace(config, data_dir=data_dir) if data_dir else config


@click.group()
@click.version_option(package_name="exwatch")
def main() -> None:
    """exwatch agent: watches an Exchange host and streams to the collector."""


@main.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Agent TOML config (default: built-in defaults).",
)
@click.option(
    "--root",
    type=click.Path(path_type=Path, file_okay=False),
    help="Folder that stands for the host's system drive (demos and tests).",
)
@click.option("--collector", help="Collector address HOST:PORT (overrides the config).")
@click.option(
    "--insecure-loopback",
    is_flag=True,
    help="Plain gRPC to a loopback collector, no enrollment (local demo only).",
)
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), help=DATA_DIR_HELP)
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
def run(
    config_path: Path | None,
    root: Path | None,
    collector: str | None,
    insecure_loopback: bool,
    data_dir: Path | None,
    verbose: bool,
) -> None:
    """Watch this host and stream to the collector until interrupted."""
    from agent.runner import Agent

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = _load(config_path, data_dir)
        if root is not None:
            if not root.is_dir():
                raise click.BadParameter(f"{root} is not a folder", param_hint="--root")
            config = config.with_root(root.resolve())
        if collector or insecure_loopback:
            config = replace(
                config,
                collector=replace(
                    config.collector,
                    address=collector or config.collector.address,
                    insecure=insecure_loopback or config.collector.insecure,
                ),
            )
        validate(config)
        agent = Agent(config)
    except AgentError as exc:
        raise click.ClickException(str(exc)) from exc

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(
        f"exwatch-agent: {agent.identity.hostname} ({agent.identity.agent_id}) "
        f"-> {agent.transport.target}",
        err=True,
    )
    agent.run(stop)


@main.command()
@click.option("--collector", required=True, help="Collector enrollment address HOST:PORT.")
@click.option(
    "--token",
    required=True,
    envvar="EXWATCH_ENROLL_TOKEN",
    help="Enrollment token (or EXWATCH_ENROLL_TOKEN).",
)
@click.option(
    "--ca",
    "ca_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The collector's CA certificate (ca.pem from 'exwatch-collector init').",
)
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), help=DATA_DIR_HELP)
def enroll(
    collector: str, token: str, ca_file: Path, config_path: Path | None, data_dir: Path | None
) -> None:
    """Enroll this host: make a key, have the collector sign it, store the identity."""
    from agent.identity import enroll as do_enroll

    try:
        config = _load(config_path, data_dir)
        result = do_enroll(collector, token, ca_file, config.data_dir, config.hostname)
    except AgentError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"enrolled as agent {result.agent_id} in tenant {result.tenant}; "
        f"streaming to {result.collector}"
    )


@main.command()
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Agent TOML config.",
)
def service(config_path: Path) -> None:
    """Run under the Windows service manager (what install.ps1 registers)."""
    from agent.platform.windows_service import run_as_service

    try:
        run_as_service(config_path)
    except AgentError as exc:
        raise click.ClickException(str(exc)) from exc


main.add_command(hunt)
main.add_command(scan)
main.add_command(simulate_command)
