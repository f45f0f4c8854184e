"""The ingest_workers setting: a default by cores, and a clear error for a bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from collector.config import default_ingest_workers, load_config
from collector.errors import ConfigError


def test_two_workers_by_default_on_more_than_one_core(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert default_ingest_workers() == 2
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    assert default_ingest_workers() == 0
    monkeypatch.setattr("os.cpu_count", lambda: None)  # unknown: assume one
    assert default_ingest_workers() == 0


def test_the_file_and_the_command_line_set_it(tmp_path: Path) -> None:
    path = tmp_path / "collector.toml"
    path.write_text("ingest_workers = 0\n")
    assert load_config(path).ingest_workers == 0
    assert load_config(path, ingest_workers=3).ingest_workers == 3


@pytest.mark.parametrize("value", ["-1", "65", "true", '"2"', "1.5"])
def test_a_bad_value_names_the_setting(tmp_path: Path, value: str) -> None:
    path = tmp_path / "collector.toml"
    path.write_text(f"ingest_workers = {value}\n")
    with pytest.raises(ConfigError, match=r"ingest_workers: must be an integer from 0 to 64"):
        load_config(path)
