"""Each host shows as patched, exposed or unknown per tracked CVE: JSON API, console pages
and ``exwatch-collector agent list``."""

from __future__ import annotations

import json
import time
from pathlib import Path

from click.testing import CliRunner
from starlette.testclient import TestClient
from test_console_support import A1, A2, B1, add_users, open_console, populate

from collector.cli import main
from collector.store import Store
from protos import exwatch_pb2 as pb

# Exchange 2016 CU19 with the March 2021 update only: ProxyLogon fixed, ProxyShell not.
MARCH_ONLY = "15.1.2176.9"


def builds(folder: Path) -> Path:
    path = folder / "exwatch.db"
    store = Store(path)
    try:
        now = time.time_ns()
        populate(store, now)
        for agent, build in ((A1, MARCH_ONLY), (A2, "")):
            store.record_heartbeat(agent, pb.Heartbeat(exchange_build=build), now_ns=now)
        # B1 keeps 15.2.1544.4: Exchange 2019 CU14, later than every CU the updates list
    finally:
        store.close()
    add_users(path)
    return path


def test_api_and_pages_show_each_cve(tmp_path: Path) -> None:
    path = builds(tmp_path)
    (tmp_path / "copy").mkdir()
    console = open_console(path, tmp_path / "copy")
    try:
        token = console.api_token("admin")
        with TestClient(console.app) as client:
            h = {"Authorization": f"Bearer {token}"}
            host = client.get(f"/api/v1/hosts/{A1.agent_id}", headers=h).json()
            status = host["patch_status"]
            assert status["CVE-2021-26855"]["status"] == "patched"
            assert status["CVE-2021-34473"]["status"] == "exposed"
            assert status["CVE-2021-34473"]["fixed_in"] == "15.1.2176.12"
            assert status["CVE-2022-41082"]["status"] == "exposed"
            assert host["patch"] == "exposed"
            hosts = {x["id"]: x for x in client.get("/api/v1/hosts", headers=h).json()}
            assert hosts[A2.agent_id]["patch"] == "unknown"
            assert hosts[B1.agent_id]["patch"] == "patched"
            assert {s["status"] for s in hosts[B1.agent_id]["patch_status"].values()} == {
                "patched"
            }
            page = client.get(f"/hosts/{A1.agent_id}", headers=h).text
            row = page.split("CVE-2021-34473")[1].split("</tr>")[0]
            assert "exposed" in row and "15.1.2176.12" in row
            fleet = client.get("/fleet", headers=h).text
            assert "exposed" in fleet and "unknown" in fleet
    finally:
        console.store.close()


def test_agent_list_reports_patch_status(tmp_path: Path) -> None:
    builds(tmp_path)
    r = CliRunner().invoke(main, ["agent", "list", "--format", "json", "--data-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    agents = {a["id"]: a for a in json.loads(r.output)}
    assert agents[A1.agent_id]["patch"] == "exposed"
    assert agents[A1.agent_id]["patch_status"]["CVE-2021-31207"]["status"] == "exposed"
    assert agents[B1.agent_id]["patch"] == "patched"
    table = CliRunner().invoke(main, ["agent", "list", "--data-dir", str(tmp_path)]).output
    assert MARCH_ONLY in table and "exposed" in table
