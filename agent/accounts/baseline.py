"""Legacy log-ons by accounts that normally use modern ones: a guessed or stolen password.

Attackers favour Basic authentication and RPC over HTTP because they bypass MFA and
modern authentication. Every successful log-on of a named account is classified from the
live IIS and HttpProxy lines (``classify``); ``AccountBaseline`` counts modern and legacy
log-ons per account and reports a legacy one when the account has an established modern
baseline (``min_modern`` modern log-ons spanning ``learn_days`` of record time) and no
legacy log-on within ``quiet_days``. Later legacy log-ons within ``quiet_days`` are its
normal use (or the same incident) and are not reported again.

Live only: the baseline needs history, so retro-hunts (``exwatch-agent hunt``, the first
start's look-back) do not feed or report it, and nothing is reported until ``learn_days``
of live lines have been seen.

State is one row of counts per account in the state DB, at most ``max_accounts`` of them
(the least recently seen is forgotten first). Rows are written in batches within the
transaction that advances a log's checkpoint, at the latest every ``SAVE_SECONDS`` and
always together with a report; a crash loses the counts added since the last write (the
lines are not read again), never a report, and never reports one twice.
"""

from __future__ import annotations

import sqlite3
import time
from collections import OrderedDict
from dataclasses import astuple, dataclass, field
from typing import Literal

from agent.detection import Detection, Severity
from agent.logrecord import LogRecord
from agent.sigma.correlation import CorrelationFinding, record_time_ns
from agent.state import StateDB
from protos import exwatch_pb2 as pb

__all__ = [
    "RULE",
    "AccountBaseline",
    "LegacyLogonFinding",
    "Logon",
    "Thresholds",
    "classify",
]

RULE = Detection(
    rule_id="exwatch-account-legacy-logon",
    title="Legacy Log-On by an Account That Uses Modern Authentication",
    severity=Severity.MEDIUM,
    tags=("attack.initial-access", "attack.t1078", "attack.defense-evasion"),
    engine="builtin",
)
# The collector treats this group field as naming the account (its ACCOUNT_FIELDS).
GROUP_FIELD = "cs-username"

Family = Literal["legacy", "modern", "neutral"]
_DAY_NS = 86_400 * 1_000_000_000
SAVE_SECONDS = 30.0  # counts not yet written are lost on a crash, at most this old
SAVE_ACCOUNTS = 1_000  # ...or this many changed accounts, whichever comes first
MAX_VALUES = 20  # distinct "what from where" one report lists
MAX_FILES = 20
MAX_LINES = 50
MAX_TEXT = 100  # a protocol or address longer than this is cut (log values are untrusted)

_LEGACY_AUTH = {"basic": "Basic", "liveidbasic": "LiveIdBasic"}
# OWA's and ECP's forms log-on is a password typed into a page whatever the log calls it
# (the forms module hands the request on with Basic credentials): neither legacy nor modern.
_FORMS_PROTOCOLS = frozenset({"owa", "ecp"})
_MODERN_AUTH = {"bearer": "Bearer", "oauth": "OAuth"}
# IIS logs no auth type: its rows are judged by the protocol their path belongs to.
_IIS_PROTOCOLS: tuple[tuple[str, Family, str], ...] = (
    ("/rpc/", "legacy", "RPC over HTTP"),
    ("/mapi/", "modern", "MAPI over HTTP"),
    ("/api/", "modern", "REST"),
)


@dataclass(frozen=True, slots=True)
class Thresholds:
    min_modern: int = 20
    learn_days: float = 7.0
    quiet_days: float = 30.0
    max_accounts: int = 100_000


@dataclass(frozen=True, slots=True)
class Logon:
    """One successful log-on of a named account, as one log line tells it."""

    account: str  # case-folded, as logged: DOMAIN\\user or a UPN
    family: Family
    what: str  # "Basic auth on Ews", "RPC over HTTP", "MAPI over HTTP"...
    time_ns: int  # the record's own time
    client: str
    source: str
    file: str
    line: int


def _named_account(user: str) -> bool:
    """DOMAIN\\user or a UPN: how Exchange logs an account that logged on. Machine accounts
    and the health mailboxes log on all day and are no one's password to change."""
    return (
        ("\\" in user or "@" in user)
        and not user.endswith("$")
        and "healthmailbox" not in user.casefold()
    )


def _answered(status: str) -> bool:
    """2xx: the log-on succeeded (401s are the brute-force rules' business)."""
    return len(status) == 3 and status[0] == "2" and status.isdigit()


