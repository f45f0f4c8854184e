"""Schema of the store, as ordered migrations (never edit a shipped one).

Each migration is written once, for SQLite, as a sqlite-utils migration. PostgreSQL runs
the same migrations, in the same order and under the same names (``apply_postgres``):
their SQL is portable apart from a few type names, which ``postgres_sql`` rewrites
(INTEGER is BIGINT there: timestamps are nanoseconds; an ``id INTEGER PRIMARY KEY`` is
an identity column, as it is SQLite's rowid; BLOB is BYTEA). A migration whose SQL has
no portable form names its PostgreSQL text in ``POSTGRES_OVERRIDES``. Partial unique
indexes, CHECK, ``ON CONFLICT`` and ``RETURNING`` mean the same on both.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlite_utils import Database, Migrations

if TYPE_CHECKING:
    from collector.store.backend import Connection

MIGRATIONS = Migrations("exwatch-collector")


@MIGRATIONS()
def m001_initial(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE agents (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            hostname TEXT NOT NULL,
            agent_version TEXT NOT NULL DEFAULT '',
            rules_version TEXT NOT NULL DEFAULT '',
            os TEXT NOT NULL DEFAULT '',
            exchange_build TEXT NOT NULL DEFAULT '',
            first_seen_ns INTEGER NOT NULL,
            last_seen_ns INTEGER NOT NULL,
            last_sequence INTEGER NOT NULL DEFAULT 0,
            spool_events INTEGER NOT NULL DEFAULT 0,
            events_shed_total INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX agents_tenant ON agents (tenant);

        CREATE TABLE events (
            rowid INTEGER PRIMARY KEY,
            uid TEXT NOT NULL UNIQUE,
            agent_id TEXT NOT NULL REFERENCES agents (id),
            tenant TEXT NOT NULL,
            kind TEXT NOT NULL,
            host_time_ns INTEGER NOT NULL,
            received_ns INTEGER NOT NULL,
            severity INTEGER NOT NULL DEFAULT 0,
            retro INTEGER NOT NULL DEFAULT 0,
            subject TEXT NOT NULL DEFAULT '',
            summary TEXT NOT NULL DEFAULT '',
            payload BLOB NOT NULL
        );
        CREATE INDEX events_agent_time ON events (agent_id, host_time_ns);
        CREATE INDEX events_tenant_time ON events (tenant, received_ns);

        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            tenant TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            rule TEXT NOT NULL,
            title TEXT NOT NULL,
            severity INTEGER NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
            status_by TEXT NOT NULL DEFAULT '',
            status_comment TEXT NOT NULL DEFAULT '',
            tags TEXT NOT NULL DEFAULT '[]',
            hosts TEXT NOT NULL DEFAULT '[]',
            details TEXT NOT NULL DEFAULT '{}',
            first_seen_ns INTEGER NOT NULL,
            last_seen_ns INTEGER NOT NULL,
            event_count INTEGER NOT NULL DEFAULT 0,
            created_ns INTEGER NOT NULL,
            updated_ns INTEGER NOT NULL
        );
        -- At most one unresolved alert per fingerprint and tenant: new evidence attaches to it.
        CREATE UNIQUE INDEX alerts_open_fingerprint ON alerts (tenant, fingerprint)
            WHERE status != 'resolved';
        CREATE INDEX alerts_tenant_seen ON alerts (tenant, last_seen_ns);

        CREATE TABLE alert_events (
            alert_id INTEGER NOT NULL REFERENCES alerts (id),
            event_rowid INTEGER NOT NULL REFERENCES events (rowid),
            PRIMARY KEY (alert_id, event_rowid)
        );
        """
    )


