"""Email pages through a real SMTP server (aiosmtpd on loopback) with STARTTLS on a
throw-away CA (trustme) and AUTH."""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from test_notify_http import queue, rows
from test_notify_support import make_store, routes_for

from collector.notify.routes import Routes
from collector.notify.worker import NotifyWorker

PASSWORD = "SMTP-pa55word-xyz"


@dataclass
class Mailbox:
    messages: list[email.message.EmailMessage] = field(default_factory=list)
    envelopes: list[Any] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        self.messages.append(parsed)
        return "250 OK"

    def authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        ok = auth_data.login == b"pager" and auth_data.password == PASSWORD.encode()
        if ok:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=ok, handled=False)  # aiosmtpd answers 235 or 535


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@contextmanager
def smtp_server(ca: trustme.CA, *, starttls: bool = True) -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    kwargs: dict[str, Any] = {}
    if starttls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(context)
        kwargs = {
            "tls_context": context,
            "require_starttls": True,
            "authenticator": box.authenticate,
            "auth_required": True,
        }
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def channel(port: int, ca_file: Path, **extra: Any) -> dict[str, Any]:
    return {
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "username": "pager",
        "password": PASSWORD,
        "sender": "exwatch@msp.example",
        "recipients": ["soc@msp.example", "oncall@msp.example"],
        "ca_file": str(ca_file),
        "timeout_seconds": 5,
        **extra,
    }


def deliver(db: Path, routes: Routes) -> None:
    async def go() -> None:
        worker = NotifyWorker(db, routes)
        await worker.open()
        try:
            await worker.run_once()
        finally:
            await worker.close()

    asyncio.run(go())


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return make_store(tmp_path / "exwatch.db")


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def test_a_page_by_email_over_starttls_with_auth(
    db: Path, ca: trustme.CA, ca_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with smtp_server(ca) as (box, port):
        routes = routes_for(
            {"mail": channel(port, ca_file)}, console_url="https://console.example.net"
        )
        alert_id, fp = queue(db, routes, severity=5, title="Webshell on EXCH-A\r\nBcc: x@evil")
        deliver(db, routes)
    assert box.logins == ["pager"]
    [mail] = box.messages
    assert box.envelopes[0].rcpt_tos == ["soc@msp.example", "oncall@msp.example"]
    assert mail["Subject"] == "[exwatch] CRITICAL acme: Webshell on EXCH-A Bcc: x@evil"
    assert mail["Bcc"] is None  # a title cannot add headers
    assert mail["X-Exwatch-Event"] == "opened" and mail["X-Exwatch-Alert"] == str(alert_id)
    assert mail["References"] == f"<exwatch.{fp}@msp.example>"
    body = mail.get_content()
    assert "Severity:    critical" in body and "EXCH-A" in body
    assert f"https://console.example.net/alerts/{alert_id}" in body
    assert rows(db, "sent")
    assert PASSWORD not in caplog.text


def test_a_wrong_password_is_dead_at_once_and_not_recorded(
    db: Path, ca: trustme.CA, ca_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with smtp_server(ca) as (box, port):
        routes = routes_for({"mail": channel(port, ca_file, password="WRONG-pa55word-123")})
        queue(db, routes)
        deliver(db, routes)
    assert box.messages == []
    [dead] = rows(db, "dead")
    assert dead["attempts"] == 1 and "login refused" in dead["last_error"]
    assert "WRONG-pa55word-123" not in dead["last_error"] + caplog.text


def test_a_server_without_starttls_is_refused(db: Path, ca: trustme.CA, ca_file: Path) -> None:
    with smtp_server(ca, starttls=False) as (box, port):
        routes = routes_for({"mail": channel(port, ca_file)})
        queue(db, routes)
        deliver(db, routes)
    assert box.messages == []  # never in clear text when STARTTLS was asked for
    [dead] = rows(db, "dead")
    assert "STARTTLS" in dead["last_error"]


def test_an_untrusted_certificate_is_retried_not_ignored(db: Path, ca: trustme.CA) -> None:
    with smtp_server(ca) as (box, port):
        other = Path(str(db) + ".other-ca.pem")
        trustme.CA().cert_pem.write_to_path(str(other))
        routes = routes_for({"mail": channel(port, other)})
        queue(db, routes)
        deliver(db, routes)
    assert box.messages == []
    [pending] = rows(db, "pending")
    assert "CERTIFICATE_VERIFY_FAILED" in pending["last_error"]
