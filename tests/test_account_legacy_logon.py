"""Legacy log-ons (Basic auth, RPC over HTTP) by accounts that normally use modern ones,
from written HttpProxy and IIS log lines through the real tailer and parsers, into the
collector's alert naming the account."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from agent.accounts.baseline import RULE, AccountBaseline, LegacyLogonFinding, Thresholds, classify
from agent.logrecord import LogRecord
from agent.logs.formats import LogFormat
from agent.logs.tailer import FileTailer
from agent.sigma import SigmaRuleSet
from agent.sources.logs import LogMonitor
from agent.spool import Spool
from agent.state import StateDB
from collector.store import AgentInfo, Store
from protos import exwatch_pb2 as pb

PROXY_HEADER = (
    "\ufeff#Software: Microsoft Exchange Server\r\n"
    "#Version: 15.02.1118.040\r\n"
    "#Log-type: HttpProxy Logs\r\n"
    "#Date: 2026-01-01T00:00:00.000Z\r\n"
    "#Fields: DateTime,Protocol,UrlStem,AuthenticationType,IsAuthenticated,AuthenticatedUser,"
    "ClientIpAddress,HttpStatus,UserAgent,Method\r\n"
)
IIS_HEADER = (
    "#Software: Microsoft Internet Information Services 10.0\r\n"
    "#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
    "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken\r\n"
)
BASE = datetime(2026, 1, 1, 8, 0, tzinfo=UTC)
ATTACKER = "198.51.100.7"
ALICE = "CONTOSO\\alice"


def proxy(
    day: float,
    user: str = ALICE,
    *,
    auth: str = "Bearer",
    protocol: str = "Ews",
    status: int = 200,
    ip: str = "10.1.2.3",
) -> str:
    when = (BASE + timedelta(days=day)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    authenticated = "true" if status < 400 else "false"
    return (
        f"{when},{protocol},/{protocol}/x,{auth},{authenticated},{user},{ip},{status},"
        "Microsoft Office/16.0,POST\r\n"
    )


def iis(day: float, user: str, stem: str, *, status: int = 200, ip: str = "10.1.2.3") -> str:
    when = BASE + timedelta(days=day)
    return (
        f"{when:%Y-%m-%d %H:%M:%S} 10.0.0.5 POST {stem} - 443 {user} {ip} "
        f"Microsoft+Office/16.0 - {status} 0 0 15\r\n"
    )


def modern_days(user: str = ALICE, *, count: int = 25, days: float = 10.0) -> list[str]:
    """``count`` OAuth log-ons spread evenly over ``days``."""
    return [proxy(i * days / (count - 1), user) for i in range(count)]


def write(folder: Path, lines: list[str], *, fmt: LogFormat = LogFormat.HTTPPROXY) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if fmt == LogFormat.HTTPPROXY:
        path = folder / f"HttpProxy_2026010108-{len(list(folder.iterdir())) + 1}.LOG"
        path.write_text(PROXY_HEADER + "".join(lines), encoding="utf-8", newline="")
    else:
        path = folder / f"u_ex2601{len(list(folder.iterdir())) + 1:02d}.log"
        path.write_text(IIS_HEADER + "".join(lines), newline="")
    return path


def records(path: Path, fmt: LogFormat = LogFormat.HTTPPROXY) -> list[LogRecord]:
    tailer = FileTailer(path, fmt, None)
    out: list[LogRecord] = []
    while batch := tailer.poll().records:
        out += batch
    return out


def feed(
    baseline: AccountBaseline, lines: list[str], folder: Path, fmt: LogFormat = LogFormat.HTTPPROXY
) -> list[LegacyLogonFinding]:
    """One batch of written lines through the baseline, as the live monitor feeds it."""
    for record in records(write(folder, lines, fmt=fmt), fmt):
        baseline.observe(record)
    return baseline.drain()


DEFAULTS = Thresholds()


def fresh(tmp_path: Path, thresholds: Thresholds = DEFAULTS) -> AccountBaseline:
    return AccountBaseline(StateDB(tmp_path / "agent.db"), thresholds)


def test_basic_auth_by_a_modern_account_is_one_event_and_one_alert_naming_it(
    tmp_path: Path,
) -> None:
    baseline = fresh(tmp_path)
    assert feed(baseline, modern_days(), tmp_path / "a") == []
    attack = [
        proxy(11, auth="Basic", ip=ATTACKER),
        proxy(11.01, auth="Basic", protocol="RpcHttp", ip=ATTACKER),
    ]
    [found] = feed(baseline, attack, tmp_path / "b")
    assert found.account == "contoso\\alice"
    assert found.count == 2
    assert found.values == (
        f"Basic auth on Ews from {ATTACKER}",
        f"Basic auth on RpcHttp from {ATTACKER}",
    )
    assert found.lines == (6, 7)  # after five header lines
    event = found.to_event()
    assert event.WhichOneof("body") == "correlation"
    [match] = event.matches
    assert match.rule_id == "exwatch-account-legacy-logon"
    assert match.severity == pb.SEVERITY_MEDIUM
    assert set(match.tags) == {"attack.initial-access", "attack.t1078", "attack.defense-evasion"}
    assert dict(event.correlation.group) == {"cs-username": "contoso\\alice"}
    assert event.correlation.source == "httpproxy"
    assert event.correlation.last_ns - event.correlation.first_ns == int(0.01 * 86400e9)

    agent = AgentInfo("agent-a", "acme", "EXCH01")
    store = Store(tmp_path / "exwatch.db")
    try:
        store.register_agent(agent, agent_version="1", rules_version="", os="test", now_ns=1)
        store.commit_batch(agent, 1, [event], now_ns=2)
        [alert] = store.list_alerts(tenant="acme")
    finally:
        store.close()
    assert alert["rule"] == RULE.rule_id
    assert alert["severity"] == "medium"
    assert alert["title"] == f"{RULE.title} on EXCH01"
    assert alert["details"]["accounts"] == "contoso\\alice"
    assert "Basic auth on Ews" in alert["details"]["values"]


def test_legacy_again_within_quiet_days_is_nothing_after_it_is_reported_again(
    tmp_path: Path,
) -> None:
    baseline = fresh(tmp_path)
    feed(baseline, modern_days(), tmp_path / "a")
    assert len(feed(baseline, [proxy(11, auth="Basic")], tmp_path / "b")) == 1
    assert feed(baseline, [proxy(12, auth="Basic", protocol="Eas")], tmp_path / "c") == []
    assert feed(baseline, [proxy(40, auth="LiveIdBasic")], tmp_path / "d") == []  # 28 days
    [again] = feed(baseline, [proxy(71, auth="Basic")], tmp_path / "e")  # 31 days quiet
    assert again.values == ("Basic auth on Ews from 10.1.2.3",)


def test_an_account_that_always_used_basic_is_nothing(tmp_path: Path) -> None:
    baseline = fresh(tmp_path)
    lines = [proxy(i / 2, auth="Basic") for i in range(20)] + modern_days()
    assert feed(baseline, [*lines, proxy(11, auth="Basic")], tmp_path / "a") == []


def test_no_baseline_too_few_or_too_recent_modern_log_ons_is_nothing(tmp_path: Path) -> None:
    baseline = fresh(tmp_path)
    feed(baseline, modern_days(count=19), tmp_path / "a")
    assert feed(baseline, [proxy(11, auth="Basic")], tmp_path / "b") == []
    bob = "bob@contoso.com"
    feed(baseline, modern_days(bob, count=100, days=6.9), tmp_path / "c")
    assert feed(baseline, [proxy(11, bob, auth="Basic")], tmp_path / "d") == []
    # Thresholds are the configured ones.
    lenient = fresh(tmp_path / "lenient", Thresholds(min_modern=5, learn_days=1.0))
    feed(lenient, modern_days(count=5, days=1.0), tmp_path / "e")
    assert len(feed(lenient, [proxy(2, auth="Basic")], tmp_path / "f")) == 1


def test_integrated_windows_auth_establishes_no_baseline(tmp_path: Path) -> None:
    baseline = fresh(tmp_path)
    lines = [proxy(i / 5, auth=auth) for i in range(50) for auth in ("Negotiate", "NTLM")]
    [record] = records(write(tmp_path / "x", lines[:1]))
    logon = classify(record)
    assert logon is not None and logon.family == "neutral"
    feed(baseline, lines, tmp_path / "a")
    assert len(baseline) == 0  # neutral log-ons are not even counted
    assert feed(baseline, [proxy(11, auth="Basic")], tmp_path / "b") == []


def test_forms_log_on_to_owa_or_ecp_is_not_legacy(tmp_path: Path) -> None:
    """OWA's forms log-on may be logged as Basic: a modern user reading mail in OWA is
    nothing, while the same account's Basic on EWS is reported."""
    baseline = fresh(tmp_path)
    feed(baseline, modern_days(), tmp_path / "a")
    owa = [proxy(11, auth="Basic", protocol=p) for p in ("Owa", "Ecp", "owa")]
    assert feed(baseline, owa, tmp_path / "b") == []
    [found] = feed(baseline, [proxy(11.5, auth="Basic", protocol="Ews")], tmp_path / "c")
    assert found.account == ALICE.casefold()