@MIGRATIONS()
def m002_enrollment(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE tenants (
            name TEXT PRIMARY KEY,
            created_ns INTEGER NOT NULL
        );
        INSERT OR IGNORE INTO tenants (name, created_ns) SELECT DISTINCT tenant, 0 FROM agents;

        -- Only a hash of each token is kept: the database alone cannot enroll an agent.
        CREATE TABLE enrollment_tokens (
            id INTEGER PRIMARY KEY,
            token_sha256 TEXT NOT NULL UNIQUE,
            tenant TEXT NOT NULL REFERENCES tenants (name),
            uses_left INTEGER NOT NULL,
            expires_ns INTEGER NOT NULL,
            created_ns INTEGER NOT NULL,
            note TEXT NOT NULL DEFAULT ''
        );

        CREATE TABLE certificates (
            fingerprint TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL REFERENCES agents (id),
            not_after_ns INTEGER NOT NULL,
            issued_ns INTEGER NOT NULL
        );
        CREATE INDEX certificates_agent ON certificates (agent_id);

        CREATE TABLE revoked_certificates (
            fingerprint TEXT PRIMARY KEY,
            agent_id TEXT NOT NULL,
            revoked_ns INTEGER NOT NULL,
            reason TEXT NOT NULL DEFAULT ''
        );

        ALTER TABLE agents ADD COLUMN revoked_ns INTEGER NOT NULL DEFAULT 0;
        """
    )


@MIGRATIONS()
def m003_alert_agent(db: Database) -> None:
    # Host-scoped alerts name their agent (for mass-change grouping and host pages);
    # fleet-wide ones leave it empty.
    db.executescript(
        """
        ALTER TABLE alerts ADD COLUMN agent_id TEXT NOT NULL DEFAULT '';
        CREATE INDEX alerts_agent_rule ON alerts (agent_id, rule, created_ns);
        """
    )


@MIGRATIONS()
def m004_suppressions(db: Database) -> None:
    # Maintenance windows (a patch day rewrites hundreds of pages: not an incident) and
    # suppression rules by key. Both only ever hide clean changes and repeats by key;
    # content judged bad still alerts.
    db.executescript(
        """
        CREATE TABLE suppressions (
            id INTEGER PRIMARY KEY,
            tenant TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('maintenance', 'suppress')),
            host TEXT NOT NULL DEFAULT '',
            rule TEXT NOT NULL DEFAULT '',
            path_glob TEXT NOT NULL DEFAULT '',
            starts_ns INTEGER NOT NULL,
            ends_ns INTEGER NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            created_by TEXT NOT NULL DEFAULT '',
            created_ns INTEGER NOT NULL,
            hits INTEGER NOT NULL DEFAULT 0  -- events it kept from alerting
        );
        CREATE INDEX suppressions_tenant_time ON suppressions (tenant, ends_ns);
        """
    )


@MIGRATIONS()
def m005_indicators(db: Database) -> None:
    # Indicators of compromise seen per agent, to find the same shell or attacker address
    # on several hosts and tenants (a campaign) without a scan of the events table.
    db.executescript(
        """
        CREATE TABLE indicators (
            kind TEXT NOT NULL,
            value TEXT NOT NULL,
            agent_id TEXT NOT NULL,
            tenant TEXT NOT NULL,
            first_seen_ns INTEGER NOT NULL,
            PRIMARY KEY (kind, value, agent_id)
        );
        """
    )


@MIGRATIONS()
def m006_commands(db: Database) -> None:
    # Response actions for agents (quarantine, restore, rescan): queued by an analyst,
    # delivered on the agent's stream, confirmed by the agent. Kept as the audit record.
    db.executescript(
        """
        CREATE TABLE commands (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            agent_id TEXT NOT NULL REFERENCES agents (id),
            kind TEXT NOT NULL,
            argument TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'done', 'failed')),
            result TEXT NOT NULL DEFAULT '',
            requested_by TEXT NOT NULL,
            requested_ns INTEGER NOT NULL,
            updated_ns INTEGER NOT NULL
        );
        CREATE INDEX commands_agent_status ON commands (agent_id, status);
        """
    )


@MIGRATIONS()
def m007_rule_bundles(db: Database) -> None:
    # The rule bundle (Sigma and YARA files) in force per tenant, or fleet-wide ('*').
    db.executescript(
        """
        CREATE TABLE rule_bundles (
            tenant TEXT PRIMARY KEY,
            version TEXT NOT NULL,
            payload BLOB NOT NULL,
            files INTEGER NOT NULL,
            created_by TEXT NOT NULL,
            created_ns INTEGER NOT NULL
        );
        """
    )


@MIGRATIONS()
def m010_console(db: Database) -> None:
    # The MSP console: people, their sessions and API tokens, what they did, and their
    # notes on alerts. Secrets (session ids, API tokens) are stored as SHA-256 only: they
    # are long random values, so a fast hash suffices and a copy of the database alone
    # cannot log anyone in. Passwords are argon2 hashes.
    db.executescript(
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            username TEXT NOT NULL UNIQUE COLLATE NOCASE,
            password_hash TEXT NOT NULL,
            role TEXT NOT NULL
                CHECK (role IN ('admin', 'msp_analyst', 'tenant_analyst', 'read_only')),
            -- read_only users may see every tenant (1) or only those in user_tenants (0);
            -- admin and msp_analyst always see all, tenant_analyst never does.
            all_tenants INTEGER NOT NULL DEFAULT 0,
            disabled INTEGER NOT NULL DEFAULT 0,
            created_ns INTEGER NOT NULL,
            updated_ns INTEGER NOT NULL,
            last_login_ns INTEGER NOT NULL DEFAULT 0
        );

        CREATE TABLE user_tenants (
            user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            tenant TEXT NOT NULL,
            PRIMARY KEY (user_id, tenant)
        );

        CREATE TABLE sessions (
            id_sha256 TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            csrf_token TEXT NOT NULL,
            created_ns INTEGER NOT NULL,
            last_seen_ns INTEGER NOT NULL,
            expires_ns INTEGER NOT NULL,
            ip TEXT NOT NULL DEFAULT '',
            user_agent TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX sessions_user ON sessions (user_id);

        CREATE TABLE api_tokens (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
            name TEXT NOT NULL DEFAULT '',
            token_sha256 TEXT NOT NULL UNIQUE,
            prefix TEXT NOT NULL,
            created_ns INTEGER NOT NULL,
            expires_ns INTEGER NOT NULL DEFAULT 0,
            last_used_ns INTEGER NOT NULL DEFAULT 0,
            revoked_ns INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX api_tokens_user ON api_tokens (user_id);

        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            ts_ns INTEGER NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            tenant TEXT NOT NULL DEFAULT '',
            object_type TEXT NOT NULL DEFAULT '',
            object_id TEXT NOT NULL DEFAULT '',
            detail TEXT NOT NULL DEFAULT '{}',
            ip TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX audit_log_ts ON audit_log (ts_ns);

        CREATE TABLE alert_comments (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER NOT NULL REFERENCES alerts (id),
            tenant TEXT NOT NULL,
            author TEXT NOT NULL,
            body TEXT NOT NULL,
            created_ns INTEGER NOT NULL
        );
        CREATE INDEX alert_comments_alert ON alert_comments (alert_id, created_ns);

        ALTER TABLE alerts ADD COLUMN assignee TEXT NOT NULL DEFAULT '';

        -- The all-tenant alert queue (MSP analysts) sorts by recency without a tenant
        -- prefix; alerts_tenant_seen only serves one tenant at a time.
        CREATE INDEX alerts_seen ON alerts (last_seen_ns);
        -- Fleet overview counts open alerts per host.
        CREATE INDEX alerts_agent_status ON alerts (agent_id, status);
        """
    )


