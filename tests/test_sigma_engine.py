"""The Sigma evaluator: modifiers, conditions, normalisation, field mapping, prefilter."""

from __future__ import annotations

import base64
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.detection import Severity
from agent.logrecord import LogRecord
from agent.sigma import SigmaRuleSet, normalize, normalize_folded
from agent.sigma.fieldmap import channels_for_source, event_from_record

RULE_ID = "0f3f1a52-9d7e-4a43-9c55-3f1d8f6b2a10"


def ruleset(
    tmp_path: Path,
    detection: str,
    *,
    logsource: str = "category: webserver",
    level: str = "high",
    tags: str = "[attack.t1190, cve.2021-26855]",
) -> SigmaRuleSet:
    body = (
        f"title: Test rule\nid: {RULE_ID}\nstatus: test\nlogsource:\n    {logsource}\n"
        f"detection:\n{textwrap.indent(textwrap.dedent(detection), '    ')}\n"
        f"level: {level}\ntags: {tags}\n"
    )
    (tmp_path / "rule.yml").write_text(body, encoding="utf-8")
    return SigmaRuleSet.load([tmp_path / "rule.yml"], builtin=False)


def iis(
    stem: str,
    query: str = "-",
    *,
    method: str = "GET",
    status: str = "200",
    ua: str = "Mozilla/5.0+(Windows+NT+10.0)",
    ip: str = "203.0.113.7",
    user: str = "-",
) -> LogRecord:
    fields = {
        "cs-method": method,
        "cs-uri-stem": stem,
        "cs-uri-query": query,
        "cs-username": user,
        "c-ip": ip,
        "cs(User-Agent)": ua,
        "cs(Referer)": "-",
        "sc-status": status,
    }
    return LogRecord("iis", fields, "u_ex260120.log", 7, " ".join(fields.values()))


def hits(rs: SigmaRuleSet, record: LogRecord) -> bool:
    return any(d.rule_id == RULE_ID for d in rs.match(record))


def test_detection_carries_id_title_severity_tags(tmp_path: Path) -> None:
    rs = ruleset(
        tmp_path,
        """\
        sel:
            cs-uri-stem|startswith: '/ecp/'
        condition: sel""",
        level="critical",
    )
    (det,) = rs.match(iis("/ecp/x.js"))
    assert (det.rule_id, det.title, det.severity, det.tags, det.engine) == (
        RULE_ID,
        "Test rule",
        Severity.CRITICAL,
        ("attack.t1190", "cve.2021-26855"),
        "sigma",
    )


@pytest.mark.parametrize(
    ("stem", "query", "expected"),
    [
        ("/owa/auth/x.aspx", "-", True),  # string in the stem, rule on cs-uri-query
        ("/x", "a=/OWA/AUTH/x", True),  # case-folded
        ("/x", "a=%2Fowa%2Fauth%2F", True),  # percent-decoded
        ("/x", "a=%252Fowa%252Fauth%252F", True),  # double-encoded
        ("/owa/x.aspx", "-", False),
    ],
)
def test_uri_query_sees_stem_and_query_decoded(
    tmp_path: Path, stem: str, query: str, expected: bool
) -> None:
    rs = ruleset(
        tmp_path,
        """\
        sel:
            cs-uri-query|contains: '/owa/auth/'
        condition: sel""",
    )
    assert hits(rs, iis(stem, query)) is expected


def test_exact_stem_match_and_null_query(tmp_path: Path) -> None:
    rs = ruleset(
        tmp_path,
        """\
        sel:
            cs-uri-stem: '/ecp/DDI/DDIService.svc/SetObject'
        noquery:
            cs-uri-query: null
        condition: sel and not noquery""",
    )
    assert hits(rs, iis("/ecp/DDI/DDIService.svc/SetObject", "schema=ResetOAB"))
    assert not hits(rs, iis("/ecp/DDI/DDIService.svc/SetObject"))
    assert not hits(rs, iis("/ecp/DDI/DDIService.svc/SetObjectX", "a=1"))


def test_user_agent_plus_is_space_both_ways(tmp_path: Path) -> None:
    rs = ruleset(
        tmp_path,
        """\
        a:
            cs-user-agent|contains: 'compatible; Googlebot'
        b:
            cs-user-agent|contains: 'Mozilla/5.0+(compatible;+Bingbot'
        condition: 1 of a or b""".replace("1 of a or b", "a or b"),
    )
    assert hits(rs, iis("/", ua="Mozilla/5.0+(compatible;+Googlebot/2.1)"))
    assert hits(rs, iis("/", ua="Mozilla/5.0 (compatible; bingbot/2.0)"))
    assert not hits(rs, iis("/", ua="Mozilla/5.0+(Windows+NT+10.0)"))


