"""Syslog pages to real listeners on loopback: UDP datagrams, TCP and TLS with RFC 6587
octet counting, RFC 5424 or CEF; and, when rsyslogd is installed, a real rsyslog."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trustme
from test_notify_http import queue, rows
from test_notify_support import make_store, parse_5424, parse_cef, routes_for, split_frames

from collector.notify.routes import Routes
from collector.notify.worker import NotifyWorker

TITLE = 'Webshell "s.aspx" ] on EXCH-A\nsecond line | x=y \\'


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return make_store(tmp_path / "exwatch.db")


async def deliver(db: Path, routes: Routes) -> None:
    worker = NotifyWorker(db, routes)
    await worker.open()
    try:
        await worker.run_once()
    finally:
        await worker.close()


async def listen(context: ssl.SSLContext | None = None) -> tuple[asyncio.Server, list[bytes]]:
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read())
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    return server, received


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def syslog(port: int, **extra: Any) -> dict[str, Any]:
    return {"type": "syslog", "host": "127.0.0.1", "port": port, "hostname": "collector-1", **extra}


def test_udp_rfc5424_with_structured_data(db: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)
        port = sock.getsockname()[1]
        routes = routes_for(
            {"siem": syslog(port, transport="udp", facility="local3")},
            console_url="https://console.example.net",
        )
        alert_id, fp = queue(db, routes, severity=5, title=TITLE, tenant="acme")
        asyncio.run(deliver(db, routes))
        data, _ = sock.recvfrom(65535)
    msg = parse_5424(data)
    assert msg.pri == 19 * 8 + 2  # local3, crit
    assert (msg.hostname, msg.app_name, msg.msgid) == ("collector-1", "exwatch", "alert.opened")
    [(sd_id, params)] = msg.sd
    fields = dict(params)
    assert sd_id == "exwatch@32473"
    assert fields["alert"] == str(alert_id) and fields["fingerprint"] == fp
    assert fields["tenant"] == "acme" and fields["severity"] == "critical"
    assert fields["url"] == f"https://console.example.net/alerts/{alert_id}"
    assert msg.msg == f"New alert: CRITICAL [acme] {TITLE}"
    assert rows(db, "sent")


def test_tcp_octet_counting_and_cef(db: Path) -> None:
    async def go() -> list[bytes]:
        server, received = await listen()
        port = server.sockets[0].getsockname()[1]
        routes = routes_for({"siem": syslog(port, transport="tcp", format="cef")})
        queue(db, routes, title=TITLE)
        queue(db, routes, title="second")
        await deliver(db, routes)
        await until(lambda: len(received) == 2)
        server.close()
        await server.wait_closed()
        return received

    streams = asyncio.run(go())
    messages = [frame for stream in streams for frame in split_frames(stream)]
    assert len(messages) == 2
    parsed = [parse_5424(m) for m in messages]
    assert all(p.sd == [] for p in parsed)  # CEF carries everything itself
    by_title = {}
    for p in parsed:
        fields, pairs = parse_cef(p.msg)
        by_title[fields[5]] = (fields, dict(pairs))
    header, ext = by_title[TITLE.replace("\n", " ")]  # no newline in a CEF header
    assert header[:5] == [
        "CEF:0",
        "exwatch",
        "exwatch-collector",
        "0.1",
        "exwatch.webroot.page_written",
    ]
    assert header[6] == "8"  # high
    assert ext["msg"] == TITLE  # extension values keep the newline, escaped
    assert (ext["cs1Label"], ext["cs1"]) == ("tenant", "acme")
    assert ext["act"] == "opened" and ext["dhost"] == "EXCH-A"


def test_tls_rfc5425(db: Path, tmp_path: Path) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    async def go() -> list[bytes]:
        server, received = await listen(server_context)
        port = server.sockets[0].getsockname()[1]
        routes = routes_for({"siem": syslog(port, transport="tls", ca_file=str(ca_file))})
        queue(db, routes, title=TITLE)
        await deliver(db, routes)
        await until(lambda: len(received) == 1)
        server.close()
        await server.wait_closed()
        return received

    [stream] = asyncio.run(go())
    [frame] = split_frames(stream)
    assert parse_5424(frame).msg.endswith(TITLE)
    assert rows(db, "sent")


def test_tls_refuses_an_unknown_certificate(db: Path, tmp_path: Path) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)

    async def go() -> None:
        server, received = await listen(server_context)
        port = server.sockets[0].getsockname()[1]
        routes = routes_for({"siem": syslog(port, transport="tls")})  # system CAs only
        queue(db, routes)
        await deliver(db, routes)
        server.close()
        await server.wait_closed()
        assert received in ([], [b""])

    asyncio.run(go())
    [pending] = rows(db, "pending")
    assert "CERTIFICATE_VERIFY_FAILED" in pending["last_error"]


def test_a_closed_port_is_retried(db: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    routes = routes_for({"siem": syslog(port, transport="tcp")})
    queue(db, routes)
    asyncio.run(deliver(db, routes))
    [pending] = rows(db, "pending")
    assert "ConnectionRefusedError" in pending["last_error"]


@pytest.mark.skipif(shutil.which("rsyslogd") is None, reason="rsyslogd is not installed")
def test_a_real_rsyslog_parses_what_we_send(db: Path, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "out.log"
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(
        f"""
global(workDirectory="{tmp_path}")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="exw")
template(name="fields" type="string"
         string="%app-name%|%msgid%|%syslogseverity-text%|%structured-data%|%msg%\\n")
ruleset(name="exw") {{ action(type="omfile" file="{out}" template="fields") }}
"""
    )
    rsyslogd = shutil.which("rsyslogd")
    assert rsyslogd is not None
    proc = subprocess.Popen(
        [rsyslogd, "-n", "-f", str(conf), "-i", str(tmp_path / "rsyslogd.pid")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None or time.monotonic() > deadline:
                assert proc.stderr is not None
                pytest.skip(f"rsyslogd did not start: {proc.stderr.read().decode()[-500:]}")
            time.sleep(0.05)
        routes = routes_for({"siem": syslog(port, transport="tcp")})
        alert_id, fp = queue(db, routes, severity=5, title='Webshell "s.aspx" ] on EXCH-A')
        asyncio.run(deliver(db, routes))
        deadline = time.monotonic() + 10
        while not (out.exists() and out.read_text().strip()):
            assert time.monotonic() < deadline, "rsyslog wrote nothing"
            time.sleep(0.05)
        line = out.read_text().splitlines()[0]
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stderr is not None:
            proc.stderr.close()
    app, msgid, severity, sd, msg = line.split("|", 4)
    assert (app, msgid, severity) == ("exwatch", "alert.opened", "crit")
    # rsyslog parsed our structured data as one element, escapes intact.
    assert sd.startswith(f'[exwatch@32473 alert="{alert_id}"') and f'fingerprint="{fp}"' in sd
    assert msg.strip() == 'New alert: CRITICAL [acme] Webshell "s.aspx" ] on EXCH-A'
