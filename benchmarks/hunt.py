# ruff: noqa: E501, SIM905  (fail2ban filters and log columns are verbatim data)
"""Retro-hunt throughput: exwatch-agent hunt vs fail2ban-regex on the same generated logs.

Generates >= 1,000,000 realistic benign IIS W3C and HttpProxy CSV lines (Outlook, ActiveSync,
EWS, MAPI, OWA, ECP, OAB, autodiscover, remote PowerShell, health probes; varied clients,
user agents, statuses, sizes) with a handful of planted attacks, then

1. runs :func:`agent.hunt.hunt_paths` with the full built-in rule set (one core, one process),
   and asserts that every planted attack is found;
2. runs ``fail2ban-regex`` with equivalent patterns on the same files, in the same run;

and prints lines/s for both and the ratio.

    .venv/bin/python benchmarks/hunt.py [--lines 1000000] [--seed 7] [--keep DIR]
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agent.errors import MalformedLine
from agent.hunt import HuntStats, hunt_paths
from agent.logrecord import LogRecord
from agent.sigma import SigmaRuleSet
from agent.sigma.correlation import CorrelationFinding

IIS_FIELDS = (
    "date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip "
    "cs(User-Agent) cs(Referer) sc-status sc-substatus sc-win32-status time-taken"
)
PROXY_FIELDS = (
    "DateTime,RequestId,MajorVersion,MinorVersion,BuildVersion,RevisionVersion,ClientRequestId,"
    "Protocol,UrlHost,UrlStem,ProtocolAction,AuthenticationType,IsAuthenticated,AuthenticatedUser,"
    "Organization,AnchorMailbox,UserAgent,ClientIpAddress,ServerHostName,HttpStatus,BackEndStatus,"
    "ErrorCode,Method,ProxyAction,TargetServer,TargetServerVersion,RoutingType,RoutingHint,"
    "BackEndCookie,ServerLocatorHost,ServerLocatorLatency,RequestBytes,ResponseBytes,"
    "TargetOutstandingRequests,AuthModulePerfContext,HttpPipelineLatency,"
    "CalculateTargetBackEndLatency,GlsLatencyBreakup,TotalGlsLatency,AccountForestLatencyBreakup,"
    "TotalAccountForestLatency,ResourceForestLatencyBreakup,TotalResourceForestLatency,ADLatency,"
    "SharedCacheLatencyBreakup,TotalSharedCacheLatency,ActivityContextLifeTime,"
    "ModuleToHandlerSwitchingLatency,ClientReqStreamLatency,BackendReqInitLatency,"
    "BackendReqStreamLatency,BackendProcessingLatency,BackendRespInitLatency,"
    "BackendRespStreamLatency,ClientRespStreamLatency,KerberosAuthHeaderLatency,"
    "HandlerCompletionLatency,RequestHandlerLatency,HandlerToModuleSwitchingLatency,ProxyTime,"
    "CoreLatency,RoutingLatency,HttpProxyOverhead,TotalRequestTime,RouteRefresherLatency,UrlQuery,"
    "BackEndGenericInfo,GenericInfo,GenericErrors,EdgeTraceId,DatabaseGuid,UserADObjectGuid,"
    "PartitionEndpointLookupLatency,RoutingStatus"
).split(",")

USERS = [
    f"{n}.{s}"
    for n in (
        "anna",
        "ben",
        "chloe",
        "dev",
        "emma",
        "finn",
        "gita",
        "hugo",
        "ines",
        "jon",
        "kira",
        "liam",
    )
    for s in ("smith", "meyer", "rossi", "khan")
]
UAS = [
    "Microsoft+Office/16.0+(Windows+NT+10.0;+Microsoft+Outlook+16.0.17231;+Pro)",
    "Outlook-iOS/2.0",
    "Apple-iPhone15C2/2103.220",
    "Android-Mail/2024.01.14.600418290.Release",
    "Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)+AppleWebKit/537.36+(KHTML,+like+Gecko)+Chrome/121.0.0.0+Safari/537.36",
    "Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)+AppleWebKit/537.36+(KHTML,+like+Gecko)+Chrome/120.0.0.0+Safari/537.36+Edg/120.0.2210.91",
    "Mozilla/5.0+(Macintosh;+Intel+Mac+OS+X+10.15;+rv:122.0)+Gecko/20100101+Firefox/122.0",
    "ExchangeServicesClient/15.02.1118.040",
    "MSRPC",
    "Microsoft+WinRM+Client",
    "AMProbe/Local/ClientAccess",
    "MacOutlook/16.80.23121017+(Intelx64+Mac+OS+X+14.2.1+(Build+23C71))",
    "Microsoft+Office/16.0+(Windows+NT+10.0;+MAPI+16.0.17231;+Pro)",
]
GUID = "3f9c6f57-2e5e-4a5e-9a3d-6c1b3a8d8f10"


def benign_request(rng: random.Random) -> tuple[str, str, str, int]:
    """(method, stem, query, status) for one everyday Exchange request."""
    user = rng.choice(USERS)
    kind = rng.random()
    if kind < 0.28:
        cmd = rng.choice(
            ("Sync", "Ping", "FolderSync", "ItemOperations", "SendMail", "GetItemEstimate")
        )
        return (
            "POST",
            "/Microsoft-Server-ActiveSync/default.eas",
            f"Cmd={cmd}&User={user}%40contoso.com&DeviceId=ANDR{rng.randrange(10**6):06d}"
            f"&DeviceType=Android",
            rng.choice((200, 200, 200, 401)),
        )
    if kind < 0.45:
        return (
            "POST",
            "/mapi/emsmdb/",
            f"MailboxId={rng.randrange(16**8):08x}-{GUID}@contoso.com"
            "&CorrelationID=<empty>;&cafeReqId=" + f"{rng.randrange(16**8):08x}",
            rng.choice((200, 200, 401)),
        )
    if kind < 0.57:
        return ("POST", "/EWS/Exchange.asmx", "-", rng.choice((200, 200, 401)))
    if kind < 0.70:
        action = rng.choice(
            (
                "GetFolder",
                "FindItem",
                "GetItem",
                "GetAccessTokenforResource",
                "UpdateUserConfiguration",
                "SubscribeToNotification",
            )
        )
        return ("POST", "/owa/service.svc", f"action={action}&UA=0&app=Mail", 200)
    if kind < 0.76:
        res = rng.choice(
            (
                "scripts/boot.worker.min.js",
                "resources/styles/fabric.css",
                "resources/images/0/sprite1.mouse.png",
                "scripts/microsoft.owa.mail.js",
            )
        )
        return ("GET", f"/owa/prem/15.2.1118.40/{res}", "-", rng.choice((200, 304)))
    if kind < 0.80:
        res = rng.choice(
            (
                "logon.aspx",
                "15.2.1118/themes/resources/favicon.ico",
                "15.2.1118/themes/resources/segoeui-regular.woff",
                "15.2.1118/scripts/premium/flogon.js",
            )
        )
        query = (
            "replaceCurrent=1&url=https%3a%2f%2fmail.contoso.com%2fowa%2f"
            if res == "logon.aspx"
            else "-"
        )
        return ("GET", f"/owa/auth/{res}", query, rng.choice((200, 304)))
    if kind < 0.83:
        return ("POST", "/owa/auth.owa", "&CorrelationID=<empty>;", 302)
    if kind < 0.88:
        if rng.random() < 0.5:
            return ("POST", "/autodiscover/autodiscover.xml", "-", rng.choice((200, 401)))
        return (
            "GET",
            f"/autodiscover/autodiscover.json/v1.0/{user}%40contoso.com",
            rng.choice(("Protocol=EWS&RedirectCount=1", "Protocol=ActiveSync")),
            200,
        )
    if kind < 0.91:
        return ("GET", f"/OAB/{GUID}/" + rng.choice(("oab.xml", "f4c2-data-1.lzx")), "-", 200)
    if kind < 0.95:
        page = rng.choice(
            (
                "/ecp/",
                "/ecp/PersonalSettings/HomePage.aspx",
                "/ecp/DDI/DDIService.svc/GetList",
                "/ecp/scripts/jquery.js",
            )
        )
        query = "schema=MailboxService&msExchEcpCanary=Xq1" if "GetList" in page else "-"
        return ("POST" if "DDI" in page else "GET", page, query, 200)
    if kind < 0.98:
        return (
            "POST",
            "/powershell",
            "serializationLevel=Full;ExchClientVer=15.2.1118.40;"
            "clientApplication=ManagementShell;TargetServer=;PSVersion=5.1.17763.5329",
            200,
        )
    return (
        "RPC_IN_DATA",
        "/rpc/rpcproxy.dll",
        f"exch01.contoso.com:{rng.choice((6001, 6002, 6004))}",
        200,
    )


# Planted attacks: (method, stem, query, status, ua[, IIS user]) and, for HttpProxy, the anchor.
IIS_ATTACKS = [
    ("GET", "/owa/auth/aKdMadOeT.aspx", "cmd=whoami", 200, UAS[4]),
    (
        "POST",
        "/autodiscover/autodiscover.json",
        "@evil.com/powershell/?X-Rps-CAT=VgEAVAdXaW5kb3dzQwBBCE&Email=autodiscover/autodiscover.json%3F@evil.com",
        200,
        "python-requests/2.25.1",
    ),
    ("POST", "/owa/mastermailbox%40outlook.com/powershell", "-", 200, UAS[4]),
    ("POST", "/ecp/y.js", "-", 200, "ExchangeServicesClient/0.0.0.0"),
    ("POST", "/aspnet_client/system_web/%6Cog.aspx", "-", 200, "antSword/v2.1"),
    (  # ProxyShell's address-book step as the back-end site logs it, with the proxied identity
        "GET",
        "/autodiscover/autodiscover.json@evil.com/mapi/nspi/",
        "&Email=autodiscover/autodiscover.json%3F@evil.com",
        200,
        "python-requests/2.25.1",
        "NT+AUTHORITY\\SYSTEM",
    ),
]
PROXY_ATTACKS = [
    (
        "POST",
        "/ecp/y.js",
        "",
        200,
        "ExchangeServicesClient/0.0.0.0",
        "ServerInfo~a]@EXCH01.contoso.com:444/ecp/DDI/DDIService.svc/SetObject?schema=ResetOABVirtualDirectory#",
    ),
    (
        "POST",
        "/autodiscover/autodiscover.json",
        "?@evil.com/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.com",
        401,
        "python-requests/2.25.1",
        "",
    ),
]


def iis_line(
    rng: random.Random, sec: int, req: tuple[str, str, str, int], ua: str, user: str = ""
) -> str:
    method, stem, query, status = req
    if not user:
        user = "-" if status == 401 or rng.random() < 0.3 else f"CONTOSO\\{rng.choice(USERS)}"
    ip = f"10.{rng.randrange(1, 40)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    return (
        f"2026-01-20 {sec // 3600 % 24:02d}:{sec // 60 % 60:02d}:{sec % 60:02d} 10.0.0.5 {method} {stem} "
        f"{query} 443 {user} {ip} {ua} - {status} 0 0 {rng.randrange(1, 2500)}"
    )


def proxy_line(
    rng: random.Random, sec: int, req: tuple[str, str, str, int], ua: str, anchor: str
) -> str:
    method, stem, query, status = req
    user = rng.choice(USERS)
    row = dict.fromkeys(PROXY_FIELDS, "")
    row.update(
        {
            "DateTime": f"2026-01-20T{sec // 3600 % 24:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}.{rng.randrange(1000):03d}Z",
            "RequestId": f"{rng.randrange(16**8):08x}-5b1e-4d3c-9a7f-{rng.randrange(16**12):012x}",
            "MajorVersion": "15",
            "MinorVersion": "2",
            "BuildVersion": "1118",
            "RevisionVersion": "40",
            "Protocol": stem.split("/")[1].capitalize() or "Owa",
            "UrlHost": "mail.contoso.com",
            "UrlStem": stem,
            "AuthenticationType": "Negotiate",
            "IsAuthenticated": "true",
            "AuthenticatedUser": f"CONTOSO\\{user}",
            "AnchorMailbox": anchor or f"Smtp~{user}@contoso.com",
            "UserAgent": ua.replace("+", " "),
            "ClientIpAddress": f"10.{rng.randrange(1, 40)}.{rng.randrange(256)}.7",
            "ServerHostName": "EXCH01",
            "HttpStatus": str(status),
            "BackEndStatus": str(status),
            "Method": method,
            "ProxyAction": "Proxy",
            "TargetServer": "exch02.contoso.com",
            "TargetServerVersion": "Version 15.2 (Build 1118.40)",
            "RoutingType": "AnchorMailboxHeader",
            "RequestBytes": str(rng.randrange(200, 9000)),
            "ResponseBytes": str(rng.randrange(200, 90000)),
            "TotalRequestTime": str(rng.randrange(1, 900)),
            "UrlQuery": "" if query == "-" else ("?" + query.lstrip("?")),
            "GenericInfo": "OnBeginRequest=0;OnEndRequest=12;",
            "RoutingStatus": "Success",
        }
    )
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(row.values())
    return out.getvalue()


def generate(root: Path, lines: int, seed: int) -> tuple[Path, Path, list[tuple[str, int]]]:
    """Write the logs; returns both paths and (file, line) of every planted attack."""
    rng = random.Random(seed)
    iis_path = root / "inetpub" / "logs" / "LogFiles" / "W3SVC1" / "u_ex260120.log"
    proxy_path = (
        root
        / "Program Files"
        / "Microsoft"
        / "Exchange Server"
        / "V15"
        / "Logging"
        / "HttpProxy"
        / "Owa"
        / "HttpProxy_2026012010-1.LOG"
    )
    iis_path.parent.mkdir(parents=True)
    proxy_path.parent.mkdir(parents=True)
    n_iis = lines * 6 // 10
    n_proxy = lines - n_iis
    planted: list[tuple[str, int]] = []
    with iis_path.open("w", encoding="utf-8", newline="\n") as f:
        header = [
            "#Software: Microsoft Internet Information Services 10.0",
            "#Version: 1.0",
            "#Date: 2026-01-20 00:00:00",
            f"#Fields: {IIS_FIELDS}",
        ]
        f.write("\n".join(header) + "\n")
        at = {rng.randrange(n_iis): a for a in IIS_ATTACKS}
        for i in range(n_iis):
            if i in at:
                method, stem, query, status, ua, *user = at[i]
                f.write(iis_line(rng, i, (method, stem, query, status), ua, *user) + "\n")
                planted.append((str(iis_path), len(header) + i + 1))
            else:
                f.write(iis_line(rng, i, benign_request(rng), rng.choice(UAS)) + "\n")
    with proxy_path.open("w", encoding="utf-8", newline="\n") as f:
        header = [
            "#Software: Microsoft Exchange Server",
            "#Version: 15.02.1118.040",
            "#Log-type: HttpProxy Logs",
            "#Date: 2026-01-20T10:00:00.000Z",
            "#Fields: " + ",".join(PROXY_FIELDS),
        ]
        f.write("\n".join(header) + "\n")
        at2 = {rng.randrange(n_proxy): a for a in PROXY_ATTACKS}
        for i in range(n_proxy):
            if i in at2:
                method, stem, query, status, ua, anchor = at2[i]
                f.write(proxy_line(rng, i, (method, stem, query, status), ua, anchor) + "\n")
                planted.append((str(proxy_path), len(header) + i + 1))
            else:
                f.write(proxy_line(rng, i, benign_request(rng), rng.choice(UAS), "") + "\n")
    return iis_path, proxy_path, planted


class FallbackParser:
    """Minimal W3C / CSV parser, used only while agent.logs.parse does not exist."""

    def __init__(self, fmt: str, file: str) -> None:
        self.fmt, self.file, self.columns = fmt, file, None

    def feed(self, text: str, line_no: int) -> LogRecord | None:
        if text.startswith("#"):
            if text.startswith("#Fields:"):
                body = text[len("#Fields:") :].strip()
                self.columns = body.split(",") if self.fmt == "httpproxy" else body.split()
            return None
        values = next(csv.reader([text])) if self.fmt == "httpproxy" else text.split(" ")
        if self.columns is None or len(values) != len(self.columns):
            raise MalformedLine("field count", file=self.file, line=line_no)
        return LogRecord(
            self.fmt, dict(zip(self.columns, values, strict=True)), self.file, line_no, text
        )


F2B_IIS = r"""[Definition]
datepattern = ^%%Y-%%m-%%d %%H:%%M:%%S
failregex = (?i)^ ?\S+ \S+ /(?:owa/auth|ecp/auth|aspnet_client|oab)/(?:\S+/)?(?!(?:errorfe|expiredpassword|frowny|logoff|logon|outlookcn|redirsuiteserviceproxy|signout|timeoutlogoff|timeoutlogout)\.aspx )[^/ ]+\.(?:aspx|ashx|asmx|asp) \S+ \d+ \S+ <HOST> \S+ \S+ 2\d\d
            (?i)^ ?\S+ \S+ \S+\.(?:aspx|ashx|asmx|asp) \S*(?:=whoami|=ipconfig|=net(?:\+|%%20)user|=cmd(?:\+|%%20)/c|exec_code=)\S* \d+ \S+ <HOST> \S+ \S+ 2\d\d
            (?i)^ ?\S+ \S+ \S*autodiscover\.json\S* \S*@\S*(?:/powershell|/mapi/nspi|/ews/|x-rps-cat)\S* \d+ \S+ <HOST> \S+ \S+ (?:200|301|302)
            (?i)^ ?\S+ \S+ \S*autodiscover\.json\S*@\S*(?:/powershell|/mapi/nspi|/ews/|x-rps-cat)\S* \S+ \d+ \S+ <HOST> \S+ \S+ (?:200|301|302)
            (?i)^ ?\S+ POST /owa/[^/ ]+(?:@|%%40)[^/ ]*/powershell \S+ \d+ \S+ <HOST> (?!Microsoft\+WinRM\+Client )\S+ \S+ 200
            (?i)^ ?\S+ POST /(?:ecp/[^/ ]{1,3}\.js|ecp/default\.flt|ecp/main\.css|owa/auth/x\.js) \S+ \d+ \S+ <HOST> \S+ \S+ 2\d\d
