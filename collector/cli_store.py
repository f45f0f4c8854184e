"""The store connection a CLI command works in: found through the same config the
collector runs with, brought up to date, and its errors turned into the command's message."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import click

from collector.config import load_config
from collector.errors import CollectorError
from collector.store.backend import Connection, open_database


@contextlib.contextmanager
def store_connection(data_dir: Path | None, config: Path | None) -> Iterator[Connection]:
    """A connection to the existing store (never a new empty one), closed at the end."""
    try:
        database = open_database(load_config(config, data_dir=data_dir).store_target)
    except CollectorError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        try:
            if not database.exists():
                raise click.ClickException(
                    f"no collector store at {database}; start one with "
                    "'exwatch-collector serve' or pass --data-dir or --config"
                )
            database.migrate()  # a store from an older version gains its new tables
            conn = database.connect()
        except CollectorError as exc:
            raise click.ClickException(str(exc)) from exc
        try:
            yield conn
        finally:
            conn.close()
    finally:
        database.close()
