"""The embedded SQLite store (WAL): schema through sqlite-utils migrations, raw sqlite3 on
the hot path.

One connection writes, guarded by a lock, so ingest from many streams serialises into
short transactions; readers (CLI, console) open their own connections, which WAL lets run
beside the writer.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import re
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import sqlite_utils

from collector.alerting.candidates import (
    BAD_CONTENT_RULE,
    INCIDENT_RULE,
    MASS_CHANGE_RULE,
    MSP_SCOPE,
    OFFLINE_RULE,
    PAGE_RULE,
    PATCH_RULE,
    SEVERITY_NAMES,
    AlertCandidate,
    campaign,
    candidates_for,
    mass_change,
    offline_candidate,
    patch_candidate,
)
from collector.alerting.incidents import chains_of, incident_title, merge_listed
from collector.errors import NotFound, StoreError
from collector.notify.outbox import enqueue
from collector.notify.routes import Routes
from collector.pki import fingerprint
from collector.store.base import AgentInfo, CommitResult
from collector.store.migrations import MIGRATIONS
from protos import exwatch_pb2 as pb

log = logging.getLogger("exwatch.collector.store")

ALERT_STATUSES = ("open", "acknowledged", "resolved")
CHECKPOINT_SECONDS = 1.0
# What a maintenance window hides: clean page changes (a patch day) and sensor noise.
MAINTENANCE_RULES = frozenset({PAGE_RULE, MASS_CHANGE_RULE})
# The tail of a burst joins its mass-change alert while that was fed this recently.
MASS_CHANGE_WINDOW_NS = 120 * 10**9
WAL_TRUNCATE_BYTES = 64 * 1024 * 1024
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _event_columns(event: pb.Event) -> tuple[str, str, str]:
    """(kind, subject, summary) pulled out of an event for indexing and listing."""
    kind = event.WhichOneof("body") or "unknown"
    if kind == "file":
        f = event.file
        return (
            kind,
            f.path,
            f"{pb.FileAction.Name(f.action).removeprefix('FILE_ACTION_').lower()} {f.path}",
        )
    if kind == "log":
        return kind, event.log.file, f"{event.log.source} line {event.log.line}"
    if kind == "process":
        return kind, event.process.name, event.process.cmdline[:500]
    if kind == "sensor":
        return kind, event.sensor.sensor, f"{event.sensor.kind}: {event.sensor.detail}"[:500]
    if kind == "action":
        return kind, event.action.path, f"{event.action.action} {event.action.path}"
    return kind, "", ""


class SQLiteStore:
    """Store on one SQLite file. Safe to use from several threads."""

    def __init__(
        self, path: Path, *, background_checkpoints: bool = False, routes: Routes | None = None
    ) -> None:
        """``background_checkpoints``: the long-running server moves WAL checkpoints off
        the commit path onto a thread of their own (they cost ingest a third otherwise)."""
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            db = sqlite_utils.Database(str(path))
            db.enable_wal()
            MIGRATIONS.apply(db)
            db.close()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open store {path}: {exc}") from exc
        self._lock = threading.Lock()
        self._conn = self._connect()
        # Where pages go; queued in the same transaction as the alert change (outbox).
        self.routes = routes or Routes()
        self._checkpointer: threading.Thread | None = None
        self._closing = threading.Event()
        if background_checkpoints:
            self._conn.execute("PRAGMA wal_autocheckpoint=0")
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop, name="exwatch-store-checkpoint", daemon=True
            )
            self._checkpointer.start()

    def _checkpoint_loop(self) -> None:
        conn = sqlite3.connect(self.path, timeout=30)
        wal = self.path.with_name(self.path.name + "-wal")
        try:
            while not self._closing.wait(CHECKPOINT_SECONDS):
                # PASSIVE never blocks the writer; TRUNCATE (brief) keeps a busy WAL bounded.
                big = wal.exists() and wal.stat().st_size > WAL_TRUNCATE_BYTES
                conn.execute(f"PRAGMA wal_checkpoint({'TRUNCATE' if big else 'PASSIVE'})")
        except sqlite3.Error as exc:
            log.error("WAL checkpoints stopped: %s", exc)
        finally:
            conn.close()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable across process crashes
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    # ------------------------------------------------------------------ agents

    def register_agent(
        self, agent: AgentInfo, *, agent_version: str, rules_version: str, os: str, now_ns: int
    ) -> int:
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                c.execute(
                    """INSERT INTO agents (id, tenant, hostname, agent_version, rules_version, os,
                                           first_seen_ns, last_seen_ns, last_sequence)
                       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)
                       ON CONFLICT(id) DO UPDATE SET hostname=excluded.hostname,
                         agent_version=excluded.agent_version, rules_version=excluded.rules_version,
                         os=excluded.os, last_seen_ns=excluded.last_seen_ns""",
                    (
                        agent.agent_id,
                        agent.tenant,
                        agent.hostname,
                        agent_version,
                        rules_version,
                        os,
                        now_ns,
                        now_ns,
                    ),
                )
                c.execute(
                    "INSERT OR IGNORE INTO tenants (name, created_ns) VALUES (?, ?)",
                    (agent.tenant, now_ns),
                )
                row = c.execute(
                    "SELECT tenant, last_sequence FROM agents WHERE id = ?", (agent.agent_id,)
                ).fetchone()
                if row["tenant"] == agent.tenant:
                    self._back_online(c, agent, now_ns)
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        if row["tenant"] != agent.tenant:
            raise StoreError(f"agent {agent.agent_id} belongs to tenant {row['tenant']!r}")
        return int(row["last_sequence"])

    def list_agents(self, *, tenant: str | None = None) -> list[dict[str, Any]]:
        sql = (
            "SELECT * FROM agents" + (" WHERE tenant = ?" if tenant else "") + " ORDER BY hostname"
        )
        with self._lock:
            rows = self._conn.execute(sql, (tenant,) if tenant else ()).fetchall()
        return [dict(r) for r in rows]

    def record_heartbeat(self, agent: AgentInfo, heartbeat: pb.Heartbeat, *, now_ns: int) -> None:
        """Keep the host's health current; a changed Exchange build is judged for patch
        status (an exposed build raises an alert, a patched one resolves it)."""
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                row = c.execute(
                    "SELECT exchange_build FROM agents WHERE id = ?", (agent.agent_id,)
                ).fetchone()
                c.execute(
                    """UPDATE agents SET last_seen_ns = ?, rules_version = ?, exchange_build = ?,
                         spool_events = ?, events_shed_total = ? WHERE id = ?""",
                    (
                        now_ns,
                        heartbeat.rules_version[:128],
                        heartbeat.exchange_build[:64],
                        heartbeat.spool_events,
                        heartbeat.events_shed_total,
                        agent.agent_id,
                    ),
                )
                if row is not None and heartbeat.exchange_build != row["exchange_build"]:
                    self._judge_build(c, agent, heartbeat.exchange_build, now_ns)
                self._back_online(c, agent, now_ns)
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise

    def mark_offline(self, *, older_than_ns: int, now_ns: int) -> list[str]:
        """Open an offline alert for every unrevoked agent silent since ``older_than_ns``
        that has none yet; returns their host names."""
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                rows = c.execute(
                    "SELECT id, tenant, hostname, last_seen_ns FROM agents WHERE revoked_ns = 0 "
                    "AND last_seen_ns < ? AND NOT EXISTS (SELECT 1 FROM alerts WHERE "
                    "alerts.agent_id = agents.id AND rule = ? AND status != 'resolved')",
                    (older_than_ns, OFFLINE_RULE),
                ).fetchall()
                for row in rows:
                    agent = AgentInfo(row["id"], row["tenant"], row["hostname"])
                    self._upsert_alert(
                        c,
                        agent,
                        offline_candidate(agent.tenant, agent.agent_id, agent.hostname),
                        row["last_seen_ns"],
                        now_ns,
                    )
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        return [r["hostname"] for r in rows]

    def _back_online(self, c: sqlite3.Connection, agent: AgentInfo, now_ns: int) -> None:
        self._resolve_where(
            c,
            "agent_id = ? AND rule = ?",
            (agent.agent_id, OFFLINE_RULE),
            "reporting again",
            now_ns,
        )

    def _judge_build(
        self, c: sqlite3.Connection, agent: AgentInfo, build: str, now_ns: int
    ) -> None:
        candidate = patch_candidate(agent.tenant, agent.agent_id, agent.hostname, build)
        if candidate is not None:
            self._upsert_alert(c, agent, candidate, now_ns, now_ns, retitle=True)
            return
        # Patched (or unknown): an open exposure alert for this host is over.
        self._resolve_where(
            c,
            "tenant = ? AND agent_id = ? AND rule = ?",
            (agent.tenant, agent.agent_id, PATCH_RULE),
            f"build {build or 'unknown'} reported",
            now_ns,
        )

    # ------------------------------------------------------------------ enrollment

    def create_token(
        self, tenant: str, *, uses: int, expires_ns: int, now_ns: int, note: str = ""
    ) -> str:
        """Make an enrollment token for ``tenant``; only its hash is stored."""
        if not _TENANT.match(tenant):
            raise StoreError(
                f"tenant name {tenant!r} must be 1-64 letters, digits, '.', '_' or '-'"
            )
        token = "exw_" + secrets.token_urlsafe(24)
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                c.execute(
                    "INSERT OR IGNORE INTO tenants (name, created_ns) VALUES (?, ?)",
                    (tenant, now_ns),
                )
                c.execute(
                    "INSERT INTO enrollment_tokens (token_sha256, tenant, uses_left, expires_ns, "
                    "created_ns, note) VALUES (?, ?, ?, ?, ?, ?)",
                    (_sha256(token), tenant, uses, expires_ns, now_ns, note),
                )
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        return token

    def list_tokens(self, *, tenant: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT id, tenant, uses_left, expires_ns, created_ns, note FROM enrollment_tokens"
        sql += (" WHERE tenant = ?" if tenant else "") + " ORDER BY id"
        with self._lock:
            rows = self._conn.execute(sql, (tenant,) if tenant else ()).fetchall()
        return [dict(r) for r in rows]

    def enroll(
        self,
        token: str,
        hostname: str,
        *,
        now_ns: int,
        sign: Callable[[str, str], tuple[bytes, int]],
    ) -> tuple[str, str, bytes]:
        """Redeem ``token`` and create an agent; ``sign(agent_id, tenant)`` returns
        (certificate PEM, not-after ns). Returns (agent_id, tenant, certificate PEM).

        One transaction: a token is never used more often than allowed, even by
        concurrent enrollments, and no agent exists without its certificate."""
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                row = c.execute(
                    "SELECT id, tenant, uses_left, expires_ns FROM enrollment_tokens "
                    "WHERE token_sha256 = ?",
                    (_sha256(token),),
                ).fetchone()
                if row is None or row["uses_left"] <= 0 or row["expires_ns"] <= now_ns:
                    raise StoreError("enrollment token is not valid (unknown, used up or expired)")
                c.execute(
                    "UPDATE enrollment_tokens SET uses_left = uses_left - 1 WHERE id = ?",
                    (row["id"],),
                )
                agent_id = uuid.uuid4().hex
                tenant = str(row["tenant"])
                cert_pem, not_after_ns = sign(agent_id, tenant)
                c.execute(
                    "INSERT INTO agents (id, tenant, hostname, first_seen_ns, last_seen_ns) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (agent_id, tenant, hostname[:255] or agent_id, now_ns, now_ns),
                )
                self._record_certificate(c, agent_id, cert_pem, not_after_ns, now_ns)
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        return agent_id, tenant, cert_pem

    def _record_certificate(
        self, c: sqlite3.Connection, agent_id: str, cert_pem: bytes, not_after_ns: int, now_ns: int
    ) -> None:
        c.execute(
            "INSERT INTO certificates (fingerprint, agent_id, not_after_ns, issued_ns) "
            "VALUES (?, ?, ?, ?)",
            (fingerprint(cert_pem), agent_id, not_after_ns, now_ns),
        )

    def record_certificate(
        self, agent_id: str, cert_pem: bytes, not_after_ns: int, now_ns: int
    ) -> None:
        with self._lock:
            self._record_certificate(self._conn, agent_id, cert_pem, not_after_ns, now_ns)

    def agent(self, agent_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute("SELECT * FROM agents WHERE id = ?", (agent_id,)).fetchone()
        return dict(row) if row else None

    def is_revoked(self, agent_id: str, cert_fingerprint: str) -> bool:
        with self._lock:
            row = self._conn.execute(
                "SELECT (SELECT revoked_ns FROM agents WHERE id = ?) > 0 "
                "OR EXISTS (SELECT 1 FROM revoked_certificates WHERE fingerprint = ?)",
                (agent_id, cert_fingerprint),
            ).fetchone()
        return bool(row[0])

    def revoke_agent(self, agent_id: str, *, reason: str, now_ns: int) -> int:
        """Deny every certificate issued to the agent; returns how many."""
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                if (
                    c.execute(
                        "UPDATE agents SET revoked_ns = ? WHERE id = ?", (now_ns, agent_id)
                    ).rowcount
                    == 0
                ):
                    raise NotFound(f"no agent {agent_id}")
                cur = c.execute(
                    "INSERT OR IGNORE INTO revoked_certificates "
                    "(fingerprint, agent_id, revoked_ns, reason) "
                    "SELECT fingerprint, agent_id, ?, ? FROM certificates WHERE agent_id = ?",
                    (now_ns, reason, agent_id),
                )
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        return cur.rowcount

    def revoked_since(self, since_ns: int) -> list[str]:
        """Agents revoked after ``since_ns`` (the collector closes their streams)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id FROM agents WHERE revoked_ns > ?", (since_ns,)
            ).fetchall()
        return [r[0] for r in rows]

    # ------------------------------------------------------------------ rule bundles

    def set_rule_bundle(
        self, tenant: str, bundle: pb.RuleBundle, *, actor: str, now_ns: int
    ) -> None:
        """Make ``bundle`` the one in force for ``tenant`` ('*': every tenant without its own)."""
        with self._lock:
            self._conn.execute(
                "INSERT INTO rule_bundles (tenant, version, payload, files, created_by, "
                "created_ns) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(tenant) DO UPDATE SET "
                "version = excluded.version, payload = excluded.payload, files = excluded.files, "
                "created_by = excluded.created_by, created_ns = excluded.created_ns",
                (
                    tenant,
                    bundle.version,
                    bundle.SerializeToString(),
                    len(bundle.files),
                    actor,
                    now_ns,
                ),
            )

    def rule_bundle_versions(self) -> dict[str, str]:
        """The version in force per scope (tenant, or '*'): cheap enough to poll."""
        with self._lock:
            rows = self._conn.execute("SELECT tenant, version FROM rule_bundles").fetchall()
        return {r[0]: r[1] for r in rows}

    def rule_bundle(self, scope: str) -> pb.RuleBundle | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT payload FROM rule_bundles WHERE tenant = ?", (scope,)
            ).fetchone()
        return pb.RuleBundle.FromString(row[0]) if row else None

    # ------------------------------------------------------------------ commands

    COMMAND_KINDS = ("quarantine", "restore", "rescan")

    def queue_command(
        self,
        agent_id: str,
        kind: str,
        argument: str,
        *,
        actor: str,
        reason: str = "",
        tenant: str | None = None,
        now_ns: int,
    ) -> str:
        """Queue a response action for an agent (of ``tenant``, when given)."""
        if kind not in self.COMMAND_KINDS:
            raise StoreError(f"unknown command {kind!r}; expected {', '.join(self.COMMAND_KINDS)}")
        row = self.agent(agent_id)
        if row is None or (tenant and row["tenant"] != tenant):
            raise NotFound(f"no agent {agent_id}")
        with self._lock:
            return self.insert_command(
                self._conn,
                tenant=row["tenant"],
                agent_id=agent_id,
                kind=kind,
                argument=argument,
                reason=reason,
                actor=actor,
                now_ns=now_ns,
            )

    @staticmethod
    def insert_command(
        c: sqlite3.Connection,
        *,
        tenant: str,
        agent_id: str,
        kind: str,
        argument: str,
        reason: str,
        actor: str,
        now_ns: int,
    ) -> str:
        """Queue a command on ``c`` (also used inside the console's own transactions)."""
        command_id = uuid.uuid4().hex
        c.execute(
            "INSERT INTO commands (id, tenant, agent_id, kind, argument, reason, status, "
            "requested_by, requested_ns, updated_ns) VALUES (?, ?, ?, ?, ?, ?, 'pending', "
            "?, ?, ?)",
            (command_id, tenant, agent_id, kind, argument, reason, actor, now_ns, now_ns),
        )
        return command_id

    def take_commands(self, agent_ids: Sequence[str], *, now_ns: int) -> list[dict[str, Any]]:
        """Pending commands of connected agents, marked sent in the same step."""
        if not agent_ids:
            return []
        marks = ",".join("?" * len(agent_ids))
        with self._lock:
            rows = self._conn.execute(
                f"UPDATE commands SET status = 'sent', updated_ns = ? WHERE status = 'pending' "
                f"AND agent_id IN ({marks}) RETURNING id, agent_id, kind, argument",
                (now_ns, *agent_ids),
            ).fetchall()
        return [dict(r) for r in rows]

    def requeue_command(self, command_id: str) -> None:
        """Its agent went away between taking and delivering: deliver on reconnect."""
        with self._lock:
            self._conn.execute(
                "UPDATE commands SET status = 'pending' WHERE id = ? AND status = 'sent'",
                (command_id,),
            )

    def finish_command(
        self, agent_id: str, command_id: str, *, ok: bool, result: str, now_ns: int
    ) -> None:
        """The agent's confirmation; only the agent the command was for can give it."""
        with self._lock:
            self._conn.execute(
                "UPDATE commands SET status = ?, result = ?, updated_ns = ? WHERE id = ? "
                "AND agent_id = ?",
                ("done" if ok else "failed", result[:2000], now_ns, command_id, agent_id),
            )

    def list_commands(
        self, *, agent_id: str | None = None, tenant: str | None = None
    ) -> list[dict[str, Any]]:
        where, args = [], []
        if agent_id:
            where.append("agent_id = ?")
            args.append(agent_id)
        if tenant:
            where.append("tenant = ?")
            args.append(tenant)
        sql = "SELECT * FROM commands" + (" WHERE " + " AND ".join(where) if where else "")
        with self._lock:
            rows = self._conn.execute(sql + " ORDER BY requested_ns", args).fetchall()
        return [dict(r) for r in rows]

    # ------------------------------------------------------------------ ingest

    def commit_batch(
        self, agent: AgentInfo, sequence: int, events: Sequence[pb.Event], *, now_ns: int
    ) -> CommitResult:
        result = self.commit_batches([(agent, sequence, events)], now_ns=now_ns)[0]
        if isinstance(result, StoreError):
            raise result
        return result

    def commit_batches(
        self, batches: Sequence[tuple[AgentInfo, int, Sequence[pb.Event]]], *, now_ns: int
    ) -> list[CommitResult | StoreError]:
        """Commit several batches (of any agents) in one transaction: a group commit pays
        for one COMMIT however many streams are waiting. A batch that fails is rolled back
        alone and its error returned in its place."""
        results: list[CommitResult | StoreError] = []
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                for agent, sequence, events in batches:
                    c.execute("SAVEPOINT batch")
                    try:
                        results.append(self._commit_one(c, agent, sequence, events, now_ns))
                    except StoreError as exc:
                        c.execute("ROLLBACK TO batch")
                        results.append(exc)
                    c.execute("RELEASE batch")
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
        return results

    def _commit_one(
        self,
        c: sqlite3.Connection,
        agent: AgentInfo,
        sequence: int,
        events: Sequence[pb.Event],
        now_ns: int,
    ) -> CommitResult:
        row = c.execute(
            "SELECT last_sequence FROM agents WHERE id = ?", (agent.agent_id,)
        ).fetchone()
        if row is None:
            raise StoreError(f"unknown agent {agent.agent_id}")
        if sequence <= row["last_sequence"]:
            return CommitResult(True, 0, (), ())
        written, linked = self._insert_events(c, agent, events, now_ns)
        opened, updated = self._apply_alerts(c, agent, linked, now_ns)
        c.execute(
            "UPDATE agents SET last_sequence = ?, last_seen_ns = ? WHERE id = ?",
            (sequence, now_ns, agent.agent_id),
        )
        return CommitResult(False, written, tuple(opened), tuple(updated))

    _INSERT_EVENT = """INSERT OR IGNORE INTO events (uid, agent_id, tenant, kind, host_time_ns,
        received_ns, severity, retro, subject, summary, payload)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""

    def _insert_events(
        self, c: sqlite3.Connection, agent: AgentInfo, events: Sequence[pb.Event], now_ns: int
    ) -> tuple[int, list[tuple[int, pb.Event, list[AlertCandidate]]]]:
        """Insert events not seen before (by id). Returns how many were written, and the
        (rowid, event, candidates) of those written that feed alerts.

        Most events feed no alert: they go in one executemany (the hot path); the few that
        do are inserted one by one for their rowid, which the alert's evidence links to."""
        plain = []
        alerting: list[tuple[pb.Event, list[AlertCandidate]]] = []
        for event in events:
            cands = candidates_for(agent.tenant, agent.agent_id, agent.hostname, event)
            if cands:
                alerting.append((event, cands))
            else:
                plain.append(self._event_row(agent, event, now_ns))
        before = c.total_changes
        c.executemany(self._INSERT_EVENT, plain)
        written = c.total_changes - before
        linked = []
        for event, cands in alerting:
            cur = c.execute(self._INSERT_EVENT, self._event_row(agent, event, now_ns))
            if cur.rowcount == 1 and cur.lastrowid is not None:
                written += 1
                linked.append((cur.lastrowid, event, cands))
        return written, linked

    @staticmethod
    def _event_row(agent: AgentInfo, event: pb.Event, now_ns: int) -> tuple[Any, ...]:
        kind, subject, summary = _event_columns(event)
        severity = max((m.severity for m in event.matches), default=0)
        return (
            event.id,
            agent.agent_id,
            agent.tenant,
            kind,
            event.host_time_ns,
            now_ns,
            severity,
            int(event.retro),
            subject,
            summary,
            event.SerializeToString(),
        )

    def _apply_alerts(
        self,
        c: sqlite3.Connection,
        agent: AgentInfo,
        linked: list[tuple[int, pb.Event, list[AlertCandidate]]],
        now_ns: int,
    ) -> tuple[list[int], list[int]]:
        opened: list[int] = []
        updated: list[int] = []
        for rowid, event, cands in linked:
            seen_ns = event.host_time_ns or now_ns
            for cand in cands:
                if cand.incident:
                    cand = self._regroup_page(c, agent, cand, now_ns)
                if self._suppressed(c, agent, cand, seen_ns):
                    continue
                outcome = (
                    self._incident(c, agent, cand, seen_ns, now_ns)
                    if cand.incident
                    else self._upsert_alert(c, agent, cand, seen_ns, now_ns)
                )
                if outcome is None:
                    continue
                alert_id, is_new = outcome
                c.execute(
                    "INSERT OR IGNORE INTO alert_events (alert_id, event_rowid) VALUES (?, ?)",
                    (alert_id, rowid),
                )
                (opened if is_new else updated).append(alert_id)
                for kind, value in cand.indicators:
                    spread = self._campaign(c, agent, kind, value, seen_ns, now_ns)
                    if spread is not None:
                        c.execute(
                            "INSERT OR IGNORE INTO alert_events (alert_id, event_rowid) "
                            "VALUES (?, ?)",
                            (spread[0], rowid),
                        )
                        (opened if spread[1] else updated).append(spread[0])
        return opened, [a for a in dict.fromkeys(updated) if a not in opened]

    def _campaign(
        self,
        c: sqlite3.Connection,
        agent: AgentInfo,
        kind: str,
        value: str,
        seen_ns: int,
        now_ns: int,
    ) -> tuple[int, bool] | None:
        """Record an indicator; once it is on two or more hosts, feed the fleet alert (MSP
        scope: host names of several tenants appear together only there)."""
        c.execute(
            "INSERT OR IGNORE INTO indicators (kind, value, agent_id, tenant, first_seen_ns) "
            "VALUES (?, ?, ?, ?, ?)",
            (kind, value, agent.agent_id, agent.tenant, seen_ns),
        )
        hosts, tenants = c.execute(
            "SELECT COUNT(*), COUNT(DISTINCT tenant) FROM indicators WHERE kind = ? AND value = ?",
            (kind, value),
        ).fetchone()
        if hosts < 2:
            return None
        scope = AgentInfo(MSP_SCOPE, MSP_SCOPE, agent.hostname)
        outcome = self._upsert_alert(
            c, scope, campaign(kind, value, hosts, tenants), seen_ns, now_ns, retitle=True
        )
        names = [
            r[0]
            for r in c.execute(
                "SELECT DISTINCT a.hostname FROM indicators i JOIN agents a ON a.id = i.agent_id "
                "WHERE i.kind = ? AND i.value = ? ORDER BY a.hostname",
                (kind, value),
            )
        ]
        c.execute("UPDATE alerts SET hosts = ? WHERE id = ?", (json.dumps(names), outcome[0]))
        return outcome

    def _suppressed(
        self, c: sqlite3.Connection, agent: AgentInfo, cand: AlertCandidate, seen_ns: int
    ) -> bool:
        """An active maintenance window hides clean page changes and sensor noise of its
        host; a suppression rule hides what matches its rule and path. Never bad content."""
        if cand.severity >= pb.SEVERITY_CRITICAL or cand.rule == BAD_CONTENT_RULE:
            return False
        rows = c.execute(
            "SELECT id, kind, host, rule, path_glob FROM suppressions WHERE tenant = ? "
            "AND starts_ns <= ? AND ends_ns > ? AND host IN ('', ?, ?)",
            (agent.tenant, seen_ns, seen_ns, agent.hostname, agent.agent_id),
        ).fetchall()
        path = cand.details.get("path", "")
        for row in rows:
            if row["kind"] == "maintenance":
                hit = cand.rule in MAINTENANCE_RULES or cand.rule.startswith("exwatch.sensor.")
            else:
                hit = (not row["rule"] or row["rule"] == cand.rule) and (
                    not row["path_glob"] or fnmatch.fnmatch(path.lower(), row["path_glob"].lower())
                )
            if hit:
                c.execute("UPDATE suppressions SET hits = hits + 1 WHERE id = ?", (row["id"],))
                return True
        return False

    def add_suppression(
        self,
        tenant: str,
        kind: str,
        *,
        starts_ns: int,
        ends_ns: int,
        host: str = "",
        rule: str = "",
        path_glob: str = "",
        reason: str = "",
        actor: str = "",
        now_ns: int,
    ) -> int:
        if kind not in ("maintenance", "suppress"):
            raise StoreError(f"unknown suppression kind {kind!r}")
        if ends_ns <= starts_ns:
            raise StoreError("a suppression must end after it starts")
        if kind == "suppress" and not (rule or path_glob):
            raise StoreError("a suppression needs a rule or a path pattern (or use maintenance)")
        with self._lock:
            cur = self._conn.execute(
                "INSERT INTO suppressions (tenant, kind, host, rule, path_glob, starts_ns, "
                "ends_ns, reason, created_by, created_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (tenant, kind, host, rule, path_glob, starts_ns, ends_ns, reason, actor, now_ns),
            )
        assert cur.lastrowid is not None
        return cur.lastrowid

    def list_suppressions(self, *, tenant: str | None = None) -> list[dict[str, Any]]:
        sql = (
            "SELECT * FROM suppressions" + (" WHERE tenant = ?" if tenant else "") + " ORDER BY id"
        )
        with self._lock:
            rows = self._conn.execute(sql, (tenant,) if tenant else ()).fetchall()
        return [dict(r) for r in rows]

    def delete_suppression(self, suppression_id: int, *, tenant: str | None = None) -> None:
        sql = "DELETE FROM suppressions WHERE id = ?" + (" AND tenant = ?" if tenant else "")
        with self._lock:
            args = (suppression_id, tenant) if tenant else (suppression_id,)
            if self._conn.execute(sql, args).rowcount == 0:
                raise NotFound(f"no suppression {suppression_id}")

    def _page(
        self,
        c: sqlite3.Connection,
        tenant: str,
        alert_id: int,
        fingerprint: str,
        reason: str,
        severity: int,
        now_ns: int,
    ) -> None:
        enqueue(
            c,
            tenant=tenant,
            alert_id=alert_id,
            fingerprint=fingerprint,
            reason=reason,
            routes=self.routes,
            severity=severity,
            now_ns=now_ns,
        )

    def _resolve_where(
        self, c: sqlite3.Connection, where: str, args: tuple[Any, ...], comment: str, now_ns: int
    ) -> None:
        """Resolve matching open alerts automatically (the condition ended), and tell the
        channels that follow status (PagerDuty)."""
        for row in c.execute(
            "UPDATE alerts SET status = 'resolved', status_by = 'exwatch', status_comment = ?, "
            f"updated_ns = ? WHERE status != 'resolved' AND {where} "
            "RETURNING id, tenant, fingerprint, severity",
            (comment, now_ns, *args),
        ).fetchall():
            self._page(
                c, row["tenant"], row["id"], row["fingerprint"], "resolved", row["severity"], now_ns
            )

    @staticmethod
    def _open_alert(c: sqlite3.Connection, tenant: str, fingerprint: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = c.execute(
            "SELECT id, severity, tags, hosts, details, last_seen_ns, updated_ns FROM alerts "
            "WHERE tenant = ? AND fingerprint = ? AND status != 'resolved'",
            (tenant, fingerprint),
        ).fetchone()
        return row

    def _regroup_page(
        self, c: sqlite3.Connection, agent: AgentInfo, cand: AlertCandidate, now_ns: int
    ) -> AlertCandidate:
        """The tail of a burst (its last files settle almost alone) still belongs to the
        mass change that its head opened."""
        if cand.rule != PAGE_RULE:
            return cand
        grouped = mass_change(agent.tenant, agent.agent_id, agent.hostname, cand)
        row = self._open_alert(c, agent.tenant, grouped.fingerprint)
        if row is not None and row["updated_ns"] > now_ns - MASS_CHANGE_WINDOW_NS:
            return grouped
        return cand

    def _incident(
        self,
        c: sqlite3.Connection,
        agent: AgentInfo,
        cand: AlertCandidate,
        seen_ns: int,
        now_ns: int,
    ) -> tuple[int, bool] | None:
        """Join the host's open incident, or open one (marked when the host was compromised
        before). Evidence that may not open one (a failed attempt) only joins."""
        fingerprint = hashlib.sha256(
            json.dumps([agent.tenant, agent.agent_id, "incident"]).encode()
        ).hexdigest()[:32]
        row = self._open_alert(c, agent.tenant, fingerprint)
        if row is None and not cand.opens:
            return None
        details = json.loads(row["details"]) if row else {}
        paths = merge_listed(details.get("paths", []), [cand.details.get("path", "")])
        rules = merge_listed(details.get("rules", []), cand.details.get("rules", "").split(","))
        if cand.rule not in (PAGE_RULE, BAD_CONTENT_RULE):
            rules = merge_listed(rules, [cand.rule])
        tags = sorted(set(json.loads(row["tags"]) if row else ()) | set(cand.tags))
        chains = sorted(chains_of(tags))
        again = (
            bool(details.get("again"))
            if row
            else c.execute(
                "SELECT 1 FROM alerts WHERE agent_id = ? AND rule = ? AND status = 'resolved' "
                "LIMIT 1",
                (agent.agent_id, INCIDENT_RULE),
            ).fetchone()
            is not None
        )
        details = {"paths": paths, "rules": rules, "chains": chains, "again": again}
        title = incident_title(agent.hostname, chains, paths, again)
        if again:
            tags = sorted({*tags, "exwatch.repeat-compromise"})
        incident = AlertCandidate(
            fingerprint=fingerprint,
            rule=INCIDENT_RULE,
            title=title,
            severity=cand.severity if cand.opens or row else pb.SEVERITY_MEDIUM,
            tags=tuple(tags),
            details=details,
        )
        return self._upsert_alert(c, agent, incident, seen_ns, now_ns, retitle=True)

    def _upsert_alert(
        self,
        c: sqlite3.Connection,
        agent: AgentInfo,
        cand: AlertCandidate,
        seen_ns: int,
        now_ns: int,
        *,
        retitle: bool = False,
    ) -> tuple[int, bool]:
        """Open an alert for the candidate's fingerprint, or feed the open one. Severity
        only rises; ``retitle``: the candidate carries the alert's complete new title and
        details (incidents), else the title changes only with a severity rise."""
        row = self._open_alert(c, agent.tenant, cand.fingerprint)
        if row is None:
            cur = c.execute(
                """INSERT INTO alerts (tenant, fingerprint, rule, title, severity, status, tags,
                     hosts, details, first_seen_ns, last_seen_ns, event_count, created_ns,
                     updated_ns, agent_id)
                   VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, 1, ?, ?, ?)""",
                (
                    agent.tenant,
                    cand.fingerprint,
                    cand.rule,
                    cand.title,
                    cand.severity,
                    json.dumps(sorted(cand.tags)),
                    json.dumps([agent.hostname]),
                    json.dumps(cand.details),
                    seen_ns,
                    seen_ns,
                    now_ns,
                    now_ns,
                    agent.agent_id,
                ),
            )
            assert cur.lastrowid is not None
            self._page(
                c, agent.tenant, cur.lastrowid, cand.fingerprint, "opened", cand.severity, now_ns
            )
            return cur.lastrowid, True
        tags = sorted(set(json.loads(row["tags"])) | set(cand.tags))
        hosts = sorted(set(json.loads(row["hosts"])) | {agent.hostname})
        details = (
            cand.details
            if retitle
            else json.loads(row["details"])
            | {k: v for k, v in cand.details.items() if k == "count"}
        )
        c.execute(
            """UPDATE alerts SET severity = MAX(severity, ?), tags = ?, hosts = ?,
                 title = CASE WHEN ? OR ? > severity THEN ? ELSE title END, details = ?,
                 last_seen_ns = MAX(last_seen_ns, ?), first_seen_ns = MIN(first_seen_ns, ?),
                 event_count = event_count + 1, updated_ns = ? WHERE id = ?""",
            (
                cand.severity,
                json.dumps(tags),
                json.dumps(hosts),
                retitle,
                cand.severity,
                cand.title,
                json.dumps(details),
                seen_ns,
                seen_ns,
                now_ns,
                row["id"],
            ),
        )
        if cand.severity > row["severity"]:
            self._page(
                c,
                agent.tenant,
                int(row["id"]),
                cand.fingerprint,
                "escalated",
                cand.severity,
                now_ns,
            )
        return int(row["id"]), False

    def count_events(self, *, agent_id: str | None = None) -> int:
        sql = "SELECT COUNT(*) FROM events" + (" WHERE agent_id = ?" if agent_id else "")
        with self._lock:
            return int(self._conn.execute(sql, (agent_id,) if agent_id else ()).fetchone()[0])

    def event_uids(self, *, agent_id: str | None = None) -> list[str]:
        sql = "SELECT uid FROM events" + (" WHERE agent_id = ?" if agent_id else "")
        with self._lock:
            return [r[0] for r in self._conn.execute(sql, (agent_id,) if agent_id else ())]

    # ------------------------------------------------------------------ alerts

    def _alert_dict(self, row: sqlite3.Row) -> dict[str, Any]:
        evidence = [
            r[0]
            for r in self._conn.execute(
                "SELECT e.uid FROM alert_events ae JOIN events e ON e.rowid = ae.event_rowid "
                "WHERE ae.alert_id = ? ORDER BY e.host_time_ns, e.rowid",
                (row["id"],),
            )
        ]
        return {
            "id": row["id"],
            "tenant": row["tenant"],
            "hosts": json.loads(row["hosts"]),
            "title": row["title"],
            "severity": SEVERITY_NAMES.get(row["severity"], "unknown"),
            "status": row["status"],
            "rule": row["rule"],
            "tags": json.loads(row["tags"]),
            "fingerprint": row["fingerprint"],
            "first_seen": _iso(row["first_seen_ns"]),
            "last_seen": _iso(row["last_seen_ns"]),
            "event_count": row["event_count"],
            "evidence": evidence,
            "details": json.loads(row["details"]),
            "status_by": row["status_by"],
            "status_comment": row["status_comment"],
        }

    def list_alerts(
        self, *, tenant: str | None = None, status: str | None = None, limit: int = 1000
    ) -> list[dict[str, Any]]:
        where, args = [], []
        if tenant:
            where.append("tenant = ?")
            args.append(tenant)
        if status:
            if status not in ALERT_STATUSES:
                raise StoreError(
                    f"unknown status {status!r}; expected one of {', '.join(ALERT_STATUSES)}"
                )
            where.append("status = ?")
            args.append(status)
        sql = (
            "SELECT * FROM alerts"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY last_seen_ns DESC, id DESC LIMIT ?"
        )
        with self._lock:
            rows = self._conn.execute(sql, (*args, limit)).fetchall()
            return [self._alert_dict(r) for r in rows]

    def set_alert_status(
        self,
        alert_id: int,
        status: str,
        *,
        actor: str,
        comment: str = "",
        tenant: str | None = None,
    ) -> dict[str, Any]:
        if status not in ALERT_STATUSES:
            raise StoreError(f"unknown status {status!r}")
        with self._lock:
            c = self._conn
            c.execute("BEGIN IMMEDIATE")
            try:
                args: list[Any] = [alert_id]
                where = "id = ?"
                if tenant:
                    where, args = "id = ? AND tenant = ?", [alert_id, tenant]
                before = c.execute(f"SELECT status FROM alerts WHERE {where}", args).fetchone()
                if before is None:
                    raise NotFound(f"no alert {alert_id}")
                try:
                    c.execute(
                        "UPDATE alerts SET status = ?, status_by = ?, status_comment = ?, "
                        f"updated_ns = ? WHERE {where}",
                        [status, actor, comment, _now_ns(), *args],
                    )
                except sqlite3.IntegrityError:
                    raise StoreError(
                        f"alert {alert_id} cannot be reopened: a newer open alert has taken "
                        "its place"
                    ) from None
                row = c.execute("SELECT * FROM alerts WHERE id = ?", (alert_id,)).fetchone()
                if before["status"] != status:  # PagerDuty follows the alert's status
                    reason = {"open": "reopened"}.get(status, status)
                    self._page(
                        c,
                        row["tenant"],
                        alert_id,
                        row["fingerprint"],
                        reason,
                        row["severity"],
                        _now_ns(),
                    )
                c.execute("COMMIT")
            except BaseException:
                c.execute("ROLLBACK")
                raise
            return self._alert_dict(row)

    def close(self) -> None:
        self._closing.set()
        if self._checkpointer is not None:
            self._checkpointer.join()
        with self._lock:
            self._conn.close()


def _now_ns() -> int:
    import time

    return time.time_ns()


def _iso(ns: int) -> str:
    from datetime import UTC, datetime

    return (
        datetime.fromtimestamp(ns / 1e9, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )
