"""The outbox SQL: enqueue in the alert's transaction, claim under a lease, per-(alert,
channel) order, dead letters and retry, concurrent claimers on one real database file."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_notify_support import add_alert, connect, make_store, routes_for

from collector.errors import NotFound, StoreError
from collector.notify import outbox
from collector.notify.routes import Routes
from collector.store.backend import Connection

SEC = 10**9
NOW = 1_000 * SEC


def routes() -> Routes:
    return routes_for(
        {
            "hook": {"type": "webhook", "url": "http://127.0.0.1:9/h", "secret": "s3cretvalue"},
            "pd": {"type": "pagerduty", "routing_key": "k" * 32, "url": "http://127.0.0.1:9/pd"},
        }
    )


@pytest.fixture
def conn(store_target: Path | str) -> Iterator[Connection]:
    c = connect(make_store(store_target))
    yield c
    c.close()


def enqueue(conn: Connection, alert: tuple[int, str], reason: str, **kw: object) -> int:
    args: dict[str, object] = {"tenant": "acme", "severity": 4, "now_ns": NOW, "routes": routes()}
    args.update(kw)
    return outbox.enqueue(
        conn,
        alert_id=alert[0],
        fingerprint=alert[1],
        reason=reason,
        **args,  # type: ignore[arg-type]
    )


def test_enqueue_writes_one_row_per_routed_channel(conn: Connection) -> None:
    alert = add_alert(conn)
    assert enqueue(conn, alert, "opened") == 2
    rows = outbox.list_notifications(conn, "pending")
    assert sorted(r["channel"] for r in rows) == ["hook", "pd"]
    assert {r["fingerprint"] for r in rows} == {alert[1]}
    assert outbox.list(conn, "sent") == []  # the contract's name works too


def test_status_changes_go_only_to_channels_that_follow_status(conn: Connection) -> None:
    alert = add_alert(conn)
    assert enqueue(conn, alert, "acknowledged") == 1
    [row] = outbox.list_notifications(conn)
    assert (row["channel"], row["reason"]) == ("pd", "acknowledged")


def test_below_every_route_nothing_is_queued(conn: Connection) -> None:
    alert = add_alert(conn, severity=1)
    assert enqueue(conn, alert, "opened", severity=1) == 0
    assert outbox.list_notifications(conn) == []


def test_unknown_reasons_are_refused(conn: Connection) -> None:
    with pytest.raises(ValueError, match="reason"):
        enqueue(conn, add_alert(conn), "evidence")


def test_enqueue_is_part_of_the_alert_transaction(conn: Connection) -> None:
    conn.begin()
    alert = add_alert(conn)
    enqueue(conn, alert, "opened")
    conn.rollback()
    assert outbox.list_notifications(conn) == []
    assert conn.execute("SELECT COUNT(*) FROM alerts").fetchone()[0] == 0


def test_escalations_fold_into_a_page_still_waiting(conn: Connection) -> None:
    """One incident, not a flood: while the first page has not gone out, rises in
    severity update it instead of queueing more (its content is read at send time)."""
    alert = add_alert(conn, severity=3)
    enqueue(conn, alert, "opened", severity=3)
    assert enqueue(conn, alert, "escalated", severity=5) == 2
    rows = outbox.list_notifications(conn)
    assert len(rows) == 2 and {r["severity"] for r in rows} == {5}
    # Once a worker holds the page, a rise is a page of its own.
    outbox.claim(conn, owner="w", now_ns=NOW, lease_ns=60 * SEC, limit=10)
    enqueue(conn, alert, "escalated", severity=5, now_ns=NOW + SEC)
    assert len(outbox.list_notifications(conn)) == 4


def test_claim_takes_due_rows_under_a_lease(conn: Connection) -> None:
    a, b = add_alert(conn), add_alert(conn)
    enqueue(conn, a, "opened")
    enqueue(conn, b, "opened")
    claimed = outbox.claim(conn, owner="w1", now_ns=NOW, lease_ns=60 * SEC, limit=3)
    assert len(claimed) == 3 and all(r["attempts"] == 1 for r in claimed)
    rest = outbox.claim(conn, owner="w2", now_ns=NOW, lease_ns=60 * SEC, limit=10)
    assert len(rest) == 1 and rest[0]["id"] not in {r["id"] for r in claimed}
    # Nothing left until the leases run out (their worker died): then they come back.
    assert outbox.claim(conn, owner="w2", now_ns=NOW + 59 * SEC, lease_ns=SEC, limit=10) == []
    again = outbox.claim(conn, owner="w2", now_ns=NOW + 61 * SEC, lease_ns=SEC, limit=10)
    assert sorted(r["id"] for r in again) == sorted(r["id"] for r in [*claimed, *rest])
    assert all(r["attempts"] == 2 for r in again)
    # The first worker lost its lease: its late answer does not count.
    assert not outbox.mark_sent(conn, claimed[0]["id"], owner="w1", now_ns=NOW + 62 * SEC)
    assert outbox.mark_sent(conn, claimed[0]["id"], owner="w2", now_ns=NOW + 62 * SEC)


def test_one_alert_and_channel_is_delivered_in_order(conn: Connection) -> None:
    """PagerDuty must see trigger, then acknowledge, then resolve, even when the trigger
    needs retries: a later row waits for the one before it."""
    alert = add_alert(conn)
    enqueue(conn, alert, "opened")
    enqueue(conn, alert, "acknowledged", now_ns=NOW + 1)
    enqueue(conn, alert, "resolved", now_ns=NOW + 2)
    [hook, pd] = outbox.claim(conn, owner="w", now_ns=NOW + 5, lease_ns=SEC, limit=10)
    assert (hook["channel"], pd["channel"], pd["reason"]) == ("hook", "pd", "opened")
    assert outbox.mark_sent(conn, hook["id"], owner="w", now_ns=NOW + 5)
    outbox.mark_failed(
        conn, pd["id"], owner="w", error="down", now_ns=NOW + 5, retry_at_ns=NOW + 10 * SEC
    )
    # The acknowledge is due but must not overtake the trigger.
    assert outbox.claim(conn, owner="w", now_ns=NOW + 9 * SEC, lease_ns=SEC, limit=10) == []
    assert outbox.next_due_ns(conn) == NOW + 10 * SEC
    [again] = outbox.claim(conn, owner="w", now_ns=NOW + 10 * SEC, lease_ns=SEC, limit=10)
    assert again["id"] == pd["id"]
    outbox.mark_sent(conn, pd["id"], owner="w", now_ns=NOW + 10 * SEC)
    [ack] = outbox.claim(conn, owner="w", now_ns=NOW + 10 * SEC, lease_ns=SEC, limit=10)
    assert ack["reason"] == "acknowledged"


def test_dead_letters_and_retry(conn: Connection) -> None:
    alert = add_alert(conn)
    enqueue(conn, alert, "acknowledged")
    [row] = outbox.claim(conn, owner="w", now_ns=NOW, lease_ns=SEC, limit=10)
    state = outbox.mark_failed(
        conn, row["id"], owner="w", error="HTTP 400", now_ns=NOW, retry_at_ns=None
    )
    assert state == "dead"
    [dead] = outbox.list_notifications(conn, "dead")
    assert (dead["last_error"], dead["attempts"]) == ("HTTP 400", 1)
    assert outbox.claim(conn, owner="w", now_ns=NOW + 10**12, lease_ns=SEC, limit=10) == []
    outbox.retry(conn, row["id"], now_ns=NOW + SEC)
    [pending] = outbox.list_notifications(conn, "pending")
    assert pending["attempts"] == 0
    with pytest.raises(StoreError, match="only dead"):
        outbox.retry(conn, row["id"], now_ns=NOW)
    with pytest.raises(NotFound):
        outbox.retry(conn, 999, now_ns=NOW)
    with pytest.raises(StoreError, match="unknown state"):
        outbox.list_notifications(conn, "lost")


def test_sent_rows_are_purged_dead_ones_kept(conn: Connection) -> None:
    enqueue(conn, add_alert(conn), "opened")
    hook, pd = outbox.claim(conn, owner="w", now_ns=NOW, lease_ns=SEC, limit=10)
    outbox.mark_sent(conn, hook["id"], owner="w", now_ns=NOW)
    outbox.mark_failed(conn, pd["id"], owner="w", error="x", now_ns=NOW, retry_at_ns=None)
    assert outbox.purge_sent(conn, before_ns=NOW + 1) == 1
    assert [r["state"] for r in outbox.list_notifications(conn)] == ["dead"]


def test_load_alert_decodes_the_json_columns(conn: Connection) -> None:
    alert_id, fp = add_alert(conn, details={"path": "x.aspx"})
    alert = outbox.load_alert(conn, alert_id)
    assert alert is not None
    assert alert["hosts"] == ["EXCH-A"] and alert["tags"] == ["attack.t1505.003"]
    assert alert["details"] == {"path": "x.aspx"} and alert["fingerprint"] == fp
    assert outbox.load_alert(conn, 12345) is None


def test_concurrent_claimers_never_share_a_row(store_target: Path | str) -> None:
    """Four connections (as four collector processes would have) claim at once."""
    path = make_store(store_target)
    setup = connect(path)
    for _ in range(50):
        enqueue(setup, add_alert(setup), "opened")
    setup.close()
    taken: dict[str, list[int]] = {}
    start = threading.Barrier(4)

    def claimer(name: str) -> None:
        c = connect(path)
        try:
            start.wait()
            mine = taken.setdefault(name, [])
            while rows := outbox.claim(c, owner=name, now_ns=NOW, lease_ns=60 * SEC, limit=3):
                mine += [r["id"] for r in rows]
                for r in rows:
                    outbox.mark_sent(c, r["id"], owner=name, now_ns=NOW)
        finally:
            c.close()

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for ids in taken.values() for i in ids]
    assert len(every) == len(set(every)) == 100
