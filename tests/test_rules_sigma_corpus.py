"""Third-party rules: SigmaHQ's webserver and msexchange-management rules work on our records.

The rules are read at test time from the shared corpus (DRL licence: nothing of them is copied
here). The lines below are our own renderings of each attack, keyed by rule file name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from agent.logrecord import LogRecord
from agent.sigma import SigmaRuleSet, normalize_folded

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "sigma"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"Sigma corpus not present at {CORPUS}")

BROWSER = (
    "Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)+AppleWebKit/537.36+(KHTML,+like+Gecko)+Chrome/120.0"
)
POC_UA = "Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)+AppleWebKit/537.36+(KHTML,+like+Gecko)+Chrome/105.0.5195.54+Safari/537.36"  # noqa: E501 (verbatim log text)


@dataclass
class Web:
    stem: str
    query: str = "-"
    method: str = "GET"
    status: int = 200
    ua: str = BROWSER
    referer: str = "-"
    user: str = "-"
    also_httpproxy: bool = True


def iis(w: Web) -> LogRecord:
    fields = {
        "date": "2026-01-20",
        "time": "10:00:00",
        "s-ip": "10.0.0.5",
        "cs-method": w.method,
        "cs-uri-stem": w.stem,
        "cs-uri-query": w.query,
        "s-port": "443",
        "cs-username": w.user,
        "c-ip": "203.0.113.7",
        "cs(User-Agent)": w.ua,
        "cs(Referer)": w.referer,
        "sc-status": str(w.status),
        "sc-substatus": "0",
        "sc-win32-status": "0",
        "time-taken": "15",
    }
    return LogRecord("iis", fields, "u_ex260120.log", 1, " ".join(fields.values()))


def httpproxy(w: Web) -> LogRecord:
    fields = {
        "DateTime": "2026-01-20T10:00:00.000Z",
        "Protocol": "Owa",
        "UrlStem": w.stem,
        "UrlQuery": "" if w.query == "-" else "?" + w.query,
        "AuthenticatedUser": "" if w.user == "-" else w.user,
        "AnchorMailbox": "",
        "UserAgent": w.ua.replace("+", " "),
        "ClientIpAddress": "203.0.113.7",
        "HttpStatus": str(w.status),
        "Method": w.method,
    }
    return LogRecord(
        "httpproxy", fields, "HttpProxy_2026012010-1.LOG", 1, ",".join(fields.values())
    )


@dataclass
class Mgmt:
    text: str
    event_id: str = "1"


OAB_SCRIPT = (
    'Cmdlet succeeded. Cmdlet Set-OabVirtualDirectory, parameters -Identity "EXCH01\\OAB '
    '(Default Web Site)" -ExternalUrl "http://f/<script language="JScript" runat="server">'
    'function Page_Load(){eval(Request["k"],"unsafe");}</script>"'
)

SAMPLES: dict[str, Web | Mgmt] = {
    "web_cve_2023_34362_known_payload_request.yml.yml": Web("/human2.aspx"),
    "web_solarwinds_supernova_webshell.yml": Web(
        "/Orion/LogoImageHandler.ashx", "codes=x&clazz=System.Diagnostics.Process"
    ),
    "web_cve_2020_0688_msexchange.yml": Web(
        "/ecp/default.aspx", "__VIEWSTATEGENERATOR=B97B4E27&__VIEWSTATE=%2FwEyhAYAAQAAAP"
    ),
    "web_cve_2020_0688_exchange_exploit.yml": Web(
        "/ecp/default.aspx", "__VIEWSTATEGENERATOR=B97B4E27&__VIEWSTATE=%2FwEyhAYA"
    ),
    "web_exploit_cve_2026_63030_webshell_plugin_access.yml": Web(
        "/wp-content/plugins/wp2shell_a1/s.php", "c=id"
    ),
    "web_win_iis_exploit_cve_2025_53770.yml": Web(
        "/_layouts/15/ToolPane.aspx",
        "DisplayMode=Edit&a=/ToolPane.aspx",
        method="POST",
        referer="/_layouts/SignOut.aspx",
        also_httpproxy=False,
    ),
    "web_cve_2022_36804_exchange_owassrf_poc_exploitation.yml": Web(
        "/owa/mastermailbox%40outlook.com/powershell", method="POST", ua=POC_UA
    ),
    "web_cve_2022_36804_exchange_owassrf_exploitation.yml": Web(
        "/owa/john@contoso.com/powershell", method="POST"
    ),
    "web_exchange_exploitation_hafnium.yml": Web("/ecp/y.js", method="POST"),
    "web_cve_2021_33766_msexchange_proxytoken.yml": Web(
        "/ecp/org/RulesEditor/InboxRules.svc/NewObject", method="POST", status=500
    ),
    "web_cve_2021_26858_iis_rce.yml": Web(
        "/ecp/DDI/DDIService.svc/SetObject",
        "schema=ResetOABVirtualDirectory&msExchEcpCanary=x",
        method="POST",
        user="EXCH01$",
    ),
    "web_cve_2021_28480_exchange_exploit.yml": Web("/owa/calendar/a1b2c3/", method="POST"),
    "web_exchange_proxyshell.yml": Web(
        "/autodiscover/autodiscover.json",
        "@evil.com/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.com",
        status=401,
    ),
    "web_exchange_proxyshell_successful.yml": Web(
        "/autodiscover/autodiscover.json",
        "@evil.com/powershell/?X-Rps-CAT=VgEAVAdXaW5kb3dz&Email=autodiscover/autodiscover.json%3F@evil.com",
    ),
    "web_webshell_regeorg.yml": Web(
        "/tunnel.aspx",
        "cmd=connect&target=10.0.0.9&port=445",
        method="POST",
        ua="-",
        also_httpproxy=False,
    ),
    "web_win_webshells_in_access_logs.yml": Web("/aspnet_client/x.aspx", "c=whoami"),
    "web_susp_windows_path_uri.yml": Web("/download.aspx", "file=C:/Windows/win.ini"),
    "web_iis_tilt_shortname_scan.yml": Web("/ASPNET~1a.aspx"),
    "win_exchange_proxyshell_mailbox_export.yml": Mgmt(
        'Cmdlet succeeded. Cmdlet New-MailboxExportRequest, parameters -Mailbox "admin" -FilePath '
        '"\\\\localhost\\c$\\inetpub\\wwwroot\\aspnet_client\\x.aspx"'
    ),
    "win_exchange_proxylogon_oabvirtualdir.yml": Mgmt(OAB_SCRIPT),
    "win_exchange_set_oabvirtualdirectory_externalurl.yml": Mgmt(OAB_SCRIPT),
    "win_exchange_proxyshell_remove_mailbox_export.yml": Mgmt(
        'Cmdlet succeeded. Cmdlet Remove-MailboxExportRequest, parameters -Identity "admin\\Export" '  # noqa: E501 (verbatim log text)
        '-Confirm "False"'
    ),
    "win_exchange_proxyshell_certificate_generation.yml": Mgmt(
        "Cmdlet succeeded. Cmdlet New-ExchangeCertificate, parameters -GenerateRequest -BinaryEncoded "  # noqa: E501 (verbatim log text)
        '-RequestFile "\\\\localhost\\C$\\inetpub\\wwwroot\\aspnet_client\\cert.aspx" -SubjectName "CN=x"'  # noqa: E501 (verbatim log text)
    ),
    "win_exchange_transportagent.yml": Mgmt(
        'Cmdlet succeeded. Cmdlet Install-TransportAgent, parameters -Name "x" -AssemblyPath "C:\\x.dll"'  # noqa: E501 (verbatim log text)
    ),
    "win_exchange_transportagent_failed.yml": Mgmt(
        'Cmdlet failed. Cmdlet Install-TransportAgent, parameters -Name "x"', event_id="6"
    ),
    "win_exchange_cve_2021_42321.yml": Mgmt(
        "Cmdlet failed. Cmdlet Get-App, parameters -Mailbox admin", event_id="6"
    ),
}

BENIGN_WEB = [
    Web("/owa/"),
    Web("/owa/auth/logon.aspx", "replaceCurrent=1&url=https%3a%2f%2fmail.contoso.com%2fowa%2f"),
    Web("/owa/auth.owa", "&CorrelationID=<empty>;", method="POST", status=302),
    Web("/owa/service.svc", "action=GetFolder&UA=0", method="POST"),
    Web("/EWS/Exchange.asmx", method="POST", ua="ExchangeServicesClient/15.02.1118.040"),
    Web("/mapi/emsmdb/", "MailboxId=1c0a@contoso.com&CorrelationID=<empty>;", method="POST"),
    Web(
        "/Microsoft-Server-ActiveSync/default.eas",
        "Cmd=Sync&User=john%40contoso.com&DeviceId=X",
        method="POST",
    ),
    Web("/autodiscover/autodiscover.xml", method="POST"),
    Web("/autodiscover/autodiscover.json/v1.0/john%40contoso.com", "Protocol=EWS&RedirectCount=1"),
    Web("/ecp/", status=200),
    Web("/ecp/PersonalSettings/HomePage.aspx", "showhelp=false"),
    Web("/OAB/3f9c6f57-2e5e-4a5e-9a3d-6c1b3a8d8f10/oab.xml"),
    Web(
        "/powershell",
        "serializationLevel=Full;ExchClientVer=15.2.1118.40",
        method="POST",
        ua="Microsoft+WinRM+Client",
    ),
]
BENIGN_MGMT = [
    'Cmdlet succeeded. Cmdlet Get-Mailbox, parameters -Identity "john"',
    'Cmdlet succeeded. Cmdlet Set-OwaVirtualDirectory, parameters -Identity "EXCH01\\owa (Default Web Site)" '  # noqa: E501 (verbatim log text)
    '-ExternalUrl "https://mail.contoso.com/owa"',
    'Cmdlet succeeded. Cmdlet New-MailboxExportRequest, parameters -Mailbox "leaver" -FilePath "D:\\pst\\leaver.pst"',  # noqa: E501 (verbatim log text)
]


def _applicable(path: Path) -> bool:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    source = doc.get("logsource", {}) if isinstance(doc, dict) else {}
    return source.get("category") == "webserver" or source.get("service") == "msexchange-management"


APPLICABLE = sorted(p for p in CORPUS.rglob("*.yml") if _applicable(p)) if CORPUS.is_dir() else []


@pytest.fixture(scope="module")
def corpus() -> SigmaRuleSet:
    return SigmaRuleSet.load([CORPUS], builtin=False, collect_errors=True)


def _rule_id(path: Path) -> str:
    return str(yaml.safe_load(path.read_text(encoding="utf-8"))["id"])


def test_whole_corpus_loads_with_every_skip_explained(corpus: SigmaRuleSet) -> None:
    files = list(CORPUS.rglob("*.yml"))
    assert len(corpus) + len(corpus.problems) >= len(files)
    for problem in corpus.problems:
        assert problem.kind == "unsupported", str(problem)
        assert problem.reason and problem.file, str(problem)
    # Every applicable rule is supported.
    skipped = {Path(p.file).name for p in corpus.problems}
    assert not skipped & {p.name for p in APPLICABLE}


def test_every_applicable_rule_has_a_sample() -> None:
    assert APPLICABLE, "no webserver / msexchange-management rules in corpus"
    missing = [p.name for p in APPLICABLE if p.name not in SAMPLES]
    assert not missing, f"write a sample line for {missing}"


def _fires(ruleset: SigmaRuleSet, sample: Web | Mgmt) -> list[tuple[str, list[str]]]:
    """(what was matched, rule ids) for each form the sample takes."""
    if isinstance(sample, Web):
        records = [iis(sample)] + ([httpproxy(sample)] if sample.also_httpproxy else [])
        return [(r.source, [d.rule_id for d in ruleset.match(r)]) for r in records]
    event: Mapping[str, str] = {"EventID": sample.event_id, "Data": sample.text}
    return [
        (
            "msexchange-management",
            [d.rule_id for d in ruleset.match_event("msexchange-management", event)],
        )
    ]


@pytest.mark.parametrize("path", APPLICABLE, ids=lambda p: p.name)
def test_corpus_rule_fires_on_its_attack(corpus: SigmaRuleSet, path: Path) -> None:
    rule_id = _rule_id(path)
    sample = SAMPLES[path.name]
    for form, ids in _fires(corpus, sample):
        assert rule_id in ids, f"{path.name} silent on {form} form of {sample}"
    if isinstance(sample, Web):
        # Retro-hunt's prefilter keeps the line.
        record = iis(sample)
        literals = corpus.literals("iis")
        assert literals is None or any(lit in normalize_folded(record.raw) for lit in literals)


def test_corpus_rules_silent_on_benign_traffic(corpus: SigmaRuleSet) -> None:
    for web in BENIGN_WEB:
        for form, ids in _fires(corpus, web):
            assert ids == [], f"{ids} fired on benign {form} {web}"
    for text in BENIGN_MGMT:
        assert corpus.match_event("msexchange-management", {"EventID": "1", "Data": text}) == [], (
            text
        )


def test_cmdlet_log_rows_reach_msexchange_management_rules(corpus: SigmaRuleSet) -> None:
    rule_id = _rule_id(
        next(p for p in APPLICABLE if p.name == "win_exchange_proxyshell_mailbox_export.yml")
    )
    fields = {
        "Cmdlet": "New-MailboxExportRequest",
        "Parameters": '-Mailbox "admin" -FilePath "\\\\localhost\\c$\\inetpub\\wwwroot\\aspnet_client\\x.aspx"',  # noqa: E501 (verbatim log text)
    }
    record = LogRecord(
        "cmdlet", fields, "Rps_Cmdlet_2026012010-1.LOG", 3, ",".join(fields.values())
    )
    assert rule_id in {d.rule_id for d in corpus.match(record)}
