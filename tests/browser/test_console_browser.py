"""The console in a real Chromium (Debian's /usr/bin/chromium; nothing is downloaded):
sign in, see the fleet, watch an alert arrive live, open it, read its timeline,
acknowledge and resolve it. Screenshots go to test-artifacts/console/.

The console runs exactly as in the collector: ``start_console`` on an asyncio loop (here
in a thread of its own, stopped and joined at the end).
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/: shared builders

from test_console_support import PASSWORD, Console, build_template, open_console, webshell

from collector.console.server import ConsoleServer, start_console, stop_console
from collector.store import AgentInfo

CHROMIUM = Path("/usr/bin/chromium")
MBX2 = AgentInfo("agent-globex-2", "globex", "GLOBEX-MBX2")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium)",
)


class LoopThread:
    """An asyncio loop in a thread, serving the console until stopped."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="console-loop")
        self.server: ConsoleServer | None = None
        self.port = 0

    def __enter__(self) -> LoopThread:
        self.thread.start()
        future = asyncio.run_coroutine_threadsafe(
            start_console(self.console.app, "127.0.0.1", 0), self.loop
        )
        self.server, self.port = future.result(timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(stop_console(self.server), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Console, str]]:
    console = open_console(build_template(tmp_path), tmp_path / "..", live_poll_seconds=1.0)
    try:
        with LoopThread(console) as loop:
            yield console, f"http://127.0.0.1:{loop.port}"
    finally:
        console.store.close()


def test_analyst_flow_in_chromium(served: tuple[Console, str]) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    console, base = served
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

            page.goto(f"{base}/fleet")
            assert "/login" in page.url  # signed out: sent to the login page
            page.fill("input[name=username]", "msp")
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/fleet")
            sync_api.expect(page.locator("text=GLOBEX-MBX1")).to_be_visible()
            sync_api.expect(page.locator("text=15.2.1544.4").first).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "fleet.png"), full_page=True)

            page.goto(f"{base}/")
            sync_api.expect(page.locator("svg.chart").first).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "overview.png"), full_page=True)

            page.goto(f"{base}/alerts")
            sync_api.expect(page.locator("#alert-live")).to_be_visible()
            page.evaluate("window.__sameDocument = true")  # gone if the page reloads
            # A webshell lands on a host with no open incident while the analyst watches.
            console.store.register_agent(
                MBX2, agent_version="0.1.0", rules_version="r-2026.11", os="", now_ns=time.time_ns()
            )
            console.store.commit_batch(
                MBX2,
                1,
                [
                    webshell(
                        "live-1",
                        r"C:\inetpub\wwwroot\aspnet_client\live-drop.aspx",
                        t=time.time_ns(),
                        tags=(),
                    )
                ],
                now_ns=time.time_ns(),
            )
            row = page.locator("#alert-live tr", has_text="live-drop.aspx")
            sync_api.expect(row).to_be_visible(timeout=10_000)
            assert page.evaluate("window.__sameDocument") is True
            page.screenshot(path=str(ARTIFACTS / "queue-live.png"), full_page=True)

            # filters live in the URL
            page.select_option("select[name=tenant]", "globex")
            page.wait_for_url("**/alerts?*tenant=globex*")
            sync_api.expect(page.locator("#alert-live", has_text="ACME-EXCH01")).to_have_count(0)

            row.locator("a").first.click()
            page.wait_for_url("**/alerts/*")
            timeline = page.locator("ol.timeline")
            sync_api.expect(timeline).to_contain_text("live-drop.aspx")
            sync_api.expect(timeline).to_contain_text("malicious")
            page.screenshot(path=str(ARTIFACTS / "alert.png"), full_page=True)

            page.fill("input[name=comment]", "on it")
            page.click("button[value=acknowledged]")
            sync_api.expect(page.locator("#alert-status")).to_contain_text("acknowledged")
            sync_api.expect(page.locator("#alert-status")).to_contain_text("msp")
            page.click("button[value=resolved]")
            sync_api.expect(page.locator("#alert-status")).to_contain_text("resolved")
            page.screenshot(path=str(ARTIFACTS / "alert-resolved.png"), full_page=True)

            # CSP holds and htmx needs nothing it forbids
            assert not [e for e in errors if "Content Security Policy" in e], errors
        finally:
            browser.close()
