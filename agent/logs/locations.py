"""Where an Exchange server keeps the logs we read, and how to list them in reading order.

Paths derive from the Exchange install root (``MsiInstallPath``) and the inetpub folder;
on a test machine both sit under a folder that stands for ``C:\\``. Windows names are
case-insensitive and Exchange is not consistent about case (``HttpProxy_...LOG``,
``u_ex...log``), so ``discover`` matches every path component case-insensitively on any OS.

Order: oldest first by the date in the name (IIS ``u_exYYMMDD[HH].log``, Exchange
``..._YYYYMMDDHH-N.LOG``, then N numerically), so the caller reads a rotated file to its
end before it starts the next one. Modification times are not used when a name has a
date: copying or restoring logs changes them, and IIS may touch yesterday's file late.
"""

from __future__ import annotations

import fnmatch
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path

from agent.logs.formats import LogFormat

__all__ = ["PROXY_PROTOCOLS", "default_log_globs", "discover", "reading_order_key"]

# Folder list of CSS Get-LogAge (reference §1).
PROXY_PROTOCOLS = (
    "Autodiscover", "Eas", "Ecp", "Ews", "Mapi", "Oab", "Owa", "OwaCalendar", "PowerShell",
    "RpcHttp",
)


def default_log_globs(exchange_root: Path, inetpub: Path) -> dict[LogFormat, list[str]]:
    """Glob patterns (``*``, ``?``, ``[..]``, ``**``) for every log source of one server."""
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


def _is_magic(part: str) -> bool:
    return any(c in part for c in "*?[")


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            return list(it)
    except OSError:
        return []  # unreadable or gone: nothing to find there


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _is_file(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_file(follow_symlinks=False)
    except OSError:
        return False


def _all_dirs(folder: Path) -> list[Path]:
    """``folder`` and every folder below it (symlinks not followed: no loops)."""
    out = [folder]
    for root, dirs, _files in os.walk(folder):
        out.extend(Path(root) / d for d in dirs)
    return out


def _glob(pattern: str) -> set[Path]:
    parts = Path(pattern).parts
    if not parts:
        return set()
    anchor = Path(parts[0]) if Path(pattern).is_absolute() else Path()
    rest = parts[1:] if Path(pattern).is_absolute() else parts
    folders = [anchor]
    for i, part in enumerate(rest):
        last = i == len(rest) - 1
        if part == "**":
            expanded = [d for f in folders for d in _all_dirs(f)]
            if last:  # a trailing "**": every file below
                return {Path(e.path) for d in expanded for e in _entries(d) if _is_file(e)}
            folders = expanded
            continue
        wanted = _is_file if last else _is_dir
        if not _is_magic(part):
            exact = [f / part for f in folders]
            if all((p.is_file() if last else p.is_dir()) for p in exact):
                folders = exact  # the usual case (and always on Windows): no listing
                continue
        regex = re.compile(fnmatch.translate(part), re.IGNORECASE)
        folders = [
            Path(e.path) for f in folders for e in _entries(f) if regex.match(e.name) and wanted(e)
        ]
        if not folders:
            return set()
    return set(folders)


_DATE = re.compile(r"(?<!\d)(\d{6,10})(?!\d)(?:-(\d+))?")


def reading_order_key(path: Path) -> tuple[str, int, str, str]:
    """Sort key: (YYYYMMDDHH from the name or the mtime, sequence N, name, full path)."""
    name = path.name.casefold()
    stamp, seq = "", 0
    match = _DATE.search(name)
    if match:
        digits = match.group(1)
        if name.startswith("u_ex") and len(digits) in (6, 8):  # YYMMDD[HH]
            stamp = ("20" + digits).ljust(10, "0")
        elif len(digits) in (8, 10):  # YYYYMMDD[HH]
            stamp = digits.ljust(10, "0")
        if stamp and match.group(2):
            seq = int(match.group(2))
    if not stamp:
        try:
            stamp = time.strftime("%Y%m%d%H", time.gmtime(path.stat().st_mtime))
        except OSError:
            stamp = "0" * 10
    return stamp, seq, name, str(path)


def discover(patterns: Iterable[str]) -> list[Path]:
    """Files matching any of ``patterns`` (case-insensitive), oldest first, no duplicates."""
    found: set[Path] = set()
    for pattern in patterns:
        found |= _glob(pattern)
    return sorted(found, key=reading_order_key)
