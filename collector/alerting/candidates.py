"""Built-in per-event alert rules: which committed events open or feed an alert.

Pure functions of one event (and the agent it came from), so they are tested without a
store; the store applies the candidates in the same transaction that commits the batch,
so an alert is never lost between commit and acknowledgement.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass, field

from collector.patch import Status, assess
from protos import exwatch_pb2 as pb

# Extensions that IIS hands to ASP.NET or classic ASP: a new one of these in a web
# root is a page somebody can now request.
PAGE_EXTENSIONS = frozenset(
    {
        ".aspx",
        ".ashx",
        ".asmx",
        ".asp",
        ".asa",
        ".asax",
        ".axd",
        ".cshtml",
        ".vbhtml",
        ".svc",
        ".soap",
        ".rem",
        ".cer",
        ".shtml",
        ".stm",
        ".master",
        ".ascx",
    }
)

PAGE_RULE = "exwatch.webroot.page_written"
BAD_CONTENT_RULE = "exwatch.file.bad_content"
MASS_CHANGE_RULE = "exwatch.webroot.mass_change"
INCIDENT_RULE = "exwatch.incident"
# A burst of at least this many files settling together in one root is a deployment (or a
# mass drop): one low-severity alert, unless content scanning finds something bad.
MASS_CHANGE_FILES = 20

SEVERITY_NAMES = {
    pb.SEVERITY_INFORMATIONAL: "informational",
    pb.SEVERITY_LOW: "low",
    pb.SEVERITY_MEDIUM: "medium",
    pb.SEVERITY_HIGH: "high",
    pb.SEVERITY_CRITICAL: "critical",
}
SEVERITY_BY_NAME = {name: value for value, name in SEVERITY_NAMES.items()}


@dataclass(frozen=True, slots=True)
class AlertCandidate:
    """An alert that one event opens, or feeds when one with its fingerprint is open."""

    fingerprint: str
    rule: str
    title: str
    severity: int  # wire Severity value
    tags: tuple[str, ...] = ()
    details: dict[str, str] = field(default_factory=dict)
    # Evidence of compromise: joins the host's open incident instead of standing alone.
    incident: bool = False
    # False: only joins an open incident (a failed attempt is evidence, not a page).
    opens: bool = True


def mass_change(tenant: str, agent_id: str, hostname: str, page: AlertCandidate) -> AlertCandidate:
    """The one alert that a burst of page writes in a root folds into (a deployment, a
    patch day, or a mass drop): many pages, one page of the on-call phone."""
    root = page.details.get("root", "")
    return AlertCandidate(
        fingerprint=alert_fingerprint(tenant, agent_id, "mass", root.lower()),
        rule=MASS_CHANGE_RULE,
        title=f"Many pages written in web root on {hostname}: {root}",
        severity=pb.SEVERITY_LOW,
        tags=(),
        details={"root": root},
    )


PATCH_RULE = "exwatch.patch.exposed"
OFFLINE_RULE = "exwatch.sensor.host_offline"


def offline_candidate(tenant: str, agent_id: str, hostname: str) -> AlertCandidate:
    return AlertCandidate(
        fingerprint=alert_fingerprint(tenant, agent_id, "offline"),
        rule=OFFLINE_RULE,
        title=f"{hostname} stopped reporting",
        severity=pb.SEVERITY_HIGH,
        tags=("exwatch.sensor-health",),
    )


def patch_candidate(tenant: str, agent_id: str, hostname: str, build: str) -> AlertCandidate | None:
    """A host whose Exchange build lacks a fix for an exploited CVE; None when none is
    exposed (patched, or the build is unknown: unknown is never reported as patched, but
    neither is it paged on)."""
    exposed = {cve: a for cve, a in assess(build).items() if a.status == Status.EXPOSED}
    if not exposed:
        return None
    updates = sorted({a.update for a in exposed.values()})
    return AlertCandidate(
        fingerprint=alert_fingerprint(tenant, agent_id, "patch"),
        rule=PATCH_RULE,
        title=f"{hostname} runs Exchange {build}, exposed to {len(exposed)} exploited CVEs "
        f"(missing {', '.join(updates)})",
        severity=pb.SEVERITY_HIGH,
        tags=tuple(sorted(f"cve.{cve.removeprefix('CVE-').lower()}" for cve in exposed)),
        details={"build": build, "missing": ", ".join(updates)},
    )


CAMPAIGN_RULE = "exwatch.campaign"
MSP_SCOPE = "*"  # alerts across tenants: visible to the MSP's own staff only


def campaign(
    kind: str,
    value: str,
    hosts: int,
    tenants: int,
    *,
    severity: int = pb.SEVERITY_CRITICAL,
    details: dict[str, str] | None = None,
) -> AlertCandidate:
    """The same indicator on several hosts: a fleet-wide alert in the MSP's scope."""
    what = {
        "sha256": f"file {value[:16]}…",
        "client_ip": f"attacker address {value}",
        "user_agent": f"user agent {value[:60]!r}",
    }
    return AlertCandidate(
        fingerprint=alert_fingerprint(MSP_SCOPE, "campaign", kind, value),
        rule=CAMPAIGN_RULE,
        title=f"Same {what.get(kind, value)} on {hosts} hosts in {tenants} tenants",
        severity=severity,
        tags=("exwatch.campaign",),
        details={"kind": kind, "value": value, "hosts": str(hosts), "tenants": str(tenants)}
        | (details or {}),
    )


