"""Containment requests, approvals and per-tenant approval policies, scoped to the caller.

The console, its JSON API and the CLI all call these (like ``data``'s functions they take
a store ``Connection`` and the caller's ``Principal``). A request for an action that the
host's tenant makes wait for a second analyst is kept in ``command_approvals`` and not
sent; another user's approval turns it into a command under the same id. Every step is
written to the audit log; the ``commands`` row is the record of what the agent answered.
"""

from __future__ import annotations

import uuid
from typing import Any

from collector.console import data
from collector.console.data import Principal
from collector.containment import APPROVABLE, ContainmentRequest
from collector.store.backend import Connection
from collector.store.store import Store


def host_tenant(conn: Connection, p: Principal, agent_id: str) -> str:
    """The tenant of a host the caller may see (else NotVisible)."""
    where, args = data.scope(p, "tenant")
    host = conn.execute(
        f"SELECT tenant FROM agents WHERE id = ? AND {where}", [agent_id, *args]
    ).fetchone()
    if host is None:
        raise data.NotVisible("no such host")
    return str(host["tenant"])


def approval_policy(conn: Connection, tenant: str) -> list[str]:
    """The actions of ``tenant`` that need a second analyst."""
    rows = conn.execute(
        "SELECT action FROM approval_policies WHERE tenant = ? ORDER BY action", (tenant,)
    )
    return [str(r[0]) for r in rows]


def set_approval_policy(
    conn: Connection, p: Principal, tenant: str, actions: list[str], *, ip: str = ""
) -> list[str]:
    """Make exactly ``actions`` (of ``APPROVABLE``) wait for a second analyst in ``tenant``."""
    data.require_admin(p)
    if not p.sees(tenant):
        raise data.NotVisible("no such tenant")
    unknown = sorted(set(actions) - set(APPROVABLE))
    if unknown:
        raise data.Invalid(
            f"only {', '.join(APPROVABLE)} can require approval, not {', '.join(unknown)}"
        )
    before = approval_policy(conn, tenant)
    conn.execute("DELETE FROM approval_policies WHERE tenant = ?", (tenant,))
    for action in sorted(set(actions)):
        conn.execute(
            "INSERT INTO approval_policies (tenant, action) VALUES (?, ?) ON CONFLICT DO NOTHING",
            (tenant, action),
        )
    after = approval_policy(conn, tenant)
    data.audit(
        conn,
        p.username,
        "containment.policy",
        tenant=tenant,
        object_type="tenant",
        object_id=tenant,
        detail={"require_approval": after, "previous": before},
        ip=ip,
    )
    return after


def request_containment(
    conn: Connection,
    p: Principal,
    agent_id: str,
    request: ContainmentRequest,
    reason: str = "",
    *,
    ip: str = "",
) -> dict[str, Any]:
    """Queue the action for the host's agent, or keep it awaiting a second analyst when
    the host's tenant requires one for it."""
    data.require_alert_writer(p)
    tenant = host_tenant(conn, p, agent_id)
    t = data.now_ns()
    argument = request.argument()
    awaiting = request.action in APPROVABLE and request.action in approval_policy(conn, tenant)
    if awaiting:
        command_id = uuid.uuid4().hex
        conn.execute(
            "INSERT INTO command_approvals (id, tenant, agent_id, action, kind, argument, "
            "reason, requested_by, requested_ns, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
            "'awaiting')",
            (command_id, tenant, agent_id, request.action, request.kind, argument, reason,
             p.username, t),
        )  # fmt: skip
    else:
        command_id = Store.insert_command(
            conn,
            tenant=tenant,
            agent_id=agent_id,
            kind=request.kind,
            argument=argument,
            reason=reason,
            actor=p.username,
            now_ns=t,
        )
    status = "awaiting_approval" if awaiting else "pending"
    data.audit(
        conn,
        p.username,
        f"containment.{request.action}",
        tenant=tenant,
        object_type="host",
        object_id=agent_id,
        detail={"command": command_id, "argument": argument, "reason": reason, "status": status},
        ip=ip,
    )
    return {"command": command_id, "agent_id": agent_id, "action": request.action,
            "status": status}  # fmt: skip


def decide(
    conn: Connection, p: Principal, command_id: str, *, approve: bool, ip: str = ""
) -> dict[str, Any]:
    """Approve (the command is then sent) or refuse a request awaiting approval. The
    requester cannot approve their own request; they may withdraw it (refuse)."""
    data.require_alert_writer(p)
    where, args = data.scope(p, "tenant")
    row = conn.execute(
        f"SELECT * FROM command_approvals WHERE id = ? AND {where}{conn.dialect.for_update}",
        [command_id, *args],
    ).fetchone()
    if row is None:
        raise data.NotVisible("no such request")
    if row["status"] != "awaiting":
        raise data.Conflict(
            f"request {command_id} was already {row['status']} by {row['decided_by']}"
        )
    if approve and row["requested_by"] == p.username:
        raise data.Forbidden(
            f"{p.username} asked for this {row['action']}; another analyst must approve it"
        )
    t = data.now_ns()
    status = "approved" if approve else "refused"
    conn.execute(
        "UPDATE command_approvals SET status = ?, decided_by = ?, decided_ns = ? WHERE id = ?",
        (status, p.username, t, command_id),
    )
    if approve:
        Store.insert_command(
            conn,
            command_id=command_id,
            tenant=row["tenant"],
            agent_id=row["agent_id"],
            kind=row["kind"],
            argument=row["argument"],
            reason=row["reason"],
            actor=row["requested_by"],
            now_ns=t,
        )
    data.audit(
        conn,
        p.username,
        f"containment.{'approve' if approve else 'refuse'}",
        tenant=row["tenant"],
        object_type="host",
        object_id=row["agent_id"],
        detail={
            "command": command_id,
            "action": row["action"],
            "requested_by": row["requested_by"],
        },
        ip=ip,
    )
    return {"command": command_id, "agent_id": row["agent_id"], "action": row["action"],
            "status": status, "decided_by": p.username}  # fmt: skip


def list_requests(
    conn: Connection,
    p: Principal,
    *,
    agent_id: str | None = None,
    status: str | None = "awaiting",
) -> list[dict[str, Any]]:
    """Containment requests that needed approval (by default those still waiting)."""
    where, args = data.scope(p, "tenant")
    clauses = [where]
    if agent_id:
        clauses.append("agent_id = ?")
        args.append(agent_id)
    if status:
        clauses.append("status = ?")
        args.append(status)
    rows = conn.execute(
        "SELECT id, tenant, agent_id, action, argument, reason, requested_by, requested_ns, "
        f"status, decided_by, decided_ns FROM command_approvals WHERE {' AND '.join(clauses)} "
        "ORDER BY requested_ns",
        args,
    )
    out = []
    for r in rows:
        row = dict(r)
        row["requested"] = data.iso(row.pop("requested_ns"))
        decided_ns = row.pop("decided_ns")
        row["decided"] = data.iso(decided_ns) if decided_ns else ""
        out.append(row)
    return out
