"""Files collected from hosts (or sent along with a quarantine) as evidence, for the console
and API: ask a host for a file, and list what a host has handed over.

The bytes live in the store, content-addressed by SHA-256 (``evidence_files``), each copy
linked to the command that brought it and its host (``collected_files``). They are never
served inline or under their own name: they leave the collector only inside an incident
archive, as ``files/<sha256>.bin`` (``collector.export``).
"""

from __future__ import annotations

from typing import Any

from collector.console import data
from collector.console.data import Principal
from collector.store.backend import Connection
from collector.store.store import Store

MAX_PATH = 1024


def queue_collect(
    conn: Connection,
    p: Principal,
    agent_id: str,
    path: str,
    reason: str = "",
    *,
    ip: str = "",
) -> dict[str, str]:
    """Ask the host's agent for the file at ``path``; the agent refuses anything outside
    its collection roots. The command is the audit record of who asked, when and why."""
    data.require_alert_writer(p)
    where, args = data.scope(p, "tenant")
    host = conn.execute(
        f"SELECT tenant FROM agents WHERE id = ? AND {where}", [agent_id, *args]
    ).fetchone()
    if host is None:  # before the path is looked at: another tenant's host is simply absent
        raise data.NotVisible("no such host")
    path = path.strip()
    if not path or len(path) > MAX_PATH or "\x00" in path:
        raise data.Invalid(f"a path is 1 to {MAX_PATH} characters, without NUL")
    command_id = Store.insert_command(
        conn,
        tenant=host["tenant"],
        agent_id=agent_id,
        kind="collect",
        argument=path,
        reason=reason,
        actor=p.username,
        now_ns=data.now_ns(),
    )
    data.audit(
        conn,
        p.username,
        "file.collect",
        tenant=host["tenant"],
        object_type="host",
        object_id=agent_id,
        detail={"path": path, "command": command_id, "reason": reason},
        ip=ip,
    )
    return {"command": command_id, "agent_id": agent_id, "path": path}


def host_files(conn: Connection, p: Principal, agent_id: str) -> list[dict[str, Any]]:
    """What the host has handed over, newest first (metadata only, never the bytes)."""
    where, args = data.scope(p, "tenant")
    if (
        conn.execute(f"SELECT 1 FROM agents WHERE id = ? AND {where}", [agent_id, *args]).fetchone()
        is None
    ):
        raise data.NotVisible("no such host")
    return [
        {
            "command_id": r["command_id"],
            "kind": r["kind"],
            "path": r["path"],
            "sha256": r["sha256"],
            "size": r["size"],
            "collected": data.iso(r["collected_ns"]),
        }
        for r in conn.execute(
            f"""SELECT command_id, kind, path, sha256, size, collected_ns FROM collected_files
                WHERE agent_id = ? AND {where} ORDER BY collected_ns DESC, command_id""",
            [agent_id, *args],
        )
    ]
