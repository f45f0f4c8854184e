"""Containment: isolate the host, block an address, take the web front ends offline.

Only on a command from the collector. This module holds what is the same on every platform:
checking the command (addresses parsed, networks no wider than configured, never an
isolation that would cut off the collector, a time limit on every isolation), the time
limits (the agent's own timer, and at start-up a look at what was left in force), and the
audit events. The platform backends (agent/platform/firewall_*.py, iis_windows.py) only
carry a checked request out. An error leaves the host as it was.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from agent.errors import AgentError
from agent.events import new_event
from protos import exwatch_pb2 as pb

log = logging.getLogger("exwatch.agent.respond")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class ContainmentError(AgentError):
    """The containment action cannot be carried out; nothing was changed."""


class Firewall(Protocol):
    def isolate(self, allow: Sequence[IPNetwork], seconds: int) -> None:
        """Only loopback and ``allow`` reach the host or are reached, both ways, until
        ``seconds`` pass (lifted then even without the agent) or ``release``."""

    def release(self) -> None: ...

    def block(self, address: IPAddress, seconds: int) -> None:
        """Drop traffic from and to ``address``; ``seconds`` = 0: until ``unblock``."""

    def unblock(self, address: IPAddress) -> None: ...


class WebFrontEnds(Protocol):
    def set_offline(self, offline: bool, seconds: int) -> str:
        """Stop (or start again) the web front ends; when stopping with ``seconds`` > 0,
        arrange that they start again after that long even without the agent. Returns
        what was done, for the audit record."""


class NoWebFrontEnds:
    """A platform without IIS: the narrower cut does not exist there."""

    def set_offline(self, offline: bool, seconds: int) -> str:
        raise ContainmentError(
            "taking web access offline is not supported on this platform (it stops Exchange's "
            "IIS application pools, which exist on Windows only); isolate the host instead"
        )


@dataclass(frozen=True, slots=True)
class ContainmentPolicy:
    # HOST:PORT or HOST of the collector; resolved at each isolation, and it must resolve.
    collector: str
    # Always allowed during an isolation (the agent's [respond] management setting).
    management: tuple[IPNetwork, ...] = ()
    # An allowed network given in a command may not be wider than these prefixes.
    widest_prefix_v4: int = 24
    widest_prefix_v6: int = 64
    max_minutes: int = 24 * 60


def parse_network(text: str) -> IPNetwork:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ContainmentError(f"{text!r} is not an IP address or CIDR network") from None


def parse_address(text: str) -> IPAddress:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        raise ContainmentError(f"{text!r} is not one IP address") from None


def resolve_collector(collector: str) -> list[IPAddress]:
    """Every address the collector's name resolves to ([] when it does not)."""
    host = collector.strip()
    if host.count(":") == 1 or host.startswith("["):  # HOST:PORT or [v6]:PORT
        host = host.rpartition(":")[0]
    host = host.strip("[]")
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return []
    return sorted({ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}, key=str)


