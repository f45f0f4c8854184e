"""The console's data layer.

Every function takes the caller's ``Principal`` and puts its tenant scope into the SQL
itself (``tenant IN (...)``), so a page or route that forgets to check cannot show another
tenant's rows: the rows are never read. Objects outside the scope raise ``NotVisible``
(404 to the client), exactly as objects that do not exist, so ids cannot be probed.

Functions here are synchronous and take a store ``Connection`` (SQLite or PostgreSQL;
``collector.store.backend``); ``ConsoleDB`` runs them on a small thread pool of its own so
the collector's event loop (gRPC and HTTP) never waits on the database. The CLI calls the
same functions directly.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import queue
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Concatenate, ParamSpec, TypeVar

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError

from collector.alerting.candidates import SEVERITY_BY_NAME, SEVERITY_NAMES
from collector.errors import StoreError
from collector.patch import exposure, exposure_summary
from collector.store.backend import Connection, Cursor, Database, IntegrityError, Row
from collector.store.store import Store
from protos import exwatch_pb2 as pb

ROLES = ("admin", "msp_analyst", "tenant_analyst", "read_only")
ALERT_STATUSES = ("open", "acknowledged", "resolved")
# Queue filters: one status, or every status that still needs someone ("unresolved").
STATUS_FILTERS = (*ALERT_STATUSES, "unresolved")
SEVERITIES = tuple(SEVERITY_NAMES.values())  # informational .. critical, ascending
MAX_COMMENT = 10_000
MAX_LIMIT = 1000

P = ParamSpec("P")
T = TypeVar("T")


# ---------------------------------------------------------------------------- errors


class ConsoleError(Exception):
    """A request the console refuses; ``status`` is the HTTP status it maps to."""

    status = 400


class NotVisible(ConsoleError):
    """Absent, or outside the caller's tenants: the same answer for both."""

    status = 404


class Forbidden(ConsoleError):
    """The caller's role does not allow this (never depends on the object)."""

    status = 403


class Invalid(ConsoleError):
    status = 422


class Conflict(ConsoleError):
    status = 409


# ---------------------------------------------------------------------------- principal


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: a signed-in user, an API token (acting as its user) or the CLI."""

    user_id: int
    username: str
    role: str
    # None: every tenant. Otherwise exactly these (possibly none).
    tenants: frozenset[str] | None
    via: str = "session"  # session | token | cli
    session_key: str = ""  # sha256 of the session id (sessions only)
    csrf_token: str = ""  # sessions only
    token_id: int = 0  # API tokens only

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def can_write_alerts(self) -> bool:
        return self.role in ("admin", "msp_analyst", "tenant_analyst")

    def sees(self, tenant: str) -> bool:
        return self.tenants is None or tenant in self.tenants


def cli_principal(actor: str) -> Principal:
    """The operator at the collector's terminal: they hold the database file anyway."""
    return Principal(0, actor, "admin", None, via="cli")


def scope(p: Principal, column: str) -> tuple[str, list[Any]]:
    """SQL condition restricting ``column`` (a constant from this module, never input)
    to the principal's tenants."""
    if p.tenants is None:
        return "TRUE", []
    if not p.tenants:
        return "FALSE", []
    return f"{column} IN ({','.join('?' * len(p.tenants))})", sorted(p.tenants)


def require_admin(p: Principal) -> None:
    if not p.is_admin:
        raise Forbidden("only an admin may do this")


def require_alert_writer(p: Principal) -> None:
    if not p.can_write_alerts:
        raise Forbidden("your role may read alerts but not change them")


# ---------------------------------------------------------------------------- helpers


def now_ns() -> int:
    return time.time_ns()


