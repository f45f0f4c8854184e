"""Microsoft Teams through a Workflows webhook ("Post to a channel when a webhook request is
received"). Office 365 connectors are retired; the Workflows trigger takes a message whose
``attachments`` hold an Adaptive Card, and answers 202 Accepted."""

from __future__ import annotations

import json
import re
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

CARD_VERSION = "1.4"  # rendered by every Teams client; 1.5+ only by some
# CommonMark's backslash escapes for what makes links, emphasis and code; characters that
# only matter at the start of a line (#, -, >) are left alone: every text here starts
# with exwatch's own words or sits in a FactSet value.
_MARKDOWN = re.compile(r"([\\`*_\[\]()~])")


def escape(text: str) -> str:
    """TextBlocks render a Markdown subset: a hostile file name must not become a link or
    emphasis, so its Markdown characters are backslash-escaped."""
    return _MARKDOWN.sub(r"\\\1", text)


def card(message: Message) -> dict[str, Any]:
    a = message.alert
    color = {5: "Attention", 4: "Attention", 3: "Warning"}.get(a.severity, "Default")
    facts = [
        ("Severity", a.severity_name),
        ("Status", a.status + (f" by {a.status_by}" if a.status_by else "")),
        ("Tenant", a.tenant or "-"),
        ("Hosts", ", ".join(a.hosts) or "-"),
        ("Rule", a.rule),
        ("Events", str(a.event_count)),
        *((str(k), str(v)) for k, v in a.details.items()),
    ]
    if a.status_comment:
        facts.append(("Comment", a.status_comment))
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": escape(f"{REASON_TEXT.get(message.reason, message.reason)}: {a.title}"),
            "weight": "Bolder",
            "size": "Medium",
            "color": color,
            "wrap": True,
        },
        {
            "type": "FactSet",
            "facts": [{"title": escape(k), "value": escape(v)[:1000]} for k, v in facts],
        },
        {
            "type": "TextBlock",
            "text": f"fingerprint {escape(a.fingerprint)}",
            "isSubtle": True,
            "size": "Small",
            "wrap": True,
        },
    ]
    content: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
    }
    if message.alert_url:
        content["actions"] = [
            {"type": "Action.OpenUrl", "title": "Open in exwatch", "url": message.alert_url}
        ]
    return {
        "type": "message",
        "summary": message.headline[:200],
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": content,
            }
        ],
    }


@dataclass(frozen=True, kw_only=True)
class TeamsChannel(Channel):
    type: ClassVar[str] = "teams"
    url: str = field(repr=False)
    ca_file: str = ""

    def secrets(self) -> list[str]:
        # The Workflows URL carries its signature (sig=...) in the query.
        return url_secrets(self.url)

    def target(self) -> str:
        return redact_url(self.url)

    async def deliver(self, message: Message, http: HttpClients) -> None:
        raw = json.dumps(card(message), ensure_ascii=False).encode()
        await post(
            http,
            self.url,
            body=raw,
            headers={"Content-Type": "application/json"},
            timeout=self.timeout,
            ca_file=self.ca_file,
        )


def from_config(name: str, keys: Keys) -> TeamsChannel:
    return TeamsChannel(
        name=name, url=http_url(keys, "url"), ca_file=keys.text("ca_file", ""), **common(keys)
    )
