"""The agent's containment settings and wiring (the actions themselves are tested for
real in test_containment_netns.py)."""

from __future__ import annotations

import ipaddress
import sys
from pathlib import Path

import pytest

from agent.config import load_config
from agent.errors import ConfigError
from agent.platform.firewall_linux import NftablesFirewall
from agent.respond.backends import host_containment
from agent.respond.containment import ContainmentError, NoWebFrontEnds, resolve_collector


def test_management_networks_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('[respond]\nmanagement = ["10.0.0.0/24", "jumpbox"]\n')
    with pytest.raises(ConfigError, match="'jumpbox' is not an IP address or CIDR network") as exc:
        load_config(path)
    assert exc.value.key == "respond.management"


@pytest.mark.skipif(sys.platform == "win32", reason="the Linux backends")
def test_the_host_gets_its_platforms_backends_and_its_settings(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text(
        'data_dir = "var"\n[respond]\nmanagement = ["192.0.2.7", "2001:db8::/64"]\n'
        "widest_allow_v4 = 28\nmax_minutes = 90\n"
    )
    containment = host_containment(load_config(path), "collector.example:50051", lambda e: None)
    try:
        assert isinstance(containment.firewall, NftablesFirewall)
        assert isinstance(containment.web, NoWebFrontEnds)
        policy = containment.policy
        assert policy.management == (
            ipaddress.ip_network("192.0.2.7/32"),
            ipaddress.ip_network("2001:db8::/64"),
        )
        assert (policy.widest_prefix_v4, policy.widest_prefix_v6, policy.max_minutes) == (
            28,
            64,
            90,
        )
        assert containment.state_path == tmp_path / "var" / "containment.json"
    finally:
        containment.close()


def test_collector_addresses_resolve() -> None:
    assert resolve_collector("192.0.2.5:50051") == [ipaddress.ip_address("192.0.2.5")]
    assert resolve_collector("[2001:db8::5]:50051") == [ipaddress.ip_address("2001:db8::5")]
    assert ipaddress.ip_address("127.0.0.1") in resolve_collector("localhost:50051")
    assert resolve_collector("no-such-host.invalid:50051") == []


def test_without_nft_the_error_says_what_to_install() -> None:
    firewall = NftablesFirewall(nft="nft-not-installed-here")
    with pytest.raises(ContainmentError, match="not installed \\(package nftables\\); nothing"):
        firewall.block(ipaddress.ip_address("192.0.2.1"), 0)
