"""Real collector and agent processes: a webshell written becomes an alert; restarts of
either side neither lose nor duplicate anything."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from e2e.processes import AgentProc, Collector, wait_for

pytestmark = pytest.mark.e2e

SHELL = b'<%@ Page Language="Jscript"%><%eval(Request.Item["z"],"unsafe");%>'


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "drive"
    (r / "inetpub/wwwroot/aspnet_client").mkdir(parents=True)
    (r / "Program Files/Microsoft/Exchange Server/V15/FrontEnd/HttpProxy/owa/auth").mkdir(
        parents=True
    )
    return r


def test_webshell_becomes_an_alert(tmp_path: Path, root: Path) -> None:
    collector = Collector(tmp_path / "collector")
    agent = AgentProc(root, tmp_path / "agent", collector.address)
    try:
        shell = root / "inetpub/wwwroot/aspnet_client/discover.aspx"
        shell.write_bytes(SHELL)
        alerts = wait_for(collector.alerts, what="an alert")
        [alert] = alerts
        assert alert["rule"] == "exwatch.incident"
        assert alert["details"]["paths"] == [str(shell)]
        assert alert["severity"] == "critical"  # the content scanner knows China Chopper
        assert alert["status"] == "open"
        assert alert["hosts"]
        assert len(alert["evidence"]) == 1
        # the table format names it too
        assert "discover.aspx" in collector.cli("alerts").stdout
        assert "acknowledged" in collector.cli("alert", "ack", str(alert["id"])).stdout
        assert collector.alerts()[0]["status"] == "acknowledged"
    finally:
        agent.stop()
        collector.stop()


def test_agent_restart_no_duplicates_and_offline_drop_found(tmp_path: Path, root: Path) -> None:
    collector = Collector(tmp_path / "collector")
    aspnet = root / "inetpub/wwwroot/aspnet_client"
    agent = AgentProc(root, tmp_path / "agent", collector.address)
    try:
        (aspnet / "one.aspx").write_bytes(b"1")
        wait_for(lambda: len(collector.alerts()) == 1, what="first alert")
        before = collector.event_ids()
        agent.stop()
        (aspnet / "two.aspx").write_bytes(b"2")  # dropped while the agent is stopped
        agent = AgentProc(root, tmp_path / "agent", collector.address)
        wait_for(lambda: collector.alerts()[0]["event_count"] == 2, what="the offline drop")
        time.sleep(1)
        after = collector.event_ids()
        assert len(after) == len(set(after))
        assert set(before) <= set(after)
        [incident] = collector.alerts()  # one host, one incident: both pages are its evidence
        assert sorted(incident["details"]["paths"]) == [
            str(aspnet / "one.aspx"),
            str(aspnet / "two.aspx"),
        ]
    finally:
        agent.stop()
        collector.stop()


def test_collector_killed_and_restarted_nothing_lost(tmp_path: Path, root: Path) -> None:
    collector = Collector(tmp_path / "collector")
    port = collector.port
    aspnet = root / "inetpub/wwwroot/aspnet_client"
    agent = AgentProc(root, tmp_path / "agent", collector.address)
    try:
        (aspnet / "before.aspx").write_bytes(b"b")
        wait_for(lambda: len(collector.alerts()) == 1, what="first alert")
        collector.stop(signal.SIGKILL)
        for i in range(10):
            (aspnet / f"during{i}.aspx").write_bytes(f"{i}".encode())
        time.sleep(1)  # the agent has spooled them
        collector = Collector(tmp_path / "collector", port)
        wait_for(
            lambda: collector.alerts()[0]["event_count"] == 11,
            timeout=60,
            what="all evidence after restart",
        )
        ids = collector.event_ids()
        assert len(ids) == len(set(ids))
        assert len(collector.alerts()) == 1
    finally:
        agent.stop()
        collector.stop()


def test_agent_with_bad_config_exits_with_a_clear_error(tmp_path: Path) -> None:
    import subprocess
    import sys

    config = tmp_path / "agent.toml"
    config.write_text("[webroots]\nsettle_seconds = 'soon'\n")
    result = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--config", str(config)],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "webroots.settle_seconds" in result.stderr and "positive number" in result.stderr
    config.write_text(f"[webroots]\npaths = ['{tmp_path / 'missing'}']\n")
    result = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--config", str(config)],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "does not exist" in result.stderr
