"""Where an Exchange server keeps the logs we read, derived from its install root and
inetpub, and how to list them oldest first (so a rotated file is read to its end before
the next one is started)."""

from __future__ import annotations

import glob
from pathlib import Path

from agent.logs.formats import LogFormat

PROXY_PROTOCOLS = (
    "Autodiscover",
    "Eas",
    "Ecp",
    "Ews",
    "Mapi",
    "Oab",
    "Owa",
    "OwaCalendar",
    "PowerShell",
    "RpcHttp",
)


def default_log_globs(exchange_root: Path, inetpub: Path) -> dict[LogFormat, list[str]]:
    logging = exchange_root / "Logging"
    cmdlets = logging / "CmdletInfra"
    return {
        LogFormat.IIS: [str(inetpub / "logs" / "LogFiles" / "W3SVC*" / "u_ex*.log")],
        LogFormat.HTTPPROXY: [
            str(logging / "HttpProxy" / protocol / "HttpProxy_*.LOG")
            for protocol in PROXY_PROTOCOLS
        ],
        LogFormat.ECP: [str(logging / "ECP" / "Server" / "ECPServer*.LOG")],
        LogFormat.OAB: [str(logging / "OABGeneratorLog" / "**" / "*.LOG")],
        LogFormat.CMDLET: [
            str(cmdlets / "LocalPowerShell" / "Cmdlet" / "*_Cmdlet_*"),
            str(cmdlets / "Powershell-Proxy" / "Cmdlet" / "Rps_Cmdlet_*.LOG"),
        ],
        LogFormat.RPS_HTTP: [str(cmdlets / "Powershell-Proxy" / "Http" / "*Rps_Http_20*")],
    }


def discover(patterns: list[str]) -> list[Path]:
    """Files matching ``patterns``, oldest first (modification time, then name)."""
    found: set[Path] = set()
    for pattern in patterns:
        # glob.glob, not Path.glob: the wildcards sit in folder names below an absolute root
        matches = glob.glob(pattern, recursive=True)  # noqa: PTH207
        found.update(Path(p) for p in matches if Path(p).is_file())

    def age(path: Path) -> tuple[float, str]:
        try:
            return path.stat().st_mtime, path.name
        except OSError:
            return 0.0, path.name

    return sorted(found, key=age)