def test_failed_basic_attempts_are_nothing_and_leave_no_trace(tmp_path: Path) -> None:
    baseline = fresh(tmp_path)
    feed(baseline, modern_days(), tmp_path / "a")
    failures = [proxy(11, auth="Basic", status=401, ip=ATTACKER) for _ in range(5)]
    assert feed(baseline, failures, tmp_path / "b") == []  # brute force is the Sigma rules' job
    assert len(feed(baseline, [proxy(12, auth="Basic", ip=ATTACKER)], tmp_path / "c")) == 1


def test_machine_accounts_health_mailboxes_and_anonymous_rows_are_nothing(tmp_path: Path) -> None:
    baseline = fresh(tmp_path)
    users = [
        "CONTOSO\\EXCH01$",
        "HealthMailbox0a1b2c3d@contoso.com",
        "CONTOSO\\healthmailboxe61a1b8",
        "",
        "alice",  # not DOMAIN\user or a UPN: not an account Exchange logged on
    ]
    for user in users:
        feed(baseline, modern_days(user), tmp_path / "a")
        assert feed(baseline, [proxy(11, user, auth="Basic")], tmp_path / "b") == []
    assert len(baseline) == 0


def test_state_survives_a_restart(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "agent.db")
    baseline = AccountBaseline(db)
    feed(baseline, modern_days(), tmp_path / "a")
    with db.transaction() as conn:
        baseline.save(conn)  # not due yet: a crash here loses these counts
    with db.reading() as conn:
        assert conn.execute("SELECT COUNT(*) FROM account_logons").fetchone()[0] == 0
    with db.transaction() as conn:
        baseline.save(conn, force=True)  # what the monitor does when it stops
    db.close()

    db = StateDB(tmp_path / "agent.db")
    baseline = AccountBaseline(db)
    [found] = feed(baseline, [proxy(11, auth="Basic")], tmp_path / "b")
    assert found.account == "contoso\\alice"
    with db.transaction() as conn:
        baseline.save(conn)  # a report is always written at once, with its event
    db.close()

    baseline = AccountBaseline(StateDB(tmp_path / "agent.db"))
    assert feed(baseline, [proxy(12, auth="Basic")], tmp_path / "c") == []  # not twice


