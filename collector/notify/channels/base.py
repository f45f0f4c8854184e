"""What every channel shares: the message, the error a send raises, config reading, secret
redaction and the HTTP client pool.

Secrets (webhook URLs, routing keys, passwords, HMAC keys) live only in channel objects
(never in their repr) and on the wire. Anything that is logged or stored in the outbox
goes through :func:`scrub` first, and channels name their targets with :func:`redact_url`.
"""

from __future__ import annotations

import abc
import logging
import os
import re
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

import httpx2

from collector.alerting.candidates import SEVERITY_NAMES
from collector.errors import ConfigError

log = logging.getLogger("exwatch.collector.notify")

# Why a notification exists. "opened" and "escalated" page; the status changes are sent
# only to channels that follow status (PagerDuty by default); "test" comes from the CLI.
REASONS = ("opened", "escalated", "acknowledged", "resolved", "reopened", "test")
STATUS_REASONS = frozenset({"acknowledged", "resolved", "reopened"})
REASON_TEXT = {
    "opened": "New alert",
    "escalated": "Severity raised",
    "acknowledged": "Acknowledged",
    "resolved": "Resolved",
    "reopened": "Reopened",
    "test": "Test notification",
}
_SEVERITY_NAMES: dict[int, str] = {int(k): v for k, v in SEVERITY_NAMES.items()}
USER_AGENT = "exwatch-collector/0.1"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


# ---------------------------------------------------------------------- the message


@dataclass(frozen=True, slots=True)
class Alert:
    """An alert as the page shows it: read from the store at send time, so a page that
    waited out an outage shows the alert's latest title, severity and hosts."""

    id: int
    tenant: str
    fingerprint: str
    rule: str
    title: str
    severity: int
    status: str
    hosts: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    first_seen_ns: int = 0
    last_seen_ns: int = 0
    event_count: int = 0
    status_by: str = ""
    status_comment: str = ""

    @property
    def severity_name(self) -> str:
        return _SEVERITY_NAMES.get(self.severity, "unknown")

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Alert:
        """From :func:`collector.notify.outbox.load_alert`'s dict."""
        return cls(
            id=int(row["id"]),
            tenant=str(row["tenant"]),
            fingerprint=str(row["fingerprint"]),
            rule=str(row["rule"]),
            title=str(row["title"]),
            severity=int(row["severity"]),
            status=str(row["status"]),
            hosts=tuple(str(h) for h in row.get("hosts") or ()),
            tags=tuple(str(t) for t in row.get("tags") or ()),
            details=dict(row.get("details") or {}),
            first_seen_ns=int(row.get("first_seen_ns") or 0),
            last_seen_ns=int(row.get("last_seen_ns") or 0),
            event_count=int(row.get("event_count") or 0),
            status_by=str(row.get("status_by") or ""),
            status_comment=str(row.get("status_comment") or ""),
        )


@dataclass(frozen=True, slots=True)
class Message:
    """One notification about one alert, as a channel renders it."""

    notification_id: int
    reason: str
    alert: Alert
    created_ns: int
    console_url: str = ""  # base URL of the console; "" when none is configured

    @property
    def alert_url(self) -> str:
        if not self.console_url or self.reason == "test":
            return ""
        return f"{self.console_url.rstrip('/')}/alerts/{self.alert.id}"

    @property
    def headline(self) -> str:
        """One line: what happened, how bad, where."""
        tenant = f"[{self.alert.tenant}] " if self.alert.tenant else ""
        return (
            f"{REASON_TEXT.get(self.reason, self.reason)}: {self.alert.severity_name.upper()} "
            f"{tenant}{self.alert.title}"
        )

    def document(self) -> dict[str, Any]:
        """The alert as JSON (generic webhook body, PagerDuty custom details)."""
        a = self.alert
        return {
            "id": a.id,
            "tenant": a.tenant,
            "fingerprint": a.fingerprint,
            "rule": a.rule,
            "title": a.title,
            "severity": a.severity_name,
            "status": a.status,
            "status_by": a.status_by,
            "status_comment": a.status_comment,
            "hosts": list(a.hosts),
            "tags": list(a.tags),
            "details": dict(a.details),
            "first_seen": iso(a.first_seen_ns),
            "last_seen": iso(a.last_seen_ns),
            "event_count": a.event_count,
            "url": self.alert_url,
        }


def sample_message(channel: str, *, now_ns: int) -> Message:
    """What ``notifications test`` sends: clearly a test, shaped like a real page."""
    return Message(
        notification_id=0,
        reason="test",
        alert=Alert(
            id=0,
            tenant="",
            fingerprint=f"exwatch-test-{channel}-{now_ns}",
            rule="exwatch.test",
            title=f"Test notification from exwatch on channel {channel!r}",
            severity=1,
            status="open",
            first_seen_ns=now_ns,
            last_seen_ns=now_ns,
        ),
        created_ns=now_ns,
    )


