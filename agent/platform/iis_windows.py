"""Exchange's web front ends on Windows: stop or start the IIS application pools behind
OWA, ECP, autodiscover, EWS, ActiveSync and MAPI over HTTP, with ``appcmd``.

A narrower cut than isolating the host: mail flow (SMTP) and the management network keep
working while the attacker loses the web entry points. When taken offline with a time
limit, a scheduled task starts the pools again even if the agent has died.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import PureWindowsPath

from agent.platform.windows_commands import delete_task, powershell, run, schedule_once

# The front-end (Default Web Site) application pools of Exchange 2013-2019 and SE.
WEB_POOLS = (
    "MSExchangeOWAAppPool",
    "MSExchangeOWACalendarAppPool",
    "MSExchangeECPAppPool",
    "MSExchangeAutodiscoverAppPool",
    "MSExchangeServicesAppPool",
    "MSExchangeSyncAppPool",
    "MSExchangeMapiFrontEndAppPool",
)
LIFT_TASK = "exwatch-web-online"


def appcmd_path() -> str:
    windows = os.environ.get("WINDIR", r"C:\Windows")
    return str(PureWindowsPath(windows, "System32", "inetsrv", "appcmd.exe"))


def pool_commands(verb: str, appcmd: str) -> list[list[str]]:
    """``appcmd stop|start apppool`` for every web pool."""
    if verb not in ("stop", "start"):
        raise ValueError(f"verb must be stop or start, not {verb!r}")  # a bug in the caller
    return [[appcmd, verb, "apppool", f"/apppool.name:{pool}"] for pool in WEB_POOLS]


def _script(commands: list[list[str]]) -> str:
    # "&" runs a native command in PowerShell. A pool already in the wanted state, or absent
    # from this Exchange version, is not an error; any other failure stops the script.
    return "; ".join(
        f"$out = & '{argv[0]}' {' '.join(argv[1:])} 2>&1; if ($LASTEXITCODE -ne 0 -and "
        f'"$out" -notmatch \'already|Cannot find\') {{ throw "{argv[-1]}: $out" }}'
        for argv in commands
    )


def set_offline_script(offline: bool, seconds: int, appcmd: str) -> str:
    if not offline:
        return _script(pool_commands("start", appcmd)) + "; " + delete_task(LIFT_TASK)
    script = _script(pool_commands("stop", appcmd))
    if seconds > 0:
        start_again = "; ".join(
            f"& {argv[0]} {' '.join(argv[1:])}" for argv in pool_commands("start", appcmd)
        )
        script += "; " + schedule_once(LIFT_TASK, seconds, start_again)
    return script


class IisWebFrontEnds:
    """The ``WebFrontEnds`` of containment.py, on IIS."""

    def __init__(self, runner: Callable[[list[str]], None] = run, appcmd: str = "") -> None:
        self.runner = runner
        self.appcmd = appcmd or appcmd_path()

    def set_offline(self, offline: bool, seconds: int) -> str:
        self.runner(powershell(set_offline_script(offline, seconds, self.appcmd)))
        verb = "stopped" if offline else "started"
        return f"IIS application pools {verb}: {', '.join(WEB_POOLS)}"
