"""Every collector command that opens the store takes --config, so that a collector on
PostgreSQL ([store] dsn) is administered with the same commands as one on SQLite."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
from click.testing import CliRunner
from conftest import fresh_postgres_database

from collector.cli import main


def commands(cmd: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            yield from commands(sub, (*path, name))
    else:
        yield " ".join(path), cmd


def test_every_store_command_takes_config() -> None:
    missing = []
    for name, cmd in commands(main):
        options = {o for p in cmd.params for o in getattr(p, "opts", [])}
        if "--data-dir" in options and "--config" not in options:
            missing.append(name)
    assert missing == []


def test_token_agent_and_alert_commands_use_the_configured_postgresql(tmp_path: Path) -> None:
    with fresh_postgres_database() as dsn:
        config = tmp_path / "collector.toml"
        config.write_text(f'data_dir = "{tmp_path}"\n[store]\ndsn = "{dsn}"\n')
        run = CliRunner().invoke
        made = run(main, ["token", "create", "--tenant", "acme", "--config", str(config)])
        assert made.exit_code == 0, made.output
        listed = run(main, ["token", "list", "--format", "json", "--config", str(config)])
        assert [t["tenant"] for t in json.loads(listed.output)] == ["acme"]
        assert run(main, ["agent", "list", "--config", str(config)]).exit_code == 0
        alerts = run(main, ["alerts", "--format", "json", "--config", str(config)])
        assert json.loads(alerts.output) == []
        # nothing went to a SQLite file in the data folder
        assert not (tmp_path / "exwatch.db").exists()