def iso(ns: int) -> str:
    return (
        datetime.fromtimestamp(ns / 1e9, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


# ---------------------------------------------------------------------- errors


class DeliveryError(Exception):
    """A send failed. ``permanent``: retrying cannot help (rejected payload, revoked URL),
    so the notification goes dead at once; ``retry_after``: the receiver asked for a pause.
    The message must already be free of secrets (use redact_url); it is scrubbed again."""

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


def redact_url(url: str) -> str:
    """scheme://host[:port]/… : the path and query of a webhook URL are its secret."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<url>"
    if ":" in host:
        host = f"[{host}]"
    tail = "/…" if (parts.path not in ("", "/") or parts.query) else ""
    return f"{parts.scheme}://{host}{port}{tail}"


def url_secrets(url: str) -> list[str]:
    """The pieces of a URL that must never be logged: the whole, its path and query, each
    long path segment and query value (a receiver may echo just the token), credentials."""
    out = [url]
    try:
        parts = urlsplit(url)
    except ValueError:
        return out
    out += [parts.path, parts.query, parts.password or ""]
    if parts.query:
        out.append(f"{parts.path}?{parts.query}")
    out += [s for s in parts.path.split("/") if len(s) >= 6]
    out += [v for _, v in parse_qsl(parts.query) if len(v) >= 6]
    return out


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret (longest first, so a URL goes before its path) with ***."""
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


# ---------------------------------------------------------------------- config reading


class Keys:
    """Typed reads of one config table; unknown keys and wrong types raise ConfigError
    naming the full key (notify.channels.pager.routing_key)."""

    def __init__(self, raw: Any, where: str) -> None:
        if not isinstance(raw, Mapping):
            raise ConfigError("must be a table", key=where)
        self.raw: Mapping[str, Any] = raw
        self.where = where
        self._used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.where}.{name}"

    def value(self, name: str) -> Any:
        """The raw value (None when absent), marked as known."""
        self._used.add(name)
        return self.raw.get(name)

    def text(self, name: str, default: str | None = None) -> str:
        value = self.value(name)
        if value is None:
            if default is None:
                raise ConfigError("is required", key=self.key(name))
            return default
        if not isinstance(value, str):
            raise ConfigError("must be a string", key=self.key(name))
        return value

    def secret(self, name: str, *, required: bool = True) -> str:
        """A secret: ``name = "..."`` or ``name_env = "VARIABLE"`` (keeps it out of the file)."""
        value = self.value(name)
        env = self.value(f"{name}_env")
        if value is not None and env is not None:
            raise ConfigError(f"give {name} or {name}_env, not both", key=self.key(name))
        if env is not None:
            if not isinstance(env, str) or not env:
                raise ConfigError("must name an environment variable", key=self.key(f"{name}_env"))
            value = os.environ.get(env, "")
            if not value:
                raise ConfigError(
                    f"environment variable {env} is not set", key=self.key(f"{name}_env")
                )
        if value is None or value == "":
            if required:
                raise ConfigError("is required", key=self.key(name))
            return ""
        if not isinstance(value, str):
            raise ConfigError("must be a string", key=self.key(name))
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self.value(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ConfigError("must be true or false", key=self.key(name))
        return value

    def number(
        self, name: str, default: float, *, minimum: float = 0.0, integer: bool = False
    ) -> float:
        value = self.value(name)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= minimum:
            raise ConfigError(f"must be a number above {minimum:g}", key=self.key(name))
        if integer and not isinstance(value, int):
            raise ConfigError("must be an integer", key=self.key(name))
        return float(value)

    def integer(self, name: str, default: int, *, minimum: int = 0) -> int:
        return int(self.number(name, default, minimum=minimum, integer=True))

    def texts(self, name: str) -> list[str]:
        value = self.value(name)
        if value is None:
            raise ConfigError("is required", key=self.key(name))
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ConfigError("must be a string or a non-empty list of strings", key=self.key(name))
        return list(value)

    def choice(self, name: str, default: str, choices: Iterable[str]) -> str:
        value = self.text(name, default)
        options = tuple(choices)
        if value not in options:
            raise ConfigError(f"must be one of {', '.join(options)}", key=self.key(name))
        return value

    def table(self, name: str) -> dict[str, str]:
        value = self.value(name)
        if value is None:
            return {}
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ConfigError("must be a table of strings", key=self.key(name))
        return dict(value)

    def done(self) -> None:
        unknown = sorted(set(self.raw) - self._used)
        if unknown:
            raise ConfigError("unknown setting", key=self.key(unknown[0]))


def check_name(name: str, key: str) -> str:
    if not _NAME.match(name):
        raise ConfigError(f"name {name!r} must be 1-64 letters, digits, '.', '_' or '-'", key=key)
    return name


def http_url(keys: Keys, name: str, *, default: str | None = None, secret: bool = True) -> str:
    """An http(s) URL. Plain http only to a loopback address (or with allow_insecure_http):
    a webhook URL is a bearer credential and a page is sensitive."""
    url = keys.secret(name) if secret else keys.text(name, default)
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        raise ConfigError("is not a valid URL", key=keys.key(name)) from None
    if parts.scheme not in ("http", "https") or not host:
        raise ConfigError("must be an http(s) URL", key=keys.key(name))
    insecure_ok = keys.flag("allow_insecure_http", False)
    if parts.scheme == "http" and not insecure_ok and not is_loopback(host):
        raise ConfigError(
            "must be https (plain http only to a loopback address, or set "
            "allow_insecure_http = true)",
            key=keys.key(name),
        )
    return url


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tls_context(ca_file: str, *, cert_file: str = "", key_file: str = "") -> ssl.SSLContext:
    """Verifying client context: the system's CAs, or only ``ca_file`` when given."""
    context = ssl.create_default_context(cafile=ca_file or None)
    if cert_file:
        context.load_cert_chain(cert_file, key_file or None)
    return context


# ---------------------------------------------------------------------- channels


@dataclass(frozen=True, kw_only=True)
class Channel(abc.ABC):
    """A configured destination. Frozen config; sending state lives in the worker."""

    type: ClassVar[str]
    name: str
    # Also send acknowledged/resolved/reopened (PagerDuty: yes, so incidents close).
    status_updates: bool = False
    timeout: float = 10.0

    @abc.abstractmethod
    def secrets(self) -> list[str]:
        """Every secret value this channel holds, for scrubbing."""

    @abc.abstractmethod
    def target(self) -> str:
        """Where it sends, safe to show (URL path and keys redacted)."""

    @abc.abstractmethod
    async def deliver(self, message: Message, http: HttpClients) -> None:
        """Send, or raise DeliveryError (any other exception counts as transient)."""


COMMON_KEYS = ("type", "status_updates", "timeout_seconds")


def common(keys: Keys, *, status_updates: bool = False) -> dict[str, Any]:
    keys.text("type")
    return {
        "status_updates": keys.flag("status_updates", status_updates),
        "timeout": keys.number("timeout_seconds", 10.0),
    }


# ---------------------------------------------------------------------- HTTP


class _RedactURLs(logging.Filter):
    """httpx2 logs every request's full URL at INFO: a Slack or Teams webhook URL is a
    credential, so its path and query are cut before any handler sees the record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(str(a)) if isinstance(a, httpx2.URL) else a for a in record.args
            )
        return True


_FILTER = _RedactURLs()


def install_log_redaction() -> None:
    logger = logging.getLogger("httpx2")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)


class HttpClients:
    """One AsyncClient per trust setting (system CAs, or a channel's ca_file), made on the
    worker's loop and closed with it. Redirects are not followed: a signed page must not
    be replayed to wherever a 30x points."""

    def __init__(self) -> None:
        self._clients: dict[str, httpx2.AsyncClient] = {}
        install_log_redaction()

    def get(self, ca_file: str = "") -> httpx2.AsyncClient:
        client = self._clients.get(ca_file)
        if client is None:
            verify: ssl.SSLContext | bool = tls_context(ca_file) if ca_file else True
            client = httpx2.AsyncClient(
                verify=verify,
                follow_redirects=False,
                headers={"User-Agent": USER_AGENT},
            )
            self._clients[ca_file] = client
        return client

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


# Status codes that retrying will not fix: the payload or the credential is wrong.
PERMANENT_STATUS = frozenset({400, 401, 403, 404, 405, 410, 413, 422})


async def post(
    http: HttpClients,
    url: str,
    *,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    ca_file: str = "",
) -> httpx2.Response:
    """POST and raise DeliveryError unless 2xx. Error text names the host only."""
    where = redact_url(url)
    try:
        response = await http.get(ca_file).post(
            url, content=body, headers=dict(headers), timeout=timeout
        )
    except httpx2.TimeoutException:
        raise DeliveryError(f"timed out after {timeout:g} s sending to {where}") from None
    except httpx2.HTTPError as exc:
        # The exception text is the OS error ("connection refused"); no URL in it, and
        # the caller scrubs anyway.
        raise DeliveryError(f"{type(exc).__name__} sending to {where}: {exc}") from None
    if 200 <= response.status_code < 300:
        return response
    snippet = response.text[:200].replace("\n", " ").strip()
    retry_after = _retry_after(response.headers.get("Retry-After"))
    raise DeliveryError(
        f"HTTP {response.status_code} from {where}" + (f": {snippet}" if snippet else ""),
        permanent=response.status_code in PERMANENT_STATUS or 300 <= response.status_code < 400,
        retry_after=retry_after if response.status_code in (429, 503) else None,
    )


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare from these receivers; our backoff applies
