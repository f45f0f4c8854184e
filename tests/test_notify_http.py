"""HTTP channels against a real receiver on loopback: payload shapes (signed webhook, Slack,
Teams Workflows, PagerDuty Events v2), outages, dead letters, and secrets kept out of logs
and of the outbox. The worker runs by hand on a clock the test moves."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from test_notify_support import (
    Clock,
    Receiver,
    add_alert,
    connect,
    make_store,
    receiver,
    routes_for,
)

from collector.notify import outbox
from collector.notify.channels import webhook
from collector.notify.cli import notifications
from collector.notify.routes import Routes
from collector.notify.worker import NotifyWorker


def queue(db: Path, routes: Routes, reason: str = "opened", **alert: Any) -> tuple[int, str]:
    conn = connect(db)
    try:
        conn.execute("BEGIN IMMEDIATE")
        alert_id, fp = add_alert(conn, **alert)
        outbox.enqueue(
            conn,
            tenant=alert.get("tenant", "acme"),
            alert_id=alert_id,
            fingerprint=fp,
            reason=reason,
            routes=routes,
            severity=alert.get("severity", 4),
            now_ns=time.time_ns() - 10**9,
        )
        conn.execute("COMMIT")
    finally:
        conn.close()
    return alert_id, fp


def change_status(db: Path, routes: Routes, alert: tuple[int, str], status: str) -> None:
    reason = {"open": "reopened", "acknowledged": "acknowledged", "resolved": "resolved"}[status]
    conn = connect(db)
    try:
        conn.execute(
            "UPDATE alerts SET status = ?, status_by = 'alice' WHERE id = ?", (status, alert[0])
        )
        outbox.enqueue(
            conn,
            tenant="acme",
            alert_id=alert[0],
            fingerprint=alert[1],
            reason=reason,
            routes=routes,
            severity=4,
            now_ns=time.time_ns() - 10**9,
        )
    finally:
        conn.close()


def rows(db: Path, state: str | None = None) -> list[dict[str, Any]]:
    conn = connect(db)
    try:
        return outbox.list_notifications(conn, state)
    finally:
        conn.close()


async def rounds(worker: NotifyWorker, clock: Clock, n: int, step: float = 60.0) -> None:
    for _ in range(n):
        await worker.run_once()
        clock.advance(step)


def run(db: Path, routes: Routes, n: int = 1, clock: Clock | None = None) -> None:
    async def go() -> None:
        worker = NotifyWorker(db, routes, clock=clock or time.time_ns, rand=lambda: 0.5)
        await worker.open()
        try:
            if clock is None:
                for _ in range(n):
                    await worker.run_once()
            else:
                await rounds(worker, clock, n)
        finally:
            await worker.close()

    asyncio.run(go())


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return make_store(tmp_path / "exwatch.db")


@pytest.fixture
def rx() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


def test_webhook_is_signed_over_timestamp_and_body(db: Path, rx: Receiver) -> None:
    routes = routes_for(
        {
            "hook": {
                "type": "webhook",
                "url": rx.url("/exwatch"),
                "secret": "hmac-secret-1",
                "headers": {"X-Extra": "yes"},
            }
        },
        console_url="https://console.example.net",
    )
    alert_id, fp = queue(db, routes, title="Webshell <b> on EXCH-A")
    run(db, routes)
    [req] = rx.accepted()
    stamp = req.headers["X-Exwatch-Timestamp"]
    sig = req.headers["X-Exwatch-Signature"]
    assert sig.startswith("sha256=") and req.headers["X-Extra"] == "yes"
    assert webhook.verify("hmac-secret-1", timestamp=stamp, body=req.body, signature=sig)
    # A changed body, a wrong key, or a replay with another timestamp fail.
    assert not webhook.verify("hmac-secret-1", timestamp=stamp, body=req.body + b" ", signature=sig)
    assert not webhook.verify("other", timestamp=stamp, body=req.body, signature=sig)
    later = str(int(stamp) + 1)
    assert not webhook.verify("hmac-secret-1", timestamp=later, body=req.body, signature=sig)
    assert not webhook.verify(
        "hmac-secret-1", timestamp=stamp, body=req.body, signature=sig, now=int(stamp) + 3600
    )
    doc = req.json()
    [row] = rows(db, "sent")
    assert req.headers["X-Exwatch-Delivery"] == str(row["id"]) == str(doc["delivery"])
    assert req.headers["X-Exwatch-Event"] == doc["event"] == "opened"
    assert doc["alert"]["id"] == alert_id and doc["alert"]["fingerprint"] == fp
    assert doc["alert"]["title"] == "Webshell <b> on EXCH-A"
    assert doc["alert"]["severity"] == "high"
    assert doc["alert"]["url"] == f"https://console.example.net/alerts/{alert_id}"


def test_slack_blocks_escape_hostile_text(db: Path, rx: Receiver) -> None:
    routes = routes_for({"s": {"type": "slack", "url": rx.url("/services/T/B/x")}})
    queue(db, routes, title="<!channel> new page <http://evil|click>", tenant="acme")
    run(db, routes)
    [req] = rx.accepted()
    doc = req.json()
    # mrkdwn text is escaped; the header is plain_text, which Slack never parses.
    mrkdwn = [doc["text"], *(json.dumps(b) for b in doc["blocks"][1:])]
    assert not any("<!channel>" in m or "<http://evil" in m for m in mrkdwn)
    assert "&lt;!channel&gt;" in doc["text"]
    assert doc["blocks"][0]["text"]["type"] == "plain_text"
    kinds = [b["type"] for b in doc["blocks"]]
    assert kinds[0] == "header" and kinds[-1] == "context" and "section" in kinds
    assert len(doc["blocks"][0]["text"]["text"]) <= 150
    fields = " ".join(f["text"] for f in doc["blocks"][1]["fields"])
    assert "*Severity*\nhigh" in fields and "EXCH-A" in fields


def test_teams_gets_an_adaptive_card_in_the_workflows_envelope(db: Path, rx: Receiver) -> None:
    routes = routes_for(
        {"t": {"type": "teams", "url": rx.url("/workflows/abc/invoke?sig=x")}},
        console_url="https://console.example.net",
    )
    alert_id, _ = queue(db, routes, title="[click](http://evil) *bold*")
    rx.status = 202  # what the Workflows trigger answers
    run(db, routes)
    [req] = rx.accepted()
    doc = req.json()
    assert doc["type"] == "message"
    [attachment] = doc["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["type"] == "TextBlock"
    assert "\\[click\\]\\(http://evil\\)" in card["body"][0]["text"]  # no Markdown link
    assert card["body"][1]["type"] == "FactSet"
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Open in exwatch",
            "url": f"https://console.example.net/alerts/{alert_id}",
        }
    ]


def test_pagerduty_triggers_then_follows_the_alert_status(db: Path, rx: Receiver) -> None:
    routes = routes_for(
        {"pd": {"type": "pagerduty", "routing_key": "R" * 32, "url": rx.url("/v2/enqueue")}}
    )
    rx.status = 202
    alert = queue(db, routes, severity=5, hosts=("EXCH-A", "EXCH-B"))
    run(db, routes)
    change_status(db, routes, alert, "acknowledged")
    change_status(db, routes, alert, "resolved")
    run(db, routes, n=3)
    events = [r.json() for r in rx.accepted()]
    assert [e["event_action"] for e in events] == ["trigger", "acknowledge", "resolve"]
    assert {e["dedup_key"] for e in events} == {alert[1]}
    assert {e["routing_key"] for e in events} == {"R" * 32}
    payload = events[0]["payload"]
    assert payload["severity"] == "critical"
    assert payload["source"] == "EXCH-A, EXCH-B"
    assert payload["summary"].startswith("[acme] New page in web root")
    assert payload["custom_details"]["id"] == alert[0]
    assert "payload" not in events[1] and "payload" not in events[2]


def test_a_receiver_that_was_down_gets_every_page_exactly_once(db: Path) -> None:
    """Connection refused, then 500s, then up: each page arrives once, none is lost."""
    rx = Receiver().start()
    port = rx.port
    rx.stop()  # connection refused from now on
    routes = routes_for(
        {"hook": {"type": "webhook", "url": f"http://127.0.0.1:{port}/h", "secret": "s3cret"}}
    )
    for _ in range(5):
        queue(db, routes)
    clock = Clock(time.time_ns())
    run(db, routes, n=3, clock=clock)
    waiting = rows(db, "pending")
    assert len(waiting) == 5 and all(r["attempts"] == 3 for r in waiting)
    assert all("ConnectError" in r["last_error"] for r in waiting)
    rx = Receiver(port=port, fail=3).start()
    try:
        run(db, routes, n=10, clock=clock)
        ids = [r.json()["delivery"] for r in rx.accepted()]
        assert sorted(ids) == sorted(r["id"] for r in rows(db)) and len(set(ids)) == 5
        assert len(rx.requests) == 8  # the three 500s were retried
        assert rows(db, "pending") == [] and len(rows(db, "sent")) == 5
    finally:
        rx.stop()


def test_a_rejected_page_goes_dead_and_can_be_retried(db: Path, rx: Receiver) -> None:
    routes = routes_for({"s": {"type": "slack", "url": rx.url("/services/T/B/x")}})
    rx.fail, rx.fail_status, rx.fail_body = 1, 404, "no_service"
    queue(db, routes)
    run(db, routes)
    [dead] = rows(db, "dead")
    assert dead["attempts"] == 1 and "HTTP 404" in dead["last_error"]
    cli = CliRunner()
    data = ["--data-dir", str(db.parent)]
    listed = cli.invoke(notifications, ["list", "--state", "dead", "--format", "json", *data])
    assert listed.exit_code == 0, listed.output
    assert [r["id"] for r in json.loads(listed.output)] == [dead["id"]]
    table = cli.invoke(notifications, ["list", "--state", "dead", *data])
    assert "no_service" in table.output
    retried = cli.invoke(notifications, ["retry", str(dead["id"]), *data])
    assert retried.exit_code == 0 and "queued again" in retried.output
    again = cli.invoke(notifications, ["retry", str(dead["id"]), *data])
    assert again.exit_code != 0 and "only dead" in again.output
    run(db, routes)
    assert [r["id"] for r in rows(db, "sent")] == [dead["id"]]
    assert len(rx.accepted()) == 1


def test_retry_after_is_honoured(db: Path, rx: Receiver) -> None:
    routes = routes_for(
        {"pd": {"type": "pagerduty", "routing_key": "k" * 32, "url": rx.url()}},
        backoff_initial_seconds=1,
        backoff_max_seconds=600,
    )
    rx.fail, rx.fail_status, rx.fail_headers = 1, 429, {"Retry-After": "120"}
    queue(db, routes)
    before = time.time_ns()
    run(db, routes)
    [row] = rows(db, "pending")
    assert row["next_attempt_ns"] >= before + 120 * 10**9


def test_secrets_stay_out_of_logs_and_the_outbox(
    db: Path, rx: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = {
        "slack": "/services/T0/B0/SLACKTOKEN0123",
        "teams": "/workflows/w/invoke?api-version=1&sig=TEAMSSIG0123",
        "hook": "/hooks/HOOKPATH0123",
    }
    routes = routes_for(
        {
            "slack": {"type": "slack", "url": rx.url(secrets["slack"])},
            "teams": {"type": "teams", "url": rx.url(secrets["teams"])},
            "hook": {"type": "webhook", "url": rx.url(secrets["hook"]), "secret": "HMACKEY0123"},
            "pd": {"type": "pagerduty", "routing_key": "PDKEY0123456789", "url": rx.url("/pd")},
        }
    )
    # The receiver echoes what it got, secrets included, into its error answers.
    rx.fail, rx.fail_body = 4, "bad hook SLACKTOKEN0123 TEAMSSIG0123 HOOKPATH0123 PDKEY0123456789"
    queue(db, routes)
    run(db, routes)
    stored = json.dumps(rows(db))
    run(db, routes, n=1, clock=Clock(time.time_ns() + 3600 * 10**9))  # now they go out
    assert len(rx.accepted()) == 4
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "HTTP 500" in stored and "sent to" in logged
    assert "HTTP Request: POST http://127.0.0.1" in logged  # httpx2's own line, redacted
    for secret in ("SLACKTOKEN0123", "TEAMSSIG0123", "HOOKPATH0123", "PDKEY0123456789", "HMACKEY"):
        assert secret not in stored
        assert secret not in logged


def test_cli_test_sends_at_once_and_reports_errors_without_secrets(
    tmp_path: Path, rx: Receiver
) -> None:
    config = tmp_path / "collector.toml"
    config.write_text(
        f"""
data_dir = "{tmp_path}"
[notify.channels.hook]
type = "webhook"
url = "{rx.url("/hooks/CLISECRET123")}"
secret = "hmac-secret-2"
"""
    )
    cli = CliRunner()
    ok = cli.invoke(notifications, ["test", "--channel", "hook", "--config", str(config)])
    assert ok.exit_code == 0, ok.output
    assert "test notification sent to hook" in ok.output and "CLISECRET123" not in ok.output
    [req] = rx.accepted()
    assert req.json()["event"] == "test" and req.headers["X-Exwatch-Event"] == "test"
    rx.fail, rx.fail_body = 1, "unknown hook CLISECRET123"
    failed = cli.invoke(notifications, ["test", "--channel", "hook", "--config", str(config)])
    assert failed.exit_code != 0 and "HTTP 500" in failed.output
    assert "CLISECRET123" not in failed.output
    unknown = cli.invoke(notifications, ["test", "--channel", "nope", "--config", str(config)])
    assert unknown.exit_code != 0 and "configured: hook" in unknown.output