class Containment:
    """Carries out checked containment requests and keeps their time limits."""

    def __init__(
        self,
        firewall: Firewall,
        web: WebFrontEnds,
        policy: ContainmentPolicy,
        state_path: Path,
        emit: Callable[[list[pb.Event]], None],
        *,
        seconds_per_minute: float = 60.0,  # tests run minutes as seconds
    ) -> None:
        self.firewall = firewall
        self.web = web
        self.policy = policy
        self.state_path = state_path
        self.emit = emit
        self.seconds_per_minute = seconds_per_minute
        self._lock = threading.Lock()
        self._timers: dict[str, threading.Timer] = {}

    # ------------------------------------------------------------------ actions

    def isolate(self, allow: Sequence[str], minutes: int) -> str:
        seconds = self._limit(minutes)
        if seconds == 0:
            raise ContainmentError("an isolation needs a time limit (minutes > 0)")
        given = [self._check_width(parse_network(text)) for text in allow]
        collector = resolve_collector(self.policy.collector)
        if not collector:
            raise ContainmentError(
                f"the collector's address {self.policy.collector!r} does not resolve; refusing "
                "to isolate the host without the collector allowed"
            )
        networks = [ipaddress.ip_network(a) for a in collector]
        networks += [*self.policy.management, *given]
        with self._lock:
            self.firewall.isolate(networks, seconds)
            until = time.time() + seconds
            self._save("isolated_until", until)
            self._arm("isolate", seconds, self._lift_isolation)
        allowed = ", ".join(dict.fromkeys(str(n) for n in networks))
        return f"isolated for {minutes} min (until {_utc(until)}); allowed: loopback, {allowed}"

    def release(self) -> str:
        with self._lock:
            self.firewall.release()
            self._save("isolated_until", 0.0)
            self._disarm("isolate")
        return "isolation lifted"

    def block(self, address_text: str, minutes: int) -> str:
        address = parse_address(address_text)
        if address.is_loopback or address.is_unspecified or address.is_multicast:
            raise ContainmentError(f"{address} is not a client address; refusing to block it")
        if address in resolve_collector(self.policy.collector):
            raise ContainmentError(f"{address} is the collector; refusing to block it")
        if any(address in n for n in self.policy.management):
            raise ContainmentError(f"{address} is a management address; refusing to block it")
        seconds = self._limit(minutes)
        self.firewall.block(address, seconds)
        return f"{address} blocked " + (f"for {minutes} min" if minutes else "until unblocked")

    def unblock(self, address_text: str) -> str:
        address = parse_address(address_text)
        self.firewall.unblock(address)
        return f"{address} unblocked"

    def web_access(self, offline: bool, minutes: int) -> str:
        seconds = self._limit(minutes)
        if offline and seconds == 0:
            raise ContainmentError("taking web access offline needs a time limit (minutes > 0)")
        with self._lock:
            detail = self.web.set_offline(offline, seconds)
            self._save("web_offline_until", time.time() + seconds if offline else 0.0)
            if offline:
                self._arm("web", seconds, self._lift_web)
            else:
                self._disarm("web")
        return detail

    # ------------------------------------------------------------------ time limits

    def resume(self) -> None:
        """At start-up: lift what ran out while the agent was down, re-arm what did not."""
        state = self._load()
        now = time.time()
        for key, name, lift in (
            ("isolated_until", "isolate", self._lift_isolation),
            ("web_offline_until", "web", self._lift_web),
        ):
            until = state.get(key, 0.0)
            if not until:
                continue
            if until <= now:
                lift()
            else:
                with self._lock:
                    self._arm(name, until - now, lift)

    def close(self) -> None:
        with self._lock:
            timers = list(self._timers.values())
            self._timers.clear()
        for timer in timers:
            timer.cancel()
            timer.join()

    def _lift_isolation(self) -> None:
        self._expire("isolate", "isolation lifted: its time limit ran out", self.release)

    def _lift_web(self) -> None:
        self._expire(
            "web_access",
            "web access restored: its time limit ran out",
            lambda: self.web_access(False, 0),
        )

    def _expire(self, action: str, done: str, lift: Callable[[], str]) -> None:
        try:
            lift()
            ok, detail = True, done
        except AgentError as exc:
            ok, detail = False, f"time limit ran out but lifting failed: {exc}"
        log.warning("%s: %s", action, detail)
        event = new_event()
        event.action.CopyFrom(
            pb.ActionEvent(command_id="", action=f"{action}_expired", ok=ok, detail=detail)
        )
        self.emit([event])

    def _limit(self, minutes: int) -> int:
        if minutes > self.policy.max_minutes:
            raise ContainmentError(
                f"{minutes} minutes is longer than the allowed {self.policy.max_minutes}"
            )
        return max(1, round(minutes * self.seconds_per_minute)) if minutes else 0

    def _check_width(self, network: IPNetwork) -> IPNetwork:
        p = self.policy
        widest = p.widest_prefix_v4 if network.version == 4 else p.widest_prefix_v6
        if network.prefixlen < widest:
            raise ContainmentError(
                f"{network} is wider than /{widest}, the widest network a command may allow"
            )
        return network

    def _arm(self, name: str, seconds: float, lift: Callable[[], None]) -> None:
        """Called holding the lock. The timer's own thread lifts; the kernel (or a
        scheduled task) lifts as well if the agent is not running by then."""
        self._disarm(name)
        timer = threading.Timer(seconds, self._fire, (name, lift))
        timer.daemon = True
        timer.name = f"exwatch-containment-{name}"
        self._timers[name] = timer
        timer.start()

    def _fire(self, name: str, lift: Callable[[], None]) -> None:
        with self._lock:
            current = self._timers.get(name)
            if current is not threading.current_thread():
                return  # renewed or cancelled meanwhile
            del self._timers[name]
        lift()

    def _disarm(self, name: str) -> None:
        timer = self._timers.pop(name, None)
        if timer is not None and timer is not threading.current_thread():
            timer.cancel()

    # ------------------------------------------------------------------ state

    def _load(self) -> dict[str, float]:
        try:
            raw = json.loads(self.state_path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.error("containment state %s unreadable (%s); starting afresh", self.state_path, exc)
            return {}
        return {k: float(v) for k, v in raw.items() if isinstance(v, int | float)}

    def _save(self, key: str, value: float) -> None:
        state = self._load()
        state[key] = value
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.state_path)


def _utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(epoch))
