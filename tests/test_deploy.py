"""Deployment files: systemd units verify, scripts and compose files are well formed, the
collector sample documents every key, nothing hard-codes more than defaults."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import REPO

from agent.cli import main as agent_main
from collector.config import CollectorConfig, load_config

DEPLOY = REPO / "deploy"


@pytest.mark.parametrize("unit", ["exwatch-collector.service", "exwatch-agent.service"])
def test_systemd_units_verify(tmp_path: Path, unit: str) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # point ExecStart at this checkout's real entry point, so verify checks everything else
    exe = shutil.which(unit.removesuffix(".service")) or str(
        REPO / ".venv/bin" / unit.removesuffix(".service")
    )
    text = (DEPLOY / "linux" / unit).read_text()
    text = re.sub(r"ExecStart=/opt/exwatch/bin/\S+", f"ExecStart={exe}", text)
    copy = tmp_path / unit
    copy.write_text(text)
    result = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True)
    problems = [line for line in result.stderr.splitlines() if unit in line]
    assert result.returncode == 0 and not problems, result.stderr


def test_units_are_hardened() -> None:
    collector = (DEPLOY / "linux/exwatch-collector.service").read_text()
    for option in ("ProtectSystem=strict", "NoNewPrivileges=true", "User=exwatch"):
        assert option in collector


def test_compose_file_is_well_formed() -> None:
    compose = yaml.safe_load((DEPLOY / "compose/compose.yml").read_text())
    assert set(compose["services"]) == {"collector", "postgres"}
    assert "/data" in compose["services"]["collector"]["volumes"][0]
    config = load_config(DEPLOY / "compose/collector.toml")
    # the collector's store is the compose file's database, its password the shared secret
    assert config.store.dsn.startswith("postgresql://exwatch@postgres:5432/")
    secret = compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD_FILE"]
    assert config.store.password_file == secret
    assert compose["services"]["collector"]["secrets"] == compose["services"]["postgres"]["secrets"]


def test_powershell_scripts_are_balanced_and_parameterised() -> None:
    """pwsh is not available here: check what can be checked (the real parse check is
    documented in docs/INSTALL.md)."""
    for script in ("install.ps1", "uninstall.ps1"):
        text = (DEPLOY / "windows" / script).read_text()
        for open_, close in ("{}", "()"):
            assert text.count(open_) == text.count(close), (script, open_)
        assert "$ErrorActionPreference = 'Stop'" in text
        # no hard-coded install location beyond parameter defaults
        assert "C:\\" not in text
    install = (DEPLOY / "windows/install.ps1").read_text()
    assert "MsiInstallPath" in install
    assert "service --config" in install


def test_service_command_explains_itself_off_windows(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text("")
    result = CliRunner().invoke(agent_main, ["service", "--config", str(config)])
    assert result.exit_code != 0
    assert "Windows service manager" in result.output


def test_collector_sample_documents_every_key() -> None:
    sample = DEPLOY / "collector.sample.toml"
    text = sample.read_text()
    documented = set(re.findall(r"^#?\s?(\w+) = ", text, flags=re.M))
    documented |= set(re.findall(r"^\[(\w+)\]", text, flags=re.M))  # tables: [notify]
    top_level = {f.name for f in fields(CollectorConfig)}
    assert top_level <= documented
    tomllib.loads(text)