def test_all_cased_endswith_and_wildcards(tmp_path: Path) -> None:
    rs = ruleset(
        tmp_path,
        """\
        sel:
            cs-uri-query|contains|all: ['autodiscover.json', '@']
            cs-method|cased: 'POST'
            cs-uri-stem: '/autodiscover/*.json'
        condition: sel""",
    )
    assert hits(rs, iis("/autodiscover/autodiscover.json", "@x/mapi", method="POST"))
    assert not hits(rs, iis("/autodiscover/autodiscover.json", "@x/mapi", method="post"))
    assert not hits(rs, iis("/autodiscover/autodiscover.json", "x/mapi", method="POST"))
    assert not hits(rs, iis("/autodiscover/autodiscover.xml", "@x", method="POST"))


def test_regex_tries_raw_and_decoded(tmp_path: Path) -> None:
    rs = ruleset(
        tmp_path,
        """\
        sel:
            cs-uri-stem|re: '^/ecp/[a-z]{1,3}\\.js$'
        condition: sel""",
    )
    assert hits(rs, iis("/ecp/y.js"))
    assert hits(rs, iis("/ecp/%79.js"))
    assert not hits(rs, iis("/ecp/Y.js"))  # |re is case-sensitive unless (?i) or |i
    assert not hits(rs, iis("/ecp/abcd.js"))


def test_selectors_not_and_numbers(tmp_path: Path) -> None:
    rs = ruleset(
        tmp_path,
        """\
        selection_a:
            cs-method: POST
        selection_b:
            sc-status:
                - 200
                - 302
        filter_main_probe:
            cs-user-agent: 'Exchange BackEnd Probes'
        condition: all of selection_* and not 1 of filter_main_*""",
    )
    assert hits(rs, iis("/", method="POST", status="302"))
    assert not hits(rs, iis("/", method="POST", status="401"))
    assert not hits(rs, iis("/", method="POST", status="200", ua="Exchange+BackEnd+Probes"))


def test_keywords_search_the_raw_line(tmp_path: Path) -> None:
    rs = ruleset(
        tmp_path,
        """\
        keywords:
            - '=cmd%20/c%'
            - 'whoami'
        condition: keywords""",
    )
    assert hits(rs, iis("/x.aspx", "c=cmd%20/c%20dir"))
    assert hits(rs, iis("/x.aspx", "c=cmd+/c+dir"))  # IIS may log the space as '+'
    assert hits(rs, iis("/x.aspx", "c=WHOAMI"))
    assert not hits(rs, iis("/x.aspx", "c=dir"))


def test_windash_base64offset_cidr_gt_exists_fieldref(tmp_path: Path) -> None:
    rs = ruleset(
        tmp_path,
        """\
        sel_windash:
            CommandLine|windash|contains: ' -enc '
        sel_b64:
            CommandLine|base64offset|contains: 'Invoke-Expression'
        sel_net:
            SourceIp|cidr: '10.0.0.0/8'
        sel_big:
            Size|gt: 1000
        sel_user:
            User|exists: true
        sel_same:
            Image|fieldref: ParentImage
        condition: 1 of sel_*""",
        logsource="category: process_creation",
        tags="[attack.t1059.001]",
    )
    enc = base64.b64encode(b"xInvoke-Expression").decode()
    assert rs.match_event("process_creation", {"CommandLine": "powershell /enc AAAA"})
    assert rs.match_event("process_creation", {"CommandLine": f"powershell -e {enc}"})
    assert rs.match_event("process_creation", {"SourceIp": "10.1.2.3"})
    assert rs.match_event("process_creation", {"Size": "4096"})
    assert rs.match_event("process_creation", {"User": "NT AUTHORITY\\SYSTEM"})
    assert rs.match_event("process_creation", {"Image": "C:\\a.exe", "ParentImage": "c:\\A.EXE"})
    assert not rs.match_event(
        "process_creation",
        {"SourceIp": "192.168.1.1", "Size": "10", "CommandLine": "notepad", "User": ""},
    )


def test_httpproxy_rows_feed_webserver_rules(tmp_path: Path) -> None:
    rs = ruleset(
        tmp_path,
        """\
        sel:
            cs-uri-query|contains: '/owa/auth/x.js'
            cs-method: POST
            sc-status: 200
            cs-user-agent|contains: 'python'
        condition: sel""",
    )
    fields = {
        "UrlStem": "/owa/auth/x.js",
        "UrlQuery": "?a=1",
        "Method": "POST",
        "HttpStatus": "200",
        "UserAgent": "python-requests/2.25.1",
        "AnchorMailbox": "ServerInfo~a]@x:444/ecp/y#",
    }
    record = LogRecord(
        "httpproxy", fields, "HttpProxy_2026012010-1.LOG", 2, ",".join(fields.values())
    )
    assert [d.rule_id for d in rs.match(record)] == [RULE_ID]


