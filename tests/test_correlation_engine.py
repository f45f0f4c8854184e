"""The correlation engine over the flat event view, with its windows in a plain dict (the
store's own table is exercised in test_correlation_store.py)."""

from __future__ import annotations

import pytest

from collector.correlation.engine import LATE_NS, Correlator, Fired
from collector.correlation.rules import RuleSet, builtin_rules, parse_rules
from collector.correlation.view import EventView, url_of
from protos import exwatch_pb2 as pb

MIN = 60 * 10**9
T0 = 1_700_000_000 * 10**9


class DictWindows:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], tuple[str, int]] = {}

    def load_window(self, rule: str, group: str) -> str | None:
        row = self.rows.get((rule, group))
        return row[0] if row else None

    def save_window(self, rule: str, group: str, state: str, expires_ns: int) -> None:
        self.rows[(rule, group)] = (state, expires_ns)


def log(t: int, tags: list[str], severity: int = pb.SEVERITY_CRITICAL, **fields: str) -> pb.Event:
    event = pb.Event(id=f"log{t}", host_time_ns=t, log=pb.LogRecordEvent(source="iis"))
    event.log.fields.update(fields)
    event.matches.add(rule_id="r", title="x", severity=severity, tags=tags)
    return event


def page(t: int, path: str = r"C:\inetpub\wwwroot\aspnet_client\s.aspx", **kw: object) -> pb.Event:
    return pb.Event(
        id=f"file{t}",
        host_time_ns=t,
        file=pb.FileEvent(action=pb.FILE_ACTION_CREATED, path=path, sha256="AB" * 32, **kw),  # type: ignore[arg-type]
    )


class Feed:
    """Feeds events of one or more hosts into a correlator, naming each by a counter."""

    def __init__(self, correlator: Correlator | None = None) -> None:
        self.correlator = correlator or Correlator(builtin_rules())
        self.windows = DictWindows()
        self.refs = 0

    def __call__(
        self, event: pb.Event, *, tenant: str = "acme", agent: str = "a1", host: str = "EXCH01"
    ) -> list[Fired]:
        obs = self.correlator.match(tenant, agent, host, event)
        if obs is None:
            return []
        self.refs += 1
        return self.correlator.observe(obs, self.refs, event.host_time_ns, self.windows)


def proxylogon(t: int) -> list[pb.Event]:
    return [
        log(t, ["cve.2021-26855"], pb.SEVERITY_HIGH, **{"cs-uri-stem": "/ecp/y.js"}),
        log(t + MIN, ["cve.2021-27065"]),
        page(
            t + 3 * MIN,
            r"C:\Program Files\Microsoft\Exchange Server\V15\FrontEnd\HttpProxy\owa\auth\x.aspx",
        ),
    ]


def test_chain_in_order_fires_once_with_all_evidence() -> None:
    feed = Feed()
    results = [r for e in proxylogon(T0) for r in feed(e)]
    [fired] = [r for r in results if r.rule.name == "exwatch.chain.proxylogon"]
    assert fired.new
    assert fired.evidence == (1, 2, 3)
    assert {"cve.2021-26855", "cve.2021-27065"} <= set(fired.rule.tags)
    assert fired.count == 3
    # more evidence inside the window attaches, it does not fire again
    [again] = [
        r
        for r in feed(page(T0 + 5 * MIN, r"C:\inetpub\wwwroot\aspnet_client\y.aspx"))
        if r.rule.name == "exwatch.chain.proxylogon"
    ]
    assert not again.new
    assert again.evidence == (4,)


def test_chain_arriving_out_of_order_still_fires_once() -> None:
    feed = Feed()
    ssrf, write, shell = proxylogon(T0)
    results = [r for e in (shell, ssrf, write) for r in feed(e)]
    [fired] = [r for r in results if r.rule.name == "exwatch.chain.proxylogon"]
    assert fired.evidence == (1, 2, 3)


