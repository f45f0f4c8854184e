"""Rule bundles pushed from the collector reach a running agent, are checked there and
applied without a restart; a bad bundle is refused and the old rules stay."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from e2e.processes import AgentProc, Collector, wait_for

pytestmark = pytest.mark.e2e

SIGMA = """title: Test Canary Request
id: 5f0e8a52-5b4e-4c59-9a3c-1f2d3c4b5a69
status: test
logsource:
  category: webserver
detection:
  selection:
    cs-uri-stem|contains: '/exwatch-canary-{n}'
  condition: selection
level: high
"""
YARA = """rule Test_Canary_{n} {{
    meta:
        id = "test.canary.{n}"
        severity = "critical"
    strings:
        $a = "exwatch-yara-canary-{n}"
    condition:
        $a
}}
"""
HEADER = (
    "#Software: Microsoft Internet Information Services 10.0\r\n"
    "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
    "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n"
)


def request(stem: str) -> str:
    return f"2026-11-28 10:00:00 10.0.0.5 GET {stem} - 443 - 198.51.100.4 curl/8 - 200 0 0 5\r\n"


def test_bundle_is_applied_live_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "drive"
    (root / "inetpub/wwwroot/aspnet_client").mkdir(parents=True)
    logs = root / "inetpub/logs/LogFiles/W3SVC1"
    logs.mkdir(parents=True)
    log = logs / "u_ex261128.log"
    log.write_text(HEADER, newline="")
    collector = Collector(tmp_path / "collector")
    agent = AgentProc(root, tmp_path / "agent", collector.address)
    try:
        bundle = tmp_path / "bundle"
        (bundle / "sigma").mkdir(parents=True)
        (bundle / "yara").mkdir()
        (bundle / "sigma" / "canary.yml").write_text(SIGMA.format(n=1))
        (bundle / "yara" / "canary.yar").write_text(YARA.format(n=1))
        out = collector.cli("rules", "push", str(bundle)).stdout
        version = out.split()[1]
        wait_for(
            lambda: any(
                f"bundle:{version}" in (a["rules_version"] or "")
                for a in json.loads(collector.cli("agent", "list", "--format", "json").stdout)
            ),
            timeout=60,
            what="the agent to report the bundle",
        )
        with log.open("a", newline="") as fh:
            fh.write(request("/exwatch-canary-1"))
        (root / "inetpub/wwwroot/aspnet_client/readme.txt").write_text("exwatch-yara-canary-1")

        def rules_seen() -> set[str]:
            return {r for a in collector.alerts() for r in a["details"].get("rules", [])}

        # user YARA rules are reported by their rule name
        wait_for(
            lambda: {"5f0e8a52-5b4e-4c59-9a3c-1f2d3c4b5a69", "Test_Canary_1"} <= rules_seen(),
            timeout=30,
            what="detections by the pushed rules",
        )

        # a broken bundle: refused on the agent, reported, and the old rules keep working
        (bundle / "sigma" / "canary.yml").write_text("title: [unclosed\n")
        collector.cli("rules", "push", str(bundle))
        wait_for(
            lambda: any(a["rule"] == "exwatch.sensor.rules_rejected" for a in collector.alerts()),
            timeout=30,
            what="the rejection",
        )
        time.sleep(0.5)
        agents = json.loads(collector.cli("agent", "list", "--format", "json").stdout)
        assert f"bundle:{version}" in agents[0]["rules_version"]
    finally:
        agent.stop()
        collector.stop()
