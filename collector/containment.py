"""Containment actions as the collector knows them: what an analyst may ask for (CLI, API
and console share this), how a request is kept in the ``commands`` table, and the
``pb.Command`` it becomes on the agent's stream.

Actions and their command kinds:

- ``isolate`` (kind ``isolate``): only the collector, the agent's management networks and
  the given ``allow`` networks reach the host, for ``minutes``; renewing extends.
- ``release`` (``release``): lift an isolation before its time.
- ``block`` / ``unblock`` (``block_address`` / ``unblock_address``): one client address.
- ``web-offline`` / ``web-online`` (``web_access``): Exchange's IIS front ends.

The agent checks everything again (it alone knows its management networks and limits);
checking here as well gives the analyst the error at once rather than from the host.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from dataclasses import dataclass
from typing import Any

import psutil

from collector.errors import CollectorError
from protos import exwatch_pb2 as pb

ACTIONS = ("isolate", "release", "block", "unblock", "web-offline", "web-online")
# Actions a tenant can make wait for a second analyst; lifting one never waits.
APPROVABLE = ("isolate", "web-offline")
KIND_OF = {
    "isolate": "isolate",
    "release": "release",
    "block": "block_address",
    "unblock": "unblock_address",
    "web-offline": "web_access",
    "web-online": "web_access",
}
COMMAND_KINDS = tuple(dict.fromkeys(KIND_OF.values()))
MAX_MINUTES = 7 * 24 * 60  # a week; each agent has its own (lower) limit, 24 h by default
DEFAULT_MINUTES = 60


class ContainmentRequestError(CollectorError):
    """The containment request is malformed; nothing was queued."""


@dataclass(frozen=True, slots=True)
class ContainmentRequest:
    action: str
    minutes: int = 0
    allow: tuple[str, ...] = ()
    address: str = ""

    @property
    def kind(self) -> str:
        return KIND_OF[self.action]

    def argument(self) -> str:
        """The JSON kept in ``commands.argument`` (and shown to the approver)."""
        body: dict[str, Any]
        if self.action == "isolate":
            body = {"allow": list(self.allow), "minutes": self.minutes}
        elif self.action in ("block", "unblock"):
            body = {"address": self.address}
            if self.action == "block":
                body["minutes"] = self.minutes
        elif self.action in ("web-offline", "web-online"):
            body = {"offline": self.action == "web-offline", "minutes": self.minutes}
        else:
            body = {}
        return json.dumps(body, sort_keys=True)


def containment_request(
    action: str,
    *,
    minutes: int | None = None,
    allow: tuple[str, ...] | list[str] = (),
    address: str = "",
) -> ContainmentRequest:
    """A checked request; ``minutes`` None: the action's default."""
    if action not in ACTIONS:
        raise ContainmentRequestError(
            f"unknown containment action {action!r}; expected one of {', '.join(ACTIONS)}"
        )
    timed = action in ("isolate", "web-offline", "block")
    if minutes is None:
        minutes = DEFAULT_MINUTES if action in ("isolate", "web-offline") else 0
    if not timed and minutes:
        raise ContainmentRequestError(f"{action} takes no time limit")
    if minutes < 0 or minutes > MAX_MINUTES:
        raise ContainmentRequestError(f"minutes must be 0 to {MAX_MINUTES}, got {minutes}")
    if action in ("isolate", "web-offline") and minutes == 0:
        raise ContainmentRequestError(
            f"{action} needs a time limit (minutes > 0), so a mistake cannot last"
        )
    if allow and action != "isolate":
        raise ContainmentRequestError(f"{action} takes no allowed networks")
    networks = []
    for text in allow:
        try:
            network = ipaddress.ip_network(text.strip(), strict=False)
        except ValueError:
            raise ContainmentRequestError(
                f"{text!r} is not an IP address or CIDR network"
            ) from None
        # One address is kept as an address, as the collector's own are.
        single = network.num_addresses == 1
        networks.append(str(network.network_address if single else network))
    if action in ("block", "unblock"):
        try:
            address = str(ipaddress.ip_address(address.strip()))
        except ValueError:
            raise ContainmentRequestError(f"{address!r} is not one IP address") from None
    elif address:
        raise ContainmentRequestError(f"{action} takes no address")
    return ContainmentRequest(action, minutes, tuple(networks), address)


def collector_addresses(listen: str) -> list[str]:
    """The collector's own addresses, which an isolation always allows besides what the
    agent connects to: the ``listen`` host when it is one address, else every unicast
    address of this machine (loopback and link-local aside)."""
    host = listen.rpartition(":")[0].strip("[]")
    try:
        one = ipaddress.ip_address(host)
    except ValueError:
        one = None
    if one is not None and not one.is_unspecified:
        return [] if one.is_loopback else [str(one)]
    found: set[str] = set()
    for addresses in psutil.net_if_addrs().values():
        for a in addresses:
            if a.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            ip = ipaddress.ip_address(a.address.split("%")[0])
            if not (ip.is_loopback or ip.is_link_local or ip.is_multicast):
                found.add(str(ip))
    return sorted(found)


def build_command(command_id: str, kind: str, argument: str, *, collector: list[str]) -> pb.Command:
    """The command on the agent's stream for a stored containment row; ``collector``:
    addresses every isolation allows. A damaged argument is sent as empty fields, which
    the agent refuses with a clear error (the delivery loop must not stop on one row)."""
    try:
        body = json.loads(argument or "{}")
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    minutes = body.get("minutes", 0)
    minutes = minutes if isinstance(minutes, int) and 0 <= minutes < 2**32 else 0
    command = pb.Command(id=command_id)
    if kind == "isolate":
        given = [str(a) for a in body.get("allow", []) if str(a) not in collector]
        command.isolate.CopyFrom(pb.Isolate(allow=[*collector, *given], minutes=minutes))
    elif kind == "release":
        command.release.SetInParent()
    elif kind == "block_address":
        address = str(body.get("address", ""))
        command.block_address.CopyFrom(pb.BlockAddress(address=address, minutes=minutes))
    elif kind == "unblock_address":
        command.unblock_address.address = str(body.get("address", ""))
    elif kind == "web_access":
        offline = body.get("offline") is True
        command.web_access.CopyFrom(pb.WebAccess(offline=offline, minutes=minutes))
    else:
        raise ValueError(f"{kind!r} is not a containment command")  # a bug in the caller
    return command
