"""Server-rendered inline SVG charts: no JS, no chart library, nothing fetched.

Colours come from CSS classes (console.css), so the charts follow the page's palette and
the Content-Security-Policy needs no inline styles. Every text is escaped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup, escape

from collector.console.data import SEVERITIES

DAY_NS = 86_400 * 10**9


def _nice_max(value: int) -> int:
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000):
        if value <= step:
            return step
    return value


def alerts_over_time(
    rows: Iterable[dict[str, Any]], *, days: int, now_ns: int, label: str = ""
) -> Markup:
    """Stacked bars: alerts created per UTC day, stacked by severity (most severe on top)."""
    today = now_ns // DAY_NS
    first = today - days + 1
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        if first <= r["day"] <= today:
            counts[r["day"]][r["severity"]] += r["count"]
    total = {d: sum(c.values()) for d, c in counts.items()}
    top = _nice_max(max(total.values(), default=0))
    width, height, left, bottom, pad = 360, 120, 28, 18, 6
    plot_w, plot_h = width - left - pad, height - bottom - pad
    bar = plot_w / days
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label or "alerts per day")}">',
        f"<title>{escape(label or 'Alerts per day')}</title>",
        f'<line class="axis" x1="{left}" y1="{pad + plot_h}" x2="{width - pad}" '
        f'y2="{pad + plot_h}"/>',
        f'<text class="tick" x="{left - 4}" y="{pad + 4}" text-anchor="end">{top}</text>',
        f'<text class="tick" x="{left - 4}" y="{pad + plot_h}" text-anchor="end">0</text>',
    ]
    for i in range(days):
        day = first + i
        x = left + i * bar
        y = float(pad + plot_h)
        for sev in SEVERITIES:
            n = counts.get(day, {}).get(sev, 0)
            if not n:
                continue
            h = plot_h * n / top
            y -= h
            date = datetime.fromtimestamp(day * 86_400, UTC).strftime("%Y-%m-%d")
            parts.append(
                f'<rect class="sev-{sev}" x="{x + 1:.1f}" y="{y:.1f}" '
                f'width="{max(bar - 2, 1):.1f}" height="{h:.1f}">'
                f"<title>{date}: {n} {sev}</title></rect>"
            )
        if i in (0, days - 1) or (days > 7 and i == days // 2):
            date = datetime.fromtimestamp(day * 86_400, UTC).strftime("%m-%d")
            parts.append(
                f'<text class="tick" x="{x + bar / 2:.1f}" y="{height - 4}" '
                f'text-anchor="middle">{date}</text>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def fleet_health(summaries: Iterable[dict[str, Any]]) -> Markup:
    """One horizontal bar per tenant: online, offline and revoked hosts."""
    rows = list(summaries)
    row_h, label_w, width = 22, 130, 480
    height = max(row_h * len(rows) + 8, 30)
    most = max((r["hosts"] for r in rows), default=0) or 1
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="hosts online, offline and revoked per tenant">'
        "<title>Hosts per tenant: online, offline, revoked</title>"
    ]
    if not rows:
        parts.append('<text class="tick" x="4" y="18">no hosts enrolled yet</text>')
    for i, r in enumerate(rows):
        y = 4 + i * row_h
        parts.append(
            f'<text class="label" x="{label_w - 6}" y="{y + 14}" text-anchor="end">'
            f"{escape(r['tenant'][:20])}</text>"
        )
        x = float(label_w)
        for state in ("online", "offline", "revoked"):
            n = r[state]
            if not n:
                continue
            w = (width - label_w - 60) * n / most
            parts.append(
                f'<rect class="host-{state}" x="{x:.1f}" y="{y + 3}" width="{max(w, 1):.1f}" '
                f'height="{row_h - 8}"><title>{escape(r["tenant"])}: {n} {state}</title></rect>'
            )
            x += w
        parts.append(
            f'<text class="tick" x="{x + 4:.1f}" y="{y + 14}">'
            f"{r['online']}/{r['hosts']} online</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
