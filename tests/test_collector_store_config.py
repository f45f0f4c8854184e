"""[store]: the PostgreSQL DSN and its password from a file (a container secret)."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import load_config
from collector.errors import ConfigError
from collector.store.backend import redact_dsn


def config(tmp_path: Path, store: str) -> Path:
    path = tmp_path / "collector.toml"
    path.write_text(f'data_dir = "{tmp_path}"\n[store]\n{store}\n')
    return path


def test_no_dsn_is_the_sqlite_file(tmp_path: Path) -> None:
    assert load_config(config(tmp_path, "")).store_target == tmp_path / "exwatch.db"


def test_password_file_goes_into_the_dsn_quoted(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("p@ss:w/rd %x\n")
    dsn = 'dsn = "postgresql://exwatch@db:5433/exwatch"'
    cfg = load_config(config(tmp_path, f'{dsn}\npassword_file = "{secret}"'))
    target = str(cfg.store_target)
    assert target == "postgresql://exwatch:p%40ss%3Aw%2Frd%20%25x@db:5433/exwatch"
    assert "p%40ss" not in redact_dsn(target)


def test_password_file_problems_are_clear(tmp_path: Path) -> None:
    missing = load_config(
        config(tmp_path, f'dsn = "postgresql://u@db/x"\npassword_file = "{tmp_path}/nope"')
    )
    with pytest.raises(ConfigError, match=r"store\.password_file: cannot read the password file"):
        _ = missing.store_target
    (tmp_path / "pw").write_text("x")
    anonymous = load_config(
        config(tmp_path, f'dsn = "postgresql://db/x"\npassword_file = "{tmp_path}/pw"')
    )
    with pytest.raises(ConfigError, match="needs a user name"):
        _ = anonymous.store_target
    with pytest.raises(ConfigError, match=r"store\.password_file"):
        load_config(config(tmp_path, 'dsn = "postgresql://u@db/x"\npassword_file = 3'))
