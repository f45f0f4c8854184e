"""CPU and memory budgets: the governor's ladder, and a real agent under a tiny budget."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from e2e.processes import Proc, wait_for

from agent.budget import CALM_SAMPLES, BudgetGovernor, Step, Usage
from agent.config import AgentConfig, BudgetSection, CollectorSection, HostSection
from agent.runner import SLOWDOWN, Agent
from protos import exwatch_pb2 as pb

IIS_HEADER = (
    "#Software: Microsoft Internet Information Services 10.0\r\n"
    "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
    "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n"
)
# Anonymous static content: parsed and judged, but feeding no account rule.
IIS_LINE = (
    "2026-12-01 10:00:00 10.0.0.5 GET /owa/auth/15.2.1118/themes/resources/favicon.ico - 443 "
    "- 10.1.2.3 Mozilla/5.0 - 200 0 0 1\r\n"
)


class Ladder:
    """Three steps that record what was done to them."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.steps = [
            Step(name, partial(self.calls.append, f"slow {name}"),
                 partial(self.calls.append, f"restore {name}"))
            for name in ("hunts", "processes", "logs")
        ]  # fmt: skip


def governor(ladder: Ladder, usages: list[Usage], events: list[pb.Event]) -> BudgetGovernor:
    return BudgetGovernor(
        ladder.steps,
        events.extend,
        cpu_percent=5.0,
        memory_mb=100,
        measure=lambda: usages.pop(0),
    )


def test_over_budget_slows_one_step_per_sample_least_valuable_first() -> None:
    ladder, events = Ladder(), list[pb.Event]()
    usages = [Usage(20.0, 50)] * 4
    gov = governor(ladder, usages, events)
    for _ in range(4):
        gov.check()
    # The ladder ends at its last step; a fourth sample over budget changes nothing.
    assert ladder.calls == ["slow hunts", "slow processes", "slow logs"]
    assert [e.sensor.kind for e in events] == ["budget_throttled"] * 3
    assert all(e.sensor.state == pb.SENSOR_STATE_DEGRADED for e in events)
    assert "CPU 20.0 % of one core > 5 %" in events[0].sensor.detail
    assert "slowed hunts" in events[0].sensor.detail
    status = gov.sensor_status()
    assert status.state == pb.SENSOR_STATE_DEGRADED
    assert "slowed: hunts, processes, logs" in status.detail


def test_calm_samples_give_steps_back_latest_first() -> None:
    ladder, events = Ladder(), list[pb.Event]()
    calm = Usage(1.0, 50)
    usages = [Usage(2.0, 150), Usage(2.0, 150)] + [calm] * (2 * CALM_SAMPLES)
    gov = governor(ladder, usages, events)
    for _ in range(2 + 2 * CALM_SAMPLES):
        gov.check()
    assert ladder.calls == ["slow hunts", "slow processes", "restore processes", "restore hunts"]
    assert "memory 150 MB > 100 MB" in events[0].sensor.detail
    assert [e.sensor.kind for e in events] == ["budget_throttled"] * 2 + ["budget_restored"] * 2
    assert [e.sensor.state for e in events][-2:] == [
        pb.SENSOR_STATE_DEGRADED,  # hunts are still slowed
        pb.SENSOR_STATE_OK,
    ]
    assert gov.sensor_status().state == pb.SENSOR_STATE_OK


def test_near_the_budget_is_not_calm() -> None:
    # Between 70 % and 100 % of the budget: nothing is given back (no flapping).
    ladder, events = Ladder(), list[pb.Event]()
    usages = [Usage(9.0, 50)] + [Usage(4.5, 50)] * (CALM_SAMPLES + 1)
    gov = governor(ladder, usages, events)
    for _ in range(CALM_SAMPLES + 2):
        gov.check()
    assert ladder.calls == ["slow hunts"]


def test_stop_restores_every_step() -> None:
    ladder, events = Ladder(), list[pb.Event]()
    gov = governor(ladder, [Usage(50.0, 50)] * 2, events)
    gov.check()
    gov.check()
    gov.stop()
    assert ladder.calls[-2:] == ["restore processes", "restore hunts"]
    assert gov.level == 0


def test_budgets_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        BudgetGovernor([], lambda _e: None, cpu_percent=0, memory_mb=10)