def test_late_log_line_within_a_minute_still_counts_as_in_order() -> None:
    feed = Feed()
    # The IIS line of the SSRF is stamped 40 s after the virtual-directory write.
    ssrf = log(T0 + 40 * 10**9, ["cve.2021-26855"], pb.SEVERITY_HIGH)
    fired = [r for e in (log(T0, ["cve.2021-27065"]), ssrf, page(T0 + MIN)) for r in feed(e)]
    assert [r.rule.name for r in fired if r.rule.name.startswith("exwatch.chain")] == [
        "exwatch.chain.proxylogon"
    ]
    # but two minutes out of order is another order
    feed = Feed()
    ssrf = log(T0 + 2 * MIN, ["cve.2021-26855"], pb.SEVERITY_HIGH)
    fired = [r for e in (log(T0, ["cve.2021-27065"]), ssrf, page(T0 + 3 * MIN)) for r in feed(e)]
    assert not [r for r in fired if r.rule.name == "exwatch.chain.proxylogon"]


def test_chain_spread_beyond_its_window_does_not_fire() -> None:
    feed = Feed()
    ssrf, write, _ = proxylogon(T0)
    late_shell = page(T0 + 40 * MIN)
    assert not [
        r for e in (ssrf, write, late_shell) for r in feed(e) if "proxylogon" in r.rule.name
    ]


def test_hosts_and_tenants_never_share_a_host_window() -> None:
    feed = Feed()
    ssrf, write, shell = proxylogon(T0)
    fired = feed(ssrf, agent="a1") + feed(write, agent="a2") + feed(shell, tenant="other")
    assert not [r for r in fired if r.rule.name == "exwatch.chain.proxylogon"]


def test_webshell_written_then_requested_joins_on_the_url() -> None:
    feed = Feed()
    owa = r"D:\Exchange\FrontEnd\HttpProxy\owa\auth\Shell.aspx"
    assert url_of(owa) == "/owa/auth/shell.aspx"
    feed(page(T0, owa))
    other = log(
        T0 + MIN, [], pb.SEVERITY_LOW, **{"cs-uri-stem": "/owa/auth/logon.aspx", "sc-status": "200"}
    )
    assert not [r for r in feed(other) if r.rule.name == "exwatch.webshell.requested"]
    used = log(
        T0 + 2 * MIN,
        [],
        pb.SEVERITY_LOW,
        **{"cs-uri-stem": "/owa/auth/shell.aspx", "sc-status": "200"},
    )
    [fired] = [r for r in feed(used) if r.rule.name == "exwatch.webshell.requested"]
    assert dict(fired.group) == {"host": "EXCH01", "url_path": "/owa/auth/shell.aspx"}
    assert fired.evidence == (1, 3)


def test_mass_change_pages_feed_no_chain() -> None:
    feed = Feed()
    fired = [
        r
        for t in range(30)
        for r in feed(page(T0 + t, f"C:\\inetpub\\wwwroot\\p{t}.aspx", burst=300))
    ]
    child = pb.Event(id="p", host_time_ns=T0 + MIN, process=pb.ProcessEvent(name="cmd.exe"))
    child.process.ancestors.add(name="w3wp.exe")
    child.matches.add(rule_id="r", title="shell", severity=pb.SEVERITY_HIGH)
    assert fired + feed(child) == []


def test_same_file_on_hosts_of_two_tenants_is_one_fleet_result() -> None:
    feed = Feed()
    bad = page(T0, verdict=pb.VERDICT_MALICIOUS)
    assert not [
        r for r in feed(bad, tenant="acme", agent="a1") if r.rule.name == "exwatch.campaign.file"
    ]
    [fired] = [
        r for r in feed(bad, tenant="globex", agent="b1") if r.rule.name == "exwatch.campaign.file"
    ]
    assert (fired.hosts, fired.tenants, fired.count) == (2, 2, 2)
    assert dict(fired.group) == {"sha256": "ab" * 32}
    # the same host again is not another host
    [more] = [
        r for r in feed(bad, tenant="globex", agent="b1") if r.rule.name == "exwatch.campaign.file"
    ]
    assert not more.new and more.hosts == 2


RULES = """
title: failed logon
name: failed
logsource: {product: exwatch}
detection:
  sel: {kind: log, status: '401', user|re: '^[a-z]'}
  condition: sel
---
title: many failures
name: burst
correlation:
  type: event_count
  rules: [failed]
  group-by: [client_ip]
  timespan: 5m
  condition: {gt: 2}
level: medium
---
title: several users
name: spread
correlation:
  type: value_count
  rules: [failed]
  group-by: [tenant, client_ip]
  timespan: 5m
  condition: {gte: 2, field: user}
level: high
"""


