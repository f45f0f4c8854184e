"""Turn parsed Windows events into the records rules evaluate.

- Security 4688 and Sysmon 1 become a ``ProcessEvent`` plus the very field set that
  :func:`agent.sources.processes.process_fields` makes from psutil, so one
  ``process_creation`` rule covers all three sources.
- Application-channel events (the CVE-2021-26857 sign is an ``MSExchange Unified Messaging``
  error mentioning ``System.InvalidCastException``) go to logsource ``application`` with
  their System and data fields.
- ``MSExchange Management`` events 1 (cmdlet succeeded) and 6 (cmdlet failed) go to
  ``msexchange-management`` with ``Cmdlet``, ``Parameters`` and the full text in ``Data`` and
  ``Message``, worded as the event's own message ("Cmdlet succeeded. Cmdlet X, parameters Y"),
  which is what keyword rules for that service are written against.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from agent.sources.processes import process_fields
from agent.winevent.xml import WinEvent, parse_system_time
from protos import exwatch_pb2 as pb

__all__ = [
    "APPLICATION",
    "MSEXCHANGE_MANAGEMENT",
    "PROCESS_CREATION",
    "MappedRecord",
    "is_um_invalid_cast",
    "management_fields",
    "map_event",
    "process_from_security_4688",
    "process_from_sysmon_1",
]

PROCESS_CREATION = "process_creation"
APPLICATION = "application"
MSEXCHANGE_MANAGEMENT = "msexchange-management"

SECURITY_PROVIDER = "Microsoft-Windows-Security-Auditing"
SYSMON_PROVIDER = "Microsoft-Windows-Sysmon"
SYSMON_CHANNEL = "Microsoft-Windows-Sysmon/Operational"
UM_PROVIDER = "MSExchange Unified Messaging"
MANAGEMENT_CHANNEL = "MSExchange Management"
MANAGEMENT_PROVIDER = "MSExchange CmdletLogs"
LEVEL_ERROR = 2

# 4688 names the well-known service accounts by their machine-account alias (``CORP\EXCH01$``
# for SYSTEM); Sysmon names them as users see them. Use Sysmon's names for both.
_WELL_KNOWN_SIDS = {
    "S-1-5-18": "NT AUTHORITY\\SYSTEM",
    "S-1-5-19": "NT AUTHORITY\\LOCAL SERVICE",
    "S-1-5-20": "NT AUTHORITY\\NETWORK SERVICE",
}


@dataclass(frozen=True, slots=True)
class MappedRecord:
    """One event as rules see it: the logsource (Sigma channel) and its fields."""

    logsource: str
    fields: dict[str, str]
    event: WinEvent
    process: pb.ProcessEvent | None = field(default=None)


def _basename(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def _number(text: str) -> int:
    """4688 writes pids in hex (``0x1f3c``), Sysmon in decimal; 0 when neither."""
    text = text.strip()
    try:
        value = int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        return 0
    return value if 0 <= value < 2**32 else 0


def _account(domain: str, user: str) -> str:
    if not user or user == "-":
        return ""
    return f"{domain}\\{user}" if domain and domain != "-" else user


def process_from_security_4688(event: WinEvent) -> tuple[pb.ProcessEvent, dict[str, str]]:
    """Security 4688 (process creation; command line needs its audit policy turned on)."""
    d = event.data
    # Target* names the new process's account when it differs from the creator (v2 events);
    # otherwise it is the NULL SID and the creator's (Subject*) account is the one.
    sid = d.get("TargetUserSid", "")
    user = _account(d.get("TargetDomainName", ""), d.get("TargetUserName", ""))
    if not user or sid == "S-1-0-0":
        sid = d.get("SubjectUserSid", "")
        user = _account(d.get("SubjectDomainName", ""), d.get("SubjectUserName", ""))
    user = _WELL_KNOWN_SIDS.get(sid, user)
    image = d.get("NewProcessName", "")
    parent_image = d.get("ParentProcessName", "")  # absent before Windows 10 / Server 2016
    parent_pid = _number(d.get("ProcessId", ""))
    process = pb.ProcessEvent(
        pid=_number(d.get("NewProcessId", "")),
        name=_basename(image),
        exe=image,
        cmdline=d.get("CommandLine", ""),
        user=user,
        start_time_ns=parse_system_time(event.time_created) or 0,
        ancestors=[pb.ProcessAncestor(pid=parent_pid, name=parent_image)]
        if parent_image or parent_pid
        else [],
    )
    return process, process_fields(process)


def process_from_sysmon_1(event: WinEvent) -> tuple[pb.ProcessEvent, dict[str, str]]:
    """Sysmon event 1 (process create): the richest record, with the parent's command line."""
    d = event.data
    image = d.get("Image", "")
    parent_image = d.get("ParentImage", "")
    parent_pid = _number(d.get("ParentProcessId", ""))
    process = pb.ProcessEvent(
        pid=_number(d.get("ProcessId", "")),
        name=_basename(image),
        exe=image,
        cmdline=d.get("CommandLine", ""),
        user=d.get("User", ""),
        start_time_ns=parse_system_time(d.get("UtcTime", ""))
        or parse_system_time(event.time_created)
        or 0,
        ancestors=[
            pb.ProcessAncestor(
                pid=parent_pid, name=parent_image, cmdline=d.get("ParentCommandLine", "")
            )
        ]
        if parent_image or parent_pid
        else [],
    )
    fields = process_fields(
        process,
        current_directory=d.get("CurrentDirectory", ""),
        original_file_name=d.get("OriginalFileName", ""),
    )
    return process, fields


