"""The notification outbox: plain SQL on a store ``Connection``, SQLite or PostgreSQL
(table ``notifications``, migration m011_outbox).

``enqueue`` runs inside the transaction that opens or escalates the alert (or changes its
status), so a page exists exactly when its alert change does: a crash can lose neither
without the other. The worker then ``claim``s due rows under a lease, sends, and records
``mark_sent`` or ``mark_failed``; a row that fails too often goes ``dead`` and stays
visible until ``retry``.

Ordering: only the oldest pending row of one (alert, channel) can be claimed, so
PagerDuty sees trigger → acknowledge → resolve in that order, even across retries.

Delivery is at-least-once: a worker that dies after sending but before ``mark_sent``
leaves a lease that expires, and the row is sent again. Receivers dedup on the delivery id
(webhook) or dedup_key (PagerDuty). Two live workers never send the same row: on SQLite
a claim is one IMMEDIATE transaction (writers are serial); on PostgreSQL, where workers of
several collectors claim at once, the claim locks its rows ``FOR UPDATE SKIP LOCKED`` and
passes over rows another worker is claiming.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from collector.errors import NotFound, StoreError
from collector.notify.channels.base import REASONS, STATUS_REASONS

if TYPE_CHECKING:
    from collector.notify.routes import Routes
    from collector.store.backend import Connection, Cursor, Dialect

STATES = ("pending", "sent", "dead")
# Reasons that page; a page still waiting for its channel absorbs later ones (the alert's
# content is read at send time, so it will show the latest state anyway).
PAGE_REASONS = frozenset({"opened", "escalated"})
ERROR_MAX = 1000

# Only the head of each (alert, channel) queue is claimable: see the module docstring.
_CLAIMABLE = """n.state = 'pending'
    AND NOT EXISTS (SELECT 1 FROM notifications p WHERE p.state = 'pending'
                    AND p.alert_id = n.alert_id AND p.channel = n.channel AND p.id < n.id)"""


def _claim_sql(dialect: Dialect) -> str:
    return f"""UPDATE notifications
    SET lease_until = :lease_until, lease_owner = :owner, attempts = attempts + 1,
        updated_ns = :now
    WHERE id IN (
        SELECT n.id FROM notifications n
        WHERE {_CLAIMABLE} AND n.next_attempt_ns <= :now
          AND (n.lease_until IS NULL OR n.lease_until < :now)
        ORDER BY n.next_attempt_ns, n.id
        LIMIT :limit{dialect.skip_locked})
    RETURNING id, tenant, alert_id, fingerprint, channel, reason, severity, attempts,
              created_ns"""


def _dicts(cursor: Cursor) -> list[dict[str, Any]]:
    return [dict(row) for row in cursor.fetchall()]


def enqueue(
    conn: Connection,
    *,
    tenant: str,
    alert_id: int,
    fingerprint: str,
    reason: str,
    routes: Routes,
    severity: int,
    now_ns: int,
) -> int:
    """Queue a notification of ``alert_id`` on every channel its tenant and severity route
    to. ``reason``: "opened" or "escalated" (pages), or "acknowledged", "resolved",
    "reopened" (status changes: only channels with status_updates, PagerDuty by default).
    Runs in the caller's transaction. Returns how many channels will be notified (a page
    folded into one still waiting for its channel counts)."""
    if reason not in REASONS or reason == "test":
        raise ValueError(f"unknown notification reason {reason!r}")
    count = 0
    for channel in routes.match(tenant, severity):
        if reason in STATUS_REASONS and not channel.status_updates:
            continue
        if reason in PAGE_REASONS:
            # FOR UPDATE (PostgreSQL): a worker cannot claim it between this look and the
            # update below; one that claimed it first is waited for and seen holding it.
            last = conn.execute(
                "SELECT id, reason, lease_until FROM notifications WHERE alert_id = ? "
                "AND channel = ? AND state = 'pending' ORDER BY id DESC LIMIT 1"
                + conn.dialect.for_update,
                (alert_id, channel.name),
            ).fetchone()
            # Not while a worker holds it: it may have rendered the older content already.
            free = last is not None and (last[2] is None or last[2] < now_ns)
            if last is not None and free and last[1] in PAGE_REASONS:
                conn.execute(
                    f"UPDATE notifications SET severity = {conn.dialect.greatest}(severity, ?), "
                    "updated_ns = ? WHERE id = ?",
                    (severity, now_ns, last[0]),
                )
                count += 1
                continue
        conn.execute(
            "INSERT INTO notifications (tenant, alert_id, fingerprint, channel, reason, "
            "severity, state, next_attempt_ns, created_ns, updated_ns) "
            "VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)",
            (tenant, alert_id, fingerprint, channel.name, reason, severity, now_ns, now_ns, now_ns),
        )
        count += 1
    return count


def _immediate(conn: Connection) -> bool:
    """BEGIN IMMEDIATE unless the caller already holds a transaction; True if we began."""
    if conn.in_transaction:
        return False
    conn.begin()
    return True


def claim(
    conn: Connection, *, owner: str, now_ns: int, lease_ns: int, limit: int
) -> list[dict[str, Any]]:
    """Take up to ``limit`` due rows for ``owner`` until ``now_ns + lease_ns``; counts the
    attempt now (a row that crashes its worker every time still goes dead)."""
    began = _immediate(conn)
    try:
        rows = _dicts(
            conn.execute(
                _claim_sql(conn.dialect),
                {"lease_until": now_ns + lease_ns, "owner": owner, "now": now_ns, "limit": limit},
            )
        )
        if began:
            conn.commit()
    except BaseException:
        if began:
            conn.rollback()
        raise
    rows.sort(key=lambda r: int(r["id"]))
    return rows


def mark_sent(conn: Connection, notification_id: int, *, owner: str, now_ns: int) -> bool:
    """False if the lease was lost meanwhile (another worker may send it again)."""
    cur = conn.execute(
        "UPDATE notifications SET state = 'sent', sent_ns = ?, updated_ns = ?, "
        "lease_until = NULL WHERE id = ? AND state = 'pending' AND lease_owner = ?",
        (now_ns, now_ns, notification_id, owner),
    )
    return cur.rowcount == 1


def mark_failed(
    conn: Connection,
    notification_id: int,
    *,
    owner: str,
    error: str,
    now_ns: int,
    retry_at_ns: int | None,
) -> str:
    """Record a failed attempt: pending again at ``retry_at_ns``, or dead when it is None.
    ``error`` must already be scrubbed of secrets. Returns the new state ("" if the lease
    was lost)."""
    state = "pending" if retry_at_ns is not None else "dead"
    cur = conn.execute(
        "UPDATE notifications SET state = ?, next_attempt_ns = ?, last_error = ?, "
        "lease_until = NULL, updated_ns = ? WHERE id = ? AND state = 'pending' "
        "AND lease_owner = ?",
        (
            state,
            retry_at_ns if retry_at_ns is not None else now_ns,
            error[:ERROR_MAX],
            now_ns,
            notification_id,
            owner,
        ),
    )
    return state if cur.rowcount == 1 else ""


def next_due_ns(conn: Connection) -> int | None:
    """When the next claimable row falls due (a lease ending counts), or None."""
    due = f"{conn.dialect.greatest}(n.next_attempt_ns, COALESCE(n.lease_until, 0))"
    row = conn.execute(f"SELECT MIN({due}) FROM notifications n WHERE {_CLAIMABLE}").fetchone()
    return None if row is None or row[0] is None else int(row[0])


def list_notifications(
    conn: Connection,
    state: str | None = None,
    *,
    tenant: str | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    """Newest first; the lease owner is left out (it is an internal detail)."""
    where, args = [], []
    if state is not None:
        if state not in STATES:
            raise StoreError(f"unknown state {state!r}; expected one of {', '.join(STATES)}")
        where.append("state = ?")
        args.append(state)
    if tenant is not None:
        where.append("tenant = ?")
        args.append(tenant)
    sql = (
        "SELECT id, tenant, alert_id, fingerprint, channel, reason, severity, state, attempts, "
        "next_attempt_ns, last_error, created_ns, updated_ns, sent_ns FROM notifications"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY id DESC LIMIT ?"
    )
    return _dicts(conn.execute(sql, (*args, limit)))


def retry(conn: Connection, notification_id: int, *, now_ns: int) -> None:
    """Send a dead notification again, with a fresh attempt budget."""
    cur = conn.execute(
        "UPDATE notifications SET state = 'pending', attempts = 0, next_attempt_ns = ?, "
        "lease_until = NULL, lease_owner = '', updated_ns = ? WHERE id = ? AND state = 'dead'",
        (now_ns, now_ns, notification_id),
    )
    if cur.rowcount == 1:
        return
    row = conn.execute(
        "SELECT state FROM notifications WHERE id = ?", (notification_id,)
    ).fetchone()
    if row is None:
        raise NotFound(f"no notification {notification_id}")
    raise StoreError(f"notification {notification_id} is {row[0]}; only dead ones are retried")


def purge_sent(conn: Connection, *, before_ns: int) -> int:
    """Forget sent notifications older than ``before_ns`` (dead ones stay for a human)."""
    return conn.execute(
        "DELETE FROM notifications WHERE state = 'sent' AND sent_ns < ?", (before_ns,)
    ).rowcount


_ALERT_COLUMNS: Sequence[str] = (
    "id",
    "tenant",
    "fingerprint",
    "rule",
    "title",
    "severity",
    "status",
    "status_by",
    "status_comment",
    "tags",
    "hosts",
    "details",
    "first_seen_ns",
    "last_seen_ns",
    "event_count",
)


def load_alert(conn: Connection, alert_id: int) -> dict[str, Any] | None:
    """An alert row with its JSON columns (tags, hosts, details) decoded."""
    rows = _dicts(
        conn.execute(f"SELECT {', '.join(_ALERT_COLUMNS)} FROM alerts WHERE id = ?", (alert_id,))
    )
    if not rows:
        return None
    alert = rows[0]
    for key, empty in (("tags", "[]"), ("hosts", "[]"), ("details", "{}")):
        alert[key] = json.loads(alert[key] or empty)
    return alert


def __getattr__(name: str) -> Any:
    # ``outbox.list(conn, state)``, the name the integration contract uses, without a
    # module-level ``list`` that would shadow the builtin in this module's annotations.
    if name == "list":
        return list_notifications
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
