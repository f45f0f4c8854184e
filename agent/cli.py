"""``exwatch-agent``: run the agent, and the one-shot tools that share its detection."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

import click

from agent.config import AgentConfig, load_config, validate
from agent.errors import AgentError


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
    "--data-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Agent state folder (overrides the config).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail.")
def run(
    config_path: Path | None,
    root: Path | None,
    collector: str | None,
    data_dir: Path | None,
    verbose: bool,
) -> None:
    """Watch this host and stream to the collector until interrupted."""
    from dataclasses import replace

    from agent.runner import Agent

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = load_config(config_path) if config_path else AgentConfig()
        if root is not None:
            if not root.is_dir():
                raise click.BadParameter(f"{root} is not a folder", param_hint="--root")
            config = config.with_root(root.resolve())
        if collector:
            config = replace(config, collector=replace(config.collector, address=collector))
        if data_dir:
            config = replace(config, data_dir=data_dir)
        validate(config)
        agent = Agent(config)
    except AgentError as exc:
        raise click.ClickException(str(exc)) from exc

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    click.echo(
        f"exwatch-agent: {agent.identity.hostname} ({agent.identity.agent_id}) "
        f"-> {config.collector.address}",
        err=True,
    )
    agent.run(stop)
