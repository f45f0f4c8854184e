"""Generic JSON webhook, signed with HMAC-SHA256.

Every request carries::

    Content-Type: application/json
    X-Exwatch-Event: opened | escalated | acknowledged | resolved | reopened | test
    X-Exwatch-Delivery: <notification id>        (the same on every retry: dedup on it)
    X-Exwatch-Timestamp: <unix seconds>
    X-Exwatch-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>

The timestamp is inside the signed string, so a captured request cannot be replayed later
with a fresh timestamp: receivers recompute the HMAC over the raw body bytes (before any
JSON parsing), compare in constant time, and reject timestamps older than a few minutes
(:func:`verify` does all three). Body: ``{"version": 1, "delivery", "event", "sent_at",
"alert": {...}}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from collector.errors import ConfigError
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
    url_secrets,
)

SIGNATURE_HEADER = "X-Exwatch-Signature"
TIMESTAMP_HEADER = "X-Exwatch-Timestamp"
DELIVERY_HEADER = "X-Exwatch-Delivery"
EVENT_HEADER = "X-Exwatch-Event"
# Headers a config may not override: they carry the signature scheme.
_RESERVED = {h.lower() for h in (SIGNATURE_HEADER, TIMESTAMP_HEADER, DELIVERY_HEADER)} | {
    "content-type",
    "content-length",
    "host",
}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    *,
    timestamp: str,
    body: bytes,
    signature: str,
    now: float | None = None,
    tolerance_seconds: float = 300.0,
) -> bool:
    """What a receiver does: the signature matches and the timestamp is recent."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    now = time.time() if now is None else now
    if abs(now - sent) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def body(message: Message, *, now_ns: int) -> bytes:
    document: dict[str, Any] = {
        "version": 1,
        "delivery": message.notification_id,
        "event": message.reason,
        "sent_at": iso(now_ns),
        "alert": message.document(),
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, kw_only=True)
class WebhookChannel(Channel):
    type: ClassVar[str] = "webhook"
    url: str = field(repr=False)
    secret: str = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    ca_file: str = ""

    def secrets(self) -> list[str]:
        return [*url_secrets(self.url), self.secret, *self.headers.values()]

    def target(self) -> str:
        return redact_url(self.url)

    def request(self, message: Message, *, now_ns: int) -> tuple[bytes, dict[str, str]]:
        raw = body(message, now_ns=now_ns)
        stamp = str(now_ns // 10**9)
        headers = {
            **self.headers,
            "Content-Type": "application/json",
            EVENT_HEADER: message.reason,
            DELIVERY_HEADER: str(message.notification_id),
            TIMESTAMP_HEADER: stamp,
            SIGNATURE_HEADER: sign(self.secret, stamp, raw),
        }
        return raw, headers

    async def deliver(self, message: Message, http: HttpClients) -> None:
        raw, headers = self.request(message, now_ns=time.time_ns())
        await post(
            http, self.url, body=raw, headers=headers, timeout=self.timeout, ca_file=self.ca_file
        )


def from_config(name: str, keys: Keys) -> WebhookChannel:
    headers = keys.table("headers")
    for header in headers:
        if header.lower() in _RESERVED:
            raise ConfigError("is set by exwatch", key=keys.key(f"headers.{header}"))
    return WebhookChannel(
        name=name,
        url=http_url(keys, "url"),
        secret=keys.secret("secret"),
        headers=headers,
        ca_file=keys.text("ca_file", ""),
        **common(keys),
    )