"""
F2B_PROXY = r"""[Definition]
datepattern = ^%%Y-%%m-%%dT%%H:%%M:%%S
failregex = ^(?:[^,]*,){15}ServerInfo~[^,]*/[^,]*,[^,]*,<HOST>,
            (?i)^(?:[^,]*,){9}[^,]*autodiscover\.json[^,]*,(?:[^,]*,){7}<HOST>,.*,\?[^,]*@[^,]*(?:/powershell|/mapi/nspi|/ews/|x-rps-cat)
            (?i)^(?:[^,]*,){9}/(?:owa/auth|ecp/auth|aspnet_client|oab)/(?:[^,]*/)?(?!(?:errorfe|expiredpassword|frowny|logoff|logon|outlookcn|redirsuiteserviceproxy|signout|timeoutlogoff|timeoutlogout)\.aspx,)[^/,]*\.(?:aspx|ashx|asmx),(?:[^,]*,){7}<HOST>,
"""


def run_fail2ban(log: Path, filter_text: str, workdir: Path) -> tuple[float, int, str]:
    filt = (
        workdir / f"exwatch-{log.suffix.lower().strip('.')}-{abs(hash(filter_text)) % 10**6}.conf"
    )
    filt.write_text(filter_text, encoding="utf-8")
    start = time.perf_counter()
    proc = subprocess.run(
        ["fail2ban-regex", "--print-no-missed", "--print-no-ignored", str(log), str(filt)],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    matched = 0
    for line in proc.stdout.splitlines():
        if line.startswith("Lines:"):
            # "Lines: 600004 lines, 0 ignored, 5 matched, 599999 missed"
            matched = int(line.split(",")[2].split()[0])
    return elapsed, matched, proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="write the logs here and keep them")
    parser.add_argument(
        "--all-rules",
        action="store_true",
        help="also evaluate the rules that only feed correlation rules (and the correlations)",
    )
    args = parser.parse_args()

    work = args.keep or Path(tempfile.mkdtemp(prefix="exwatch-hunt-bench-"))
    try:
        t0 = time.perf_counter()
        iis_path, proxy_path, planted = generate(work, args.lines, args.seed)
        size = iis_path.stat().st_size + proxy_path.stat().st_size
        print(
            f"generated {args.lines:,} lines ({size / 1e6:.0f} MB) in {time.perf_counter() - t0:.1f}s, "
            f"{len(planted)} planted attacks"
        )

        builtin = SigmaRuleSet.load([], builtin=True)
        if args.all_rules:
            ruleset, which = builtin, "all built-in rules and correlations"
        else:
            # Rules that report on their own; the ones that only feed correlation rules (log-on
            # counting, which selects most lines by design) are measured with --all-rules.
            ruleset = SigmaRuleSet(
                [r for r in builtin.rules if builtin.emits(r.detection.rule_id)],
                version=builtin.version,
            )
            which = "built-in detection rules"
        try:
            import agent.logs.parse  # noqa: F401

            factory = None
            parser_name = "agent.logs.parse.LineParser"
        except ImportError:
            factory = FallbackParser
            parser_name = "benchmark fallback parser (agent.logs.parse not present)"
        stats = HuntStats()
        start = time.perf_counter()
        findings = list(hunt_paths([work], ruleset, stats=stats, parser_factory=factory))
        hunt_s = time.perf_counter() - start
        hunt_rate = stats.lines / hunt_s
        print(
            f"exwatch hunt : {stats.lines:,} lines in {hunt_s:.2f}s = {hunt_rate:,.0f} lines/s "
            f"({len(ruleset)} {which}, {stats.candidates:,} candidate lines parsed, parser: {parser_name})"
        )

        found = {(f.file, f.line) for f in findings}
        for file, line in planted:
            hits = sorted(
                {
                    f"{f.detection.severity.name.lower()}: {f.detection.title}"
                    for f in findings
                    if (f.file, f.line) == (file, line)
                }
            )
            print(f"  planted {Path(file).name}:{line} -> {'; '.join(hits) or 'MISSED'}")
        missed = [p for p in planted if p not in found]
        lines = {(f.file, f.line) for f in findings if not isinstance(f, CorrelationFinding)}
        print(f"  false positives on benign lines: {len(lines - set(planted))}")
        reports = sum(isinstance(f, CorrelationFinding) for f in findings)
        if reports:
            print(f"  correlation reports: {reports}")

        if shutil.which("fail2ban-regex") is None:
            print("fail2ban-regex not installed (apt-get install fail2ban): no comparison")
        else:
            f2b_s = 0.0
            f2b_matched = 0
            for log, filt in ((iis_path, F2B_IIS), (proxy_path, F2B_PROXY)):
                elapsed, matched, _ = run_fail2ban(log, filt, work)
                f2b_s += elapsed
                f2b_matched += matched
            f2b_rate = stats.lines / f2b_s
            print(
                f"fail2ban-regex: {stats.lines:,} lines in {f2b_s:.2f}s = {f2b_rate:,.0f} lines/s "
                f"({f2b_matched} lines matched by {(F2B_IIS + F2B_PROXY).count('<HOST>')} regexes)"
            )
            print(f"ratio: exwatch hunt is {hunt_rate / f2b_rate:.1f}x fail2ban-regex")
        assert not missed, f"planted attacks missed: {missed}"
        return 0
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