def failure(t: int, user: str, ip: str = "203.0.113.9") -> pb.Event:
    event = pb.Event(id=f"f{t}", host_time_ns=t, log=pb.LogRecordEvent(source="iis"))
    event.log.fields.update({"sc-status": "401", "cs-username": user, "c-ip": ip})
    return event


def test_event_count_and_value_count_over_a_window() -> None:
    feed = Feed(Correlator(parse_rules([("test.yml", RULES)])))
    assert feed(failure(T0, "alice")) == []
    assert feed(failure(T0 + 1, "Alice")) == []  # an upper-case user fails the |re
    [spread] = feed(failure(T0 + 2, "bob"))
    assert spread.rule.name == "spread" and spread.count == 2
    assert dict(spread.group) == {"tenant": "acme", "client_ip": "203.0.113.9"}
    fired = feed(failure(T0 + 3, "carol"))
    [burst] = [r for r in fired if r.rule.name == "burst"]
    assert burst.new and burst.count == 3 and burst.tenants == 1
    # far outside the window: a new window, which needs its own three failures
    assert [r.rule.name for r in feed(failure(T0 + 60 * MIN, "dave"))] == []


def test_windows_survive_in_their_store_between_correlators() -> None:
    """What a restarted collector sees: a new engine, the same stored windows."""
    first = Feed()
    ssrf, write, shell = proxylogon(T0)
    first(ssrf)
    first(write)
    second = Feed()
    second.windows, second.refs = first.windows, first.refs
    [fired] = [r for r in second(shell) if r.rule.name == "exwatch.chain.proxylogon"]
    assert fired.evidence == (1, 2, 3)
    assert LATE_NS == 60 * 10**9


@pytest.mark.parametrize(
    ("body", "values"),
    [
        (
            pb.ProcessEvent(name=r"C:\Windows\System32\cmd.exe"),
            {"process_name": "cmd.exe", "parent_name": ""},
        ),
        (pb.SensorEvent(sensor="logs", kind="log_quiet"), {"sensor_kind": "log_quiet"}),
        (pb.CorrelationEvent(values=["a", "b"], count=7), {"values": ("a", "b"), "count": "7"}),
    ],
)
def test_flat_view_of_other_kinds(body: object, values: dict[str, object]) -> None:
    event = pb.Event(id="x")
    getattr(
        event,
        {"ProcessEvent": "process", "SensorEvent": "sensor", "CorrelationEvent": "correlation"}[
            type(body).__name__
        ],
    ).CopyFrom(body)
    flat = dict(EventView("t", "a", "h", event))
    assert {k: flat[k] for k in values} == values
    assert flat["severity"] == "none"


def test_flat_view_of_an_iis_line() -> None:
    event = log(
        T0,
        ["cve.2021-26855"],
        pb.SEVERITY_HIGH,
        **{
            "cs-uri-stem": "/OWA/auth/Sh%65ll.aspx",
            "cs-uri-query": "-",
            "c-ip": "203.0.113.9",
            "cs(User-Agent)": "Mozilla/5.0+(X)",
            "sc-status": "200",
            "cs-method": "POST",
        },
    )
    flat = dict(EventView("t", "a", "h", event))
    assert flat["url_path"] == "/owa/auth/shell.aspx"
    assert flat["page"] == "shell.aspx"
    assert flat["query"] == ""
    assert flat["user_agent"] == "Mozilla/5.0 (X)"
    assert flat["client_ip"] == "203.0.113.9"
    assert flat["log.cs-method"] == "POST"
    assert flat["severity"] == "high"
    assert flat["tags"] == ("cve.2021-26855",)


def test_straggler_older_than_a_fired_window_does_not_make_it_fire_again() -> None:
    feed = Feed()
    fired = [r for e in proxylogon(T0 + 20 * MIN) for r in feed(e)]
    assert [r.rule.name for r in fired].count("exwatch.chain.proxylogon") == 1
    # an SSRF line from twenty minutes earlier arrives, then more of the chain
    old = log(T0, ["cve.2021-26855"], pb.SEVERITY_HIGH)
    later = [r for e in (old, *proxylogon(T0 + 22 * MIN)) for r in feed(e)]
    assert all(not r.new for r in later if r.rule.name == "exwatch.chain.proxylogon")


