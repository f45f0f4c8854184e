"""Two collector processes on one PostgreSQL, with agents that move from one to the other
in the middle of a burst (killed, then restarted against the other collector, resending
what was not acknowledged): every event is stored once, each host's incident is one alert,
and each incident is paged once, to a real HTTP receiver, by whichever collector's worker
claimed it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from conftest import fresh_postgres_database
from test_notify_support import receiver

from e2e.processes import Collector, wait_for
from protos import exwatch_pb2 as pb

pytestmark = pytest.mark.e2e
DRIVER = Path(__file__).with_name("burst_agent.py")
BURST = 6000
SECRET = "s3cret-for-the-test"


def start_agent(tmp_path: Path, agent_id: str, address: str) -> subprocess.Popen[bytes]:
    with (tmp_path / f"{agent_id}.log").open("ab") as fh:
        return subprocess.Popen(
            [
                sys.executable,
                str(DRIVER),
                str(tmp_path / agent_id),
                address,
                "--agent-id",
                agent_id,
                "--kind",
                "incident",
                "--generate",
                str(BURST),
            ],
            stdout=fh,
            stderr=subprocess.STDOUT,
        )


def stored(dsn: str, agent_id: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT COUNT(*) FROM events WHERE agent_id = %s", (agent_id,))
        return int(row.fetchone()[0])  # type: ignore[index]


def test_agents_switch_collectors_mid_burst(tmp_path: Path) -> None:
    with fresh_postgres_database() as dsn, receiver() as hook:
        config = tmp_path / "collector.toml"
        config.write_text(f"""
[store]
dsn = "{dsn}"

[[notify.routes]]
min_severity = "high"
channel = "oncall"

[notify.channels.oncall]
type = "webhook"
url = "{hook.url()}"
secret = "{SECRET}"
""")
        collectors = [
            Collector(tmp_path / name, extra=["--config", str(config)]) for name in ("c1", "c2")
        ]
        agents = {"host-one": collectors, "host-two": collectors[::-1]}
        procs: list[subprocess.Popen[bytes]] = []
        try:
            # Each agent starts on one collector and, once part of its burst is in, is
            # killed and restarted against the other.
            first = {a: start_agent(tmp_path, a, order[0].address) for a, order in agents.items()}
            procs += first.values()
            for agent_id, proc in first.items():
                wait_for(
                    lambda a=agent_id: stored(dsn, a) >= BURST // 4,
                    timeout=60,
                    what=f"{agent_id}'s first quarter",
                )
                proc.send_signal(signal.SIGKILL)
                proc.wait()
            second = {a: start_agent(tmp_path, a, order[1].address) for a, order in agents.items()}
            procs += second.values()
            for agent_id, proc in second.items():
                assert proc.wait(timeout=120) == 0, (tmp_path / f"{agent_id}.log").read_text()

            with psycopg.connect(dsn) as conn:
                uids = [r[0] for r in conn.execute("SELECT uid FROM events")]
                incidents = conn.execute(
                    "SELECT agent_id, COUNT(*) FROM alerts WHERE rule = 'exwatch.incident' "
                    "GROUP BY agent_id ORDER BY agent_id"
                ).fetchall()
                # Every alert the route covers: the incidents, and the fleet-wide campaign
                # alerts (both hosts saw the same shells) and per-file ones beside them.
                routed = {
                    r[0]
                    for r in conn.execute(
                        "SELECT id FROM alerts WHERE severity >= %s", (pb.SEVERITY_HIGH,)
                    )
                }
            assert len(uids) == len(set(uids)) == 2 * BURST
            assert incidents == [("host-one", 1), ("host-two", 1)]
            wait_for(lambda: len(hook.accepted()) >= len(routed), timeout=30, what="the pages")
            time.sleep(2)  # a duplicate would come from the other worker within this
            paged = [json.loads(r.body)["alert"]["id"] for r in hook.requests]
            assert sorted(paged) == sorted(routed)  # each once
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            for collector in collectors:
                collector.stop()