def alert_fingerprint(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:32]


def _extension(path: str) -> str:
    # Host paths may be Windows paths; look at the last component either way.
    name = path.replace("\\", "/").rsplit("/", 1)[-1].rstrip(". ")
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def _file_candidate(
    tenant: str, agent_id: str, hostname: str, event: pb.Event
) -> AlertCandidate | None:
    """A new or changed page in a web root, or content the host judged bad: evidence of a
    compromise. A burst of clean pages is a deployment: one mass-change alert instead."""
    f = event.file
    if f.action == pb.FILE_ACTION_DELETED:
        return None
    if f.root_kind in ("staging", "compiled") and not event.matches:
        return _trace_candidate(tenant, agent_id, hostname, event)
    is_page = f.root_kind in ("", "webroot") and _extension(f.path) in PAGE_EXTENSIONS
    verdict_severity = {
        pb.VERDICT_MALICIOUS: pb.SEVERITY_CRITICAL,
        pb.VERDICT_SUSPICIOUS: pb.SEVERITY_HIGH,
    }
    bad = max([verdict_severity.get(f.verdict, 0)] + [m.severity for m in event.matches])
    if is_page and f.attributes & HIDDEN_SYSTEM == HIDDEN_SYSTEM:
        bad = max(bad, pb.SEVERITY_CRITICAL)  # attrib +h +s on a page: hiding a webshell
    if bad < pb.SEVERITY_HIGH and not is_page:
        return None
    action = {pb.FILE_ACTION_CREATED: "New", pb.FILE_ACTION_MOVED: "Renamed"}.get(
        f.action, "Changed"
    )
    title = f"{action} {'page' if is_page else 'file'} in web root on {hostname}: {f.path}"
    if event.matches:
        top = max(event.matches, key=lambda m: m.severity)
        title = f"{top.title} on {hostname}: {f.path}"
    tags = {"attack.persistence", "attack.t1505.003"} if is_page else set()
    tags.update(t for m in event.matches for t in m.tags)
    candidate = AlertCandidate(
        fingerprint=alert_fingerprint(tenant, agent_id, "file", f.path.lower()),
        rule=PAGE_RULE if bad < pb.SEVERITY_HIGH else BAD_CONTENT_RULE,
        title=title,
        severity=max(bad, pb.SEVERITY_HIGH),
        tags=tuple(sorted(tags)),
        details={
            "path": f.path,
            "sha256": f.sha256,
            "root": f.root,
            "rules": ",".join(m.rule_id for m in event.matches),
        },
        incident=True,
    )
    if bad < pb.SEVERITY_HIGH and f.burst >= MASS_CHANGE_FILES:
        return mass_change(tenant, agent_id, hostname, candidate)
    return candidate


