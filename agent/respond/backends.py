"""Containment on this host: the platform's firewall and web front ends behind one interface."""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Callable

from agent.config import AgentConfig
from agent.platform.firewall_linux import NftablesFirewall
from agent.platform.firewall_windows import WindowsFirewall
from agent.platform.iis_windows import IisWebFrontEnds
from agent.respond.containment import (
    Containment,
    ContainmentPolicy,
    Firewall,
    NoWebFrontEnds,
    WebFrontEnds,
)
from protos import exwatch_pb2 as pb


def host_containment(
    config: AgentConfig, collector: str, emit: Callable[[list[pb.Event]], None]
) -> Containment:
    """``collector``: the HOST:PORT the agent streams to (always allowed in an isolation)."""
    firewall: Firewall
    web: WebFrontEnds
    if sys.platform == "win32":
        firewall, web = WindowsFirewall(), IisWebFrontEnds()
    else:
        firewall, web = NftablesFirewall(), NoWebFrontEnds()
    rs = config.respond
    policy = ContainmentPolicy(
        collector=collector,
        management=tuple(ipaddress.ip_network(n, strict=False) for n in rs.management),
        widest_prefix_v4=rs.widest_allow_v4,
        widest_prefix_v6=rs.widest_allow_v6,
        max_minutes=rs.max_minutes,
    )
    return Containment(firewall, web, policy, config.data_dir / "containment.json", emit)
