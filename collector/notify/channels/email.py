"""Email over SMTP: STARTTLS by default (or implicit TLS, or none to a relay that needs
none), optional AUTH. stdlib smtplib in a worker thread: a page is one short session,
and it avoids another dependency."""

from __future__ import annotations

import asyncio
import re
import smtplib
import socket
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import ClassVar

from collector.errors import ConfigError
from collector.notify.channels.base import (
    Channel,
    DeliveryError,
    HttpClients,
    Keys,
    Message,
    common,
    is_loopback,
    iso,
    tls_context,
)

SECURITY = ("starttls", "tls", "none")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
SUBJECT_MAX = 200
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+$")


def _one_line(text: str) -> str:
    # Header injection: a title with CR/LF must not add headers.
    return " ".join(text.split())


def compose(
    message: Message, *, sender: str, recipients: tuple[str, ...], prefix: str
) -> EmailMessage:
    a = message.alert
    mail = EmailMessage()
    tenant = f" {a.tenant}" if a.tenant else ""
    tag = "" if message.reason in ("opened", "test") else f" [{message.reason}]"
    subject = f"{prefix}{tag} {a.severity_name.upper()}{tenant}: {a.title}"
    mail["Subject"] = _one_line(subject)[:SUBJECT_MAX]
    mail["From"] = sender
    mail["To"] = ", ".join(recipients)
    mail["Date"] = formatdate(message.created_ns / 1e9, usegmt=True)
    domain = sender.rpartition("@")[2] or "exwatch.invalid"
    mail["Message-ID"] = make_msgid(f"exwatch.{message.notification_id}", domain=domain)
    # Every page about one alert threads under one (virtual) root message.
    root = f"<exwatch.{a.fingerprint}@{domain}>"
    mail["References"] = root
    mail["In-Reply-To"] = root
    mail["X-Exwatch-Event"] = message.reason
    mail["X-Exwatch-Alert"] = str(a.id)
    lines = [
        message.headline,
        "",
        f"Severity:    {a.severity_name}",
        f"Status:      {a.status}" + (f" by {a.status_by}" if a.status_by else ""),
        f"Tenant:      {a.tenant or '-'}",
        f"Hosts:       {', '.join(a.hosts) or '-'}",
        f"Rule:        {a.rule}",
        f"Events:      {a.event_count}",
        f"First seen:  {iso(a.first_seen_ns)}",
        f"Last seen:   {iso(a.last_seen_ns)}",
        f"Fingerprint: {a.fingerprint}",
    ]
    if a.status_comment:
        lines.append(f"Comment:     {a.status_comment}")
    if a.details:
        lines += ["", "Details:", *(f"  {k}: {v}" for k, v in a.details.items())]
    if message.alert_url:
        lines += ["", message.alert_url]
    mail.set_content("\n".join(lines) + "\n")
    return mail


@dataclass(frozen=True, kw_only=True)
class EmailChannel(Channel):
    type: ClassVar[str] = "email"
    host: str
    port: int
    security: str = "starttls"
    username: str = ""
    password: str = field(default="", repr=False)
    sender: str
    recipients: tuple[str, ...]
    subject_prefix: str = "[exwatch]"
    ca_file: str = ""

    def secrets(self) -> list[str]:
        return [self.password]

    def target(self) -> str:
        return f"smtp://{self.host}:{self.port} ({self.security}) to {len(self.recipients)}"

    async def deliver(self, message: Message, http: HttpClients) -> None:
        mail = compose(
            message, sender=self.sender, recipients=self.recipients, prefix=self.subject_prefix
        )
        await asyncio.to_thread(self._send, mail)

    def _send(self, mail: EmailMessage) -> None:
        where = f"{self.host}:{self.port}"
        try:
            context = tls_context(self.ca_file)
            smtp = (
                smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
                if self.security == "tls"
                else smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            )
            with smtp:
                smtp.ehlo()
                if self.security == "starttls":
                    smtp.starttls(context=context)
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(mail, from_addr=self.sender, to_addrs=list(self.recipients))
        except smtplib.SMTPAuthenticationError as exc:
            # Wrong credentials do not fix themselves: dead now, retry after fixing config.
            raise DeliveryError(
                f"SMTP login refused by {where}: {exc.smtp_code}", permanent=True
            ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            raise DeliveryError(
                f"every recipient refused by {where} ({codes})",
                permanent=all(code >= 500 for code in codes),
            ) from None
        except smtplib.SMTPResponseException as exc:
            raw = exc.smtp_error
            text = (raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw))[:200]
            raise DeliveryError(
                f"SMTP {exc.smtp_code} from {where}: {text}", permanent=exc.smtp_code >= 500
            ) from None
        except smtplib.SMTPNotSupportedError:
            raise DeliveryError(f"{where} does not offer STARTTLS", permanent=True) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"{type(exc).__name__} talking to {where}: {exc}") from None


def from_config(name: str, keys: Keys) -> EmailChannel:
    security = keys.choice("security", "starttls", SECURITY)
    host = keys.text("host")
    username = keys.text("username", "")
    password = keys.secret("password", required=bool(username))
    if username and security == "none" and not is_loopback(host):
        raise ConfigError(
            "refusing to send a password without TLS (use starttls or tls)",
            key=keys.key("security"),
        )
    recipients = tuple(keys.texts("recipients"))
    sender = keys.text("sender", f"exwatch@{socket.gethostname()}")
    for address in (sender, *recipients):
        if not _ADDRESS.match(address):
            raise ConfigError(f"{address!r} is not an email address", key=keys.key("recipients"))
    return EmailChannel(
        name=name,
        host=host,
        port=keys.integer("port", DEFAULT_PORTS[security]),
        security=security,
        username=username,
        password=password,
        sender=sender,
        recipients=recipients,
        subject_prefix=keys.text("subject_prefix", "[exwatch]"),
        ca_file=keys.text("ca_file", ""),
        **common(keys, status_updates=False),
    )
