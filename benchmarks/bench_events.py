"""Realistic agent events for the ingest and fleet benchmarks: IIS log records, web-root
file changes that alert on nothing, and an attack (a webshell drop and its use) that does."""

from __future__ import annotations

import time
import uuid

from agent.events import new_event_id
from protos import exwatch_pb2 as pb

EXCHANGE = r"C:\Program Files\Microsoft\Exchange Server\V15"
OWA_AUTH = EXCHANGE + r"\FrontEnd\HttpProxy\owa\auth"
ASPNET_CLIENT = r"C:\inetpub\wwwroot\aspnet_client"
IIS_LOG = r"C:\inetpub\logs\LogFiles\W3SVC1\u_ex261128.log"
ATTACKER = "203.0.113.66"


def log_event(line: int) -> pb.Event:
    """An OWA/EWS request line as the agent's IIS tailer reports it (no rule matched)."""
    e = pb.Event(id=new_event_id(), host_time_ns=time.time_ns())
    e.log.source = "iis"
    e.log.file = IIS_LOG
    e.log.line = line
    e.log.fields.update(
        {
            "cs-method": "POST",
            "cs-uri-stem": "/owa/service.svc",
            "cs-uri-query": "action=GetItem",
            "c-ip": f"10.0.{line % 250}.{line % 200}",
            "sc-status": "200",
            "cs(User-Agent)": "Mozilla/5.0+(Windows+NT+10.0;+Win64;+x64)",
        }
    )
    return e


def file_event(n: int) -> pb.Event:
    """A script or style file changed in the web root, scanned clean: stored, no alert."""
    e = pb.Event(id=new_event_id(), host_time_ns=time.time_ns())
    e.file.action = pb.FILE_ACTION_MODIFIED
    e.file.root_kind = "webroot"
    e.file.root = OWA_AUTH
    e.file.path = OWA_AUTH + rf"\scripts\premium\{n}.js"
    e.file.sha256 = uuid.uuid4().hex * 2
    e.file.size = 1234
    e.file.mtime_ns = time.time_ns()
    e.file.verdict = pb.VERDICT_CLEAN
    return e


def mixed_event(i: int) -> pb.Event:
    """Nine log records to one file event, the ingest benchmark's mix."""
    return file_event(i) if i % 10 == 0 else log_event(i)


def attack_events(line: int) -> list[pb.Event]:
    """A China Chopper page dropped in aspnet_client (YARA: critical) and the POST that uses
    it (Sigma: high): opens an incident on the host, so the alert path is exercised."""
    name = uuid.uuid4().hex[:8]
    drop = pb.Event(id=new_event_id(), host_time_ns=time.time_ns())
    drop.file.action = pb.FILE_ACTION_CREATED
    drop.file.root_kind = "webroot"
    drop.file.root = ASPNET_CLIENT
    drop.file.path = ASPNET_CLIENT + rf"\{name}.aspx"
    drop.file.sha256 = uuid.uuid4().hex * 2
    drop.file.size = 74
    drop.file.mtime_ns = time.time_ns()
    drop.file.verdict = pb.VERDICT_MALICIOUS
    drop.matches.add(
        rule_id="exwatch.yara.china_chopper",
        title="China Chopper webshell",
        severity=pb.SEVERITY_CRITICAL,
        tags=["attack.t1505.003"],
        engine="yara",
    )
    use = log_event(line)
    use.log.fields.update(
        {"cs-uri-stem": f"/aspnet_client/{name}.aspx", "c-ip": ATTACKER, "cs-uri-query": "-"}
    )
    use.matches.add(
        rule_id="exwatch.sigma.webshell_post",
        title="POST to a page in aspnet_client",
        severity=pb.SEVERITY_HIGH,
        tags=["attack.t1505.003"],
        engine="sigma",
    )
    return [drop, use]