def test_match_event_rejects_unknown_logsource(tmp_path: Path) -> None:
    rs = ruleset(
        tmp_path,
        """\
        sel:
            cs-method: POST
        condition: sel""",
    )
    with pytest.raises(ValueError, match="unknown logsource"):
        rs.match_event("dns_query", {"QueryName": "x"})
    assert rs.match_event("process_creation", {"Image": "x"}) == []


def test_normalize() -> None:
    assert normalize("a+b%20c") == "a b c"
    assert normalize("%2540") == "@"
    assert normalize("%25252540") == "%40"  # bounded: three rounds
    assert normalize("%zz%") == "%zz%"
    assert normalize_folded("%2FOWA%2f") == "/owa/"


# The prefilter contract, checked on generated lines: any line that matches contains a literal.
_FRAGMENTS = [
    "/owa/",
    "/ecp/",
    "auth/",
    "x.js",
    "y.aspx",
    "%2F",
    "%40",
    "@",
    "+",
    "POST",
    "200",
    "?",
    "autodiscover.json",
    "powershell",
    "cmd=",
    "whoami",
    "=",
    "&",
    "serverinfo~",
    "a",
    "%25",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(_FRAGMENTS), min_size=1, max_size=10),
    st.lists(st.sampled_from(_FRAGMENTS), max_size=6),
)
def test_prefilter_literals_never_drop_a_match(
    stem_parts: list[str], query_parts: list[str]
) -> None:
    rs = _BUILTIN
    stem = "/" + "".join(stem_parts)
    query = "".join(query_parts) or "-"
    for method in ("GET", "POST"):
        record = iis(stem, query, method=method)
        if rs.match(record):
            literals = rs.literals("iis")
            assert literals is not None
            line = normalize_folded(record.raw)
            assert any(lit in line for lit in literals), record.raw
            clauses = rs.clauses("iis")
            assert clauses is not None
            assert any(all(lit in line for lit in clause) for clause in clauses), record.raw


_BUILTIN = SigmaRuleSet.load([], builtin=True)


def _proxy(stem: str, query: str, status: str) -> LogRecord:
    fields = {"Method": "POST", "UrlStem": stem, "UrlQuery": query, "HttpStatus": status}
    return LogRecord(
        "httpproxy", fields, "HttpProxy_2026012010-1.LOG", 9, ",".join(fields.values())
    )


def _without(record: LogRecord, column: str) -> LogRecord:
    """``record`` as a log whose ``#Fields:`` lacks ``column``."""
    fields = {k: v for k, v in record.fields.items() if k != column}
    return LogRecord(record.source, fields, record.file, record.line, record.raw)


def test_remembered_verdicts_equal_fresh_evaluation() -> None:
    """SigmaRuleSet.match remembers a rule's verdict per value tuple of the record columns it
    reads; the remembered verdict must be the one the predicate gives on every record: with a
    column missing from the log, empty (``-``), and for another source with the same values."""
    rs = SigmaRuleSet.load([], builtin=True)
    webshell = iis("/owa/auth/x.aspx", "cmd=whoami", method="POST")
    records = [
        iis("/owa/auth/logon.aspx", "replaceCurrent=1", method="GET"),
        webshell,
        iis("/owa/auth/logon.aspx", "replaceCurrent=1", method="POST"),
        iis("/aspnet_client/%73hell.aspx", method="POST"),
        webshell,
        _without(webshell, "cs-uri-query"),
        iis("/owa/auth/x.aspx", "-", method="POST"),
        _without(webshell, "sc-status"),
        _without(webshell, "cs-method"),
        _proxy("/owa/auth/x.aspx", "cmd=whoami", "200"),
        _proxy("/owa/auth/x.aspx", "", "200"),
        _proxy("/autodiscover/autodiscover.json", "@evil.com/mapi/nspi/?&Email=a", "200"),
        iis("/autodiscover/autodiscover.json", "@evil.com/mapi/nspi/?&Email=a"),
    ]
    for _ in range(2):
        for record in records:
            found = {d.rule_id for d in rs.match(record)}
            fresh = set()
            for channel in channels_for_source(record.source):
                event = event_from_record(record, channel)
                fresh |= {
                    r.detection.rule_id
                    for r in rs.rules
                    if r.channel == channel and rs.emits(r.detection.rule_id) and r.predicate(event)
                }
            assert found == fresh, (record.source, record.fields)
    assert any(r.fields for r in rs.rules)  # field-only rules are remembered
    assert {d.rule_id for d in rs.match(webshell)}  # the test sees detections at all