def iso(ns: int) -> str:
    """The timestamp format of the store (and so of the CLI's JSON)."""
    return (
        datetime.fromtimestamp(ns / 1e9, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def severity_name(value: int) -> str:
    return SEVERITY_NAMES.get(value, "unknown")  # type: ignore[call-overload, no-any-return]


def normalize_tag(tag: str) -> str:
    """Accept ``CVE-2021-26855`` as well as the Sigma spelling ``cve.2021-26855``."""
    t = tag.strip().lower()
    if t.startswith("cve-"):
        t = "cve." + t[4:]
    return t


def _rows(cur: Cursor) -> list[dict[str, Any]]:
    return [dict(r) for r in cur.fetchall()]


# ---------------------------------------------------------------------------- tenants


def visible_tenants(conn: Connection, p: Principal) -> list[str]:
    where, args = scope(p, "name")
    names = {r[0] for r in conn.execute(f"SELECT name FROM tenants WHERE {where}", args)}
    # Agents may exist for a tenant without a tenants row (stores made before m002).
    where, args = scope(p, "tenant")
    names |= {r[0] for r in conn.execute(f"SELECT DISTINCT tenant FROM agents WHERE {where}", args)}
    return sorted(names)


def tenant_summaries(
    conn: Connection, p: Principal, *, now: int, offline_after_ns: int
) -> list[dict[str, Any]]:
    """Per tenant: hosts, online/offline/revoked, open alerts by severity."""
    out: dict[str, dict[str, Any]] = {
        t: {
            "tenant": t,
            "hosts": 0,
            "online": 0,
            "offline": 0,
            "revoked": 0,
            "open_alerts": 0,
            "unresolved_by_severity": {s: 0 for s in SEVERITIES},
        }
        for t in visible_tenants(conn, p)
    }
    where, args = scope(p, "tenant")
    for r in conn.execute(
        f"""SELECT tenant, COUNT(*) AS hosts,
              COUNT(*) FILTER (WHERE revoked_ns = 0 AND last_seen_ns >= ?) AS online,
              COUNT(*) FILTER (WHERE revoked_ns = 0 AND last_seen_ns < ?) AS offline,
              COUNT(*) FILTER (WHERE revoked_ns > 0) AS revoked
            FROM agents WHERE {where} GROUP BY tenant""",
        [now - offline_after_ns, now - offline_after_ns, *args],
    ):
        if r["tenant"] in out:
            out[r["tenant"]].update(
                hosts=r["hosts"], online=r["online"], offline=r["offline"], revoked=r["revoked"]
            )
    for r in conn.execute(
        f"""SELECT tenant, status, severity, COUNT(*) AS n FROM alerts
            WHERE status != 'resolved' AND {where} GROUP BY tenant, status, severity""",
        args,
    ):
        entry = out.get(r["tenant"])
        if entry is None:
            continue
        if r["status"] == "open":
            entry["open_alerts"] += r["n"]
        name = severity_name(r["severity"])
        if name in entry["unresolved_by_severity"]:
            entry["unresolved_by_severity"][name] += r["n"]
    return list(out.values())


# ---------------------------------------------------------------------------- hosts


def _host_dict(r: Row, now: int, offline_after_ns: int) -> dict[str, Any]:
    d = dict(r)
    state = (
        "revoked"
        if d["revoked_ns"]
        else ("online" if d["last_seen_ns"] >= now - offline_after_ns else "offline")
    )
    patch = exposure(d["exchange_build"])
    return {
        "id": d["id"],
        "tenant": d["tenant"],
        "hostname": d["hostname"],
        "state": state,
        "online": state == "online",
        "revoked": bool(d["revoked_ns"]),
        "last_seen": iso(d["last_seen_ns"]),
        "last_seen_ns": d["last_seen_ns"],
        "first_seen": iso(d["first_seen_ns"]),
        "agent_version": d["agent_version"],
        "rules_version": d["rules_version"],
        "exchange_build": d["exchange_build"],
        "patch_status": patch,
        "patch": exposure_summary(patch),
        "os": d["os"],
        "spool_events": d["spool_events"],
        "events_shed_total": d["events_shed_total"],
        "last_sequence": d["last_sequence"],
        "open_alerts": d.get("open_alerts", 0) or 0,
    }


_HOST_SELECT = """SELECT a.*, (SELECT COUNT(*) FROM alerts al WHERE al.agent_id = a.id
                     AND al.status != 'resolved') AS open_alerts FROM agents a"""


def list_hosts(
    conn: Connection,
    p: Principal,
    *,
    now: int,
    offline_after_ns: int,
    tenant: str | None = None,
    state: str | None = None,
    q: str | None = None,
    limit: int = 5000,
) -> list[dict[str, Any]]:
    where, args = scope(p, "a.tenant")
    conds = [where]
    if tenant:
        conds.append("a.tenant = ?")
        args.append(tenant)
    if q:
        conds.append(f"(a.hostname {conn.dialect.like} ? OR a.id = ?)")
        args += [f"%{q}%", q]
    if state == "revoked":
        conds.append("a.revoked_ns > 0")
    elif state == "online":
        conds.append("a.revoked_ns = 0 AND a.last_seen_ns >= ?")
        args.append(now - offline_after_ns)
    elif state == "offline":
        conds.append("a.revoked_ns = 0 AND a.last_seen_ns < ?")
        args.append(now - offline_after_ns)
    rows = conn.execute(
        f"{_HOST_SELECT} WHERE {' AND '.join(conds)} ORDER BY a.tenant, a.hostname LIMIT ?",
        [*args, min(limit, 100_000)],
    ).fetchall()
    return [_host_dict(r, now, offline_after_ns) for r in rows]


def get_host(
    conn: Connection, p: Principal, agent_id: str, *, now: int, offline_after_ns: int
) -> dict[str, Any]:
    where, args = scope(p, "a.tenant")
    row = conn.execute(f"{_HOST_SELECT} WHERE a.id = ? AND {where}", [agent_id, *args]).fetchone()
    if row is None:
        raise NotVisible("no such host")
    return _host_dict(row, now, offline_after_ns)


# ---------------------------------------------------------------------------- events


def decode_event(payload: bytes) -> pb.Event | None:
    try:
        return pb.Event.FromString(payload)
    except DecodeError:
        return None


def event_view(row: dict[str, Any]) -> dict[str, Any]:
    """An event row plus its decoded payload, as the timeline and the API show it."""
    event = decode_event(row["payload"])
    view: dict[str, Any] = {
        "uid": row["uid"],
        "agent_id": row["agent_id"],
        "tenant": row["tenant"],
        "hostname": row.get("hostname", ""),
        "kind": row["kind"],
        "host_time": iso(row["host_time_ns"]),
        "received": iso(row["received_ns"]),
        "severity": severity_name(row["severity"]) if row["severity"] else "none",
        "retro": bool(row["retro"]),
        "subject": row["subject"],
        "summary": row["summary"],
        "matches": [],
        "detail": {},
        "decoded": event is not None,
    }
    if event is None:
        return view
    view["matches"] = [
        {
            "rule_id": m.rule_id,
            "title": m.title,
            "severity": severity_name(m.severity),
            "tags": list(m.tags),
            "engine": m.engine,
        }
        for m in event.matches
    ]
    kind = event.WhichOneof("body")
    detail: dict[str, Any] = {}
    if kind == "file":
        f = event.file
        detail = {
            "action": pb.FileAction.Name(f.action).removeprefix("FILE_ACTION_").lower(),
            "path": f.path,
            "old_path": f.old_path,
            "root": f.root,
            "root_kind": f.root_kind,
            "size": f.size,
            "sha256": f.sha256,
            "old_sha256": f.old_sha256,
            "mtime": iso(f.mtime_ns) if f.mtime_ns else "",
            "verdict": pb.Verdict.Name(f.verdict).removeprefix("VERDICT_").lower(),
            "found_by_rescan": f.found_by_rescan,
        }
    elif kind == "log":
        detail = {
            "source": event.log.source,
            "file": event.log.file,
            "line": event.log.line,
            "fields": dict(sorted(event.log.fields.items())),
        }
    elif kind == "process":
        pr = event.process
        detail = {
            "pid": pr.pid,
            "name": pr.name,
            "exe": pr.exe,
            "cmdline": pr.cmdline,
            "user": pr.user,
            "start_time": iso(pr.start_time_ns) if pr.start_time_ns else "",
            "ancestors": [
                {"pid": a.pid, "name": a.name, "cmdline": a.cmdline} for a in pr.ancestors
            ],
        }
    elif kind == "sensor":
        s = event.sensor
        detail = {
            "sensor": s.sensor,
            "state": pb.SensorState.Name(s.state).removeprefix("SENSOR_STATE_").lower(),
            "kind": s.kind,
            "detail": s.detail,
            "count": s.count,
        }
    elif kind == "action":
        a = event.action
        detail = {
            "command_id": a.command_id,
            "action": a.action,
            "path": a.path,
            "ok": a.ok,
            "detail": a.detail,
        }
    view["detail"] = detail
    return view


def event_json(row: dict[str, Any]) -> dict[str, Any]:
    """API form of an event: the view plus the payload as protobuf JSON."""
    view = event_view(row)
    event = decode_event(row["payload"])
    view["payload"] = (
        MessageToDict(event, preserving_proto_field_name=True) if event is not None else None
    )
    return view


_EVENT_COLUMNS = """e.uid, e.agent_id, e.tenant, e.kind, e.host_time_ns, e.received_ns,
    e.severity, e.retro, e.subject, e.summary, e.payload, e.rowid AS rowid,
    COALESCE(ag.hostname, '') AS hostname"""


def host_events(
    conn: Connection,
    p: Principal,
    agent_id: str,
    *,
    limit: int = 100,
    before: int | None = None,
    min_severity: int = 0,
) -> list[dict[str, Any]]:
    """Newest first; ``before`` (a rowid) pages back."""
    where, args = scope(p, "e.tenant")
    conds = ["e.agent_id = ?", where]
    params: list[Any] = [agent_id, *args]
    if before is not None:
        conds.append("e.rowid < ?")
        params.append(before)
    if min_severity:
        conds.append("e.severity >= ?")
        params.append(min_severity)
    rows = conn.execute(
        f"""SELECT {_EVENT_COLUMNS} FROM events e LEFT JOIN agents ag ON ag.id = e.agent_id
            WHERE {" AND ".join(conds)} ORDER BY e.host_time_ns DESC, e.rowid DESC LIMIT ?""",
        [*params, min(limit, MAX_LIMIT)],
    )
    return _rows(rows)


def alert_events(
    conn: Connection, p: Principal, alert_id: int, *, limit: int = 500
) -> tuple[list[dict[str, Any]], int]:
    """The alert's evidence in host-time order, and how many events it has in all."""
    get_alert_row(conn, p, alert_id)  # NotVisible before anything else is read
    where, args = scope(p, "e.tenant")
    rows = conn.execute(
        f"""SELECT {_EVENT_COLUMNS} FROM alert_events ae
            JOIN events e ON e.rowid = ae.event_rowid LEFT JOIN agents ag ON ag.id = e.agent_id
            WHERE ae.alert_id = ? AND {where} ORDER BY e.host_time_ns, e.rowid LIMIT ?""",
        [alert_id, *args, min(limit, 10 * MAX_LIMIT)],
    )
    total = conn.execute(
        "SELECT COUNT(*) FROM alert_events WHERE alert_id = ?", (alert_id,)
    ).fetchone()[0]
    return _rows(rows), int(total)


# ---------------------------------------------------------------------------- alerts


@dataclass(frozen=True, slots=True)
class AlertFilter:
    tenant: str | None = None
    min_severity: str | None = None
    status: str | None = None  # one of STATUS_FILTERS
    tag: str | None = None
    host: str | None = None
    since_ns: int | None = None
    until_ns: int | None = None
    q: str | None = None
    assignee: str | None = None
    agent_id: str | None = None

    def where(self, p: Principal, conn: Connection) -> tuple[str, list[Any]]:
        where, args = scope(p, "alerts.tenant")
        conds = [where]
        if self.tenant:
            conds.append("alerts.tenant = ?")
            args.append(self.tenant)
        if self.min_severity:
            if self.min_severity not in SEVERITY_BY_NAME:
                raise Invalid(f"unknown severity {self.min_severity!r}")
            conds.append("alerts.severity >= ?")
            args.append(SEVERITY_BY_NAME[self.min_severity])
        if self.status:
            if self.status == "unresolved":
                conds.append("alerts.status != 'resolved'")
            elif self.status in ALERT_STATUSES:
                conds.append("alerts.status = ?")
                args.append(self.status)
            else:
                raise Invalid(f"unknown status {self.status!r}")
        if self.tag:
            tags = conn.dialect.json_values("alerts.tags")
            conds.append(f"EXISTS (SELECT 1 FROM {tags} WHERE value = ?)")
            args.append(normalize_tag(self.tag))
        if self.host:
            hosts, like = conn.dialect.json_values("alerts.hosts"), conn.dialect.like
            conds.append(f"EXISTS (SELECT 1 FROM {hosts} WHERE value {like} ? ESCAPE '\\')")
            args.append("%" + _like_escape(self.host) + "%")
        if self.agent_id:
            conds.append("alerts.agent_id = ?")
            args.append(self.agent_id)
        if self.since_ns is not None:
            conds.append("alerts.last_seen_ns >= ?")
            args.append(self.since_ns)
        if self.until_ns is not None:
            conds.append("alerts.first_seen_ns <= ?")
            args.append(self.until_ns)
        if self.q:
            like = conn.dialect.like
            conds.append(
                f"(alerts.title {like} ? ESCAPE '\\' OR alerts.rule {like} ? ESCAPE '\\')"
            )
            args += ["%" + _like_escape(self.q) + "%"] * 2
        if self.assignee is not None:
            conds.append("alerts.assignee = ?")
            args.append(self.assignee)
        return " AND ".join(conds), args


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _alert_dicts(
    conn: Connection, rows: Sequence[Row], *, with_evidence: bool = True
) -> list[dict[str, Any]]:
    """The alert shape of the store (``exwatch-collector alerts --format json``), plus
    the console's own ``assignee``, ``agent_id`` and epoch-ns fields."""
    evidence: dict[int, list[str]] = {r["id"]: [] for r in rows}
    ids = list(evidence) if with_evidence else []
    for i in range(0, len(ids), 500):  # SQLite caps bound variables per statement
        chunk = ids[i : i + 500]
        for alert_id, uid in conn.execute(
            f"""SELECT ae.alert_id, e.uid FROM alert_events ae
                JOIN events e ON e.rowid = ae.event_rowid
                WHERE ae.alert_id IN ({",".join("?" * len(chunk))})
                ORDER BY ae.alert_id, e.host_time_ns, e.rowid""",
            chunk,
        ):
            evidence[alert_id].append(uid)
    return [
        {
            "id": r["id"],
            "tenant": r["tenant"],
            "hosts": json.loads(r["hosts"]),
            "title": r["title"],
            "severity": severity_name(r["severity"]),
            "status": r["status"],
            "rule": r["rule"],
            "tags": json.loads(r["tags"]),
            "fingerprint": r["fingerprint"],
            "first_seen": iso(r["first_seen_ns"]),
            "last_seen": iso(r["last_seen_ns"]),
            "event_count": r["event_count"],
            "evidence": evidence[r["id"]],
            "details": json.loads(r["details"]),
            "status_by": r["status_by"],
            "status_comment": r["status_comment"],
            "assignee": r["assignee"],
            "agent_id": r["agent_id"],
            "first_seen_ns": r["first_seen_ns"],
            "last_seen_ns": r["last_seen_ns"],
            "updated": iso(r["updated_ns"]),
        }
        for r in rows
    ]


def list_alerts(
    conn: Connection,
    p: Principal,
    f: AlertFilter,
    *,
    limit: int = 100,
    offset: int = 0,
    with_evidence: bool = True,
) -> list[dict[str, Any]]:
    where, args = f.where(p, conn)
    rows = conn.execute(
        f"SELECT * FROM alerts WHERE {where} ORDER BY last_seen_ns DESC, id DESC LIMIT ? OFFSET ?",
        [*args, max(0, min(limit, MAX_LIMIT)), max(0, offset)],
    ).fetchall()
    return _alert_dicts(conn, rows, with_evidence=with_evidence)


def count_alerts(conn: Connection, p: Principal, f: AlertFilter) -> int:
    where, args = f.where(p, conn)
    return int(conn.execute(f"SELECT COUNT(*) FROM alerts WHERE {where}", args).fetchone()[0])


def get_alert_row(conn: Connection, p: Principal, alert_id: int) -> Row:
    where, args = scope(p, "tenant")
    row: Row | None = conn.execute(
        f"SELECT * FROM alerts WHERE id = ? AND {where}", [alert_id, *args]
    ).fetchone()
    if row is None:
        raise NotVisible(f"no alert {alert_id}")
    return row


def get_alert(conn: Connection, p: Principal, alert_id: int) -> dict[str, Any]:
    return _alert_dicts(conn, [get_alert_row(conn, p, alert_id)])[0]


def alert_comments(conn: Connection, p: Principal, alert_id: int) -> list[dict[str, Any]]:
    get_alert_row(conn, p, alert_id)
    where, args = scope(p, "tenant")
    return [
        {
            "id": r["id"],
            "alert_id": r["alert_id"],
            "author": r["author"],
            "body": r["body"],
            "created": iso(r["created_ns"]),
        }
        for r in conn.execute(
            f"SELECT * FROM alert_comments WHERE alert_id = ? AND {where} ORDER BY created_ns, id",
            [alert_id, *args],
        )
    ]


def alert_histogram(
    conn: Connection, p: Principal, *, days: int, now: int, tenant: str | None = None
) -> list[dict[str, Any]]:
    """Alerts created per UTC day, tenant and severity over the last ``days`` days."""
    day_ns = 86_400 * 10**9
    start = (now // day_ns - days + 1) * day_ns
    where, args = scope(p, "tenant")
    conds = [where, "created_ns >= ?"]
    args.append(start)
    if tenant:
        conds.append("tenant = ?")
        args.append(tenant)
    return [
        {"tenant": r[0], "day": int(r[1]), "severity": severity_name(r[2]), "count": r[3]}
        for r in conn.execute(
            f"""SELECT tenant, created_ns / {day_ns} AS day, severity, COUNT(*) FROM alerts
                WHERE {" AND ".join(conds)} GROUP BY tenant, day, severity""",
            args,
        )
    ]


def assignable_users(conn: Connection, tenant: str) -> list[str]:
    """Enabled users who may work on ``tenant``'s alerts."""
    return [
        r[0]
        for r in conn.execute(
            """SELECT username FROM users u WHERE disabled = 0 AND (
                 role IN ('admin', 'msp_analyst') OR (role = 'tenant_analyst' AND EXISTS
                 (SELECT 1 FROM user_tenants t WHERE t.user_id = u.id AND t.tenant = ?)))
               ORDER BY username""",
            (tenant,),
        )
    ]


def assign_alert(
    conn: Connection, p: Principal, alert_id: int, assignee: str, *, ip: str = ""
) -> dict[str, Any]:
    require_alert_writer(p)
    row = get_alert_row(conn, p, alert_id)
    if assignee and assignee not in assignable_users(conn, row["tenant"]):
        raise Invalid(f"{assignee!r} is not a user who can work on this tenant's alerts")
    where, args = scope(p, "tenant")
    conn.execute(
        f"UPDATE alerts SET assignee = ?, updated_ns = ? WHERE id = ? AND {where}",
        [assignee, now_ns(), alert_id, *args],
    )
    audit(
        conn,
        p.username,
        "alert.assign",
        tenant=row["tenant"],
        object_type="alert",
        object_id=str(alert_id),
        detail={"assignee": assignee, "previous": row["assignee"]},
        ip=ip,
    )
    return get_alert(conn, p, alert_id)


def quarantine_alert_files(
    conn: Connection, p: Principal, alert_id: int, path: str = "", *, ip: str = ""
) -> list[dict[str, str]]:
    """Queue a quarantine of the alert's evidence files (or of one of them, ``path``) on
    the hosts that reported them. Only files that are evidence of an alert the caller may
    work on can be named: the console cannot be used to move arbitrary files."""
    require_alert_writer(p)
    row = get_alert_row(conn, p, alert_id)
    files: dict[tuple[str, str], None] = {}
    for agent_id, payload in conn.execute(
        "SELECT e.agent_id, e.payload FROM alert_events ae JOIN events e ON e.rowid = "
        "ae.event_rowid WHERE ae.alert_id = ? AND e.kind = 'file'",
        (alert_id,),
    ):
        f = pb.Event.FromString(payload).file
        if f.action != pb.FILE_ACTION_DELETED and (not path or f.path == path):
            files[(agent_id, f.path)] = None
    if not files:
        raise Invalid("no file of this alert to quarantine" + (f" at {path}" if path else ""))
    queued = []
    for agent_id, file_path in files:
        command_id = Store.insert_command(
            conn,
            tenant=row["tenant"],
            agent_id=agent_id,
            kind="quarantine",
            argument=file_path,
            reason=f"alert {alert_id}",
            actor=p.username,
            now_ns=now_ns(),
        )
        audit(
            conn,
            p.username,
            "file.quarantine",
            tenant=row["tenant"],
            object_type="alert",
            object_id=str(alert_id),
            detail={"path": file_path, "command": command_id},
            ip=ip,
        )
        queued.append({"command": command_id, "agent_id": agent_id, "path": file_path})
    return queued


def add_comment(
    conn: Connection, p: Principal, alert_id: int, body: str, *, ip: str = ""
) -> dict[str, Any]:
    require_alert_writer(p)
    body = body.strip()
    if not body or len(body) > MAX_COMMENT:
        raise Invalid(f"a comment is 1 to {MAX_COMMENT} characters")
    row = get_alert_row(conn, p, alert_id)
    t = now_ns()
    comment = conn.execute(
        "INSERT INTO alert_comments (alert_id, tenant, author, body, created_ns) "
        "VALUES (?, ?, ?, ?, ?) RETURNING id",
        (alert_id, row["tenant"], p.username, body, t),
    ).fetchone()
    assert comment is not None
    comment_id = int(comment[0])
    audit(
        conn,
        p.username,
        "alert.comment",
        tenant=row["tenant"],
        object_type="alert",
        object_id=str(alert_id),
        detail={"comment_id": comment_id, "length": len(body)},
        ip=ip,
    )
    return {
        "id": comment_id,
        "alert_id": alert_id,
        "author": p.username,
        "body": body,
        "created": iso(t),
    }


# ---------------------------------------------------------------------------- enrollment


def list_enrollment_tokens(conn: Connection, p: Principal) -> list[dict[str, Any]]:
    where, args = scope(p, "tenant")
    return [
        {
            "id": r["id"],
            "tenant": r["tenant"],
            "uses_left": r["uses_left"],
            "expires": iso(r["expires_ns"]),
            "expired": r["expires_ns"] <= now_ns(),
            "created": iso(r["created_ns"]),
            "note": r["note"],
        }
        for r in conn.execute(
            f"SELECT * FROM enrollment_tokens WHERE {where} ORDER BY id DESC", args
        )
    ]


def rules_versions(conn: Connection, p: Principal) -> list[dict[str, Any]]:
    """Which rules version each tenant's agents run (the rule bundle channel comes later)."""
    where, args = scope(p, "tenant")
    return _rows(
        conn.execute(
            f"""SELECT rules_version, tenant, COUNT(*) AS hosts, MAX(last_seen_ns) AS last_seen_ns
                FROM agents WHERE {where} GROUP BY rules_version, tenant
                ORDER BY rules_version DESC, tenant""",
            args,
        )
    )


# ---------------------------------------------------------------------------- users


def _user_dict(conn: Connection, r: Row) -> dict[str, Any]:
    tenants = [
        t[0]
        for t in conn.execute(
            "SELECT tenant FROM user_tenants WHERE user_id = ? ORDER BY tenant", (r["id"],)
        )
    ]
    return {
        "id": r["id"],
        "username": r["username"],
        "role": r["role"],
        "tenants": tenants,
        "all_tenants": r["role"] in ("admin", "msp_analyst") or bool(r["all_tenants"]),
        "disabled": bool(r["disabled"]),
        "created": iso(r["created_ns"]),
        "last_login": iso(r["last_login_ns"]) if r["last_login_ns"] else "",
    }


def list_users(conn: Connection, p: Principal) -> list[dict[str, Any]]:
    require_admin(p)
    return [_user_dict(conn, r) for r in conn.execute("SELECT * FROM users ORDER BY username")]


def get_user(conn: Connection, p: Principal, user: int | str) -> dict[str, Any]:
    """By id or username; admins see anyone, others themselves only."""
    col = "id" if isinstance(user, int) else "username"
    row = conn.execute(f"SELECT * FROM users WHERE {col} = ?", (user,)).fetchone()
    if row is None or (not p.is_admin and row["id"] != p.user_id):
        raise NotVisible(f"no user {user}")
    return _user_dict(conn, row)


def _check_role(role: str, tenants: list[str], all_tenants: bool) -> None:
    if role not in ROLES:
        raise Invalid(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if role == "tenant_analyst" and (all_tenants or not tenants):
        raise Invalid("a tenant_analyst needs one or more named tenants (and not all)")
    if role == "read_only" and not (all_tenants or tenants):
        raise Invalid("a read_only user needs named tenants or all tenants")


def _clean_username(username: str) -> str:
    name = username.strip()
    if not 1 <= len(name) <= 64 or not all(c.isalnum() or c in "._@-" for c in name):
        raise Invalid("a username is 1-64 letters, digits, '.', '_', '@' or '-'")
    return name


def create_user(
    conn: Connection,
    p: Principal,
    *,
    username: str,
    password_hash: str,
    role: str,
    tenants: list[str],
    all_tenants: bool = False,
    ip: str = "",
) -> dict[str, Any]:
    require_admin(p)
    username = _clean_username(username)
    tenants = sorted({t.strip() for t in tenants if t.strip()})
    _check_role(role, tenants, all_tenants)
    t = now_ns()
    try:
        created = conn.execute(
            "INSERT INTO users (username, password_hash, role, all_tenants, created_ns, "
            "updated_ns) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (username, password_hash, role, int(all_tenants), t, t),
        ).fetchone()
    except IntegrityError as exc:
        raise Conflict(f"user {username!r} exists") from exc
    assert created is not None
    user_id = int(created[0])
    conn.executemany(
        "INSERT INTO user_tenants (user_id, tenant) VALUES (?, ?)", [(user_id, x) for x in tenants]
    )
    audit(
        conn,
        p.username,
        "user.create",
        object_type="user",
        object_id=username,
        detail={"role": role, "tenants": tenants, "all_tenants": all_tenants},
        ip=ip,
    )
    return get_user(conn, p, user_id)


def update_user(
    conn: Connection,
    p: Principal,
    user: int | str,
    *,
    role: str | None = None,
    tenants: list[str] | None = None,
    all_tenants: bool | None = None,
    disabled: bool | None = None,
    password_hash: str | None = None,
    ip: str = "",
) -> dict[str, Any]:
    """Change a user; a password change or a narrower role/scope/disable ends their
    sessions and (except for a password change) keeps their API tokens bound to the new
    rights, since tokens carry no rights of their own."""
    current = get_user(conn, p, user)
    changing_rights = any(v is not None for v in (role, tenants, all_tenants, disabled))
    if changing_rights:
        require_admin(p)
    elif not p.is_admin and current["id"] != p.user_id:
        raise NotVisible(f"no user {user}")
    new_role = role if role is not None else current["role"]
    new_tenants = (
        sorted({t.strip() for t in tenants if t.strip()})
        if tenants is not None
        else current["tenants"]
    )
    new_all = (
        all_tenants
        if all_tenants is not None
        else (bool(current["all_tenants"]) and current["role"] == "read_only")
    )
    if changing_rights:
        _check_role(new_role, new_tenants, new_all and new_role == "read_only")
    demoting_self = disabled or (role is not None and role != "admin")
    if current["id"] == p.user_id and p.is_admin and demoting_self:
        raise Invalid("you cannot disable or demote yourself; another admin can")
    uid = current["id"]
    t = now_ns()
    sets: list[str] = ["updated_ns = ?"]
    args: list[Any] = [t]
    if role is not None:
        sets.append("role = ?")
        args.append(new_role)
    if all_tenants is not None or role is not None:
        sets.append("all_tenants = ?")
        args.append(int(new_all and new_role == "read_only"))
    if disabled is not None:
        sets.append("disabled = ?")
        args.append(int(disabled))
    if password_hash is not None:
        sets.append("password_hash = ?")
        args.append(password_hash)
    conn.execute(f"UPDATE users SET {', '.join(sets)} WHERE id = ?", [*args, uid])
    if tenants is not None:
        conn.execute("DELETE FROM user_tenants WHERE user_id = ?", (uid,))
        conn.executemany(
            "INSERT INTO user_tenants (user_id, tenant) VALUES (?, ?)",
            [(uid, x) for x in new_tenants],
        )
    if changing_rights or password_hash is not None:
        # Sessions hold no rights of their own either, but a changed password or a
        # disabled account must not leave an old browser signed in.
        keep = p.session_key if current["id"] == p.user_id else ""
        conn.execute("DELETE FROM sessions WHERE user_id = ? AND id_sha256 != ?", (uid, keep))
    detail: dict[str, Any] = {
        k: v
        for k, v in {
            "role": role,
            "tenants": tenants,
            "all_tenants": all_tenants,
            "disabled": disabled,
        }.items()
        if v is not None
    }
    if password_hash is not None:
        detail["password"] = "changed"
    audit(
        conn,
        p.username,
        "user.update",
        object_type="user",
        object_id=current["username"],
        detail=detail,
        ip=ip,
    )
    return get_user(conn, p, uid)


def user_auth_row(conn: Connection, username: str) -> Row | None:
    row: Row | None = conn.execute(
        "SELECT * FROM users WHERE username = ?", (username,)
    ).fetchone()
    return row


def _principal_for_user(conn: Connection, user: Row, **kwargs: Any) -> Principal:
    tenants: frozenset[str] | None
    if user["role"] in ("admin", "msp_analyst") or (
        user["role"] == "read_only" and user["all_tenants"]
    ):
        tenants = None
    else:
        tenants = frozenset(
            r[0]
            for r in conn.execute(
                "SELECT tenant FROM user_tenants WHERE user_id = ?", (user["id"],)
            )
        )
    return Principal(user["id"], user["username"], user["role"], tenants, **kwargs)


def count_users(conn: Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM users").fetchone()[0])


# ---------------------------------------------------------------------------- sessions


def create_session(
    conn: Connection,
    user_id: int,
    *,
    absolute_ns: int,
    ip: str = "",
    user_agent: str = "",
    replaces: str = "",
) -> tuple[str, str]:
    """A fresh session (never a caller-chosen id: no fixation); the session that the
    browser presented before logging in, if any, is ended. Returns (session id, CSRF)."""
    if replaces:
        conn.execute("DELETE FROM sessions WHERE id_sha256 = ?", (sha256(replaces),))
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    t = now_ns()
    conn.execute(
        "INSERT INTO sessions (id_sha256, user_id, csrf_token, created_ns, last_seen_ns, "
        "expires_ns, ip, user_agent) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (sha256(token), user_id, csrf, t, t, t + absolute_ns, ip[:64], user_agent[:300]),
    )
    conn.execute("UPDATE users SET last_login_ns = ? WHERE id = ?", (t, user_id))
    # Expired sessions of everyone are swept here, where a write happens anyway.
    conn.execute("DELETE FROM sessions WHERE expires_ns < ?", (t,))
    return token, csrf


def session_principal(
    conn: Connection, token: str, *, idle_ns: int, touch_after_ns: int = 60 * 10**9
) -> tuple[Principal | None, str]:
    """The user behind a session id, and what the caller should write back: "delete"
    (the session exists but is dead), "touch" (alive, last use over a minute ago: the idle
    timer is kept at minute precision so most requests write nothing) or ""."""
    key = sha256(token)
    row = conn.execute(
        "SELECT s.csrf_token, s.last_seen_ns, s.expires_ns, u.* FROM sessions s "
        "JOIN users u ON u.id = s.user_id WHERE s.id_sha256 = ?",
        (key,),
    ).fetchone()
    t = now_ns()
    if row is None:
        return None, ""
    if row["disabled"] or row["expires_ns"] <= t or row["last_seen_ns"] + idle_ns <= t:
        return None, "delete"
    principal = _principal_for_user(
        conn, row, via="session", session_key=key, csrf_token=row["csrf_token"]
    )
    return principal, "touch" if t - row["last_seen_ns"] > touch_after_ns else ""


def touch_session(conn: Connection, session_key: str, action: str) -> None:
    if action == "delete":
        conn.execute("DELETE FROM sessions WHERE id_sha256 = ?", (session_key,))
    elif action == "touch":
        conn.execute(
            "UPDATE sessions SET last_seen_ns = ? WHERE id_sha256 = ?", (now_ns(), session_key)
        )


def delete_session(conn: Connection, session_key: str) -> None:
    conn.execute("DELETE FROM sessions WHERE id_sha256 = ?", (session_key,))


# ---------------------------------------------------------------------------- API tokens

API_TOKEN_PREFIX = "exwc_"


def create_api_token(
    conn: Connection,
    p: Principal,
    *,
    name: str,
    username: str | None = None,
    expires_ns: int = 0,
    ip: str = "",
) -> dict[str, Any]:
    """A bearer token acting as a user (the caller, or any user for an admin). It has no
    rights of its own: each request gets its user's current role and tenants. Read-only
    users get theirs from an admin, since a token is something they would change."""
    if username is None or username == p.username:
        if not p.can_write_alerts and not p.is_admin:
            raise Forbidden("ask an admin for an API token")
        owner = conn.execute("SELECT * FROM users WHERE id = ?", (p.user_id,)).fetchone()
    else:
        require_admin(p)
        owner = user_auth_row(conn, username)
    if owner is None:
        raise NotVisible(f"no user {username}")
    name = name.strip()[:100]
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    t = now_ns()
    created = conn.execute(
        "INSERT INTO api_tokens (user_id, name, token_sha256, prefix, created_ns, expires_ns) "
        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (owner["id"], name, sha256(token), token[:12], t, expires_ns),
    ).fetchone()
    assert created is not None
    token_id = int(created[0])
    audit(
        conn,
        p.username,
        "apitoken.create",
        object_type="api_token",
        object_id=str(token_id),
        detail={"user": owner["username"], "name": name},
        ip=ip,
    )
    return {
        "id": token_id,
        "user": owner["username"],
        "name": name,
        "token": token,
        "prefix": token[:12],
        "created": iso(t),
        "expires": iso(expires_ns) if expires_ns else "",
    }


def list_api_tokens(conn: Connection, p: Principal) -> list[dict[str, Any]]:
    where = "TRUE" if p.is_admin else "t.user_id = ?"
    args = [] if p.is_admin else [p.user_id]
    return [
        {
            "id": r["id"],
            "user": r["username"],
            "name": r["name"],
            "prefix": r["prefix"],
            "created": iso(r["created_ns"]),
            "expires": iso(r["expires_ns"]) if r["expires_ns"] else "",
            "last_used": iso(r["last_used_ns"]) if r["last_used_ns"] else "",
            "revoked": bool(r["revoked_ns"]),
        }
        for r in conn.execute(
            f"SELECT t.*, u.username FROM api_tokens t JOIN users u ON u.id = t.user_id "
            f"WHERE {where} ORDER BY t.id DESC",
            args,
        )
    ]


def revoke_api_token(
    conn: Connection, p: Principal, token_id: int, *, ip: str = ""
) -> None:
    row = conn.execute(
        "SELECT t.*, u.username FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.id = ?",
        (token_id,),
    ).fetchone()
    if row is None or (not p.is_admin and row["user_id"] != p.user_id):
        raise NotVisible(f"no API token {token_id}")
    if not p.is_admin and not p.can_write_alerts:
        raise Forbidden("ask an admin to revoke your API token")
    conn.execute(
        "UPDATE api_tokens SET revoked_ns = ? WHERE id = ? AND revoked_ns = 0",
        (now_ns(), token_id),
    )
    audit(
        conn,
        p.username,
        "apitoken.revoke",
        object_type="api_token",
        object_id=str(token_id),
        detail={"user": row["username"], "name": row["name"]},
        ip=ip,
    )


def token_principal(conn: Connection, token: str) -> tuple[Principal | None, bool]:
    """The user an API token acts as, and whether its last-used time is due a write."""
    if not token.startswith(API_TOKEN_PREFIX):
        return None, False
    row = conn.execute(
        "SELECT t.id AS token_id, t.expires_ns, t.revoked_ns, t.last_used_ns, u.* "
        "FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_sha256 = ?",
        (sha256(token),),
    ).fetchone()
    t = now_ns()
    if (
        row is None
        or row["revoked_ns"]
        or row["disabled"]
        or (row["expires_ns"] and row["expires_ns"] <= t)
    ):
        return None, False
    principal = _principal_for_user(conn, row, via="token", token_id=row["token_id"])
    return principal, t - row["last_used_ns"] > 60 * 10**9


def touch_token(conn: Connection, token_id: int) -> None:
    conn.execute("UPDATE api_tokens SET last_used_ns = ? WHERE id = ?", (now_ns(), token_id))


# ---------------------------------------------------------------------------- audit


def audit(
    conn: Connection,
    actor: str,
    action: str,
    *,
    tenant: str = "",
    object_type: str = "",
    object_id: str = "",
    detail: dict[str, Any] | None = None,
    ip: str = "",
) -> None:
    conn.execute(
        "INSERT INTO audit_log (ts_ns, actor, action, tenant, object_type, object_id, detail, "
        "ip) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            now_ns(),
            actor,
            action,
            tenant,
            object_type,
            object_id,
            json.dumps(detail or {}, sort_keys=True),
            ip[:64],
        ),
    )


def list_audit(
    conn: Connection,
    p: Principal,
    *,
    limit: int = 200,
    offset: int = 0,
    actor: str | None = None,
    action: str | None = None,
) -> list[dict[str, Any]]:
    require_admin(p)
    conds, args = ["TRUE"], []
    if actor:
        conds.append("actor = ?")
        args.append(actor)
    if action:
        conds.append(f"action {conn.dialect.like} ? ESCAPE '\\'")
        args.append(_like_escape(action) + "%")
    return [
        {
            "id": r["id"],
            "time": iso(r["ts_ns"]),
            "actor": r["actor"],
            "action": r["action"],
            "tenant": r["tenant"],
            "object_type": r["object_type"],
            "object_id": r["object_id"],
            "detail": json.loads(r["detail"]),
            "ip": r["ip"],
        }
        for r in conn.execute(
            f"SELECT * FROM audit_log WHERE {' AND '.join(conds)} "
            "ORDER BY id DESC LIMIT ? OFFSET ?",
            [*args, max(0, min(limit, MAX_LIMIT)), max(0, offset)],
        )
    ]


# ---------------------------------------------------------------------------- metrics


def metrics_snapshot(
    conn: Connection, *, now: int, offline_after_ns: int
) -> dict[str, Any]:
    """Fleet-wide figures for /metrics (admin only; not tenant-scoped by design)."""
    # MAX(rowid) instead of COUNT(*): O(1) on the rowid b-tree, and events are never
    # rewritten, so it counts every event ever stored (until retention deletes the newest).
    events = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM events").fetchone()[0]
    alerts = _rows(
        conn.execute("SELECT status, severity, COUNT(*) AS n FROM alerts GROUP BY status, severity")
    )
    agents = _rows(
        conn.execute(
            """SELECT tenant,
                 COUNT(*) FILTER (WHERE revoked_ns = 0 AND last_seen_ns >= ?) AS online,
                 COUNT(*) FILTER (WHERE revoked_ns = 0 AND last_seen_ns < ?) AS offline,
                 COUNT(*) FILTER (WHERE revoked_ns > 0) AS revoked,
                 CAST(SUM(spool_events) AS BIGINT) AS spool,
                 CAST(SUM(events_shed_total) AS BIGINT) AS shed
               FROM agents GROUP BY tenant""",
            (now - offline_after_ns, now - offline_after_ns),
        )
    )
    # Ingest lag of the newest events: received (collector clock) minus observed (host
    # clock). Cheap (the last 1,000 rows by rowid), but it includes host clock skew.
    lags = sorted(
        r[0] / 1e9
        for r in conn.execute(
            "SELECT received_ns - host_time_ns FROM events WHERE host_time_ns > 0 "
            "ORDER BY rowid DESC LIMIT 1000"
        )
    )
    outbox = _outbox_depth(conn)
    sessions = conn.execute(
        "SELECT COUNT(*) FROM sessions WHERE expires_ns > ?", (now,)
    ).fetchone()[0]
    return {
        "events": int(events),
        "alerts": alerts,
        "agents": agents,
        "lags": lags,
        "outbox": outbox,
        "sessions": int(sessions),
    }


def _outbox_depth(conn: Connection) -> int | None:
    """Undelivered notifications, if the notify outbox exists (another part owns it; its
    columns are guessed conservatively, and anything unexpected reports no figure)."""
    columns = {r[0] for r in conn.execute(conn.dialect.table_columns, ("notify_outbox",))}
    if not columns:
        return None
    try:
        with conn.savepoint("outbox_depth"):  # a wrong guess must not end the page's read
            return _outbox_count(conn, columns)
    except (sqlite3.Error, StoreError):
        return None


def _outbox_count(conn: Connection, columns: set[str]) -> int:
    for column, cond in (
            ("delivered_ns", "(delivered_ns IS NULL OR delivered_ns = 0)"),
            ("delivered_at", "delivered_at IS NULL"),
            ("status", "status NOT IN ('delivered', 'sent', 'done', 'dead', 'failed')"),
            ("state", "state NOT IN ('delivered', 'sent', 'done', 'dead', 'failed')"),
        ):
        if column in columns:
            return int(
                conn.execute(f"SELECT COUNT(*) FROM notify_outbox WHERE {cond}").fetchone()[0]
            )
    return int(conn.execute("SELECT COUNT(*) FROM notify_outbox").fetchone()[0])


# ---------------------------------------------------------------------------- runner


@dataclass
class ConsoleDB:
    """Runs data functions off the event loop: reads on a small pool of read-only
    connections (SQLite's WAL lets them run beside the collector's writer), console writes
    on one connection of their own, in short write transactions. Alert status changes go
    through the collector's ``Store`` (its one writer), passed in as ``store``. The
    database is the console's own (its connections, its pool): ``close`` closes it."""

    database: Database
    store: Store | None = None
    workers: int = 4
    _executor: ThreadPoolExecutor | None = field(default=None, init=False)
    _readers: queue.SimpleQueue[Connection] = field(
        default_factory=queue.SimpleQueue, init=False
    )
    _all: list[Connection] = field(default_factory=list, init=False)
    _writer: Connection | None = field(default=None, init=False)
    _write_lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _closed: bool = field(default=False, init=False)
    _users: int = field(default=0, init=False)

    def acquire(self) -> None:
        """One more running server (lifespan) uses this; a test may run two at once."""
        with self._lock:
            self._users += 1
            self._closed = False

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            last = self._users <= 0
        if last:
            self.close()

    def _connect(self, *, readonly: bool) -> Connection:
        conn = self.database.connect(readonly=readonly)
        with self._lock:
            self._all.append(conn)
        return conn

    def _pool(self) -> ThreadPoolExecutor:
        # Made on first use, so an app that never handled a request starts no thread.
        with self._lock:
            if self._closed:
                raise RuntimeError("console database is closed")
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self.workers, thread_name_prefix="exwatch-console-db"
                )
            return self._executor

    def read_sync(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        try:
            conn = self._readers.get_nowait()
        except queue.Empty:
            conn = self._connect(readonly=True)
        try:
            # One read transaction: several queries of one page see one snapshot.
            conn.begin(write=False)
            try:
                return fn(conn, *args, **kwargs)
            finally:
                conn.commit()
        finally:
            self._readers.put(conn)

    def write_sync(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        with self._write_lock:
            if self._writer is None:
                self._writer = self._connect(readonly=False)
            with self._writer.transaction() as c:
                return fn(c, *args, **kwargs)

    async def read(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), lambda: self.read_sync(fn, *args, **kwargs))

    async def write(
        self, fn: Callable[Concatenate[Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool(), lambda: self.write_sync(fn, *args, **kwargs)
        )

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Anything else that blocks (argon2, the store's own methods)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), lambda: fn(*args, **kwargs))

    def close(self) -> None:
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
            self._readers = queue.SimpleQueue()
            self._writer = None
        self.database.close()