def classify(record: LogRecord) -> Logon | None:
    """The log-on a line records, or None when it records none (a failure, no named
    account, the back-end site, no time). Cheap rejections come first: most lines go."""
    fields = record.fields
    family: Family
    if record.source == "httpproxy":
        if not _answered(fields.get("HttpStatus", "")):
            return None
        user = fields.get("AuthenticatedUser", "")
        if not _named_account(user) or fields.get("IsAuthenticated", "").lower() == "false":
            return None
        protocol = fields.get("Protocol", "")[:MAX_TEXT] or "unknown protocol"
        auth = fields.get("AuthenticationType", "")[:MAX_TEXT].lower()
        if protocol.lower() in _FORMS_PROTOCOLS and auth not in _MODERN_AUTH:
            family, what = "neutral", f"forms log-on to {protocol}"
        elif auth in _LEGACY_AUTH:
            family, what = "legacy", f"{_LEGACY_AUTH[auth]} auth on {protocol}"
        elif protocol.lower() == "rpchttp":
            family, what = "legacy", "RPC over HTTP"
        elif auth in _MODERN_AUTH:
            family, what = "modern", f"{_MODERN_AUTH[auth]} auth on {protocol}"
        else:  # Negotiate, Kerberos, NTLM: integrated Windows auth; establishes no baseline
            family, what = "neutral", f"{auth or 'unknown'} auth on {protocol}"
        client = fields.get("ClientIpAddress", "")
    elif record.source == "iis":
        if not _answered(fields.get("sc-status", "")) or fields.get("s-port") == "444":
            return None  # the back-end site logs every proxied request a second time
        user = fields.get("cs-username", "")
        if not _named_account(user):
            return None
        stem = fields.get("cs-uri-stem", "").lower()
        # EWS, ActiveSync: the auth decides (not logged here); OWA, ECP: a forms log-on
        family, what = "neutral", "other protocol"
        for prefix, kind, name in _IIS_PROTOCOLS:
            if stem.startswith(prefix):
                family, what = kind, name
                break
        client = fields.get("c-ip", "")
    else:
        return None
    time_ns = record_time_ns(fields)
    if time_ns is None:
        return None
    return Logon(
        account=user.casefold(),
        family=family,
        what=what,
        time_ns=time_ns,
        client=client[:MAX_TEXT],
        source=record.source,
        file=record.file,
        line=record.line,
    )


@dataclass(frozen=True, slots=True)
class LegacyLogonFinding:
    """One report: an account's legacy log-ons in one batch of lines."""

    account: str
    values: tuple[str, ...]  # "RPC over HTTP from 198.51.100.7", sorted
    count: int  # legacy log-ons reported
    first_ns: int
    last_ns: int
    source: str
    files: tuple[str, ...]
    lines: tuple[int, ...]  # line numbers in files[0]

    def to_event(self) -> pb.Event:
        """The same event as a correlation rule's report (the collector alerts on it alike)."""
        return CorrelationFinding(
            detection=RULE,
            kind="baseline",
            source=self.source,
            group={GROUP_FIELD: self.account},
            values=self.values,
            count=self.count,
            first_ns=self.first_ns,
            last_ns=self.last_ns,
            files=self.files,
            lines=self.lines,
            final=True,
        ).to_event()


@dataclass(slots=True)
class _Account:
    modern: int = 0
    legacy: int = 0
    first_modern_ns: int = 0
    last_modern_ns: int = 0
    last_legacy_ns: int = 0
    last_seen_ns: int = 0


@dataclass(slots=True)
class _Report:
    first_ns: int
    last_ns: int
    source: str
    count: int = 0
    values: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)

    def add(self, logon: Logon) -> None:
        self.count += 1
        self.first_ns = min(self.first_ns, logon.time_ns)
        self.last_ns = max(self.last_ns, logon.time_ns)
        value = f"{logon.what} from {logon.client}" if logon.client else logon.what
        if value not in self.values and len(self.values) < MAX_VALUES:
            self.values.append(value)
        if logon.file not in self.files and len(self.files) < MAX_FILES:
            self.files.append(logon.file)
        if logon.file == self.files[0] and len(self.lines) < MAX_LINES:
            self.lines.append(logon.line)


# _Account's fields, in their order (rows are written with astuple).
_COLUMNS = "modern, legacy, first_modern_ns, last_modern_ns, last_legacy_ns, last_seen_ns"


