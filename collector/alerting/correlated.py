"""What a correlation that fired becomes: an alert candidate on the existing alert path.

A host correlation of high or critical severity is evidence of compromise: it joins the
host's one incident (its ``cve.*`` tags name the chain in the incident's title, and its
severity can raise the incident's). A lesser host correlation, or one over a tenant, is an
alert of its own. A correlation across tenants is a campaign in the MSP's own scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from collector.alerting.candidates import (
    MSP_SCOPE,
    AlertCandidate,
    alert_fingerprint,
    campaign,
)
from collector.correlation.engine import Fired
from collector.correlation.rules import Scope
from protos import exwatch_pb2 as pb


@dataclass(frozen=True, slots=True)
class Placed:
    """A candidate and where it lives (MSP scope: tenant and agent are ``*``)."""

    tenant: str
    agent_id: str
    hostname: str
    candidate: AlertCandidate


def correlated(fired: Fired) -> Placed:
    rule = fired.rule
    group = ", ".join(f"{field}={value}" for field, value in fired.group)
    details = {
        "correlation": rule.name,
        "correlation_title": rule.title,
        "group": group,
        "count": str(fired.count),
        "window": f"{_iso(fired.first_ns)} .. {_iso(fired.last_ns)}",
    }
    if rule.scope is Scope.FLEET:
        kind = "+".join(f for f, _ in fired.group)
        value = ", ".join(v for _, v in fired.group)
        return Placed(
            MSP_SCOPE,
            MSP_SCOPE,
            fired.hostname,
            campaign(
                kind,
                value,
                fired.hosts,
                fired.tenants,
                severity=rule.severity,
                details={"correlation": rule.name},
            ),
        )
    if rule.scope is Scope.HOST:
        candidate = AlertCandidate(
            fingerprint=alert_fingerprint(fired.tenant, fired.agent_id, "correlation", rule.id),
            rule=rule.name,
            title=f"{rule.title} on {fired.hostname}",
            severity=rule.severity,
            tags=rule.tags,
            details=details,
            incident=rule.severity >= pb.SEVERITY_HIGH,
        )
    else:
        candidate = AlertCandidate(
            fingerprint=alert_fingerprint(fired.tenant, "correlation", rule.id, group),
            rule=rule.name,
            title=f"{rule.title}: {group}",
            severity=rule.severity,
            tags=rule.tags,
            details=details,
        )
    return Placed(fired.tenant, fired.agent_id, fired.hostname, candidate)


def _iso(ns: int) -> str:
    return (
        datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    )
