"""Quarantine and restore over the command channel, with real processes: the analyst's
command reaches the agent, the page leaves the web root, and everything is recorded."""

from __future__ import annotations

import json
from contextlib import closing
from pathlib import Path

import pytest

from e2e.processes import AgentProc, Collector, wait_for

pytestmark = pytest.mark.e2e


def test_quarantine_then_restore(tmp_path: Path) -> None:
    root = tmp_path / "drive"
    aspnet = root / "inetpub/wwwroot/aspnet_client"
    aspnet.mkdir(parents=True)
    collector = Collector(tmp_path / "collector")
    agent = AgentProc(root, tmp_path / "agent", collector.address)
    try:
        shell = aspnet / "shell.aspx"
        shell.write_bytes(b'<%@ Page Language="Jscript"%><%eval(Request.Item["z"],"unsafe");%>')
        wait_for(collector.alerts, what="the alert")
        [host] = json.loads(collector.cli("agent", "list", "--format", "json").stdout)
        collector.cli(
            "quarantine", "--agent", host["id"], str(shell), "--reason", "incident 1", "--by", "ann"
        )
        done = wait_for(
            lambda: [
                c
                for c in json.loads(collector.cli("commands", "--format", "json").stdout)
                if c["status"] == "done"
            ],
            what="the quarantine confirmed",
        )
        assert not shell.exists()
        assert done[0]["requested_by"] == "ann"
        vault_id = json.loads(done[0]["result"])["vault_id"]
        # a path outside the watched roots is refused by the agent, and nothing moves
        outside = tmp_path / "keep.txt"
        outside.write_text("keep")
        collector.cli("quarantine", "--agent", host["id"], str(outside))
        failed = wait_for(
            lambda: [
                c
                for c in json.loads(collector.cli("commands", "--format", "json").stdout)
                if c["status"] == "failed"
            ],
            what="the refusal",
        )
        assert "not inside a watched root" in failed[0]["result"]
        assert outside.read_text() == "keep"
        collector.cli("restore", "--agent", host["id"], vault_id)
        wait_for(shell.exists, what="the restore")
        # every action is also an audited event in the store; the agent sends the
        # restore's event after the file is back, so it may commit a moment later
        import sqlite3

        def actions() -> list[tuple[str]]:
            with closing(sqlite3.connect(collector.data_dir / "exwatch.db")) as conn:
                return conn.execute(
                    "SELECT summary FROM events WHERE kind = 'action' ORDER BY rowid"
                ).fetchall()

        wait_for(lambda: len(actions()) >= 3, what="the restore's action event")
        assert [summary.split()[0] for (summary,) in actions()] == [
            "quarantine",
            "quarantine",
            "restore",
        ]
    finally:
        agent.stop()
        collector.stop()
