"""Syslog to a SIEM: RFC 5424 over UDP (RFC 5426), TCP with octet counting (RFC 6587) or
TLS (RFC 5425, same framing), the MSG part plain text or ArcSight CEF.

One connection per message: pages are rare, and a fresh connection never writes into a
socket the SIEM closed an hour ago. UDP is fire-and-forget (a lost datagram is not seen);
prefer TCP or TLS for pages that must arrive.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time
from dataclasses import dataclass
from typing import ClassVar

from collector.errors import ConfigError
from collector.notify.channels.base import (
    Channel,
    DeliveryError,
    HttpClients,
    Keys,
    Message,
    common,
    tls_context,
)
from collector.notify.channels.formats import (
    CEF_SEVERITY,
    FACILITIES,
    NILVALUE,
    SYSLOG_SEVERITY,
    cef,
    octet_frame,
    rfc5424,
    structured_data,
)

TRANSPORTS = ("udp", "tcp", "tls")
FORMATS = ("rfc5424", "cef")
DEFAULT_PORTS = {"udp": 514, "tcp": 514, "tls": 6514}
# The SD-ID needs an IANA enterprise number; 32473 is the one reserved for documentation
# (RFC 5612). Sites with their own number set sd_id.
DEFAULT_SD_ID = "exwatch@32473"
VERSION = "0.1"
_SD_ID = re.compile(r"^[A-Za-z0-9._-]{1,20}@[0-9]+(\.[0-9]+)*$")


def render(
    message: Message,
    *,
    fmt: str,
    facility: int,
    hostname: str,
    app_name: str,
    sd_id: str,
    now_ns: int,
    max_bytes: int,
) -> bytes:
    a = message.alert
    severity = SYSLOG_SEVERITY.get(a.severity, 6)
    if fmt == "cef":
        extension = [
            ("rt", str((a.last_seen_ns or now_ns) // 10**6)),
            ("externalId", str(a.id)),
            ("cat", a.rule),
            ("act", message.reason),
            ("msg", a.title),
            ("dhost", a.hosts[0] if a.hosts else ""),
            ("cs1Label", "tenant"),
            ("cs1", a.tenant),
            ("cs2Label", "fingerprint"),
            ("cs2", a.fingerprint),
            ("cs3Label", "status"),
            ("cs3", a.status),
            ("cs4Label", "hosts"),
            ("cs4", ",".join(a.hosts)),
            ("cs5Label", "tags"),
            ("cs5", ",".join(a.tags)),
            ("cn1Label", "eventCount"),
            ("cn1", str(a.event_count)),
        ]
        if message.alert_url:
            extension.append(("request", message.alert_url))
        msg = cef(
            vendor="exwatch",
            product="exwatch-collector",
            version=VERSION,
            signature_id=a.rule,
            name=a.title,
            severity=CEF_SEVERITY.get(a.severity, 1),
            extension=extension,
        )
        # CEF parsers expect "CEF:" right at the MSG: no structured data, no BOM.
        sd, bom = NILVALUE, False
    else:
        params = [
            ("alert", str(a.id)),
            ("tenant", a.tenant),
            ("severity", a.severity_name),
            ("status", a.status),
            ("rule", a.rule),
            ("fingerprint", a.fingerprint),
            ("hosts", ",".join(a.hosts)),
            ("events", str(a.event_count)),
        ]
        if message.alert_url:
            params.append(("url", message.alert_url))
        sd, bom = structured_data([(sd_id, params)]), True
        msg = message.headline
    return rfc5424(
        facility=facility,
        severity=severity,
        timestamp_ns=now_ns,
        hostname=hostname,
        app_name=app_name,
        procid=NILVALUE,
        msgid=f"alert.{message.reason}",
        sd=sd,
        msg=msg,
        bom=bom,
        max_bytes=max_bytes,
    )


@dataclass(frozen=True, kw_only=True)
class SyslogChannel(Channel):
    type: ClassVar[str] = "syslog"
    host: str
    port: int
    transport: str = "tls"
    format: str = "rfc5424"
    facility: int = FACILITIES["local0"]
    app_name: str = "exwatch"
    hostname: str = ""
    sd_id: str = DEFAULT_SD_ID
    max_bytes: int = 8192  # rsyslog's default maxMessageSize
    ca_file: str = ""
    cert_file: str = ""  # client certificate, for collectors that require mutual TLS
    key_file: str = ""

    def secrets(self) -> list[str]:
        return []

    def target(self) -> str:
        return f"syslog+{self.transport}://{self.host}:{self.port} ({self.format})"

    def render(self, message: Message, *, now_ns: int) -> bytes:
        return render(
            message,
            fmt=self.format,
            facility=self.facility,
            hostname=self.hostname or socket.gethostname(),
            app_name=self.app_name,
            sd_id=self.sd_id,
            now_ns=now_ns,
            max_bytes=self.max_bytes,
        )

    async def deliver(self, message: Message, http: HttpClients) -> None:
        data = self.render(message, now_ns=time.time_ns())
        where = f"{self.host}:{self.port}"
        writer: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(self.timeout):
                if self.transport == "udp":
                    await self._send_udp(data)
                    return
                writer = await self._connect()
                writer.write(octet_frame(data))
                await writer.drain()
        except TimeoutError:
            raise DeliveryError(f"timed out after {self.timeout:g} s sending to {where}") from None
        except OSError as exc:  # includes ssl.SSLError
            raise DeliveryError(f"{type(exc).__name__} sending to {where}: {exc}") from None
        finally:
            if writer is not None:
                writer.close()
        # Written and drained: a peer slow to answer TLS close_notify is no reason to send
        # the page again.
        with contextlib.suppress(OSError, TimeoutError):
            async with asyncio.timeout(min(self.timeout, 2.0)):
                await writer.wait_closed()

    async def _send_udp(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, remote_addr=(self.host, self.port)
        )
        try:
            transport.sendto(data)
        finally:
            transport.close()

    async def _connect(self) -> asyncio.StreamWriter:
        context = (
            tls_context(self.ca_file, cert_file=self.cert_file, key_file=self.key_file)
            if self.transport == "tls"
            else None
        )
        _, writer = await asyncio.open_connection(
            self.host, self.port, ssl=context, server_hostname=self.host if context else None
        )
        return writer


def from_config(name: str, keys: Keys) -> SyslogChannel:
    transport = keys.choice("transport", "tls", TRANSPORTS)
    facility_name = keys.choice("facility", "local0", FACILITIES)
    cert_file = keys.text("cert_file", "")
    key_file = keys.text("key_file", "")
    if key_file and not cert_file:
        raise ConfigError("key_file needs cert_file", key=keys.key("key_file"))
    sd_id = keys.text("sd_id", DEFAULT_SD_ID)
    if not _SD_ID.match(sd_id):
        raise ConfigError(
            "must be NAME@ENTERPRISE-NUMBER (an IANA private enterprise number)",
            key=keys.key("sd_id"),
        )
    return SyslogChannel(
        name=name,
        host=keys.text("host"),
        port=keys.integer("port", DEFAULT_PORTS[transport]),
        transport=transport,
        format=keys.choice("format", "rfc5424", FORMATS),
        facility=FACILITIES[facility_name],
        app_name=keys.text("app_name", "exwatch"),
        hostname=keys.text("hostname", ""),
        sd_id=sd_id,
        max_bytes=keys.integer("max_bytes", 8192, minimum=479),
        ca_file=keys.text("ca_file", ""),
        cert_file=cert_file,
        key_file=key_file,
        **common(keys, status_updates=False),
    )
