"""Helpers for the notify tests: a real HTTP receiver on loopback, a store with alerts in
it, a clock the test moves, and small parsers for RFC 5424 and CEF (written from the RFC
and the CEF spec, independently of collector.notify.channels.formats)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

from collector.notify.routes import Routes
from collector.store import Store
from collector.store.backend import Connection, open_database


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """HTTP endpoint on 127.0.0.1 standing in for a webhook, Slack, Teams or PagerDuty.
    ``fail`` answers the next N requests with ``fail_status``; ``stop()`` closes the port
    (connection refused) and ``start()`` opens the same port again."""

    port: int = 0
    requests: list[Request] = field(default_factory=list)
    fail: int = 0
    fail_status: int = 500
    fail_body: str = "upstream broke"
    fail_headers: dict[str, str] = field(default_factory=dict)
    status: int = 200
    delay: float = 0.0
    _server: HTTPServer | None = None
    _thread: threading.Thread | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if receiver.delay:
                    time.sleep(receiver.delay)
                with receiver.lock:
                    if receiver.fail > 0:
                        receiver.fail -= 1
                        status, text = receiver.fail_status, receiver.fail_body
                        extra = receiver.fail_headers
                    else:
                        status, text, extra = receiver.status, "ok", {}
                    receiver.requests.append(
                        Request(self.path, dict(self.headers.items()), body, status)
                    )
                payload = text.encode()
                self.send_response(status)
                for k, v in extra.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = HTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="receiver"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join()
            self._server = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def accepted(self) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if 200 <= r.status < 300]


@contextmanager
def receiver(**kwargs: Any) -> Iterator[Receiver]:
    r = Receiver(**kwargs).start()
    try:
        yield r
    finally:
        r.stop()


class Clock:
    """A nanosecond clock that only moves when the test says so."""

    def __init__(self, start: int = 1_700_000_000 * 10**9) -> None:
        self.now = start

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1e9)


def make_store(target: Path | str) -> Path | str:
    """A real collector database (every migration applied): a SQLite file or a
    PostgreSQL DSN."""
    Store(target).close()
    return target


def connect(target: Path | str) -> Connection:
    """A store connection of its own (as another collector process would have)."""
    return open_database(target, pooled=False).connect()


def add_alert(
    conn: Connection,
    *,
    tenant: str = "acme",
    severity: int = 4,
    title: str = "New page in web root on EXCH-A: aspnet_client\\s.aspx",
    fingerprint: str | None = None,
    status: str = "open",
    hosts: tuple[str, ...] = ("EXCH-A",),
    details: dict[str, str] | None = None,
) -> tuple[int, str]:
    """Insert an alert the way the store does; returns (id, fingerprint)."""
    n = conn.execute("SELECT COUNT(*) FROM alerts").fetchone()[0]
    fp = fingerprint or f"fp{n:030d}"
    row = conn.execute(
        "INSERT INTO alerts (tenant, fingerprint, rule, title, severity, status, tags, hosts, "
        "details, first_seen_ns, last_seen_ns, event_count, created_ns, updated_ns) "
        "VALUES (?, ?, 'exwatch.webroot.page_written', ?, ?, ?, ?, ?, ?, 1, 2, 1, 1, 1) "
        "RETURNING id",
        (
            tenant,
            fp,
            title,
            severity,
            status,
            json.dumps(["attack.t1505.003"]),
            json.dumps(list(hosts)),
            json.dumps(details or {"path": r"C:\inetpub\wwwroot\aspnet_client\s.aspx"}),
        ),
    ).fetchone()
    return int(row[0]), fp


def routes_for(channels: dict[str, dict[str, Any]], **delivery: Any) -> Routes:
    """Every channel on one route for every tenant from low severity up."""
    raw: dict[str, Any] = {
        "channels": channels,
        "routes": [{"tenant": "*", "min_severity": "low", "channel": list(channels)}],
        **delivery,
    }
    return Routes.from_config(raw)


# ---------------------------------------------------------------------- parsers


def parse_sd_value(text: str, i: int) -> tuple[str, int]:
    """From just after the opening quote to the closing one: RFC 5424 6.3.3 escapes."""
    out = []
    while True:
        c = text[i]
        if c == "\\" and text[i + 1] in '"\\]':
            out.append(text[i + 1])
            i += 2
        elif c == '"':
            return "".join(out), i + 1
        else:
            assert c != "]", "unescaped ] inside a PARAM-VALUE"
            out.append(c)
            i += 1


def parse_sd(text: str) -> tuple[list[tuple[str, list[tuple[str, str]]]], str]:
    """STRUCTURED-DATA at the start of ``text``: (elements, rest after it)."""
    if text.startswith("-"):
        return [], text[1:]
    elements = []
    i = 0
    while i < len(text) and text[i] == "[":
        j = i + 1
        while text[j] not in " ]":
            j += 1
        sd_id, params = text[i + 1 : j], []
        i = j
        while text[i] == " ":
            eq = text.index("=", i)
            name = text[i + 1 : eq]
            assert text[eq + 1] == '"'
            value, i = parse_sd_value(text, eq + 2)
            params.append((name, value))
        assert text[i] == "]"
        i += 1
        elements.append((sd_id, params))
    return elements, text[i:]


@dataclass
class Syslog5424:
    pri: int
    version: str
    timestamp: str
    hostname: str
    app_name: str
    procid: str
    msgid: str
    sd: list[tuple[str, list[tuple[str, str]]]]
    msg: str


def parse_5424(data: bytes) -> Syslog5424:
    text = data.decode("utf-8")
    assert text.startswith("<")
    close = text.index(">")
    pri = int(text[1:close])
    head = text[close + 1 :].split(" ", 6)
    version, timestamp, hostname, app, procid, msgid, rest = head
    for part in (timestamp, hostname, app, procid, msgid):
        assert part and all(0x21 <= ord(c) <= 0x7E for c in part), part
    sd, rest = parse_sd(rest)
    msg = rest[1:] if rest.startswith(" ") else rest
    return Syslog5424(pri, version, timestamp, hostname, app, procid, msgid, sd, msg)


def split_frames(stream: bytes) -> list[bytes]:
    """RFC 6587 octet counting: MSG-LEN SP SYSLOG-MSG, repeated."""
    frames = []
    while stream:
        length, _, rest = stream.partition(b" ")
        n = int(length)
        frames.append(rest[:n])
        assert len(rest) >= n, "truncated frame"
        stream = rest[n:]
    return frames


def split_unescaped(text: str, sep: str) -> list[str]:
    parts, cur, i = [], [], 0
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
        elif text[i] == sep:
            parts.append("".join(cur))
            cur = []
            i += 1
        else:
            cur.append(text[i])
            i += 1
    parts.append("".join(cur))
    return parts


def unescape_cef(text: str) -> str:
    out, i = [], 0
    mapping = {"\\": "\\", "|": "|", "=": "=", "n": "\n", "r": "\r"}
    while i < len(text):
        if text[i] == "\\" and i + 1 < len(text) and text[i + 1] in mapping:
            out.append(mapping[text[i + 1]])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def parse_cef(text: str) -> tuple[list[str], list[tuple[str, str]]]:
    """(7 header fields, extension pairs). Header split on unescaped '|'; in the extension
    every unescaped '=' ends a key, which is the word before it."""
    assert text.startswith("CEF:")
    parts = split_unescaped(text, "|")
    header, ext = [unescape_cef(p) for p in parts[:7]], "|".join(parts[7:])
    equals = []
    i = 0
    while i < len(ext):
        if ext[i] == "\\":
            i += 2
            continue
        if ext[i] == "=":
            equals.append(i)
        i += 1
    pairs = []
    starts = []
    for eq in equals:
        start = ext.rfind(" ", 0, eq) + 1
        starts.append((start, eq))
    for n, (start, eq) in enumerate(starts):
        end = starts[n + 1][0] - 1 if n + 1 < len(starts) else len(ext)
        pairs.append((ext[start:eq], unescape_cef(ext[eq + 1 : end])))
    return header, pairs