def test_least_recently_seen_accounts_are_forgotten_first(tmp_path: Path) -> None:
    db = StateDB(tmp_path / "agent.db")
    baseline = AccountBaseline(db, Thresholds(max_accounts=2))
    for name in ("a", "b", "a", "c"):  # b is the least recently seen when c comes
        feed(baseline, modern_days(f"CONTOSO\\{name}"), tmp_path / name)
    assert len(baseline) == 2
    with db.transaction() as conn:
        baseline.save(conn, force=True)
    with db.reading() as conn:
        rows = conn.execute("SELECT account FROM account_logons ORDER BY account").fetchall()
    assert rows == [("contoso\\a",), ("contoso\\c",)]
    assert feed(baseline, [proxy(11, "CONTOSO\\b", auth="Basic")], tmp_path / "x") == []
    assert len(feed(baseline, [proxy(11, "CONTOSO\\c", auth="Basic")], tmp_path / "y")) == 1
    # A lower limit at the next start forgets the excess.
    assert len(AccountBaseline(db, Thresholds(max_accounts=1))) == 1


def test_iis_rpc_over_http_by_an_account_with_a_mapi_baseline(tmp_path: Path) -> None:
    baseline = fresh(tmp_path)
    bob = "CONTOSO\\bob"
    mapi = [iis(i * 10 / 24, bob, "/mapi/emsmdb/") for i in range(25)]
    back_end = [iis(10.5, bob, "/rpc/rpcproxy.dll").replace(" 443 ", " 444 ")]
    ews = [iis(10.6, bob, "/EWS/Exchange.asmx")]  # IIS logs no auth type: not judged
    assert feed(baseline, mapi + back_end + ews, tmp_path / "a", LogFormat.IIS) == []
    rpc = [iis(11, bob, "/rpc/rpcproxy.dll", ip=ATTACKER)]
    [found] = feed(baseline, rpc, tmp_path / "b", LogFormat.IIS)
    assert found.account == "contoso\\bob"
    assert found.values == (f"RPC over HTTP from {ATTACKER}",)
    assert found.source == "iis"


