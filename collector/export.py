"""One archive per incident, for the customer to hand to an incident-response firm.

A zip with one folder, ``incident-<id>/``:

- ``alert.json``: the alert, its comments, its audit trail (status changes, actions) and
  the response commands sent to its hosts;
- ``timeline.json`` and ``timeline.html``: every evidence event, comment, audit entry and
  command in time order; the page is self-contained, inert (no script, a CSP that allows
  none) and escapes every value, since paths and log fields are attacker-written;
- ``events.json``: every evidence event, decoded from its stored protobuf;
- ``hosts/<agent>.json``: each host's inventory and patch status per tracked CVE;
- ``files/<sha256>.bin``: each collected or quarantined file of the incident's hosts,
  under an inert name (never its own extension); its original paths are in the manifest;
- ``manifest.json``: every other member with its SHA-256 and size.

The caller's tenant scope is applied to every query (``collector.console.data``): an alert
of another tenant is ``NotVisible``, exactly as one that does not exist.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import re
import tempfile
import time
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from collector.console import data
from collector.console.data import Principal
from collector.errors import NotFound, StoreError
from collector.patch import exposure
from collector.store.backend import Connection, open_database

FORMAT = "exwatch-incident/1"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,79}$")
_EVENT_COLUMNS = """e.uid, e.agent_id, e.tenant, e.kind, e.host_time_ns, e.received_ns,
    e.severity, e.retro, e.subject, e.summary, e.payload, COALESCE(ag.hostname, '') AS hostname"""


@dataclass
class _Archive:
    """The zip being written, and the manifest entry of every member."""

    zf: zipfile.ZipFile
    folder: str
    date_time: tuple[int, int, int, int, int, int]
    members: list[dict[str, Any]] = field(default_factory=list)

    def add(self, name: str, content: bytes, *, compress: bool = True) -> None:
        info = zipfile.ZipInfo(f"{self.folder}/{name}", date_time=self.date_time)
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        info.external_attr = 0o100444 << 16  # a read-only regular file, never executable
        self.zf.writestr(info, content)
        self.members.append(
            {"name": name, "sha256": hashlib.sha256(content).hexdigest(), "size": len(content)}
        )

    def add_json(self, name: str, value: Any, *, indent: int | None = 2) -> None:
        """``indent=None`` for the big members: indenting runs json's pure-Python encoder,
        several times slower on thousands of events."""
        text = json.dumps(value, indent=indent, sort_keys=True, ensure_ascii=False)
        self.add(name, text.encode())


def _marks(values: Iterable[Any]) -> str:
    return ",".join("?" for _ in values)


def _evidence(conn: Connection, p: Principal, alert_id: int) -> list[dict[str, Any]]:
    where, args = data.scope(p, "e.tenant")
    rows = conn.execute(
        f"""SELECT {_EVENT_COLUMNS} FROM alert_events ae
            JOIN events e ON e.rowid = ae.event_rowid LEFT JOIN agents ag ON ag.id = e.agent_id
            WHERE ae.alert_id = ? AND {where} ORDER BY e.host_time_ns, e.rowid""",
        [alert_id, *args],
    )
    return [data.event_json(dict(r)) | {"host_time_ns": r["host_time_ns"]} for r in rows]


def _comments(conn: Connection, p: Principal, alert_id: int) -> list[dict[str, Any]]:
    where, args = data.scope(p, "tenant")
    return [
        {
            "id": r["id"],
            "author": r["author"],
            "body": r["body"],
            "created": data.iso(r["created_ns"]),
            "created_ns": r["created_ns"],
        }
        for r in conn.execute(
            f"""SELECT id, author, body, created_ns FROM alert_comments WHERE alert_id = ?
                AND {where} ORDER BY created_ns, id""",
            [alert_id, *args],
        )
    ]


def _alert_audit(conn: Connection, p: Principal, alert_id: int) -> list[dict[str, Any]]:
    where, args = data.scope(p, "tenant")
    return [
        {
            "time": data.iso(r["ts_ns"]),
            "time_ns": r["ts_ns"],
            "actor": r["actor"],
            "action": r["action"],
            "detail": json.loads(r["detail"]),
        }
        for r in conn.execute(
            f"""SELECT ts_ns, actor, action, detail FROM audit_log WHERE object_type = 'alert'
                AND object_id = ? AND {where} ORDER BY ts_ns, id""",
            [str(alert_id), *args],
        )
    ]


def _hosts(conn: Connection, p: Principal, agent_ids: list[str]) -> list[dict[str, Any]]:
    if not agent_ids:
        return []
    where, args = data.scope(p, "tenant")
    hosts = []
    for r in conn.execute(
        f"SELECT * FROM agents WHERE id IN ({_marks(agent_ids)}) AND {where} ORDER BY hostname",
        [*agent_ids, *args],
    ):
        hosts.append(
            {
                "agent_id": r["id"],
                "tenant": r["tenant"],
                "hostname": r["hostname"],
                "os": r["os"],
                "exchange_build": r["exchange_build"],
                "agent_version": r["agent_version"],
                "rules_version": r["rules_version"],
                "enrolled": data.iso(r["first_seen_ns"]),
                "last_seen": data.iso(r["last_seen_ns"]),
                "revoked": bool(r["revoked_ns"]),
                "patch_status": exposure(r["exchange_build"]),
            }
        )
    return hosts


def _commands(conn: Connection, p: Principal, agent_ids: list[str]) -> list[dict[str, Any]]:
    if not agent_ids:
        return []
    where, args = data.scope(p, "tenant")
    return [
        {
            "id": r["id"],
            "agent_id": r["agent_id"],
            "kind": r["kind"],
            "argument": r["argument"],
            "reason": r["reason"],
            "status": r["status"],
            "result": r["result"],
            "requested_by": r["requested_by"],
            "requested": data.iso(r["requested_ns"]),
            "requested_ns": r["requested_ns"],
            "updated": data.iso(r["updated_ns"]),
        }
        for r in conn.execute(
            f"""SELECT * FROM commands WHERE agent_id IN ({_marks(agent_ids)}) AND {where}
                ORDER BY requested_ns, id""",
            [*agent_ids, *args],
        )
    ]


def _file_sources(
    conn: Connection, p: Principal, agent_ids: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """sha256 -> where each copy of that content came from (host, path, command)."""
    if not agent_ids:
        return {}
    where, args = data.scope(p, "c.tenant")
    sources: dict[str, list[dict[str, Any]]] = {}
    for r in conn.execute(
        f"""SELECT c.*, COALESCE(ag.hostname, '') AS hostname FROM collected_files c
            LEFT JOIN agents ag ON ag.id = c.agent_id
            WHERE c.agent_id IN ({_marks(agent_ids)}) AND {where}
            ORDER BY c.collected_ns, c.command_id""",
        [*agent_ids, *args],
    ):
        sources.setdefault(r["sha256"], []).append(
            {
                "agent_id": r["agent_id"],
                "hostname": r["hostname"],
                "original_path": r["path"],
                "kind": r["kind"],
                "command_id": r["command_id"],
                "collected": data.iso(r["collected_ns"]),
            }
        )
    return sources


def _timeline(
    alert: dict[str, Any],
    events: list[dict[str, Any]],
    comments: list[dict[str, Any]],
    audit: list[dict[str, Any]],
    commands: list[dict[str, Any]],
    hostnames: dict[str, str],
) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = [
        {
            "time_ns": e["host_time_ns"],
            "type": "event",
            "host": e["hostname"] or e["agent_id"],
            "what": e["summary"],
            "severity": e["severity"],
            "rules": [m["rule_id"] for m in e["matches"]],
            "ref": e["uid"],
        }
        for e in events
    ]
    entries.append(
        {
            "time_ns": alert["created_ns"],
            "type": "alert",
            "host": ", ".join(alert["hosts"]),
            "what": f"alert opened: {alert['title']}",
            "severity": alert["severity"],
            "rules": [alert["rule"]],
            "ref": str(alert["id"]),
        }
    )
    entries += [
        {
            "time_ns": a["time_ns"],
            "type": "audit",
            "host": "",
            "what": f"{a['action']} by {a['actor']}",
            "severity": "",
            "rules": [],
            "ref": json.dumps(a["detail"], sort_keys=True),
        }
        for a in audit
    ]
    entries += [
        {
            "time_ns": c["created_ns"],
            "type": "comment",
            "host": "",
            "what": f"{c['author']}: {c['body']}",
            "severity": "",
            "rules": [],
            "ref": str(c["id"]),
        }
        for c in comments
    ]
    entries += [
        {
            "time_ns": c["requested_ns"],
            "type": "command",
            "host": hostnames.get(c["agent_id"], c["agent_id"]),
            "what": f"{c['kind']} {c['argument']} by {c['requested_by']}: {c['status']}"
            + (f" ({c['result']})" if c["result"] else ""),
            "severity": "",
            "rules": [],
            "ref": c["id"],
        }
        for c in commands
        if c["requested_ns"] >= alert["first_seen_ns"]
    ]
    entries.sort(key=lambda x: (x["time_ns"], x["type"], x["ref"]))
    return [{"time": data.iso(x["time_ns"]), **x} for x in entries]


_STYLE = """body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%;margin-bottom:2em}
th,td{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top}
td{word-break:break-all}th{background:#eee}.mono{font-family:monospace}"""


def _cell(value: Any) -> str:
    return f"<td>{html.escape(str(value), quote=True)}</td>"


def _table(headers: list[str], rows: Iterable[Iterable[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def timeline_html(
    alert: dict[str, Any],
    timeline: list[dict[str, Any]],
    hosts: list[dict[str, Any]],
    files: list[dict[str, Any]],
    exported: dict[str, str],
) -> str:
    """A page a responder opens in any browser: no script, nothing fetched, all escaped."""
    esc = html.escape
    exposed = {
        h["hostname"]: sorted(c for c, s in h["patch_status"].items() if s["status"] != "patched")
        for h in hosts
    }
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'\">",
        f"<title>Incident {alert['id']}</title><style>{_STYLE}</style></head><body>",
        f"<h1>Incident {alert['id']}: {esc(alert['title'])}</h1>",
        _table(
            ["Tenant", "Hosts", "Severity", "Status", "First seen", "Last seen", "Exported"],
            [
                [
                    alert["tenant"],
                    ", ".join(alert["hosts"]),
                    alert["severity"],
                    f"{alert['status']} ({alert['status_by'] or 'nobody'})",
                    alert["first_seen"],
                    alert["last_seen"],
                    f"{exported['at']} by {exported['by']}",
                ]
            ],
        ),
        "<h2>Hosts</h2>",
        _table(
            ["Host", "Agent", "Exchange build", "OS", "Not patched against", "Last seen"],
            [
                [
                    h["hostname"],
                    h["agent_id"],
                    h["exchange_build"] or "unknown",
                    h["os"],
                    ", ".join(exposed[h["hostname"]]) or "none",
                    h["last_seen"],
                ]
                for h in hosts
            ],
        ),
        "<h2>Timeline (UTC; host time for events)</h2>",
        _table(
            ["Time", "Type", "Host", "What", "Severity", "Rules", "Reference"],
            [
                [t[k] for k in ("time", "type", "host", "what", "severity")]
                + [" ".join(t["rules"]), t["ref"]]
                for t in timeline
            ],
        ),
        "<h2>Files</h2><p>Stored inert under their SHA-256 (files/&lt;sha256&gt;.bin); "
        "they may be live malware: do not run or serve them.</p>",
        _table(
            ["Archive member", "Size", "Host", "Original path", "How"],
            [
                [f["name"], f["size"], s["hostname"], s["original_path"], s["kind"]]
                for f in files
                for s in f["sources"]
            ],
        ),
        "</body></html>",
    ]
    return "".join(parts)


def _member_name(value: str) -> str:
    """A host's id as a file name, or its hash when it is not a plain name."""
    return value if _SAFE_NAME.match(value) else hashlib.sha256(value.encode()).hexdigest()[:32]


def write_incident_archive(
    conn: Connection,
    p: Principal,
    alert_id: int,
    out: BinaryIO,
    *,
    now_ns: int,
) -> dict[str, Any]:
    """Write the incident's archive (a zip) to ``out``; returns its manifest."""
    row = data.get_alert_row(conn, p, alert_id)  # NotVisible first: nothing else is read
    alert = data.get_alert(conn, p, alert_id) | {
        "created": data.iso(row["created_ns"]),
        "created_ns": row["created_ns"],
    }
    events = _evidence(conn, p, alert_id)
    agent_ids = sorted({e["agent_id"] for e in events} | ({row["agent_id"]} - {""}))
    hosts = _hosts(conn, p, agent_ids)
    agent_ids = [h["agent_id"] for h in hosts]  # only hosts the caller may see
    hostnames = {h["agent_id"]: h["hostname"] for h in hosts}
    comments = _comments(conn, p, alert_id)
    audit = _alert_audit(conn, p, alert_id)
    commands = _commands(conn, p, agent_ids)
    sources = _file_sources(conn, p, agent_ids)
    exported = {"at": data.iso(now_ns), "by": p.username}
    timeline = _timeline(alert, events, comments, audit, commands, hostnames)

    when = datetime.fromtimestamp(now_ns / 1e9, UTC)
    date_time = (when.year, when.month, when.day, when.hour, when.minute, when.second)
    files: list[dict[str, Any]] = []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        archive = _Archive(zf, f"incident-{alert_id}", date_time)
        for sha256, where in sources.items():
            found = conn.execute(
                "SELECT content FROM evidence_files WHERE sha256 = ?", (sha256,)
            ).fetchone()
            if found is None:  # a foreign key links them: only a damaged store gets here
                raise StoreError(f"evidence file {sha256} is missing from the store")
            content = bytes(found["content"])
            name = f"files/{sha256}.bin"
            # Stored as they are: deflating megabytes of dumps costs seconds and they are
            # often packed already.
            archive.add(name, content, compress=False)
            files.append({"name": name, "sha256": sha256, "size": len(content), "sources": where})
        archive.add_json("events.json", events, indent=None)
        for host in hosts:
            archive.add_json(f"hosts/{_member_name(host['agent_id'])}.json", host)
        archive.add_json(
            "alert.json",
            {
                "alert": alert,
                "comments": comments,
                "audit": audit,
                "commands": commands,
            },
        )
        archive.add_json("timeline.json", timeline, indent=None)
        archive.add(
            "timeline.html",
            timeline_html(alert, timeline, hosts, files, exported).encode(),
        )
        manifest = {
            "format": FORMAT,
            "alert_id": alert_id,
            "tenant": alert["tenant"],
            "title": alert["title"],
            "exported_at": exported["at"],
            "exported_by": exported["by"],
            "members": list(archive.members),  # every member but the manifest itself
            "files": files,
        }
        archive.add_json("manifest.json", manifest)
    return manifest


def audit_export(conn: Connection, p: Principal, manifest: dict[str, Any], *, ip: str = "") -> None:
    """Evidence left the collector: who took which incident, and what was in it."""
    data.audit(
        conn,
        p.username,
        "incident.export",
        tenant=manifest["tenant"],
        object_type="alert",
        object_id=str(manifest["alert_id"]),
        detail={"members": len(manifest["members"]) + 1, "files": len(manifest["files"])},
        ip=ip,
    )


def export_to_temporary_file(
    conn: Connection, p: Principal, alert_id: int
) -> tuple[Path, dict[str, Any]]:
    """The console's export: the archive in a temporary file, which the caller removes once
    it is sent. Nothing is left behind when the export fails."""
    fd, name = tempfile.mkstemp(prefix="exwatch-incident-", suffix=".zip")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            manifest = write_incident_archive(conn, p, alert_id, out, now_ns=time.time_ns())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, manifest


def export_to_file(store: Path | str, alert_id: int, target: Path, *, actor: str) -> dict[str, Any]:
    """The CLI's export (as an admin at the collector's terminal): the archive appears at
    ``target`` complete or not at all. ``store``: the SQLite file or PostgreSQL DSN."""
    database = open_database(store)
    try:
        if not database.exists():
            raise StoreError(
                f"no collector store at {database.describe()}; start one with "
                "'exwatch-collector serve' or pass --data-dir"
            )
        database.migrate()  # a store from before collected files gains their tables
        conn = database.connect()
        partial = target.with_name(f".{target.name}.partial")
        try:
            p = data.cli_principal(actor)
            with conn.transaction(write=False), partial.open("wb") as out:
                manifest = write_incident_archive(conn, p, alert_id, out, now_ns=time.time_ns())
            with conn.transaction():
                audit_export(conn, p, manifest)
            partial.replace(target)
        except data.NotVisible:
            raise NotFound(f"no alert {alert_id}") from None
        finally:
            partial.unlink(missing_ok=True)
            conn.close()
    finally:
        database.close()
    return manifest