HIDDEN_SYSTEM = 0x2 | 0x4  # FILE_ATTRIBUTE_HIDDEN | FILE_ATTRIBUTE_SYSTEM


def _trace_candidate(
    tenant: str, agent_id: str, hostname: str, event: pb.Event
) -> AlertCandidate | None:
    """What an intruder leaves after the shell: an LSASS dump is proof of credential theft
    (opens an incident); an archive in a staging folder or a freshly compiled page DLL is
    evidence for an incident already open."""
    f = event.file
    name = f.path.replace("\\", "/").rsplit("/", 1)[-1].lower()
    tags: tuple[str, ...]
    if f.root_kind == "staging" and "lsass" in name and name.endswith(".dmp"):
        severity, title, tags = (
            pb.SEVERITY_CRITICAL,
            "LSASS memory dump written",
            ("attack.credential-access", "attack.t1003.001"),
        )
    elif f.root_kind == "staging":
        severity, title, tags = (
            pb.SEVERITY_MEDIUM,
            "Archive or dump in a staging folder",
            ("attack.collection", "attack.t1560.001"),
        )
    else:
        severity, title, tags = (
            pb.SEVERITY_MEDIUM,
            "Page compiled by ASP.NET",
            ("attack.t1505.003",),
        )
    return AlertCandidate(
        fingerprint=alert_fingerprint(tenant, agent_id, "trace", f.path.lower()),
        rule=f"exwatch.trace.{f.root_kind}",
        title=f"{title} on {hostname}: {f.path}",
        severity=severity,
        tags=tags,
        details={"path": f.path, "sha256": f.sha256, "root": f.root},
        incident=True,
        opens=severity >= pb.SEVERITY_HIGH,
    )


def _match_candidates(
    tenant: str, agent_id: str, hostname: str, event: pb.Event
) -> list[AlertCandidate]:
    """Rules that matched on the host: high or critical opens (or joins) the host's
    incident; medium (a failed attempt, a scan) only joins one that is open."""
    if not event.matches:  # most events: checked first, max() of nothing costs a generator
        return []
    severity = max(m.severity for m in event.matches)
    if severity < pb.SEVERITY_MEDIUM:
        return []
    top = max(event.matches, key=lambda m: m.severity)
    details = {"rules": ",".join(dict.fromkeys(m.rule_id for m in event.matches))}
    if event.HasField("log"):
        details |= {"source": event.log.source, "file": event.log.file}
    return [
        AlertCandidate(
            fingerprint=alert_fingerprint(tenant, agent_id, "match", top.rule_id),
            rule=top.rule_id,
            title=f"{top.title} on {hostname}",
            severity=severity,
            tags=tuple(sorted({t for m in event.matches for t in m.tags})),
            details=details,
            incident=True,
            opens=severity >= pb.SEVERITY_HIGH,
        )
    ]


# What a sensor's own report means for the analyst: (severity, title). Kinds not listed
# (baseline, watch_restored, changed_while_stopped...) are informational only.
SENSOR_ALERTS = {
    "events_shed": (pb.SEVERITY_HIGH, "Agent dropped events: its spool was full"),
    "watch_lost": (pb.SEVERITY_HIGH, "A watched folder is no longer watched"),
    "missed_changes": (pb.SEVERITY_MEDIUM, "File changes the OS never reported (found by rescan)"),
    "watch_failed": (pb.SEVERITY_HIGH, "A folder cannot be watched"),
    "source_failed": (pb.SEVERITY_HIGH, "A sensor stopped working"),
    "rules_rejected": (pb.SEVERITY_MEDIUM, "A pushed rule bundle was rejected"),
    # The agent saw IIS serving while a log it tails stopped growing: logging switched off
    # or redirected, what an intruder covering tracks does.
    "log_quiet": (pb.SEVERITY_HIGH, "A log went quiet while IIS is serving"),
}


