"""The collector's store: agents, events, alerts, enrollment, commands, rule bundles.

One implementation on two databases (``collector.store.backend``): an embedded SQLite
file (WAL; the default) or a PostgreSQL server that several collectors share. Each store
has one writing connection, guarded by a lock, so ingest from many streams serialises
into short group-committed transactions; readers (CLI, console) use connections of their
own. Between collectors on one PostgreSQL, the database's own locks keep ingest
idempotent and alerts one per incident: the agent's row is read FOR UPDATE before a batch
is committed, and an advisory lock per (tenant, fingerprint) is held while an alert is
opened or fed.
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
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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
    candidates_for,
    mass_change,
    merge_details,
    offline_candidate,
    patch_candidate,
)
from collector.alerting.correlated import correlated
from collector.alerting.incidents import chains_of, incident_title, merge_listed
from collector.correlation.engine import Correlator, Fired, Observation
from collector.correlation.rules import RuleSet, builtin_rules
from collector.errors import NotFound, StoreError
from collector.notify.outbox import enqueue
from collector.notify.routes import Routes
from collector.pki import fingerprint
from collector.store.backend import (
    Connection,
    Contention,
    Database,
    IntegrityError,
    Row,
    SQLiteDatabase,
    open_database,
)
from collector.store.base import AgentInfo, CommitResult
from protos import exwatch_pb2 as pb

log = logging.getLogger("exwatch.collector.store")

ALERT_STATUSES = ("open", "acknowledged", "resolved")
CHECKPOINT_SECONDS = 1.0
# What a maintenance window hides: clean page changes (a patch day) and sensor noise.
MAINTENANCE_RULES = frozenset({PAGE_RULE, MASS_CHANGE_RULE})
# The tail of a burst joins its mass-change alert while that was fed this recently.
MASS_CHANGE_WINDOW_NS = 120 * 10**9
WAL_TRUNCATE_BYTES = 64 * 1024 * 1024
# PostgreSQL may break a deadlock between collectors by failing one transaction: retry.
CONTENTION_RETRIES = 5
_LINK_EVIDENCE = (
    "INSERT INTO alert_events (alert_id, event_rowid) VALUES (?, ?) ON CONFLICT DO NOTHING"
)
# A committed event that feeds alerts or correlations: (rowid, event, candidates, what the
# correlation rules saw in it).
_Linked = tuple[int, pb.Event, list[AlertCandidate], Observation | None]


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A batch worked out before its transaction: rows for the bulk insert, and the events
    that feed alerts or correlation rules (with their candidates and observation)."""

    plain: list[tuple[Any, ...]]
    alerting: list[tuple[pb.Event, list[AlertCandidate], Observation | None]]


# Who copies a SQLite store's WAL back into the database (see Store).
Checkpoints = Literal["inline", "background", "elsewhere"]
# Correlation windows whose time ran out are deleted this often, and this long after their
# end (host clocks run a little behind or ahead of the collector's).
WINDOW_PURGE_EVERY_NS = 60 * 10**9
WINDOW_PURGE_SLACK_NS = 24 * 3600 * 10**9


class _Windows:
    """The correlation engine's open windows, in the transaction that commits the events
    which changed them (a restart neither forgets a window nor fires one twice)."""

    def __init__(self, c: Connection) -> None:
        self._c = c

    def load_window(self, rule: str, group: str) -> str | None:
        self._c.lock("correlation", rule, group)  # collectors sharing PostgreSQL: one at a time
        row = self._c.execute(
            "SELECT state FROM correlation_windows WHERE rule = ? AND group_key = ?",
            (rule, group),
        ).fetchone()
        return str(row[0]) if row is not None else None

    def save_window(self, rule: str, group: str, state: str, expires_ns: int) -> None:
        self._c.execute(
            "INSERT INTO correlation_windows (rule, group_key, state, expires_ns) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (rule, group_key) DO UPDATE SET "
            "state = excluded.state, expires_ns = excluded.expires_ns",
            (rule, group, state, expires_ns),
        )


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


