"""Host firewall on Linux: one nftables table of exwatch's own (``inet exwatch``).

Every change is one ``nft -f`` transaction, so it applies whole or not at all, and it
names only this table: other tables (the host's own firewall, Docker's) are never touched.

Isolation is a flag the kernel keeps with a timeout: an element of the ``isolation`` set
(one per IP family) makes the isolation chains apply. When the timeout runs out the kernel
drops the element and the host is reachable again, even if the agent has died. The allowed
addresses live in ``allow4``/``allow6``; blocked addresses in ``block4``/``block6``, with
their own optional timeout.
"""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections.abc import Sequence

from agent.respond.containment import ContainmentError, IPAddress, IPNetwork

TABLE = "inet exwatch"
NFT_TIMEOUT_SECONDS = 10.0

# IPv6 neighbour discovery is never cut: without it no IPv6 reaches even the collector, and
# a peer may ask from whichever of its addresses (a blocked one among them).
_ND = "{ nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert }"

# Created with "add", which leaves an existing table, set or chain (and its elements) as it
# is; the base chains are flushed and filled again, so every transaction carries the rules.
_SKELETON = f"""\
add table {TABLE}
add set {TABLE} isolation {{ typeof meta nfproto; flags timeout; }}
add set {TABLE} allow4 {{ type ipv4_addr; flags interval; }}
add set {TABLE} allow6 {{ type ipv6_addr; flags interval; }}
add set {TABLE} block4 {{ type ipv4_addr; flags timeout; }}
add set {TABLE} block6 {{ type ipv6_addr; flags timeout; }}
add chain {TABLE} input {{ type filter hook input priority filter; policy accept; }}
add chain {TABLE} output {{ type filter hook output priority filter; policy accept; }}
flush chain {TABLE} input
flush chain {TABLE} output
add rule {TABLE} input icmpv6 type {_ND} accept
add rule {TABLE} output icmpv6 type {_ND} accept
add rule {TABLE} input ip saddr @block4 drop
add rule {TABLE} input ip6 saddr @block6 drop
add rule {TABLE} output ip daddr @block4 drop
add rule {TABLE} output ip6 daddr @block6 drop
add rule {TABLE} input iif "lo" accept
add rule {TABLE} output oif "lo" accept
add rule {TABLE} input meta nfproto @isolation ip saddr != @allow4 drop
add rule {TABLE} output meta nfproto @isolation ip daddr != @allow4 drop
add rule {TABLE} input meta nfproto @isolation ip6 saddr != @allow6 drop
add rule {TABLE} output meta nfproto @isolation ip6 daddr != @allow6 drop
"""


def _family(value: IPAddress | IPNetwork) -> str:
    return "4" if value.version == 4 else "6"


def _timeout(seconds: int) -> str:
    return f" timeout {seconds}s" if seconds > 0 else ""


class NftablesFirewall:
    """The ``Firewall`` of containment.py, on nftables."""

    def __init__(self, nft: str = "nft") -> None:
        self.nft = nft

    def isolate(self, allow: Sequence[IPNetwork], seconds: int) -> None:
        """Start (or renew, replacing the allow list) an isolation lasting ``seconds``."""
        if seconds <= 0:
            raise ContainmentError("an isolation needs a time limit")
        lines = [f"flush set {TABLE} allow4", f"flush set {TABLE} allow6"]
        for family in ("4", "6"):
            # nft refuses overlapping intervals in one set: merge them first.
            same = [n for n in allow if _family(n) == family]
            networks = ipaddress.collapse_addresses(same)  # type: ignore[type-var]
            elements = ", ".join(str(n) for n in networks)
            if elements:
                lines.append(f"add element {TABLE} allow{family} {{ {elements} }}")
        lines += [
            f"flush set {TABLE} isolation",
            f"add element {TABLE} isolation {{ ipv4 timeout {seconds}s, ipv6 timeout {seconds}s }}",
        ]
        self._apply(lines)

    def release(self) -> None:
        self._apply([f"flush set {TABLE} {name}" for name in ("isolation", "allow4", "allow6")])

    def block(self, address: IPAddress, seconds: int) -> None:
        """Drop all traffic from and to ``address``; ``seconds`` = 0: until unblocked. A block
        of an address already blocked replaces its time limit."""
        family = _family(address)
        self._apply(
            [
                f"add element {TABLE} block{family} {{ {address} }}",  # so the delete cannot fail
                f"delete element {TABLE} block{family} {{ {address} }}",
                f"add element {TABLE} block{family} {{ {address}{_timeout(seconds)} }}",
            ]
        )

    def unblock(self, address: IPAddress) -> None:
        family = _family(address)
        self._apply(
            [
                f"add element {TABLE} block{family} {{ {address} }}",
                f"delete element {TABLE} block{family} {{ {address} }}",
            ]
        )

    def _apply(self, lines: list[str]) -> None:
        """One transaction: the table's skeleton and ``lines``, all applied or none."""
        if shutil.which(self.nft) is None:
            raise ContainmentError(
                f"the {self.nft!r} command is not installed (package nftables); nothing changed"
            )
        try:
            done = subprocess.run(
                [self.nft, "-f", "-"],
                input=_SKELETON + "\n".join(lines) + "\n",
                capture_output=True,
                text=True,
                timeout=NFT_TIMEOUT_SECONDS,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ContainmentError(f"nft did not run: {exc}; nothing changed") from exc
        if done.returncode == 0:
            return
        error = done.stderr.strip() or f"exit status {done.returncode}"
        if "Operation not permitted" in error:
            raise ContainmentError(
                "changing the firewall needs root or CAP_NET_ADMIN, which the agent lacks; "
                "nothing changed"
            )
        raise ContainmentError(f"nft refused the change ({error}); nothing changed")