def _sensor_candidate(
    tenant: str, agent_id: str, hostname: str, event: pb.Event
) -> AlertCandidate | None:
    s = event.sensor
    known = SENSOR_ALERTS.get(s.kind)
    if known is None:
        return None
    severity, title = known
    return AlertCandidate(
        fingerprint=alert_fingerprint(tenant, agent_id, "sensor", s.sensor, s.kind),
        rule=f"exwatch.sensor.{s.kind}",
        title=f"{title} on {hostname} ({s.sensor})",
        severity=severity,
        tags=("exwatch.sensor-health",),
        details={"sensor": s.sensor, "detail": s.detail[:500], "count": str(s.count)},
    )


ACCOUNTS_LISTED = 200  # affected accounts kept on one alert; "accounts_total" says all
# Group-by fields that name an account, in the log formats the agent reads (compared
# case-folded): a brute force grouped by one of them is against that account.
ACCOUNT_FIELDS = frozenset({"cs-username", "authenticateduser", "userid", "user", "username"})


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def affected_accounts(c: pb.CorrelationEvent) -> list[str]:
    """The accounts an agent's count is about: those it grouped by (a brute force against
    one account, one account from many addresses), else the values it counted (a spray),
    unless those are addresses."""
    named = {v for k, v in c.group.items() if k.casefold() in ACCOUNT_FIELDS and v not in ("", "-")}
    if named:
        return sorted(named)
    if all(_is_address(v) for v in c.values):
        return []
    return sorted(set(c.values) - {"", "-"})


def _account_abuse_candidate(
    tenant: str, agent_id: str, hostname: str, event: pb.Event
) -> AlertCandidate | None:
    """An agent's count over many log records (a password spray, a brute force run): the
    alert lists the accounts it touched, whose passwords the customer should change."""
    if not event.matches:
        return None
    c = event.correlation
    top = max(event.matches, key=lambda m: m.severity)
    accounts = affected_accounts(c)
    group = ", ".join(f"{k}={v}" for k, v in sorted(c.group.items()))
    return AlertCandidate(
        fingerprint=alert_fingerprint(tenant, agent_id, "accounts", top.rule_id, group),
        rule=top.rule_id,
        title=f"{top.title} on {hostname}"
        + (f": {len(accounts)} accounts" if len(accounts) > 1 else ""),
        severity=top.severity,
        tags=tuple(sorted({t for m in event.matches for t in m.tags})),
        details={
            "accounts": ", ".join(accounts[:ACCOUNTS_LISTED]),
            "accounts_total": str(len(accounts)),
            "count": str(c.count),
            "group": group,
            "values": "" if accounts == sorted(c.values) else ", ".join(c.values),
            "source": c.source,
            "files": ", ".join(c.files),
            "lines": ", ".join(str(n) for n in c.lines),
        },
    )


def merge_details(existing: dict[str, str], new: dict[str, str]) -> dict[str, str]:
    """Details of an open alert fed by one more event: the latest count, and the union of
    the accounts seen so far (a spray that goes on touches more of them)."""
    merged = existing | {k: v for k, v in new.items() if k == "count"}
    if "accounts" in new:
        texts = (existing.get("accounts", ""), new["accounts"])
        accounts = sorted({a for text in texts for a in text.split(", ")} - {""})
        merged["accounts"] = ", ".join(accounts[:ACCOUNTS_LISTED])
        merged["accounts_total"] = str(
            max(len(accounts), int(existing.get("accounts_total", "0") or 0))
        )
    return merged


def candidates_for(
    tenant: str, agent_id: str, hostname: str, event: pb.Event
) -> list[AlertCandidate]:
    """Every alert this one event opens or feeds."""
    if event.HasField("correlation"):
        candidate = _account_abuse_candidate(tenant, agent_id, hostname, event)
        return [candidate] if candidate else []
    if event.HasField("file"):
        candidate = _file_candidate(tenant, agent_id, hostname, event)
        return [candidate] if candidate else []
    if event.HasField("sensor"):
        candidate = _sensor_candidate(tenant, agent_id, hostname, event)
        return [candidate] if candidate else []
    return _match_candidates(tenant, agent_id, hostname, event)