class Store:
    """The store on a SQLite file or a PostgreSQL database. Safe to use from several
    threads."""

    def __init__(
        self,
        target: Path | str | Database,
        *,
        checkpoints: Checkpoints = "inline",
        routes: Routes | None = None,
        correlation: RuleSet | None = None,
    ) -> None:
        """``target``: a SQLite file path, a ``postgresql://`` DSN, or a ``Database``
        (which the store then owns and closes). ``checkpoints`` (SQLite): who copies the
        WAL back into the database. ``inline``: SQLite, at commit; ``background``: a
        thread of this store (the long-running server: at commit they cost ingest a
        third); ``elsewhere``: another store on the same file does it (ingest workers)."""
        self.database = target if isinstance(target, Database) else open_database(target)
        self.dialect = self.database.dialect
        try:
            self.database.migrate()
            self._conn = self.database.connect()
        except BaseException:
            self.database.close()
            raise
        self._lock = threading.Lock()
        # Where pages go; queued in the same transaction as the alert change (outbox).
        self.routes = routes or Routes()
        # Correlation rules (built-in unless given), fed as events are committed.
        self.correlator = Correlator(builtin_rules() if correlation is None else correlation)
        self._windows_purged_ns = 0
        self._checkpointer: threading.Thread | None = None
        self._closing = threading.Event()
        if checkpoints != "inline" and isinstance(self.database, SQLiteDatabase):
            self._conn.execute("PRAGMA wal_autocheckpoint=0")
        if checkpoints == "background" and isinstance(self.database, SQLiteDatabase):
            self._checkpointer = threading.Thread(
                target=self._checkpoint_loop,
                args=(self.database,),
                name="exwatch-store-checkpoint",
                daemon=True,
            )
            self._checkpointer.start()

    def _checkpoint_loop(self, database: SQLiteDatabase) -> None:
        conn = sqlite3.connect(database.path, timeout=30)
        wal = database.path.with_name(database.path.name + "-wal")
        # Writers hand the writer lock straight to each other, so the WAL never finds a
        # moment without one to start again from its beginning: past WAL_TRUNCATE_BYTES the
        # checkpoint queues for the lock like a writer, copies what is left and empties it.
        lock = database.writer_lock()
        try:
            while not self._closing.wait(CHECKPOINT_SECONDS):
                if not (wal.exists() and wal.stat().st_size > WAL_TRUNCATE_BYTES):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")  # never blocks a writer
                    continue
                lock.acquire()
                try:
                    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                finally:
                    lock.release()
        except sqlite3.Error as exc:
            log.error("WAL checkpoints stopped: %s", exc)
        finally:
            conn.close()
            lock.close()

    def _retrying(self, work: Callable[[Connection], Any]) -> Any:
        """Run ``work`` in one write transaction (under the store's lock), again when
        PostgreSQL broke a deadlock with another collector by failing ours."""
        with self._lock:
            c = self._conn
            for attempt in range(CONTENTION_RETRIES):
                c.begin()
                try:
                    result = work(c)
                except Contention:
                    c.rollback()
                    if attempt + 1 == CONTENTION_RETRIES:
                        raise
                    time.sleep(0.01 * (attempt + 1))
                    continue
                except BaseException:
                    c.rollback()
                    raise
                c.commit()
                return result
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ agents

    def register_agent(
        self, agent: AgentInfo, *, agent_version: str, rules_version: str, os: str, now_ns: int
    ) -> int:
        def work(c: Connection) -> Row:
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
                "INSERT INTO tenants (name, created_ns) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (agent.tenant, now_ns),
            )
            row: Row = c.execute(
                "SELECT tenant, last_sequence FROM agents WHERE id = ?", (agent.agent_id,)
            ).fetchone()  # just upserted
            if row["tenant"] == agent.tenant:
                self._back_online(c, agent, now_ns)
            return row

        row = self._retrying(work)
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
        self.record_heartbeats([(agent, heartbeat, now_ns)])

    def record_heartbeats(self, beats: Sequence[tuple[AgentInfo, pb.Heartbeat, int]]) -> None:
        """Several agents' heartbeats (agent, heartbeat, received at) in one transaction: a
        large fleet sends hundreds a second, and a transaction each would keep the writer
        from the event batches."""

        # One order of row locks for every writer: two collectors on one PostgreSQL never
        # wait on each other in a cycle.
        ordered = sorted(beats, key=lambda beat: beat[0].agent_id)

        def work(c: Connection) -> None:
            for agent, heartbeat, now_ns in ordered:
                self._heartbeat(c, agent, heartbeat, now_ns)

        self._retrying(work)

    def _heartbeat(
        self, c: Connection, agent: AgentInfo, heartbeat: pb.Heartbeat, now_ns: int
    ) -> None:
        row = c.execute(
            "SELECT exchange_build FROM agents WHERE id = ?" + c.dialect.for_update,
            (agent.agent_id,),
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

    def mark_offline(self, *, older_than_ns: int, now_ns: int) -> list[str]:
        """Open an offline alert for every unrevoked agent silent since ``older_than_ns``
        that has none yet; returns their host names."""

        def work(c: Connection) -> Sequence[Row]:
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
            return rows

        return [r["hostname"] for r in self._retrying(work)]

    def _back_online(self, c: Connection, agent: AgentInfo, now_ns: int) -> None:
        self._resolve_where(
            c,
            "agent_id = ? AND rule = ?",
            (agent.agent_id, OFFLINE_RULE),
            "reporting again",
            now_ns,
        )

    def _judge_build(self, c: Connection, agent: AgentInfo, build: str, now_ns: int) -> None:
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
            c.begin()
            try:
                c.execute(
                    "INSERT INTO tenants (name, created_ns) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    (tenant, now_ns),
                )
                c.execute(
                    "INSERT INTO enrollment_tokens (token_sha256, tenant, uses_left, expires_ns, "
                    "created_ns, note) VALUES (?, ?, ?, ?, ?, ?)",
                    (_sha256(token), tenant, uses, expires_ns, now_ns, note),
                )
                c.commit()
            except BaseException:
                c.rollback()
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
            c.begin()
            try:
                row = c.execute(
                    "SELECT id, tenant, uses_left, expires_ns FROM enrollment_tokens "
                    "WHERE token_sha256 = ?" + c.dialect.for_update,
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
                c.commit()
            except BaseException:
                c.rollback()
                raise
        return agent_id, tenant, cert_pem

    def _record_certificate(
        self, c: Connection, agent_id: str, cert_pem: bytes, not_after_ns: int, now_ns: int
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
            c.begin()
            try:
                if (
                    c.execute(
                        "UPDATE agents SET revoked_ns = ? WHERE id = ?", (now_ns, agent_id)
                    ).rowcount
                    == 0
                ):
                    raise NotFound(f"no agent {agent_id}")
                cur = c.execute(
                    "INSERT INTO revoked_certificates (fingerprint, agent_id, revoked_ns, reason) "
                    "SELECT fingerprint, agent_id, ?, ? FROM certificates WHERE agent_id = ? "
                    "ON CONFLICT DO NOTHING",
                    (now_ns, reason, agent_id),
                )
                c.commit()
            except BaseException:
                c.rollback()
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

    COMMAND_KINDS = ("quarantine", "restore", "rescan", "collect")

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
        c: Connection,
        *,
        tenant: str,
        agent_id: str,
        kind: str,
        argument: str,
        reason: str,
        actor: str,
        now_ns: int,
        command_id: str = "",
    ) -> str:
        """Queue a command on ``c`` (also used inside the console's own transactions);
        ``command_id``: the id an approved request already has (default: a new one)."""
        command_id = command_id or uuid.uuid4().hex
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

    # Commands whose result may carry a file (collected, or the quarantined content).
    EVIDENCE_KINDS = ("collect", "quarantine")

    def add_evidence_file(
        self, agent_id: str, command_id: str, content: bytes, sha256: str, *, now_ns: int
    ) -> bool:
        """Keep a file that came with a command result: its bytes once per SHA-256, linked
        to the command, its host and path. Only the agent a collect or quarantine command
        was for may bring one, with the right hash; anything else is logged and dropped
        (False). A resent result changes nothing."""
        if hashlib.sha256(content).hexdigest() != sha256:
            log.warning(
                "agent %s: the file for command %s does not match its hash", agent_id, command_id
            )
            return False
        with self._lock:
            c = self._conn
            with c.transaction():
                row = c.execute(
                    "SELECT tenant, kind, argument FROM commands WHERE id = ? AND agent_id = ?",
                    (command_id, agent_id),
                ).fetchone()
                if row is None or row["kind"] not in self.EVIDENCE_KINDS:
                    log.warning(
                        "agent %s sent a file for command %s, which asked for none",
                        agent_id,
                        command_id,
                    )
                    return False
                c.execute(
                    "INSERT INTO evidence_files (sha256, size, content, stored_ns) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING",
                    (sha256, len(content), content, now_ns),
                )
                c.execute(
                    "INSERT INTO collected_files (command_id, tenant, agent_id, kind, path, "
                    "sha256, size, collected_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (command_id) DO NOTHING",
                    (
                        command_id,
                        row["tenant"],
                        agent_id,
                        row["kind"],
                        row["argument"],
                        sha256,
                        len(content),
                        now_ns,
                    ),
                )
        return True

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
        """Commit several batches (of any agents; an agent's in the order it sent them) in
        one transaction: a group commit pays for one COMMIT however many streams are
        waiting. A batch that fails is rolled back alone and its error returned in its
        place, and so are the agent's batches after it."""
        # Agents in a stable order: two collectors committing batches of the same agents
        # lock their rows in one order, which leaves PostgreSQL no deadlock to break.
        order = sorted(range(len(batches)), key=lambda i: batches[i][0].agent_id)
        # Rows and matches are worked out before the write transaction: the writer lock
        # (one per SQLite file, across processes) is held for the inserts alone.
        prepared = [self._prepare(agent, events, now_ns) for agent, _, events in batches]

        def work(c: Connection) -> list[CommitResult | StoreError]:
            results: list[CommitResult | StoreError] = [StoreError("not committed")] * len(order)
            failed: set[str] = set()
            for i in order:
                agent, sequence, _ = batches[i]
                if agent.agent_id in failed:  # a later batch would move the sequence past it
                    results[i] = StoreError("an earlier batch of this agent failed")
                    continue
                try:
                    with c.savepoint("batch"):
                        results[i] = self._commit_one(c, agent, sequence, prepared[i], now_ns)
                except Contention:
                    raise
                except StoreError as exc:
                    results[i] = exc
                    failed.add(agent.agent_id)
            return results

        done: list[CommitResult | StoreError] = self._retrying(work)
        return done

    def _commit_one(
        self,
        c: Connection,
        agent: AgentInfo,
        sequence: int,
        prepared: _Prepared,
        now_ns: int,
    ) -> CommitResult:
        # FOR UPDATE: a collector committing this agent's next batch waits here, then sees
        # the sequence this one set (the agent may have moved to it mid-burst).
        row = c.execute(
            "SELECT last_sequence FROM agents WHERE id = ?" + c.dialect.for_update,
            (agent.agent_id,),
        ).fetchone()
        if row is None:
            raise StoreError(f"unknown agent {agent.agent_id}")
        if sequence <= row["last_sequence"]:
            return CommitResult(True, 0, (), ())
        written, linked = self._insert_events(c, agent, prepared, now_ns)
        opened, updated = self._apply_alerts(c, agent, linked, now_ns)
        if now_ns - self._windows_purged_ns > WINDOW_PURGE_EVERY_NS:
            c.execute(
                "DELETE FROM correlation_windows WHERE expires_ns < ?",
                (now_ns - WINDOW_PURGE_SLACK_NS,),
            )
            self._windows_purged_ns = now_ns
        c.execute(
            "UPDATE agents SET last_sequence = ?, last_seen_ns = ? WHERE id = ?",
            (sequence, now_ns, agent.agent_id),
        )
        return CommitResult(False, written, tuple(opened), tuple(updated))

    _EVENT_COLUMNS = (
        "uid",
        "agent_id",
        "tenant",
        "kind",
        "host_time_ns",
        "received_ns",
        "severity",
        "retro",
        "subject",
        "summary",
        "payload",
    )
    _INSERT_EVENT = """INSERT INTO events (uid, agent_id, tenant, kind, host_time_ns,
        received_ns, severity, retro, subject, summary, payload)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"""

    def _prepare(self, agent: AgentInfo, events: Sequence[pb.Event], now_ns: int) -> _Prepared:
        """Split a batch into the rows that feed nothing (most: one bulk insert) and the
        events that feed alerts or correlation rules, with what they feed."""
        prepared = _Prepared([], [])
        for event in events:
            cands = candidates_for(agent.tenant, agent.agent_id, agent.hostname, event)
            seen = self.correlator.match(agent.tenant, agent.agent_id, agent.hostname, event)
            if cands or seen:
                prepared.alerting.append((event, cands, seen))
            else:
                prepared.plain.append(self._event_row(agent, event, now_ns))
        return prepared

    def _insert_events(
        self, c: Connection, agent: AgentInfo, prepared: _Prepared, now_ns: int
    ) -> tuple[int, list[_Linked]]:
        """Insert events not seen before (by id). Returns how many were written, and the
        (rowid, event, candidates, correlation observation) of those written that feed
        alerts or correlation rules; those are inserted one by one for their rowid, which
        the alert's evidence links to."""
        written = c.insert_new("events", self._EVENT_COLUMNS, "uid", prepared.plain)
        linked = []
        for event, cands, seen in prepared.alerting:
            row = c.execute(
                self._INSERT_EVENT + " RETURNING rowid", self._event_row(agent, event, now_ns)
            ).fetchone()
            if row is not None:
                written += 1
                linked.append((int(row[0]), event, cands, seen))
        return written, linked

    @staticmethod
    def _event_row(agent: AgentInfo, event: pb.Event, now_ns: int) -> tuple[Any, ...]:
        kind, subject, summary = _event_columns(event)
        severity = max(m.severity for m in event.matches) if event.matches else 0
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
        c: Connection,
        agent: AgentInfo,
        linked: list[_Linked],
        now_ns: int,
    ) -> tuple[list[int], list[int]]:
        opened: list[int] = []
        updated: list[int] = []
        windows = _Windows(c)
        for rowid, event, cands, seen in linked:
            seen_ns = event.host_time_ns or now_ns
            outcomes = []
            hidden = 0
            for cand in cands:
                if cand.incident:
                    cand = self._regroup_page(c, agent, cand, now_ns)
                if self._suppressed(c, agent, cand, seen_ns):
                    hidden += 1
                    continue
                outcome = (
                    self._incident(c, agent, cand, seen_ns, now_ns)
                    if cand.incident
                    else self._upsert_alert(c, agent, cand, seen_ns, now_ns)
                )
                if outcome is not None:
                    c.execute(_LINK_EVIDENCE, (outcome[0], rowid))
                    outcomes.append(outcome)
            # An event whose every alert a maintenance window or suppression hid (a page
            # deployed in a window) is no evidence for correlations either.
            if seen is not None and not (cands and hidden == len(cands)):
                for fired in self.correlator.observe(seen, rowid, seen_ns, windows):
                    outcome = self._correlated(c, fired, seen_ns, now_ns)
                    if outcome is not None:
                        outcomes.append(outcome)
            for alert_id, is_new in outcomes:
                (opened if is_new else updated).append(alert_id)
        return opened, [a for a in dict.fromkeys(updated) if a not in opened]

    def _correlated(
        self, c: Connection, fired: Fired, seen_ns: int, now_ns: int
    ) -> tuple[int, bool] | None:
        """Feed a correlation's result to its alert (the host's incident, a tenant alert, or
        a campaign in the MSP scope, whose host list names the hosts of every tenant) and
        link every event of its window as evidence."""
        placed = correlated(fired)
        scope = AgentInfo(placed.agent_id, placed.tenant, placed.hostname)
        cand = placed.candidate
        if self._suppressed(c, scope, cand, seen_ns):
            return None
        fleet = placed.tenant == MSP_SCOPE
        outcome = (
            self._incident(c, scope, cand, seen_ns, now_ns)
            if cand.incident
            else self._upsert_alert(c, scope, cand, seen_ns, now_ns, retitle=fleet)
        )
        if outcome is None:
            return None
        c.executemany(_LINK_EVIDENCE, [(outcome[0], ref) for ref in fired.evidence])
        if fleet:
            row = c.execute("SELECT hosts FROM alerts WHERE id = ?", (outcome[0],)).fetchone()
            assert row is not None
            names = sorted(set(json.loads(row["hosts"])) | set(fired.hostnames))
            c.execute("UPDATE alerts SET hosts = ? WHERE id = ?", (json.dumps(names), outcome[0]))
        return outcome

    def _suppressed(
        self, c: Connection, agent: AgentInfo, cand: AlertCandidate, seen_ns: int
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
            row = self._conn.execute(
                "INSERT INTO suppressions (tenant, kind, host, rule, path_glob, starts_ns, "
                "ends_ns, reason, created_by, created_ns) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "RETURNING id",
                (tenant, kind, host, rule, path_glob, starts_ns, ends_ns, reason, actor, now_ns),
            ).fetchone()
        assert row is not None
        return int(row[0])

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
        c: Connection,
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
        self, c: Connection, where: str, args: tuple[Any, ...], comment: str, now_ns: int
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
    def _open_alert(c: Connection, tenant: str, fingerprint: str) -> Row | None:
        """The unresolved alert of ``fingerprint``; its lock is held to the end of the
        transaction, so another collector cannot open a second one meanwhile."""
        c.lock("alert", tenant, fingerprint)
        row: Row | None = c.execute(
            "SELECT id, severity, tags, hosts, details, last_seen_ns, updated_ns FROM alerts "
            "WHERE tenant = ? AND fingerprint = ? AND status != 'resolved'",
            (tenant, fingerprint),
        ).fetchone()
        return row

    def _regroup_page(
        self, c: Connection, agent: AgentInfo, cand: AlertCandidate, now_ns: int
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
        c: Connection,
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
        c: Connection,
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
            inserted = c.execute(
                """INSERT INTO alerts (tenant, fingerprint, rule, title, severity, status, tags,
                     hosts, details, first_seen_ns, last_seen_ns, event_count, created_ns,
                     updated_ns, agent_id)
                   VALUES (?, ?, ?, ?, ?, 'open', ?, ?, ?, ?, ?, 1, ?, ?, ?) RETURNING id""",
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
            ).fetchone()
            assert inserted is not None
            alert_id = int(inserted[0])
            self._page(c, agent.tenant, alert_id, cand.fingerprint, "opened", cand.severity, now_ns)
            return alert_id, True
        tags = sorted(set(json.loads(row["tags"])) | set(cand.tags))
        hosts = sorted(set(json.loads(row["hosts"])) | {agent.hostname})
        details = (
            cand.details if retitle else merge_details(json.loads(row["details"]), cand.details)
        )
        d = c.dialect
        c.execute(
            f"""UPDATE alerts SET severity = {d.greatest}(severity, ?), tags = ?, hosts = ?,
                 title = CASE WHEN ? OR ? > severity THEN ? ELSE title END, details = ?,
                 last_seen_ns = {d.greatest}(last_seen_ns, ?),
                 first_seen_ns = {d.least}(first_seen_ns, ?),
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

    # ------------------------------------------------------------------ retention

    def tenants(self) -> list[str]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT name FROM tenants UNION SELECT tenant FROM agents"
            ).fetchall()
        return sorted(r[0] for r in rows)

    def prune_events(
        self, cutoffs_ns: dict[str, int], *, limit: int, keep_evidence: bool = True
    ) -> int:
        """Delete up to ``limit`` events received before their tenant's cutoff (tenants
        not named keep theirs), in one short transaction; returns how many. Events that
        are evidence of an alert stay while ``keep_evidence``; otherwise their links go
        too (the alert stays, with its counts and title)."""
        evidence = (
            " AND NOT EXISTS (SELECT 1 FROM alert_events ae WHERE ae.event_rowid = e.rowid)"
            if keep_evidence
            else ""
        )

        def work(c: Connection) -> int:
            ids: list[int] = []
            for tenant, cutoff in sorted(cutoffs_ns.items()):
                if len(ids) >= limit:
                    break
                ids += [
                    int(r[0])
                    for r in c.execute(
                        "SELECT e.rowid FROM events e WHERE e.tenant = ? AND e.received_ns < ?"
                        f"{evidence} ORDER BY e.received_ns LIMIT ?",
                        (tenant, cutoff, limit - len(ids)),
                    )
                ]
            if not ids:
                return 0
            marks = ",".join("?" * len(ids))
            if not keep_evidence:
                c.execute(f"DELETE FROM alert_events WHERE event_rowid IN ({marks})", ids)
            return c.execute(f"DELETE FROM events WHERE rowid IN ({marks})", ids).rowcount

        deleted: int = self._retrying(work)
        return deleted

    def count_events(self, *, agent_id: str | None = None) -> int:
        sql = "SELECT COUNT(*) FROM events" + (" WHERE agent_id = ?" if agent_id else "")
        with self._lock:
            return int(self._conn.execute(sql, (agent_id,) if agent_id else ()).fetchone()[0])

    def event_uids(self, *, agent_id: str | None = None) -> list[str]:
        sql = "SELECT uid FROM events" + (" WHERE agent_id = ?" if agent_id else "")
        with self._lock:
            return [r[0] for r in self._conn.execute(sql, (agent_id,) if agent_id else ())]

    # ------------------------------------------------------------------ alerts

    def _alert_dict(self, row: Row) -> dict[str, Any]:
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
            c.begin()
            try:
                args: list[Any] = [alert_id]
                where = "id = ?"
                if tenant:
                    where, args = "id = ? AND tenant = ?", [alert_id, tenant]
                before = c.execute(
                    f"SELECT status FROM alerts WHERE {where}{c.dialect.for_update}", args
                ).fetchone()
                if before is None:
                    raise NotFound(f"no alert {alert_id}")
                try:
                    c.execute(
                        "UPDATE alerts SET status = ?, status_by = ?, status_comment = ?, "
                        f"updated_ns = ? WHERE {where}",
                        [status, actor, comment, _now_ns(), *args],
                    )
                except IntegrityError:
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
                c.commit()
            except BaseException:
                c.rollback()
                raise
            return self._alert_dict(row)

    def close(self) -> None:
        self._closing.set()
        if self._checkpointer is not None:
            self._checkpointer.join()
        with self._lock:
            self._conn.close()
        self.database.close()


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
