"""The collector CLI starts without the web stack: every command (and every ingest
worker, which imports the CLI's module when the collector runs as ``exwatch-collector``)
would otherwise pay for FastAPI, Jinja and an argon2 hash before doing anything."""

from __future__ import annotations

import subprocess
import sys

WEB_STACK = ("fastapi", "starlette", "jinja2", "uvicorn", "collector.console.app")


def test_importing_the_cli_leaves_the_web_stack_out() -> None:
    probe = (
        "import sys, collector.cli, collector.console.passwords; "
        f"print(' '.join(m for m in sys.modules if m.startswith({WEB_STACK!r})))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == []


def test_the_console_still_makes_its_dummy_hash_when_it_starts() -> None:
    # Unknown user names must cost one argon2 verification like known ones, from the first
    # login on: the hash is made by create_app, not on first use.
    probe = (
        "import tempfile, pathlib\n"
        "from collector.console import passwords\n"
        "from collector.console.app import create_app\n"
        "from collector.console.settings import ConsoleSettings\n"
        "from collector.store import Store, open_database\n"
        "d = pathlib.Path(tempfile.mkdtemp()) / 'x.db'\n"
        "store = Store(open_database(d))\n"
        "assert passwords.dummy_hash.cache_info().currsize == 0\n"
        "create_app(ConsoleSettings(db_path=d), store)\n"
        "print(passwords.dummy_hash.cache_info().currsize)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "1"
