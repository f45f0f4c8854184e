"""Third-party process_creation rules about IIS and Exchange worker processes work on our
process events.

The rules are read at test time from the shared SigmaHQ corpus (DRL licence: nothing of them is
copied here): every process_creation rule that names w3wp.exe, UMWorkerProcess.exe,
UMService.exe or MSExchangeMailboxReplication.exe. The command lines below are our own
renderings of each attack, keyed by rule file name, in the field set that
agent.sources.processes.process_fields produces for psutil, Security 4688 and Sysmon 1.

Known limits (asserted below, so that a change in them is noticed):

- ``Description`` / ``Product`` / ``Company`` (PE version information) are not in our process
  field set; selections on them never match. The only affected rule here
  (powershell_susp_parent_process) still fires through its Image / CommandLine alternatives.
- Rules that *exclude* w3wp by its exact path (csc_susp_*) cannot exclude it when psutil only
  knew the bare parent name; the tests keep such events out of those rules' other conditions.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from agent.sigma import SigmaRuleSet

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "sigma"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"Sigma corpus not present at {CORPUS}")

WORKERS = ("w3wp", "umworkerprocess", "umservice", "msexchangemailboxreplication")

SYS32 = "C:\\Windows\\System32\\"
W3WP = SYS32 + "inetsrv\\w3wp.exe"
EXBIN = "C:\\Program Files\\Microsoft\\Exchange Server\\V15\\Bin\\"
UMWORKER = EXBIN + "UMWorkerProcess.exe"
UMSERVICE = EXBIN + "UMService.exe"
CMD = SYS32 + "cmd.exe"
PS = SYS32 + "WindowsPowerShell\\v1.0\\powershell.exe"
NETFX = "C:\\Windows\\Microsoft.NET\\Framework64\\v4.0.30319\\"
OWA_POOL = f'{W3WP} -ap "MSExchangeOWAAppPool" -v "v4.0" -h "C:\\inetpub\\temp\\apppools\\x.config"'


def proc(
    image: str,
    cmdline: str,
    parent: str = W3WP,
    parent_cmdline: str = OWA_POOL,
    *,
    original: str = "",
    user: str = "NT AUTHORITY\\SYSTEM",
) -> dict[str, str]:
    return {
        "Image": image,
        "OriginalFileName": original,
        "CommandLine": cmdline,
        "ParentImage": parent,
        "ParentCommandLine": parent_cmdline,
        "User": user,
        "CurrentDirectory": "C:\\Windows\\System32\\inetsrv\\",
        "ProcessId": "4242",
        "ParentProcessId": "1000",
        "AppPool": "MSExchangeOWAAppPool" if "MSExchangeOWAAppPool" in parent_cmdline else "",
    }


def _ps_encoded(script: str) -> str:
    return base64.b64encode(script.encode("utf-16-le")).decode()


CHOPPER = 'cmd /c cd /d "C:\\inetpub\\wwwroot\\aspnet_client"&whoami&echo [S]&cd&echo [E]'
ASPNET_COMPILE = (
    f'"{NETFX}csc.exe" /noconfig /fullpaths @"{NETFX}Temporary ASP.NET Files\\owa\\'
    '4e2d6a0b\\b7e4d2a5\\xkx3u0ra.cmdline"'
)
LAYOUTS = (
    "C:\\Program Files\\Common Files\\Microsoft Shared\\Web Server Extensions\\16\\TEMPLATE\\"
    "LAYOUTS\\spinstall0.aspx"
)

# Rule file -> attack renderings (each must fire the rule).
SAMPLES: dict[str, list[dict[str, str]]] = {
    "proc_creation_win_exploit_cve_2021_26857_msexchange.yml": [
        proc(CMD, "cmd /c whoami", UMWORKER, ""),
        proc("C:\\ProgramData\\a.exe", "a.exe", "UMWorkerProcess.exe", ""),  # psutil bare name
    ],
    "proc_creation_win_webshell_chopper.yml": [
        proc(CMD, CHOPPER),
        proc(CMD, 'cmd /c cd /d "C:\\"&ipconfig&echo [S]&cd&echo [E]', "w3wp.exe", ""),
    ],
    "proc_creation_win_webshell_hacking.yml": [
        proc(
            SYS32 + "rundll32.exe",
            "rundll32 C:\\windows\\system32\\comsvcs.dll MiniDump 624 C:\\ProgramData\\l.dmp full",
        ),
        proc(SYS32 + "net.exe", "net user backdoor P@ss /add"),
        proc(SYS32 + "certutil.exe", "certutil -decode C:\\ProgramData\\a.txt a.exe"),
    ],
    "proc_creation_win_webshell_recon_commands_and_processes.yml": [
        proc(SYS32 + "whoami.exe", "whoami /all"),
        # net.exe known by its image name only (psutil/4688: no OriginalFileName)
        proc(SYS32 + "net.exe", 'net group "domain admins" /domain'),
        proc(CMD, 'cmd /c cd /d "C:\\inetpub"&dir'),
    ],
    "proc_creation_win_webshell_susp_process_spawned_from_webserver.yml": [
        proc(CMD, "cmd /c whoami"),
        proc(PS, "powershell -nop -w hidden -c iex(x)", UMWORKER, ""),
        proc(SYS32 + "nltest.exe", "nltest /dclist:corp", "w3wp.exe", ""),
    ],
    "proc_creation_win_webshell_tool_recon.yml": [
        proc("C:\\Python39\\python.exe", "python -h"),
    ],
    "proc_creation_win_csc_susp_dynamic_compilation.yml": [
        # not from w3wp: an attacker compiling in a temporary folder
        proc(NETFX + "csc.exe", f"{NETFX}csc.exe /out:a.exe C:\\Windows\\Temp\\a.cs", CMD, ""),
    ],
    "proc_creation_win_csc_susp_parent.yml": [
        proc(NETFX + "csc.exe", f"{NETFX}csc.exe /out:a.exe a.cs", SYS32 + "mshta.exe", ""),
    ],
    "proc_creation_win_iis_susp_module_registration.yml": [
        proc(
            SYS32 + "inetsrv\\appcmd.exe",
            "C:\\Windows\\System32\\inetsrv\\appcmd.exe add module /name:x /image:C:\\x.dll",
        ),
        proc(CMD, "cmd /c gacutil /I C:\\ProgramData\\mod.dll"),
    ],
    "proc_creation_win_powershell_susp_parent_process.yml": [
        proc(PS, "powershell -c whoami"),
        proc(CMD, "cmd /c powershell -c whoami"),
    ],
    "proc_creation_win_exploit_cve_2023_34362_moveit_transfer_exploitation_activity.yml": [
        proc(
            NETFX + "csc.exe",
            "csc.exe /noconfig @x.cmdline",
            W3WP,
            f'{W3WP} -ap "moveitdmz pool" -v "v4.0"',
        ),
    ],
    "proc_creation_win_exploit_cve_2025_30406_centrestack_portal_child_process.yml": [
        proc(
            CMD,
            "cmd /c whoami",
            W3WP,
            f'{W3WP} -ap "portal" -h "C:\\Program Files\\CentreStack\\portal\\portal.config"',
        ),
    ],
    "proc_creation_win_exploit_cve_2025_53770_indicators.yml": [
        proc(
            PS,
            "powershell -EncodedCommand "
            + _ps_encoded(f"$p = '{LAYOUTS}'; Set-Content -Path $p -Value $b"),
        ),
        proc(CMD, f'cmd /c type x > "{LAYOUTS}"', CMD, ""),
    ],
    "proc_creation_win_exploit_cve_2025_59287.yml": [
        proc(CMD, "cmd /c whoami", W3WP, f'{W3WP} -ap "WsusPool" -v "v4.0"'),
    ],
}

# Everyday process starts on an Exchange server: no worker-parent rule may fire on them.
BENIGN: list[dict[str, str]] = [
    proc(SYS32 + "WerFault.exe", "WerFault.exe -u -p 3100 -s 1204", UMWORKER, ""),
    proc(SYS32 + "wermgr.exe", "wermgr.exe -upload", UMWORKER, ""),
    proc(UMWORKER, "UMWorkerProcess.exe 1234 5678", UMSERVICE, ""),
    proc(NETFX + "csc.exe", ASPNET_COMPILE),  # ASP.NET compiling a page on first request
    proc(NETFX + "csc.exe", ASPNET_COMPILE, W3WP, f'{W3WP} -ap "DefaultAppPool"'),
    proc(SYS32 + "WerFault.exe", "WerFault.exe -u -p 4242 -s 1", W3WP),
    proc(W3WP, OWA_POOL, SYS32 + "svchost.exe", "svchost.exe -k iissvcs"),
    proc(
        CMD, '"C:\\Windows\\system32\\cmd.exe"', SYS32 + "explorer.exe", "", user="CONTOSO\\admin"
    ),
    proc(SYS32 + "ipconfig.exe", "ipconfig /all", CMD, "cmd.exe", user="CONTOSO\\admin"),
    proc(
        PS,
        ". 'C:\\Program Files\\Microsoft\\Exchange Server\\V15\\bin\\RemoteExchange.ps1'; "
        "Connect-ExchangeServer -auto",
        SYS32 + "explorer.exe",
        "",
        user="CONTOSO\\admin",
    ),
]


def _names_a_worker(path: Path) -> bool:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(doc, dict) or doc.get("logsource", {}).get("category") != "process_creation":
        return False
    detection = yaml.safe_dump(doc.get("detection", {})).casefold()
    return any(w in detection for w in WORKERS)


APPLICABLE = (
    sorted(p for p in CORPUS.rglob("*.yml") if _names_a_worker(p)) if CORPUS.is_dir() else []
)


def _rule_id(path: Path) -> str:
    return str(yaml.safe_load(path.read_text(encoding="utf-8"))["id"])


@pytest.fixture(scope="module")
def corpus() -> SigmaRuleSet:
    return SigmaRuleSet.load([CORPUS], builtin=False, collect_errors=True)


def _ids(ruleset: SigmaRuleSet, fields: Mapping[str, str]) -> set[str]:
    return {d.rule_id for d in ruleset.match_event("process_creation", fields)}


def test_every_worker_rule_loads_and_has_samples(corpus: SigmaRuleSet) -> None:
    assert len(APPLICABLE) >= 10, "expected the corpus's webshell / UM worker rules"
    skipped = {Path(p.file).name for p in corpus.problems}
    assert not skipped & {p.name for p in APPLICABLE}
    missing = [p.name for p in APPLICABLE if p.name not in SAMPLES]
    assert not missing, f"write attack command lines for {missing}"


@pytest.mark.parametrize("path", APPLICABLE, ids=lambda p: p.name)
def test_worker_rule_fires_on_its_attack(corpus: SigmaRuleSet, path: Path) -> None:
    rule_id = _rule_id(path)
    for fields in SAMPLES[path.name]:
        assert rule_id in _ids(corpus, fields), f"{path.name} silent on {fields['CommandLine']}"


def test_worker_rules_silent_on_everyday_processes(corpus: SigmaRuleSet) -> None:
    ids = {_rule_id(p): p.name for p in APPLICABLE}
    for fields in BENIGN:
        fired = _ids(corpus, fields) & set(ids)
        assert not fired, f"{[ids[i] for i in fired]} fired on {fields['CommandLine']}"


def test_our_rules_cover_what_the_corpus_worker_rules_catch(corpus: SigmaRuleSet) -> None:
    """Every attack rendering for an Exchange worker parent is also caught by a built-in rule."""
    builtin = SigmaRuleSet.load([], builtin=True)
    exchange_parents = ("w3wp.exe", "umworkerprocess.exe", "umservice.exe")
    other_products = ("moveitdmz", "portal.config", "wsuspool")
    for name, samples in SAMPLES.items():
        for fields in samples:
            parent = fields["ParentImage"].casefold()
            if not parent.endswith(exchange_parents):
                continue
            if any(p in fields["ParentCommandLine"].casefold() for p in other_products):
                continue
            assert builtin.match_event("process_creation", fields), (name, fields["CommandLine"])


def test_pe_version_fields_are_a_known_gap(corpus: SigmaRuleSet) -> None:
    path = next(
        p for p in APPLICABLE if p.name == "proc_creation_win_powershell_susp_parent_process.yml"
    )
    # A renamed PowerShell known only by its Description: we do not carry Description.
    renamed = proc("C:\\ProgramData\\svch.exe", "svch -c whoami", W3WP)
    renamed["Description"] = "Windows PowerShell"
    # The field is passed through as given, so the rule fires when a source provides it ...
    assert _rule_id(path) in _ids(corpus, renamed)
    # ... and stays silent when, as from all our sources today, it is absent.
    del renamed["Description"]
    assert _rule_id(path) not in _ids(corpus, renamed)