@MIGRATIONS()
def m011_outbox(db: Database) -> None:
    # The notification outbox (collector/notify): a row is written in the same transaction
    # that opens or escalates an alert, so a page is never lost between the alert's commit
    # and its delivery. The worker claims due rows with a lease (several collectors may
    # share the file), sends, and records the outcome; alert content is read at send time.
    db.executescript(
        """
        CREATE TABLE notifications (
            id INTEGER PRIMARY KEY,
            tenant TEXT NOT NULL,
            alert_id INTEGER REFERENCES alerts (id),  -- NULL: a test message
            fingerprint TEXT NOT NULL,
            channel TEXT NOT NULL,
            reason TEXT NOT NULL,
            severity INTEGER NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'dead')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_ns INTEGER NOT NULL,
            lease_until INTEGER,  -- ns; a claim is void after it (its worker died)
            lease_owner TEXT NOT NULL DEFAULT '',
            last_error TEXT NOT NULL DEFAULT '',  -- secrets redacted
            created_ns INTEGER NOT NULL,
            updated_ns INTEGER NOT NULL,
            sent_ns INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX notifications_due ON notifications (state, next_attempt_ns);
        CREATE INDEX notifications_alert_channel ON notifications (alert_id, channel, state);
        """
    )


@MIGRATIONS()
def m012_containment_approvals(db: Database) -> None:
    # Containment actions a tenant makes wait for a second analyst (isolate, web-offline):
    # the request waits here, unsent; another user's approval writes the command (same
    # id) into commands. approval_policies: which actions of which tenant wait.
    db.executescript(
        """
        CREATE TABLE command_approvals (
            id TEXT PRIMARY KEY,
            tenant TEXT NOT NULL,
            agent_id TEXT NOT NULL REFERENCES agents (id),
            action TEXT NOT NULL,
            kind TEXT NOT NULL,
            argument TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL DEFAULT '',
            requested_by TEXT NOT NULL,
            requested_ns INTEGER NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('awaiting', 'approved', 'refused')),
            decided_by TEXT NOT NULL DEFAULT '',
            decided_ns INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX command_approvals_tenant_status ON command_approvals (tenant, status);

        CREATE TABLE approval_policies (
            tenant TEXT NOT NULL,
            action TEXT NOT NULL,
            PRIMARY KEY (tenant, action)
        );
        """
    )


