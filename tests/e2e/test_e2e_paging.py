"""From a webshell written on a host to a signed webhook on the on-call side, with real
processes: the page arrives once, and again only when the alert changes status."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from collector.notify.channels.webhook import verify
from e2e.processes import AgentProc, Collector, wait_for

pytestmark = pytest.mark.e2e
SECRET = "s3cret-for-the-test"


class Receiver:
    def __init__(self) -> None:
        self.pages: list[tuple[dict, bool]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ok = verify(
                    SECRET,
                    timestamp=self.headers["X-Exwatch-Timestamp"],
                    body=body,
                    signature=self.headers["X-Exwatch-Signature"],
                )
                outer.pages.append((json.loads(body), ok))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, name="test-receiver")
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def test_webshell_pages_the_webhook_once(tmp_path: Path) -> None:
    receiver = Receiver()
    root = tmp_path / "drive"
    aspnet = root / "inetpub/wwwroot/aspnet_client"
    aspnet.mkdir(parents=True)
    config = tmp_path / "collector.toml"
    config.write_text(f"""
[[notify.routes]]
min_severity = "high"
channel = "oncall"

[notify.channels.oncall]
type = "webhook"
url = "{receiver.url}"
secret = "{SECRET}"
status_updates = true
""")
    collector = Collector(tmp_path / "collector", extra=["--config", str(config)])
    agent = AgentProc(root, tmp_path / "agent", collector.address)
    try:
        (aspnet / "x.aspx").write_bytes(
            b'<%@ Page Language="Jscript"%><%eval(Request.Item["z"],"unsafe");%>'
        )
        (aspnet / "y.aspx").write_bytes(b"<%@ Page %>second page, same incident")
        wait_for(lambda: receiver.pages, timeout=20, what="the page")
        [alert] = collector.alerts()
        wait_for(
            lambda: alert["event_count"] == 2 or collector.alerts()[0]["event_count"] == 2,
            what="the second piece of evidence",
        )
        collector.cli("alert", "resolve", str(alert["id"]), "--config", str(config))
        wait_for(lambda: len(receiver.pages) >= 2, timeout=20, what="the status update")
        pages = [p for p, _ in receiver.pages]
        assert all(ok for _, ok in receiver.pages), "every page is signed"
        assert len(pages) == 2  # opened, then resolved: new evidence did not page again
        assert SECRET not in collector.output()  # secrets never reach the logs
    finally:
        agent.stop()
        collector.stop()
        receiver.stop()
