"""/metrics in the Prometheus text format.

Protected like the admin API: an admin's session or an admin's API token
(``authorization: {credentials: exwc_...}`` in the Prometheus scrape config). The figures
are fleet-wide (every tenant's counts and names), so neither an analyst nor anyone who
can merely reach the port may read them; binding to loopback alone would not protect a
console that MSP staff reach over the network.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse

from collector.console import auth, data
from collector.console.app import ConsoleState
from collector.console.data import Principal

router = APIRouter()
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _quantile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def render(snapshot: dict[str, Any]) -> str:
    out: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[str, float]]) -> None:
        out.append(f"# HELP {name} {help_text}")
        out.append(f"# TYPE {name} {kind}")
        out.extend(f"{name}{labels} {value:g}" for labels, value in samples)

    metric(
        "exwatch_events_ingested_total",
        "counter",
        "Events stored by the collector.",
        [("", snapshot["events"])],
    )
    metric(
        "exwatch_alerts",
        "gauge",
        "Alerts by status and severity.",
        [
            (
                f'{{status="{_label(a["status"])}",severity="{data.severity_name(a["severity"])}"}}',
                a["n"],
            )
            for a in snapshot["alerts"]
        ],
    )
    agents = snapshot["agents"]
    metric(
        "exwatch_agents",
        "gauge",
        "Agents per tenant and state (online: heard from within the offline window).",
        [
            (f'{{tenant="{_label(a["tenant"])}",state="{state}"}}', a[state] or 0)
            for a in agents
            for state in ("online", "offline", "revoked")
        ],
    )
    metric(
        "exwatch_agents_online",
        "gauge",
        "Agents online, all tenants.",
        [("", sum(a["online"] or 0 for a in agents))],
    )
    metric(
        "exwatch_agent_spool_events",
        "gauge",
        "Events waiting in agents' spools, per tenant (last heartbeat).",
        [(f'{{tenant="{_label(a["tenant"])}"}}', a["spool"] or 0) for a in agents],
    )
    metric(
        "exwatch_agent_events_shed_total",
        "counter",
        "Events agents shed from full spools, per tenant.",
        [(f'{{tenant="{_label(a["tenant"])}"}}', a["shed"] or 0) for a in agents],
    )
    lags = snapshot["lags"]
    if lags:
        metric(
            "exwatch_ingest_lag_seconds",
            "summary",
            "Collector receive time minus host observation time, newest 1000 events "
            "(includes host clock skew).",
            [
                *((f'{{quantile="{q}"}}', _quantile(lags, q)) for q in (0.5, 0.95, 0.99)),
                ("_count", len(lags)),
                ("_sum", sum(lags)),
            ],
        )
    if snapshot["outbox"] is not None:
        metric(
            "exwatch_notify_outbox_depth",
            "gauge",
            "Notifications not yet delivered.",
            [("", snapshot["outbox"])],
        )
    metric(
        "exwatch_console_sessions",
        "gauge",
        "Unexpired console sessions.",
        [("", snapshot["sessions"])],
    )
    return "\n".join(out) + "\n"


async def _admin(request: Request) -> Principal:
    principal = await auth.require_principal(request)
    data.require_admin(principal)
    return principal


@router.get("/metrics", response_class=PlainTextResponse, include_in_schema=False)
async def metrics(request: Request, _: Annotated[Principal, Depends(_admin)]) -> PlainTextResponse:
    state: ConsoleState = request.app.state.console
    snapshot = await state.db.read(
        data.metrics_snapshot,
        now=time.time_ns(),
        offline_after_ns=state.settings.offline_after_seconds * 10**9,
    )
    return PlainTextResponse(render(snapshot), media_type=CONTENT_TYPE)