FIELD_NAMES = [
    "DateTime", "Protocol", "AuthenticationType", "IsAuthenticated", "AuthenticatedUser",
    "ClientIpAddress", "HttpStatus", "date", "time", "cs-uri-stem", "cs-username", "sc-status",
    "s-port", "c-ip",
]  # fmt: skip
ODD_TEXT = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["200", "2xx", "Basic", "bearer", "RpcHttp", "/rpc/x", "a\\b", "x@y", "-"]),
)


@given(
    st.dictionaries(st.sampled_from(FIELD_NAMES), ODD_TEXT),
    st.sampled_from(["httpproxy", "iis", "ecp"]),
)
def test_odd_values_never_crash_the_classifier(fields: dict[str, str], source: str) -> None:
    logon = classify(LogRecord(source=source, fields=fields, file="f", line=1, raw=""))
    if logon is not None:
        assert logon.family in ("legacy", "modern", "neutral")
        assert logon.account == logon.account.casefold()
        assert len(logon.what) < 250 and len(logon.client) <= 100


def test_unparseable_time_or_odd_values_are_skipped(tmp_path: Path) -> None:
    baseline = fresh(tmp_path)
    odd = [
        "not-a-time,Ews,/ews/,Basic,true,CONTOSO\\alice,1.2.3.4,200,UA,POST\r\n",
        "2026-01-12T00:00:00Z,Ews,/ews/,Basic,true,CONTOSO\\alice,1.2.3.4,2xx,UA,POST\r\n",
        "2026-01-12T00:00:00Z,Ews\r\n",
        '2026-01-12T00:00:00Z,"Ews,,",/ews/,"Ba,sic",true,"CONTOSO\\a,b",,200,UA,POST\r\n',
    ]
    feed(baseline, modern_days(), tmp_path / "a")
    assert feed(baseline, odd, tmp_path / "b") == []


def test_live_monitor_emits_the_event(tmp_path: Path) -> None:
    folder = tmp_path / "Logging" / "HttpProxy" / "Ews"
    log = write(folder, [])
    db = StateDB(tmp_path / "agent.db")
    spool = Spool(db, max_bytes=10**9)
    monitor = LogMonitor(
        {LogFormat.HTTPPROXY: [str(folder / "HttpProxy_*.LOG")]},
        db,
        spool,
        SigmaRuleSet.load([]),
        poll_seconds=0.05,
        legacy_logons=Thresholds(),
    )
    events: list[pb.Event] = []

    def drain() -> list[pb.Event]:
        while batch := spool.cut_batch(max_events=10_000, max_bytes=10**9):
            events.extend(batch.events)
            spool.acknowledge(batch.sequence)
        return events

    monitor.start()
    try:
        assert monitor.ready.wait(10)
        with log.open("a", encoding="utf-8", newline="") as fh:
            fh.write("".join(modern_days()))
        with log.open("a", encoding="utf-8", newline="") as fh:
            fh.write(proxy(11, auth="Basic", ip=ATTACKER) * 3)
        deadline = time.monotonic() + 10
        while not [e for e in drain() if e.HasField("correlation")]:
            assert time.monotonic() < deadline, events
            time.sleep(0.05)
        time.sleep(0.3)  # a second report would arrive by now
        drain()
    finally:
        monitor.stop()
        db.close()
    [event] = [e for e in events if e.HasField("correlation")]
    assert not event.retro
    assert event.matches[0].rule_id == RULE.rule_id
    assert event.correlation.group["cs-username"] == "contoso\\alice"
    assert event.correlation.files == [str(log)]
    assert event.correlation.count == 3
    db = StateDB(tmp_path / "agent.db")
    with db.reading() as conn:
        [row] = conn.execute("SELECT modern, legacy FROM account_logons").fetchall()
    db.close()
    assert row == (25, 3)
