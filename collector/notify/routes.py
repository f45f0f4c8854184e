"""The ``[notify]`` config: channels (where pages go), routes (which alerts go where, by
tenant and minimum severity) and the delivery settings of the worker.

    [notify]
    console_url = "https://exwatch.example.net"
    [[notify.routes]]
    tenant = "*"
    min_severity = "high"
    channel = "oncall"
    [notify.channels.oncall]
    type = "pagerduty"
    routing_key_env = "EXWATCH_PD_KEY"

See deploy/collector.sample.toml for every key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from collector.alerting.candidates import SEVERITY_BY_NAME, SEVERITY_NAMES
from collector.errors import ConfigError
from collector.notify.channels import email, pagerduty, slack, syslog, teams, webhook
from collector.notify.channels.base import Channel, Keys, check_name

CHANNEL_TYPES: dict[str, Callable[[str, Keys], Channel]] = {
    "webhook": webhook.from_config,
    "slack": slack.from_config,
    "teams": teams.from_config,
    "pagerduty": pagerduty.from_config,
    "email": email.from_config,
    "syslog": syslog.from_config,
}
ANY_TENANT = "*"


@dataclass(frozen=True, slots=True)
class Delivery:
    """How the worker delivers. Defaults retry for about an hour (45-90 min with jitter)
    before a page goes dead: 2 s doubling to a 5 min cap, 25 attempts. A dead page can be
    retried from the CLI."""

    max_attempts: int = 25
    backoff_initial: float = 2.0  # seconds before the 2nd attempt; doubles, with jitter
    backoff_max: float = 300.0
    lease_seconds: float = 120.0  # a claimed row is the claimer's for this long
    batch_size: int = 20  # rows claimed (and sent concurrently) per round
    poll_seconds: float = 0.5  # rows queued by another process are seen this fast
    keep_sent_days: float = 30.0  # sent rows are deleted after this; dead ones are kept
    console_url: str = ""  # links in pages: <console_url>/alerts/<id>


@dataclass(frozen=True, slots=True)
class Route:
    tenants: tuple[str, ...]  # "*" matches every tenant, fleet-wide (MSP) alerts included
    min_severity: int
    channels: tuple[str, ...]

    def matches(self, tenant: str, severity: int) -> bool:
        return severity >= self.min_severity and (
            ANY_TENANT in self.tenants or tenant in self.tenants
        )


@dataclass(frozen=True)
class Routes:
    routes: tuple[Route, ...] = ()
    channels: Mapping[str, Channel] = field(default_factory=dict)
    delivery: Delivery = field(default_factory=Delivery)

    @classmethod
    def from_config(cls, raw: Mapping[str, Any] | None) -> Routes:
        """Parse the ``[notify]`` table (None or empty: no notifications). Raises
        ConfigError naming the key (notify.channels.oncall.routing_key)."""
        keys = Keys(raw or {}, "notify")
        d = Delivery()
        channels = _channels(keys)
        routes = _routes(keys, channels)
        delivery = Delivery(
            max_attempts=keys.integer("max_attempts", d.max_attempts),
            backoff_initial=keys.number("backoff_initial_seconds", d.backoff_initial),
            backoff_max=keys.number("backoff_max_seconds", d.backoff_max),
            lease_seconds=keys.number("lease_seconds", d.lease_seconds),
            batch_size=keys.integer("batch_size", d.batch_size),
            poll_seconds=keys.number("poll_seconds", d.poll_seconds),
            keep_sent_days=keys.number("keep_sent_days", d.keep_sent_days),
            console_url=keys.text("console_url", "").rstrip("/"),
        )
        keys.done()
        if delivery.backoff_max < delivery.backoff_initial:
            raise ConfigError(
                "must not be below backoff_initial_seconds", key="notify.backoff_max_seconds"
            )
        for channel in channels.values():
            # The worker gives a send half the lease: a slow send must end before another
            # worker may take the row, or both would send it.
            if channel.timeout * 2 > delivery.lease_seconds:
                raise ConfigError(
                    f"must be at most half of notify.lease_seconds ({delivery.lease_seconds:g})",
                    key=f"notify.channels.{channel.name}.timeout_seconds",
                )
        return cls(routes=routes, channels=channels, delivery=delivery)

    def match(self, tenant: str, severity: int) -> list[Channel]:
        """Channels that an alert of this tenant and severity goes to, each once."""
        names: dict[str, None] = {}
        for route in self.routes:
            if route.matches(tenant, severity):
                names.update(dict.fromkeys(route.channels))
        return [self.channels[n] for n in names]

    def channel(self, name: str) -> Channel | None:
        return self.channels.get(name)

    def secrets(self) -> list[str]:
        return [s for c in self.channels.values() for s in c.secrets()]


def _channels(keys: Keys) -> dict[str, Channel]:
    raw = keys.value("channels")
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError("must be a table of [notify.channels.NAME]", key=keys.key("channels"))
    out: dict[str, Channel] = {}
    for name, table in raw.items():
        where = f"{keys.key('channels')}.{name}"
        check_name(name, where)
        channel_keys = Keys(table, where)
        kind = channel_keys.text("type")
        make = CHANNEL_TYPES.get(kind)
        if make is None:
            raise ConfigError(
                f"unknown channel type {kind!r}; known: {', '.join(CHANNEL_TYPES)}",
                key=channel_keys.key("type"),
            )
        out[name] = make(name, channel_keys)
        channel_keys.done()
    return out


def _severity(value: Any, key: str) -> int:
    if isinstance(value, str) and value.lower() in SEVERITY_BY_NAME:
        return SEVERITY_BY_NAME[value.lower()]
    if isinstance(value, int) and not isinstance(value, bool) and value in SEVERITY_NAMES:
        return value
    raise ConfigError(f"must be one of {', '.join(SEVERITY_BY_NAME)}", key=key)


def _routes(keys: Keys, channels: Mapping[str, Channel]) -> tuple[Route, ...]:
    raw = keys.value("routes")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError("must be an array of tables ([[notify.routes]])", key=keys.key("routes"))
    out = []
    for i, item in enumerate(raw):
        route = Keys(item, f"{keys.key('routes')}[{i}]")
        names = route.texts("channel")
        for name in names:
            if name not in channels:
                raise ConfigError(
                    f"no channel {name!r} in [notify.channels]", key=route.key("channel")
                )
        # tenant is optional: every tenant by default.
        tenants = route.texts("tenant") if route.raw.get("tenant") is not None else [ANY_TENANT]
        level = route.value("min_severity")
        severity = _severity("high" if level is None else level, route.key("min_severity"))
        route.done()
        out.append(Route(tuple(tenants), severity, tuple(names)))
    return tuple(out)
