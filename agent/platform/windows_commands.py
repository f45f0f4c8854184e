"""Run the PowerShell the thin Windows backends build, and schedule one for later.

The backends' logic is which script they build (tested as text on any OS); this runs it.
Each script stops at its first error (``$ErrorActionPreference = 'Stop'``) and the
process's exit status says so. A time limit that must hold even if the agent dies is a
one-shot scheduled task running as SYSTEM.
"""

from __future__ import annotations

import subprocess
import time

from agent.respond.containment import ContainmentError

COMMAND_TIMEOUT_SECONDS = 120.0


def powershell(script: str) -> list[str]:
    """The command line running ``script``, stopping at its first error."""
    return [
        "powershell.exe", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass",
        "-Command", f"$ErrorActionPreference = 'Stop'; {script}",
    ]  # fmt: skip


def run(argv: list[str]) -> None:
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ContainmentError(f"{argv[0]} did not run: {exc}") from exc
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip()
        raise ContainmentError(f"{argv[0]} failed (exit status {done.returncode}): {output}")


def schedule_once(task: str, seconds: int, script: str) -> str:
    """PowerShell that registers ``task`` to run ``script`` once, as SYSTEM, ``seconds``
    from now, replacing a task of that name. The time is cast from ISO 8601 text, which
    PowerShell reads the same whatever the host's locale."""
    if "'" in script or '"' in script:
        raise ValueError("a scheduled script must not contain quotes")  # a bug in the caller
    at = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() + seconds))
    return (
        f"Register-ScheduledTask -TaskName '{task}' -Force -User 'NT AUTHORITY\\SYSTEM' "
        f"-Trigger (New-ScheduledTaskTrigger -Once -At ([datetime]'{at}')) "
        "-Action (New-ScheduledTaskAction -Execute 'powershell.exe' "
        f"-Argument '-NoProfile -NonInteractive -Command {script}') | Out-Null"
    )


def delete_task(task: str) -> str:
    """PowerShell that unregisters ``task``; no error when there is none."""
    return f"Unregister-ScheduledTask -TaskName '{task}' -Confirm:$false -ErrorAction Ignore"
