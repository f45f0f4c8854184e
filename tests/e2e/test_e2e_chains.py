"""Each exploit chain, replayed by the simulator into a watched tree while a real agent and
collector run, becomes one incident naming the chain, with its CVE tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.simulate import simulate
from e2e.processes import AgentProc, Collector, wait_for

pytestmark = pytest.mark.e2e

CHAINS = {
    "proxylogon": ("ProxyLogon", {"cve.2021-26855", "cve.2021-27065"}),
    "proxyshell": ("ProxyShell", {"cve.2021-34473", "cve.2021-31207"}),
    "proxynotshell": ("ProxyNotShell", {"cve.2022-41040"}),
    "owassrf": ("OWASSRF", {"cve.2022-41080"}),
    "webshell": ("Webshell on", set()),
}


@pytest.mark.parametrize("chain", sorted(CHAINS))
def test_chain_becomes_one_incident(tmp_path: Path, chain: str) -> None:
    root = tmp_path / "drive"
    (root / "inetpub/wwwroot/aspnet_client").mkdir(parents=True)
    (root / "Program Files/Microsoft/Exchange Server/V15/FrontEnd/HttpProxy/owa/auth").mkdir(
        parents=True
    )
    collector = Collector(tmp_path / "collector")
    agent = AgentProc(root, tmp_path / "agent", collector.address)
    try:
        simulate(root, chain)
        name, cves = CHAINS[chain]

        # The incident opens on its first event and grows as the rest arrive in later
        # batches, so wait for it to hold more than one rather than check it once.
        def incident() -> dict | None:  # type: ignore[type-arg]
            alerts = [a for a in collector.alerts() if a["rule"] == "exwatch.incident"]
            if (
                alerts
                and name in alerts[0]["title"]
                and cves <= set(alerts[0]["tags"])
                and alerts[0]["event_count"] >= 2
            ):
                return alerts[0]
            return None

        found = wait_for(incident, timeout=30, what=f"the {chain} incident")
        assert found["severity"] == "critical"
        assert len([a for a in collector.alerts() if a["rule"] == "exwatch.incident"]) == 1
        assert found["details"]["paths"]  # the dropped page is part of it
    finally:
        agent.stop()
        collector.stop()
