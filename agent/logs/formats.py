"""Which of the logs we understand a file is: decided from its name, folder and first bytes.

The header is the stronger witness (it says what wrote the file), the name is the fallback
(a file IIS has just created may still be empty because HTTP.sys buffers for a minute).
Anything that looks binary is refused whatever it is called: a webshell dropper can name
its payload ``u_ex260101.log``.
"""

from __future__ import annotations

import enum
import re
from pathlib import PurePath

__all__ = ["BOM", "LogFormat", "detect_format", "format_from_header", "format_from_name"]

BOM = b"\xef\xbb\xbf"


class LogFormat(enum.StrEnum):
    """A log family; the value is also ``LogRecord.source``."""

    IIS = "iis"
    HTTPPROXY = "httpproxy"
    ECP = "ecp"
    OAB = "oab"
    RPS_HTTP = "rps_http"
    CMDLET = "cmdlet"


# Control bytes that never occur in a text log (TAB, LF, CR, FF and ESC are allowed).
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27)) + b"\x7f"
_DELETE_CONTROL = bytes.maketrans(b"", b"")

# Name patterns, matched case-insensitively against the file name (and the folder for OAB).
_NAME_RULES: tuple[tuple[re.Pattern[str], LogFormat], ...] = (
    (re.compile(r"^u_ex\d{6,8}(_x)?\.log$", re.IGNORECASE), LogFormat.IIS),
    (re.compile(r"^httpproxy_\d{8,10}-\d+\.log$", re.IGNORECASE), LogFormat.HTTPPROXY),
    (re.compile(r"^ecpserver.*\.log$", re.IGNORECASE), LogFormat.ECP),
    (re.compile(r"rps_http_20", re.IGNORECASE), LogFormat.RPS_HTTP),
    (re.compile(r"_cmdlet_", re.IGNORECASE), LogFormat.CMDLET),
)


def format_from_name(path: PurePath) -> LogFormat | None:
    """The format a file's name and folders say it has, or None."""
    name = path.name
    for pattern, fmt in _NAME_RULES:
        if pattern.search(name):
            return fmt
    folders = [part.casefold() for part in path.parts[:-1]]
    if "oabgeneratorlog" in folders:
        return LogFormat.OAB
    if any(part.startswith("w3svc") for part in folders) and name.casefold().endswith(".log"):
        return LogFormat.IIS
    return None


def format_from_header(text: str) -> LogFormat | None:
    """The format the ``#Software`` / ``#Log-type`` / ``#Fields`` header says, or None."""
    software = log_type = fields = ""
    for line in text.splitlines()[:16]:
        if not line.startswith("#"):
            break
        key, _, value = line[1:].partition(":")
        key = key.strip().casefold()
        if key == "software":
            software = value.strip().casefold()
        elif key == "log-type":
            log_type = value.strip().casefold()
        elif key == "fields":
            fields = value.strip()
    if "internet information services" in software:
        return LogFormat.IIS
    if log_type:
        if "httpproxy" in log_type:
            return LogFormat.HTTPPROXY
        if "ecp" in log_type and "activity" not in log_type:
            return LogFormat.ECP
        if "oab" in log_type:
            return LogFormat.OAB
        if "rps" in log_type and "http" in log_type:
            return LogFormat.RPS_HTTP
        if "cmdlet" in log_type:
            return LogFormat.CMDLET
    if fields:
        # W3C names columns with dashes and separates them with spaces; Exchange uses commas.
        if "," not in fields and "cs-uri-stem" in fields:
            return LogFormat.IIS
        columns = {c.strip() for c in fields.split(",")}
        if {"UrlStem", "AnchorMailbox"} <= columns:
            return LogFormat.HTTPPROXY
        if {"EventId", "EventData"} <= columns:
            return LogFormat.ECP
    return None


def looks_binary(head: bytes) -> bool:
    """True when ``head`` cannot be the start of a text log (NULs, control bytes, not UTF-8)."""
    if not head:
        return False
    if b"\x00" in head:
        return True
    controls = len(head) - len(head.translate(_DELETE_CONTROL, _CONTROL))
    if controls * 100 > len(head):  # more than 1 % control bytes
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut by the end of ``head`` is fine; anything else is not.
        if exc.start < len(head) - 3 or exc.reason != "unexpected end of data":
            return True
    return False


def detect_format(path: PurePath, head: bytes) -> LogFormat | None:
    """What ``path`` is, judged from its name/folder and its first bytes; None if unknown.

    ``head`` is whatever the caller read from the start of the file (1-4 KiB is plenty).
    Binary-looking content gives None even for a log-like name. A recognised header wins
    over the name; an empty or headerless file is judged by its name alone.
    """
    if head.startswith(BOM):
        head = head[len(BOM) :]
    if looks_binary(head):
        return None
    by_header = format_from_header(head.decode("utf-8", "replace")) if head[:1] == b"#" else None
    if by_header is not None:
        return by_header
    return format_from_name(path)
