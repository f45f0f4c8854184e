"""Slack incoming webhook: Block Kit blocks plus a plain ``text`` fallback (notifications,
screen readers and clients without blocks show that)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, ClassVar

from collector.notify.channels.base import (
    REASON_TEXT,
    Channel,
    HttpClients,
    Keys,
    Message,
    common,
    http_url,
    post,
    redact_url,
    url_secrets,
)

# Block Kit limits: header text 150 characters, a section field 2000, section text 3000.
HEADER_MAX = 150
FIELD_MAX = 2000
TEXT_MAX = 3000


def escape(text: str) -> str:
    """Slack's mrkdwn control characters. Escaping <, > and & is what stops a hostile file
    name from becoming a link or an @channel mention."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def payload(message: Message) -> dict[str, Any]:
    a = message.alert
    facts = [
        ("Severity", a.severity_name),
        ("Status", a.status + (f" by {a.status_by}" if a.status_by else "")),
        ("Tenant", a.tenant or "-"),
        ("Hosts", ", ".join(a.hosts) or "-"),
        ("Rule", a.rule),
        ("Events", str(a.event_count)),
    ]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _cut(f"{REASON_TEXT.get(message.reason)}: {a.title}", HEADER_MAX),
            },
        },
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _cut(f"*{k}*\n{escape(v)}", FIELD_MAX)} for k, v in facts
            ],
        },
    ]
    details = "\n".join(f"*{escape(str(k))}*: {escape(str(v))}" for k, v in a.details.items())
    if a.status_comment:
        details = f"*comment*: {escape(a.status_comment)}\n" + details
    if details:
        text = {"type": "mrkdwn", "text": _cut(details, TEXT_MAX)}
        blocks.append({"type": "section", "text": text})
    context = f"exwatch · fingerprint `{escape(a.fingerprint)}`"
    if message.alert_url:
        context += f" · <{message.alert_url}|open in console>"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": escape(message.headline), "blocks": blocks}


@dataclass(frozen=True, kw_only=True)
class SlackChannel(Channel):
    type: ClassVar[str] = "slack"
    url: str = field(repr=False)
    ca_file: str = ""

    def secrets(self) -> list[str]:
        return url_secrets(self.url)

    def target(self) -> str:
        return redact_url(self.url)

    async def deliver(self, message: Message, http: HttpClients) -> None:
        raw = json.dumps(payload(message), ensure_ascii=False).encode()
        await post(
            http,
            self.url,
            body=raw,
            headers={"Content-Type": "application/json"},
            timeout=self.timeout,
            ca_file=self.ca_file,
        )


def from_config(name: str, keys: Keys) -> SlackChannel:
    return SlackChannel(
        name=name, url=http_url(keys, "url"), ca_file=keys.text("ca_file", ""), **common(keys)
    )