class AccountBaseline:
    """Per-account counts of modern and legacy log-ons; reports legacy ones that are new.
    Not thread-safe: the log monitor's thread is its only user."""

    def __init__(self, db: StateDB, thresholds: Thresholds = Thresholds()) -> None:
        self.thresholds = thresholds
        self._learn_ns = int(thresholds.learn_days * _DAY_NS)
        self._quiet_ns = int(thresholds.quiet_days * _DAY_NS)
        self._accounts: OrderedDict[str, _Account] = OrderedDict()  # least recently seen first
        self._changed: set[str] = set()
        self._forgotten: set[str] = set()
        self._reports: dict[str, _Report] = {}
        self._must_save = False
        self._saved_at = time.monotonic()
        with db.transaction() as c:
            c.execute(
                "CREATE TABLE IF NOT EXISTS account_logons (account TEXT PRIMARY KEY, "
                "modern INTEGER NOT NULL, legacy INTEGER NOT NULL, "
                "first_modern_ns INTEGER NOT NULL, last_modern_ns INTEGER NOT NULL, "
                "last_legacy_ns INTEGER NOT NULL, last_seen_ns INTEGER NOT NULL)"
            )
            rows = c.execute(
                f"SELECT account, {_COLUMNS} FROM account_logons ORDER BY last_seen_ns"
            ).fetchall()
        for account, *counts in rows:
            self._accounts[account] = _Account(*counts)
        self._evict()  # max_accounts may have been lowered since

    def __len__(self) -> int:
        return len(self._accounts)

    def observe(self, record: LogRecord) -> None:
        logon = classify(record)
        if logon is not None and logon.family != "neutral":
            self.add(logon)

    def add(self, logon: Logon) -> None:
        key, t = logon.account, logon.time_ns
        account = self._accounts.get(key)
        if account is None:
            account = self._accounts[key] = _Account()
            self._forgotten.discard(key)
            self._evict()
        else:
            self._accounts.move_to_end(key)
        self._changed.add(key)
        account.last_seen_ns = max(account.last_seen_ns, t)
        if logon.family == "modern":
            account.modern += 1
            account.first_modern_ns = min(account.first_modern_ns or t, t)
            account.last_modern_ns = max(account.last_modern_ns, t)
            return
        report = self._reports.get(key)
        if report is None and self._is_new(account, t):
            report = self._reports[key] = _Report(t, t, logon.source)
        if report is not None:  # also later legacy log-ons of the batch that opened it
            report.add(logon)
        account.legacy += 1
        account.last_legacy_ns = max(account.last_legacy_ns, t)

    def _is_new(self, account: _Account, t: int) -> bool:
        """A legacy log-on at ``t`` by an account that uses modern ones and no legacy one."""
        established = (
            account.modern >= self.thresholds.min_modern
            and account.last_modern_ns - account.first_modern_ns >= self._learn_ns
        )
        quiet = not account.legacy or t - account.last_legacy_ns >= self._quiet_ns
        return established and quiet

    def _evict(self) -> None:
        while len(self._accounts) > self.thresholds.max_accounts:
            key, _ = self._accounts.popitem(last=False)
            self._changed.discard(key)
            self._reports.pop(key, None)
            self._forgotten.add(key)

    def drain(self) -> list[LegacyLogonFinding]:
        """The reports since the last drain; the next ``save`` writes the state they need."""
        findings = [
            LegacyLogonFinding(
                account=key,
                values=tuple(sorted(r.values)),
                count=r.count,
                first_ns=r.first_ns,
                last_ns=r.last_ns,
                source=r.source,
                files=tuple(r.files),
                lines=tuple(r.lines),
            )
            for key, r in self._reports.items()
        ]
        self._reports.clear()
        self._must_save |= bool(findings)
        return findings

    def save(self, conn: sqlite3.Connection, *, force: bool = False) -> None:
        """Write the changed accounts in the caller's transaction, when a report was drained
        (it must not be made again after a restart), when forced, or when enough changed."""
        due = (
            self._must_save
            or force
            or len(self._changed) >= SAVE_ACCOUNTS
            or time.monotonic() - self._saved_at >= SAVE_SECONDS
        )
        if not due or not (self._changed or self._forgotten):
            return
        conn.executemany(
            "DELETE FROM account_logons WHERE account = ?", [(k,) for k in self._forgotten]
        )
        conn.executemany(
            f"INSERT OR REPLACE INTO account_logons (account, {_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(key, *astuple(self._accounts[key])) for key in self._changed],
        )
        self._changed.clear()
        self._forgotten.clear()
        self._must_save = False
        self._saved_at = time.monotonic()