# ---------------------------------------------------------------- a real agent


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A system drive with one web root and one IIS log."""
    root = tmp_path / "drive"
    (root / "inetpub/wwwroot/aspnet_client").mkdir(parents=True)
    w3svc = root / "inetpub/logs/LogFiles/W3SVC1"
    w3svc.mkdir(parents=True)
    (w3svc / "u_ex261201.log").write_text(IIS_HEADER + IIS_LINE * 10, newline="")
    return root


@pytest.fixture
def tiny_memory_agent(tmp_path: Path, host: Path) -> Iterator[Agent]:
    config = AgentConfig(
        collector=CollectorSection(address="127.0.0.1:9", insecure=True),  # nobody listens
        host=HostSection(system_root=host),
        budget=BudgetSection(memory_mb=1, sample_seconds=3600),  # sampled by the test
        data_dir=tmp_path / "agent",
    )
    agent = Agent(config)
    agent.start()
    try:
        yield agent
    finally:
        agent.stop()


def test_agent_over_memory_budget_slows_sources_but_never_web_root_watching(
    tiny_memory_agent: Agent, host: Path
) -> None:
    agent = tiny_memory_agent
    assert agent.logs is not None and agent.processes is not None
    process_interval = agent.processes.interval
    for _ in range(3):
        agent.budget.check()
    assert agent.webroot.rescan_slowdown == SLOWDOWN
    assert agent.logs.hunt_duty == 1 / SLOWDOWN
    assert agent.processes.interval == process_interval * SLOWDOWN
    assert agent.logs.poll_slowdown == SLOWDOWN
    status = {s.name: s for s in agent.heartbeat().sensors}["budget"]
    assert status.state == pb.SENSOR_STATE_DEGRADED
    assert "memory" in status.detail and "log polling" in status.detail
    # Fully throttled, a new page in the web root is still reported at once.
    assert agent.webroot.ready.wait(10)
    (host / "inetpub/wwwroot/aspnet_client/shell.aspx").write_text("<% eval %>")
    wait_for(lambda: "shell.aspx" in _spooled_file_paths(agent), timeout=5, what="file event")


def _spooled_file_paths(agent: Agent) -> str:
    with agent.db.reading() as conn:
        payloads = [row[0] for row in conn.execute("SELECT payload FROM spool")]
    events = [pb.Event.FromString(p) for p in payloads]
    return " ".join(e.file.path for e in events if e.HasField("file"))


def _budget_events(data_dir: Path) -> list[pb.SensorEvent]:
    with sqlite3.connect(f"file:{data_dir / 'agent.db'}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT payload FROM spool ORDER BY rowid").fetchall()
    events = [pb.Event.FromString(row[0]) for row in rows]
    return [e.sensor for e in events if e.HasField("sensor") and e.sensor.sensor == "budget"]


def _at_full_speed(data_dir: Path) -> bool:
    events = _budget_events(data_dir)
    return not events or events[-1].state == pb.SENSOR_STATE_OK


def test_agent_process_throttles_under_load_and_restores_when_it_ends(
    tmp_path: Path, host: Path
) -> None:
    """A real agent with a 5 % CPU budget, sampled every second: a log growing by thousands
    of lines a second pushes it over; when the writing stops it comes back to full speed."""
    config = tmp_path / "agent.toml"
    config.write_text(
        "[budget]\ncpu_percent = 5.0\nsample_seconds = 1.0\n[content]\nenabled = false\n"
    )
    data_dir = tmp_path / "agent"
    agent = Proc(
        ["-m", "agent", "run", "--config", str(config), "--root", str(host),
         "--data-dir", str(data_dir), "--collector", "127.0.0.1:9", "--insecure-loopback"],
        tmp_path / "agent.log",
    )  # fmt: skip
    try:
        wait_for(lambda: "retro-hunt" in agent.output(), what="the agent's start-up hunt")
        # Start-up work may itself have gone over; wait until the agent is at full speed.
        time.sleep(2)
        wait_for(lambda: _at_full_speed(data_dir), timeout=40, what="full speed after start")
        before = len(_budget_events(data_dir))
        log = host / "inetpub/logs/LogFiles/W3SVC1/u_ex261201.log"
        with log.open("a", newline="") as fh:
            deadline = time.monotonic() + 30
            while len(_budget_events(data_dir)) == before:
                assert time.monotonic() < deadline, agent.output()[-2000:]
                fh.write(IIS_LINE * 2000)
                fh.flush()
                time.sleep(0.05)
        throttled = _budget_events(data_dir)[before]
        assert throttled.kind == "budget_throttled"
        assert "CPU" in throttled.detail and "retro-hunts and rescans" in throttled.detail
        wait_for(lambda: _at_full_speed(data_dir), timeout=60, what="full speed after the load")
        assert _budget_events(data_dir)[-1].kind == "budget_restored"
    finally:
        assert agent.stop() == 0, agent.output()[-2000:]