MEMO_RULES = """
title: script page posted by a tool
name: tool_post
logsource: {product: exwatch}
detection:
  sel: {kind: log, log.cs-method: POST, page|endswith: .aspx, user_agent|contains: curl}
  condition: sel
---
title: tool posts
name: tool_posts
correlation: {type: event_count, rules: [tool_post], group-by: [host], timespan: 5m,
  condition: {gte: 2}}
level: high
"""


def request(source: str, **fields: str) -> pb.Event:
    event = pb.Event(id="r", host_time_ns=T0, log=pb.LogRecordEvent(source=source))
    event.log.fields.update(fields)
    return event


REQUESTS = [
    request("iis", **{"cs-uri-stem": "/owa/auth/x.aspx", "sc-status": "200"}),
    request("iis", **{"cs-uri-stem": "/owa/auth/x%2Easpx", "sc-status": "200"}),
    request("iis", **{"cs-uri-stem": "/OWA/AUTH/X.ASPX", "sc-status": "302"}),
    request("iis", **{"cs-uri-stem": "/owa/auth/x.aspx", "sc-status": "404"}),
    request("iis", **{"cs-uri-stem": "/owa/auth/x.aspx", "sc-status": "-"}),
    request("iis", **{"cs-uri-stem": "/owa/auth/x.aspx"}),
    request("iis", **{"cs-uri-stem": "/owa/service.svc", "sc-status": "200"}),
    request("httpproxy", UrlStem="/owa/auth/x.aspx", HttpStatus="200"),
    request("iis", UrlStem="/owa/auth/x.aspx", HttpStatus="200"),
    request("iis", UrlStem="/owa/auth/x.aspx", HttpStatus="404"),
    request("iis", UrlStem="/owa/service.svc", HttpStatus="200"),
    request("iis", **{"cs-uri-stem": "-", "UrlStem": "/owa/auth/x.aspx", "sc-status": "200"}),
    request(
        "iis", **{"cs-method": "POST", "cs-uri-stem": "/a/b.aspx"}, **{"cs(User-Agent)": "curl/8"}
    ),
    request(
        "iis", **{"cs-method": "POST", "cs-uri-stem": "/a/b.aspx"}, **{"cs(User-Agent)": "Mozilla"}
    ),
    request(
        "iis", **{"cs-method": "GET", "cs-uri-stem": "/a/b.aspx"}, **{"cs(User-Agent)": "curl/8"}
    ),
    request("httpproxy", Method="POST", UrlStem="/a/b.aspx", UserAgent="curl/8"),
    request("httpproxy", Method="POST", UrlStem="/a/b.aspx", ClientInfo="curl/8"),
    request("httpproxy", Method="POST", UrlStem="/a/b.aspx", UserAgent="Mozilla"),
    request("httpproxy", Method="POST", UrlStem="/a/b.aspx", ClientInfo="Mozilla"),
    request("httpproxy", Method="GET", UrlStem="/a/b.aspx", UserAgent="curl/8"),
]


@pytest.mark.parametrize(
    "rules", [builtin_rules(), parse_rules([("memo.yml", MEMO_RULES)])], ids=["builtin", "memo"]
)
def test_remembered_log_verdicts_equal_fresh_evaluation(rules: RuleSet) -> None:
    """Correlator.match remembers its verdicts on log records per the raw columns the base
    rules read; each must be what the rules say of the record's full view."""
    correlator = Correlator(rules)
    used = {name: rule for name, rule in rules.base.items() if rules.using(name)}
    seen = set()
    for _ in range(2):  # the second round answers from memory
        for event in REQUESTS:
            view = EventView("acme", "a1", "EXCH01", event)
            fresh = {name for name, rule in used.items() if rule.matches(view)}
            obs = correlator.match("acme", "a1", "EXCH01", event)
            assert (obs.hits if obs else set()) == fresh, dict(event.log.fields)
            seen |= fresh
    assert seen  # some records do match
