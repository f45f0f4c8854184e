"""Pure formatters for syslog: RFC 5424 messages, RFC 6587 octet-counting frames and ArcSight
CEF. Written here because the libraries are stale and stdlib SysLogHandler is RFC 3164;
small and side-effect free so that Hypothesis can check the escaping.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime

NILVALUE = "-"
BOM = "\ufeff"

FACILITIES = {
    "kern": 0,
    "user": 1,
    "mail": 2,
    "daemon": 3,
    "auth": 4,
    "syslog": 5,
    "lpr": 6,
    "news": 7,
    "uucp": 8,
    "cron": 9,
    "authpriv": 10,
    "ftp": 11,
    "ntp": 12,
    "security": 13,
    "console": 14,
    "solaris-cron": 15,
    **{f"local{i}": 16 + i for i in range(8)},
}

# exwatch severity (wire values 1..5) to syslog severity: critical → crit(2),
# high → err(3), medium → warning(4), low → notice(5), informational → info(6).
SYSLOG_SEVERITY = {5: 2, 4: 3, 3: 4, 2: 5, 1: 6}
# ... and to CEF's 0-10 scale (ArcSight: 0-3 low, 4-6 medium, 7-8 high, 9-10 very high).
CEF_SEVERITY = {5: 10, 4: 8, 3: 5, 2: 3, 1: 1}

_NOT_PRINTUSASCII = re.compile(r"[^\x21-\x7e]")
_NOT_SD_NAME = re.compile(r'[^\x21-\x7e]|[= \]"]')
_CEF_KEY = re.compile(r"^[A-Za-z0-9_]+$")


# ---------------------------------------------------------------------- RFC 5424


def header_field(value: str, max_len: int) -> str:
    """HOSTNAME, APP-NAME, PROCID, MSGID: 1..max_len PRINTUSASCII characters, or "-"."""
    cleaned = _NOT_PRINTUSASCII.sub("_", value)[:max_len]
    return cleaned or NILVALUE


def sd_name(value: str) -> str:
    """SD-ID / PARAM-NAME: 1-32 PRINTUSASCII except '=', SP, ']' and '"'."""
    cleaned = _NOT_SD_NAME.sub("_", value)[:32]
    if not cleaned:
        raise ValueError("an SD name cannot be empty")
    return cleaned


def sd_value(value: str) -> str:
    """PARAM-VALUE: '"', '\\' and ']' MUST be escaped with a backslash (RFC 5424 6.3.3).
    The backslash goes first, or the escapes themselves would be doubled."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def structured_data(elements: Sequence[tuple[str, Sequence[tuple[str, str]]]]) -> str:
    """[id name="value" ...][...], or "-" when there is none."""
    if not elements:
        return NILVALUE
    out = []
    for sd_id, params in elements:
        body = "".join(f' {sd_name(k)}="{sd_value(v)}"' for k, v in params)
        out.append(f"[{sd_name(sd_id)}{body}]")
    return "".join(out)


def timestamp(ns: int) -> str:
    """RFC 3339 in UTC with microseconds (TIME-SECFRAC allows at most six digits)."""
    seconds, rest = divmod(ns, 10**9)
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{rest // 1000:06d}Z"


def rfc5424(
    *,
    facility: int,
    severity: int,
    timestamp_ns: int,
    hostname: str,
    app_name: str,
    procid: str,
    msgid: str,
    sd: str,
    msg: str,
    bom: bool = True,
    max_bytes: int = 0,
) -> bytes:
    """One RFC 5424 message. ``sd`` comes from structured_data(). A non-ASCII MSG gets
    the BOM that marks it UTF-8 (when ``bom``); ``max_bytes`` > 0 cuts the MSG (never the
    header) on a character boundary so the whole fits."""
    if not 0 <= facility <= 23 or not 0 <= severity <= 7:
        raise ValueError("facility must be 0-23 and severity 0-7")
    head = (
        f"<{facility * 8 + severity}>1 {timestamp(timestamp_ns)} {header_field(hostname, 255)} "
        f"{header_field(app_name, 48)} {header_field(procid, 128)} "
        f"{header_field(msgid, 32)} {sd}"
    ).encode()
    if not msg:
        return head
    if bom and not msg.isascii():
        msg = BOM + msg
    body = msg.encode("utf-8", "replace")
    if max_bytes > 0 and len(head) + 1 + len(body) > max_bytes:
        room = max(0, max_bytes - len(head) - 1)
        body = body[:room].decode("utf-8", "ignore").encode()
    return head + b" " + body


def octet_frame(message: bytes) -> bytes:
    """RFC 6587 3.4.1 octet counting: "MSG-LEN SP SYSLOG-MSG". Unlike LF framing it
    survives newlines inside the message. RFC 5425 (TLS) uses the same framing."""
    return str(len(message)).encode() + b" " + message


# ---------------------------------------------------------------------- CEF


def cef_header(value: str) -> str:
    """Header fields: '\\' and '|' are escaped; newlines are not allowed there at all."""
    return (
        value.replace("\\", "\\\\")
        .replace("|", "\\|")
        .replace("\r\n", " ")
        .replace("\r", " ")
        .replace("\n", " ")
    )


def cef_value(value: str) -> str:
    """Extension values: '\\' and '=' are escaped, newlines become the two characters \\n
    (\\r for a lone CR); pipes need no escape in the extension."""
    return (
        value.replace("\\", "\\\\")
        .replace("=", "\\=")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\r")
    )


def cef(
    *,
    vendor: str,
    product: str,
    version: str,
    signature_id: str,
    name: str,
    severity: int,
    extension: Sequence[tuple[str, str]],
) -> str:
    """CEF:0|Vendor|Product|Version|SignatureID|Name|Severity|key=value key=value..."""
    if not 0 <= severity <= 10:
        raise ValueError("CEF severity is 0-10")
    for key, _ in extension:
        if not _CEF_KEY.match(key):
            raise ValueError(f"CEF extension key {key!r} must be letters, digits or '_'")
    header = "|".join(
        cef_header(v) for v in (vendor, product, version, signature_id, name, str(severity))
    )
    ext = " ".join(f"{k}={cef_value(v)}" for k, v in extension)
    return f"CEF:0|{header}|{ext}"