@MIGRATIONS()
def m013_correlation_windows(db: Database) -> None:
    # Open windows of the correlation rules, one row per rule and group, written in the
    # transaction that commits the events that changed them.
    db.executescript(
        """
        CREATE TABLE correlation_windows (
            rule TEXT NOT NULL,
            group_key TEXT NOT NULL,
            state TEXT NOT NULL,
            expires_ns INTEGER NOT NULL,
            PRIMARY KEY (rule, group_key)
        );
        CREATE INDEX correlation_windows_expires ON correlation_windows (expires_ns);
        """
    )


@MIGRATIONS()
def m014_evidence_files(db: Database) -> None:
    # Files agents sent with a command result (collected, or quarantined) and kept as
    # evidence for responders: the bytes once per SHA-256, each copy linked to the command
    # that brought it, its host and original path. Never served inline; exported inert.
    db.executescript(
        """
        CREATE TABLE evidence_files (
            sha256 TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            content BLOB NOT NULL,
            stored_ns INTEGER NOT NULL
        );

        CREATE TABLE collected_files (
            command_id TEXT PRIMARY KEY REFERENCES commands (id),
            tenant TEXT NOT NULL,
            agent_id TEXT NOT NULL REFERENCES agents (id),
            kind TEXT NOT NULL CHECK (kind IN ('collect', 'quarantine')),
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL REFERENCES evidence_files (sha256),
            size INTEGER NOT NULL,
            collected_ns INTEGER NOT NULL
        );
        CREATE INDEX collected_files_agent ON collected_files (agent_id, collected_ns);
        """
    )


# ---------------------------------------------------------------------------- PostgreSQL

# Only usernames compare without case (SQLite: COLLATE NOCASE); citext keeps that meaning.
POSTGRES_OVERRIDES: dict[str, tuple[tuple[str, str], ...]] = {
    "m010_console": (
        (
            "username TEXT NOT NULL UNIQUE COLLATE NOCASE",
            "username CITEXT NOT NULL UNIQUE",
        ),
    ),
}
POSTGRES_PRELUDE = {"m010_console": "CREATE EXTENSION IF NOT EXISTS citext;"}

_TYPE_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (
        re.compile(r"\b(\w+) INTEGER PRIMARY KEY\b(?! *\()", re.IGNORECASE),
        r"\1 BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    ),
    (re.compile(r"\bINTEGER\b", re.IGNORECASE), "BIGINT"),
    (re.compile(r"\bBLOB\b", re.IGNORECASE), "BYTEA"),
    (re.compile(r"\bREAL\b", re.IGNORECASE), "DOUBLE PRECISION"),
)
_INSERT_OR_IGNORE = re.compile(r"\bINSERT OR IGNORE\b([^;]*)", re.IGNORECASE)


def postgres_sql(name: str, sql: str) -> str:
    """A migration's SQLite text as PostgreSQL runs it."""
    for old, new in POSTGRES_OVERRIDES.get(name, ()):
        if old not in sql:
            raise ValueError(f"migration {name}: PostgreSQL override does not apply")
        sql = sql.replace(old, new)
    for pattern, replacement in _TYPE_RULES:
        sql = pattern.sub(replacement, sql)
    sql = _INSERT_OR_IGNORE.sub(
        lambda m: f"INSERT{m.group(1).rstrip()} ON CONFLICT DO NOTHING", sql
    )
    return POSTGRES_PRELUDE.get(name, "") + sql


class _PostgresSchema:
    """Stands in for the sqlite-utils ``Database`` a migration function is given: it
    collects the SQL the function runs."""

    def __init__(self) -> None:
        self.scripts: list[str] = []

    def executescript(self, sql: str) -> None:
        self.scripts.append(sql)

    def execute(self, sql: str) -> None:
        self.scripts.append(sql)


def apply_postgres(conn: Connection) -> None:
    """Bring a PostgreSQL database up to date: each pending migration in one transaction
    with its record. An advisory lock lets collectors that start together migrate once."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('exwatch-migrations', 0))")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS exwatch_migrations (name TEXT PRIMARY KEY, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        applied = {r[0] for r in conn.execute("SELECT name FROM exwatch_migrations")}
        for migration in MIGRATIONS._migrations:  # registration order, as sqlite-utils applies
            if migration.name in applied:
                continue
            schema = _PostgresSchema()
            migration.fn(schema)  # type: ignore[arg-type]
            for script in schema.scripts:
                conn.executescript(postgres_sql(migration.name, script))
            conn.execute("INSERT INTO exwatch_migrations (name) VALUES (?)", (migration.name,))
