"""PagerDuty Events API v2. The alert's fingerprint is the ``dedup_key``, so a page that is
retried, or an alert that escalates, updates one PagerDuty incident instead of opening
another; acknowledging or resolving the alert in exwatch does the same to the incident."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from collector.notify.channels.base import (
    Channel,
    HttpClients,
    Keys,
    Message,
    common,
    http_url,
    iso,
    post,
    redact_url,
)

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
ACTIONS = {
    "opened": "trigger",
    "escalated": "trigger",
    "reopened": "trigger",
    "test": "trigger",
    "acknowledged": "acknowledge",
    "resolved": "resolve",
}
# PagerDuty knows critical, error, warning and info.
SEVERITY = {5: "critical", 4: "error", 3: "warning", 2: "info", 1: "info"}
SUMMARY_MAX = 1024
DEDUP_KEY_MAX = 255


def event(message: Message, routing_key: str, *, source: str = "") -> dict[str, Any]:
    a = message.alert
    action = ACTIONS[message.reason]
    out: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": a.fingerprint[:DEDUP_KEY_MAX],
    }
    if action != "trigger":
        return out  # acknowledge/resolve take nothing but the key
    tenant = f"[{a.tenant}] " if a.tenant else ""
    out["payload"] = {
        "summary": f"{tenant}{a.title}"[:SUMMARY_MAX],
        "severity": SEVERITY.get(a.severity, "info"),
        "source": source or ", ".join(a.hosts)[:255] or a.tenant or "exwatch",
        "timestamp": iso(a.last_seen_ns or message.created_ns),
        "component": "exchange",
        "group": a.tenant or "exwatch",
        "class": a.rule,
        "custom_details": message.document(),
    }
    out["client"] = "exwatch"
    if message.alert_url:
        out["client_url"] = message.alert_url
        out["links"] = [{"href": message.alert_url, "text": "Alert in exwatch"}]
    return out


@dataclass(frozen=True, kw_only=True)
class PagerDutyChannel(Channel):
    type: ClassVar[str] = "pagerduty"
    routing_key: str = field(repr=False)
    url: str = EVENTS_URL
    source: str = ""
    ca_file: str = ""

    def secrets(self) -> list[str]:
        return [self.routing_key]  # the Events URL itself is public

    def target(self) -> str:
        return redact_url(self.url)

    async def deliver(self, message: Message, http: HttpClients) -> None:
        raw = json.dumps(event(message, self.routing_key, source=self.source)).encode()
        # 202 on success; 400 (bad key or event) is permanent; 429 and 5xx are retried.
        await post(
            http,
            self.url,
            body=raw,
            headers={"Content-Type": "application/json"},
            timeout=self.timeout,
            ca_file=self.ca_file,
        )


def from_config(name: str, keys: Keys) -> PagerDutyChannel:
    return PagerDutyChannel(
        name=name,
        routing_key=keys.secret("routing_key"),
        url=http_url(keys, "url", default=EVENTS_URL, secret=False),
        source=keys.text("source", ""),
        ca_file=keys.text("ca_file", ""),
        **common(keys, status_updates=True),
    )