def is_um_invalid_cast(event: WinEvent) -> bool:
    """The CVE-2021-26857 trace: a UM error event whose text mentions InvalidCastException."""
    return (
        event.provider == UM_PROVIDER
        and event.level == LEVEL_ERROR
        and any(
            "System.InvalidCastException" in text for text in (*event.data.values(), event.message)
        )
    )


# "Cmdlet succeeded. Cmdlet New-MailboxExportRequest, parameters -Mailbox ..." (event 1) and
# "Cmdlet failed. Cmdlet X, parameters ..." (event 6), as the rendered message reads.
_MANAGEMENT_TEXT = re.compile(
    r"Cmdlet\s+(?P<verb>succeeded|failed)[^.]*\.\s*Cmdlet\s+(?P<cmdlet>\S+?),\s*parameters\s*"
    r"(?P<params>.*?)\.?\s*$",
    re.DOTALL | re.IGNORECASE,
)
_MANAGEMENT_VERBS = {1: "succeeded", 6: "failed"}


def management_fields(event: WinEvent) -> dict[str, str]:
    """``Cmdlet``, ``Parameters`` and the full text of an MSExchange Management event.

    The rendered message wins when the XML carries one (forwarded events, EvtFormatMessage);
    otherwise the first two data items are the cmdlet and its parameters, which is what the
    message template inserts.
    """
    fields = dict(event.fields)
    m = _MANAGEMENT_TEXT.search(event.message) if event.message else None
    if m:
        cmdlet, params, text = m["cmdlet"], m["params"], event.message
    else:
        cmdlet = event.data.get("Data1", "").strip()
        params = event.data.get("Data2", "").strip()
        verb = _MANAGEMENT_VERBS.get(event.event_id, "")
        text = f"Cmdlet {verb}. Cmdlet {cmdlet}, parameters {params}" if verb else ""
        text = text or event.message or fields.get("Data", "")
    fields.update(Cmdlet=cmdlet, Parameters=params, Data=text, Message=text)
    return fields


def map_event(event: WinEvent) -> MappedRecord | None:
    """The record rules evaluate for ``event``, or None for events no rule set reads."""
    if event.event_id == 4688 and event.provider == SECURITY_PROVIDER:
        process, fields = process_from_security_4688(event)
        return MappedRecord(PROCESS_CREATION, fields, event, process)
    if event.event_id == 1 and (
        event.provider == SYSMON_PROVIDER or event.channel == SYSMON_CHANNEL
    ):
        process, fields = process_from_sysmon_1(event)
        return MappedRecord(PROCESS_CREATION, fields, event, process)
    if event.channel == MANAGEMENT_CHANNEL or event.provider == MANAGEMENT_PROVIDER:
        return MappedRecord(MSEXCHANGE_MANAGEMENT, management_fields(event), event)
    if event.channel == "Application":
        return MappedRecord(APPLICATION, dict(event.fields), event)
    return None
