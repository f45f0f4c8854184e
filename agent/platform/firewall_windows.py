"""Host firewall on Windows: Windows Defender Firewall rules in exwatch's own groups.

Isolation is a pair of block rules (in and out) whose remote addresses are everything
except loopback, link-local and the allowed networks. Block rules win over every allow rule
in Windows Firewall, so existing allow rules (IIS on 443) cannot open a hole; flows to the
allowed addresses, the collector's among them, are untouched. A scheduled task deletes the
rules when the time limit runs out, even if the agent has died.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence

from agent.platform.windows_commands import delete_task, powershell, run, schedule_once
from agent.respond.containment import IPAddress, IPNetwork

ISOLATE_GROUP = "exwatch-isolate"
ISOLATE_TASK = "exwatch-lift-isolation"
# Never blocked by an isolation: the host itself and IPv6 neighbour discovery.
_ALWAYS = [ipaddress.ip_network(n) for n in ("127.0.0.0/8", "::1/128", "fe80::/10")]


def everything_but(allowed: Iterable[IPNetwork]) -> list[IPNetwork]:
    """The networks covering every address of both families except ``allowed``."""
    remaining: list[IPNetwork] = [
        ipaddress.ip_network("0.0.0.0/0"),
        ipaddress.ip_network("::/0"),
    ]
    for hole in [*_ALWAYS, *allowed]:
        split: list[IPNetwork] = []
        for network in remaining:
            if network.version == hole.version and hole.subnet_of(network):  # type: ignore[arg-type]
                split.extend(network.address_exclude(hole))  # type: ignore[arg-type]
            elif network.version == hole.version and network.subnet_of(hole):  # type: ignore[arg-type]
                continue
            else:
                split.append(network)
        remaining = split
    return sorted(remaining, key=lambda n: (n.version, n))


def isolate_script(allow: Sequence[IPNetwork], seconds: int) -> str:
    remote = ",".join(str(n) for n in everything_but(allow))
    lift = f"Remove-NetFirewallRule -Group {ISOLATE_GROUP}"
    rules = "; ".join(
        f"New-NetFirewallRule -Group '{ISOLATE_GROUP}' -DisplayName 'exwatch isolation "
        f"({direction.lower()})' -Direction {direction} -Action Block -Profile Any "
        f"-RemoteAddress {remote} | Out-Null"
        for direction in ("Inbound", "Outbound")
    )
    return (
        f"Remove-NetFirewallRule -Group '{ISOLATE_GROUP}' -ErrorAction Ignore; {rules}; "
        + schedule_once(ISOLATE_TASK, seconds, lift)
    )


def release_script() -> str:
    return f"Remove-NetFirewallRule -Group '{ISOLATE_GROUP}' -ErrorAction Ignore; " + delete_task(
        ISOLATE_TASK
    )


def _block_name(address: IPAddress) -> str:
    return "exwatch-block-" + str(address).replace(":", "-")


def block_script(address: IPAddress, seconds: int) -> str:
    group = _block_name(address)
    rules = "; ".join(
        f"New-NetFirewallRule -Group '{group}' -DisplayName 'exwatch block {address} "
        f"({direction.lower()})' -Direction {direction} -Action Block -Profile Any "
        f"-RemoteAddress {address} | Out-Null"
        for direction in ("Inbound", "Outbound")
    )
    script = f"Remove-NetFirewallRule -Group '{group}' -ErrorAction Ignore; {rules}; "
    if seconds > 0:
        return script + schedule_once(group, seconds, f"Remove-NetFirewallRule -Group {group}")
    return script + delete_task(group)


def unblock_script(address: IPAddress) -> str:
    group = _block_name(address)
    return f"Remove-NetFirewallRule -Group '{group}' -ErrorAction Ignore; " + delete_task(group)


class WindowsFirewall:
    """The ``Firewall`` of containment.py, on Windows Defender Firewall."""

    def __init__(self, runner: Callable[[list[str]], None] = run) -> None:
        self.runner = runner

    def isolate(self, allow: Sequence[IPNetwork], seconds: int) -> None:
        self.runner(powershell(isolate_script(allow, seconds)))

    def release(self) -> None:
        self.runner(powershell(release_script()))

    def block(self, address: IPAddress, seconds: int) -> None:
        self.runner(powershell(block_script(address, seconds)))

    def unblock(self, address: IPAddress) -> None:
        self.runner(powershell(unblock_script(address)))
