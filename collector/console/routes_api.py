"""JSON API under /api/v1 (OpenAPI at /api/v1/openapi.json).

Status codes: 401 without a valid token or session, 403 when the role does not allow the
action (decided before any object is looked at), 404 for objects that do not exist *or*
belong to a tenant the caller cannot see, 422 for invalid input, 501 for actions that
need the agent command channel.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.responses import FileResponse
from fastapi.security import HTTPBearer
from pydantic import BaseModel, Field
from starlette.background import BackgroundTask

from collector import containment, evidence_files, export
from collector.console import auth, data, passwords
from collector.console import containment as contain_data
from collector.console.app import ConsoleState
from collector.console.data import Principal

# Declares the bearer scheme in the OpenAPI document; authentication itself is done by
# auth.require_principal (which also accepts the console's session cookie).
_bearer = HTTPBearer(auto_error=False, description="An API token: exwc_...")
router = APIRouter(dependencies=[Depends(_bearer)])

Reader = Annotated[Principal, Depends(auth.require_principal)]
Writer = Annotated[Principal, Depends(auth.require_writer)]
AlertId = Annotated[int, Path(ge=1, le=2**62)]
AgentId = Annotated[str, Path(min_length=1, max_length=128)]
Limit = Annotated[int, Query(ge=1, le=data.MAX_LIMIT)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]
Severity = Literal["informational", "low", "medium", "high", "critical"]
StatusFilter = Literal["open", "acknowledged", "resolved", "unresolved"]
TenantName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
INT64 = 2**63 - 1


def _state(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


def _ns(value: datetime | None) -> int | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return max(-INT64, min(INT64, int(value.timestamp() * 1e9)))


# ---------------------------------------------------------------------------- models


class AlertOut(BaseModel):
    """Same fields as ``exwatch-collector alerts --format json``, plus assignee, agent_id
    and updated."""

    id: int
    tenant: str
    hosts: list[str]
    title: str
    severity: str
    status: str
    rule: str
    tags: list[str]
    fingerprint: str
    first_seen: str
    last_seen: str
    event_count: int
    evidence: list[str]
    details: dict[str, Any]
    status_by: str
    status_comment: str
    assignee: str
    agent_id: str
    updated: str


class CommentOut(BaseModel):
    id: int
    alert_id: int
    author: str
    body: str
    created: str


class AlertDetailOut(AlertOut):
    comments: list[CommentOut]


class EventOut(BaseModel):
    uid: str
    agent_id: str
    tenant: str
    hostname: str
    kind: str
    host_time: str
    received: str
    severity: str
    retro: bool
    subject: str
    summary: str
    matches: list[dict[str, Any]]
    detail: dict[str, Any]
    decoded: bool
    payload: dict[str, Any] | None


class CvePatchOut(BaseModel):
    status: Literal["patched", "exposed", "unknown"]
    update: str = Field(description="The security update that fixes it (Mar21SU ...).")
    kb: str
    fixed_in: str = Field(description="The fixed build of the host's CU, when one exists.")
    reason: str


class HostOut(BaseModel):
    id: str
    tenant: str
    hostname: str
    state: Literal["online", "offline", "revoked"]
    online: bool
    revoked: bool
    last_seen: str
    first_seen: str
    agent_version: str
    rules_version: str
    exchange_build: str
    patch: Literal["patched", "exposed", "unknown"] = Field(
        description="exposed: to at least one tracked CVE; unknown: the build cannot be judged "
        "for at least one (never read it as patched)."
    )
    patch_status: dict[str, CvePatchOut] = Field(description="Per CVE.")
    os: str
    spool_events: int
    events_shed_total: int
    last_sequence: int
    open_alerts: int


class TenantOut(BaseModel):
    tenant: str
    hosts: int
    online: int
    offline: int
    revoked: int
    open_alerts: int
    unresolved_by_severity: dict[str, int]


class StatusChange(BaseModel):
    comment: str = Field("", max_length=data.MAX_COMMENT)


class AssignIn(BaseModel):
    assignee: str = Field(description="A username; empty to unassign.", max_length=64)


class CommentIn(BaseModel):
    body: str = Field(min_length=1, max_length=data.MAX_COMMENT)


class EnrollmentTokenIn(BaseModel):
    tenant: TenantName
    uses: int = Field(1, ge=1, le=10_000)
    expires_hours: int = Field(24, ge=1, le=24 * 365)
    note: str = Field("", max_length=200)


class EnrollmentTokenOut(BaseModel):
    id: int
    tenant: str
    uses_left: int
    expires: str
    expired: bool
    created: str
    note: str


class EnrollmentTokenCreated(BaseModel):
    token: str = Field(description="Shown once; only its hash is kept.")
    tenant: str
    uses: int
    expires: str


class ApiTokenIn(BaseModel):
    name: str = Field("", max_length=100)
    user: str | None = Field(None, description="Admins only: make it for this user.")
    expires_days: int | None = Field(None, ge=1, le=3650)


class ApiTokenOut(BaseModel):
    id: int
    user: str
    name: str
    prefix: str
    created: str
    expires: str
    last_used: str
    revoked: bool


class ApiTokenCreated(BaseModel):
    id: int
    user: str
    name: str
    token: str = Field(description="Shown once; only its hash is kept.")
    prefix: str
    created: str
    expires: str


Role = Literal["admin", "msp_analyst", "tenant_analyst", "read_only"]


class UserOut(BaseModel):
    id: int
    username: str
    role: str
    tenants: list[str]
    all_tenants: bool
    disabled: bool
    created: str
    last_login: str


class UserIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=passwords.MIN_PASSWORD, max_length=1024)
    role: Role
    tenants: list[TenantName] = Field(default_factory=list, max_length=1000)
    all_tenants: bool = False


class UserPatch(BaseModel):
    role: Role | None = None
    tenants: list[TenantName] | None = Field(None, max_length=1000)
    all_tenants: bool | None = None
    disabled: bool | None = None
    password: str | None = Field(None, min_length=passwords.MIN_PASSWORD, max_length=1024)


class AuditOut(BaseModel):
    id: int
    time: str
    actor: str
    action: str
    tenant: str
    object_type: str
    object_id: str
    detail: dict[str, Any]
    ip: str


class MeOut(BaseModel):
    username: str
    role: str
    tenants: list[str] | None = Field(description="null: every tenant")
    via: str


class RulesOut(BaseModel):
    rules_version: str
    tenant: str
    hosts: int
    last_seen: str


# ---------------------------------------------------------------------------- me, tenants


@router.get("/me", response_model=MeOut, tags=["account"])
async def me(p: Reader) -> dict[str, Any]:
    return {
        "username": p.username,
        "role": p.role,
        "tenants": sorted(p.tenants) if p.tenants is not None else None,
        "via": p.via,
    }


@router.get("/tenants", response_model=list[TenantOut], tags=["fleet"])
async def tenants(request: Request, p: Reader) -> list[dict[str, Any]]:
    s = _state(request)
    return await s.db.read(
        data.tenant_summaries,
        p,
        now=time.time_ns(),
        offline_after_ns=s.settings.offline_after_seconds * 10**9,
    )


# ---------------------------------------------------------------------------- alerts


@router.get("/alerts", response_model=list[AlertOut], tags=["alerts"])
async def list_alerts(
    request: Request,
    p: Reader,
    tenant: Annotated[str | None, Query(max_length=64)] = None,
    status: StatusFilter | None = None,
    severity: Annotated[Severity | None, Query(description="Minimum severity.")] = None,
    tag: Annotated[str | None, Query(max_length=200, description="e.g. cve.2021-26855")] = None,
    host: Annotated[str | None, Query(max_length=255, description="Hostname substring.")] = None,
    q: Annotated[str | None, Query(max_length=200, description="Title or rule substring.")] = None,
    assignee: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[
        datetime | None, Query(description="Last seen at or after (ISO 8601).")
    ] = None,
    until: Annotated[
        datetime | None, Query(description="First seen at or before (ISO 8601).")
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    f = data.AlertFilter(
        tenant=tenant,
        status=status,
        min_severity=severity,
        tag=tag,
        host=host,
        q=q,
        assignee=assignee,
        since_ns=_ns(since),
        until_ns=_ns(until),
    )
    return await _state(request).db.read(data.list_alerts, p, f, limit=limit, offset=offset)


@router.get("/alerts/{alert_id}", response_model=AlertDetailOut, tags=["alerts"])
async def get_alert(request: Request, p: Reader, alert_id: AlertId) -> dict[str, Any]:
    db = _state(request).db
    alert = await db.read(data.get_alert, p, alert_id)
    alert["comments"] = await db.read(data.alert_comments, p, alert_id)
    return alert


@router.get("/alerts/{alert_id}/events", response_model=list[EventOut], tags=["alerts"])
async def alert_events(
    request: Request, p: Reader, alert_id: AlertId, limit: Limit = 500
) -> list[dict[str, Any]]:
    rows, _ = await _state(request).db.read(data.alert_events, p, alert_id, limit=limit)
    return [data.event_json(r) for r in rows]


@router.get("/alerts/{alert_id}/comments", response_model=list[CommentOut], tags=["alerts"])
async def alert_comments(request: Request, p: Reader, alert_id: AlertId) -> list[dict[str, Any]]:
    return await _state(request).db.read(data.alert_comments, p, alert_id)


async def change_status(
    state: ConsoleState, p: Principal, alert_id: int, status: str, comment: str, ip: str
) -> dict[str, Any]:
    """Through the collector's store (its one writer), then audited."""
    data.require_alert_writer(p)
    before = await state.db.read(data.get_alert, p, alert_id)  # 404 outside the scope
    await state.db.call(
        state.store.set_alert_status,
        alert_id,
        status,
        actor=p.username,
        comment=comment,
        tenant=before["tenant"],
    )
    await state.db.write(
        data.audit,
        p.username,
        f"alert.{status}",
        tenant=before["tenant"],
        object_type="alert",
        object_id=str(alert_id),
        detail={"from": before["status"], "to": status, "comment": comment[:500]},
        ip=ip,
    )
    return await state.db.read(data.get_alert, p, alert_id)


def _status_route(status: str, verb: str) -> None:
    async def route(
        request: Request,
        p: Writer,
        alert_id: AlertId,
        body: Annotated[StatusChange | None, Body()] = None,
    ) -> dict[str, Any]:
        return await change_status(
            _state(request),
            p,
            alert_id,
            status,
            body.comment if body else "",
            auth.client_ip(request),
        )

    router.add_api_route(
        f"/alerts/{{alert_id}}/{verb}",
        route,
        methods=["POST"],
        response_model=AlertOut,
        tags=["alerts"],
        summary=f"Mark an alert {status}",
        name=f"alert_{verb}",
    )


_status_route("acknowledged", "ack")
_status_route("resolved", "resolve")
_status_route("open", "reopen")


@router.post("/alerts/{alert_id}/assign", response_model=AlertOut, tags=["alerts"])
async def assign(request: Request, p: Writer, alert_id: AlertId, body: AssignIn) -> dict[str, Any]:
    return await _state(request).db.write(
        data.assign_alert, p, alert_id, body.assignee.strip(), ip=auth.client_ip(request)
    )


@router.post(
    "/alerts/{alert_id}/comments", response_model=CommentOut, status_code=201, tags=["alerts"]
)
async def comment(
    request: Request, p: Writer, alert_id: AlertId, body: CommentIn
) -> dict[str, Any]:
    return await _state(request).db.write(
        data.add_comment, p, alert_id, body.body, ip=auth.client_ip(request)
    )


@router.post("/alerts/{alert_id}/quarantine", status_code=202, tags=["alerts"])
async def quarantine(
    request: Request, p: Writer, alert_id: AlertId, path: str = ""
) -> list[dict[str, str]]:
    """Queue a quarantine of the alert's evidence files (or of the one at ``path``) on the
    hosts that reported them; each agent confirms (see the host's commands)."""
    result: list[dict[str, str]] = await _state(request).db.write(
        data.quarantine_alert_files, p, alert_id, path, ip=auth.client_ip(request)
    )
    return result


@router.get(
    "/alerts/{alert_id}/export",
    tags=["alerts"],
    response_class=FileResponse,
    responses={200: {"content": {"application/zip": {}}, "description": "The archive."}},
)
async def export_incident(request: Request, p: Reader, alert_id: AlertId) -> Response:
    """One zip for an incident-response firm: the timeline (JSON and HTML), every evidence
    event, the hosts' collected and quarantined files (inert, as ``files/<sha256>.bin``),
    each host's inventory and patch status, the alert's history, and ``manifest.json``
    with the SHA-256 and size of every other member. Sent as an attachment, never inline."""
    s = _state(request)
    path, manifest = await s.db.read(export.export_to_temporary_file, p, alert_id)
    try:
        await s.db.write(export.audit_export, p, manifest, ip=auth.client_ip(request))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return FileResponse(
        path,
        media_type="application/zip",
        filename=f"incident-{alert_id}.zip",
        background=BackgroundTask(path.unlink, missing_ok=True),
    )


# ---------------------------------------------------------------------------- hosts


@router.get("/hosts", response_model=list[HostOut], tags=["fleet"])
async def list_hosts(
    request: Request,
    p: Reader,
    tenant: Annotated[str | None, Query(max_length=64)] = None,
    state: Literal["online", "offline", "revoked"] | None = None,
    q: Annotated[str | None, Query(max_length=255)] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 5000,
) -> list[dict[str, Any]]:
    s = _state(request)
    return await s.db.read(
        data.list_hosts,
        p,
        now=time.time_ns(),
        offline_after_ns=s.settings.offline_after_seconds * 10**9,
        tenant=tenant,
        state=state,
        q=q,
        limit=limit,
    )


@router.get("/hosts/{agent_id}", response_model=HostOut, tags=["fleet"])
async def get_host(request: Request, p: Reader, agent_id: AgentId) -> dict[str, Any]:
    s = _state(request)
    return await s.db.read(
        data.get_host,
        p,
        agent_id,
        now=time.time_ns(),
        offline_after_ns=s.settings.offline_after_seconds * 10**9,
    )


@router.get("/hosts/{agent_id}/events", response_model=list[EventOut], tags=["fleet"])
async def host_events(
    request: Request,
    p: Reader,
    agent_id: AgentId,
    limit: Limit = 100,
    before: Annotated[int | None, Query(ge=1, le=INT64, description="Rowid cursor.")] = None,
) -> list[dict[str, Any]]:
    s = _state(request)
    await s.db.read(data.get_host, p, agent_id, now=0, offline_after_ns=0)  # 404 first
    rows = await s.db.read(data.host_events, p, agent_id, limit=limit, before=before)
    return [data.event_json(r) for r in rows]


class CollectIn(BaseModel):
    path: str = Field("", max_length=evidence_files.MAX_PATH, description="On the host.")
    reason: str = Field("", max_length=500)


class CollectedFileOut(BaseModel):
    command_id: str
    kind: Literal["collect", "quarantine"]
    path: str
    sha256: str
    size: int
    collected: str


@router.post("/hosts/{agent_id}/collect", status_code=202, tags=["fleet"])
async def collect_file(
    request: Request, p: Writer, agent_id: AgentId, body: CollectIn
) -> dict[str, str]:
    """Ask the host's agent for a file inside its web roots, staging or log folders; it
    confirms (see the host's commands) and the bytes join the host's evidence files."""
    result: dict[str, str] = await _state(request).db.write(
        evidence_files.queue_collect,
        p,
        agent_id,
        body.path,
        body.reason,
        ip=auth.client_ip(request),
    )
    return result


@router.get("/hosts/{agent_id}/files", response_model=list[CollectedFileOut], tags=["fleet"])
async def host_files(request: Request, p: Reader, agent_id: AgentId) -> list[dict[str, Any]]:
    """Files the host has handed over (collected or quarantined): metadata, never bytes."""
    return await _state(request).db.read(evidence_files.host_files, p, agent_id)


@router.post("/hosts/{agent_id}/revoke", tags=["fleet"])
async def revoke_host(request: Request, p: Writer, agent_id: AgentId) -> dict[str, Any]:
    data.require_admin(p)
    s = _state(request)
    host = await s.db.read(data.get_host, p, agent_id, now=0, offline_after_ns=0)
    count = await s.db.call(
        s.store.revoke_agent, agent_id, reason=f"console: {p.username}", now_ns=time.time_ns()
    )
    await s.db.write(
        data.audit,
        p.username,
        "agent.revoke",
        tenant=host["tenant"],
        object_type="agent",
        object_id=agent_id,
        detail={"hostname": host["hostname"], "certificates": count},
        ip=auth.client_ip(request),
    )
    return {"agent_id": agent_id, "certificates_denied": count}


@router.get("/rules", response_model=list[RulesOut], tags=["fleet"])
async def rules(request: Request, p: Reader) -> list[dict[str, Any]]:
    rows = await _state(request).db.read(data.rules_versions, p)
    return [{**r, "last_seen": data.iso(r["last_seen_ns"] or 0)} for r in rows]


# ---------------------------------------------------------------------------- enrollment


@router.get("/enrollment-tokens", response_model=list[EnrollmentTokenOut], tags=["enrollment"])
async def enrollment_tokens(request: Request, p: Reader) -> list[dict[str, Any]]:
    return await _state(request).db.read(data.list_enrollment_tokens, p)


async def create_enrollment_token(
    state: ConsoleState, p: Principal, body: EnrollmentTokenIn, ip: str
) -> dict[str, Any]:
    data.require_admin(p)
    now = time.time_ns()
    expires = now + body.expires_hours * 3600 * 10**9
    token = await state.db.call(
        state.store.create_token,
        body.tenant,
        uses=body.uses,
        expires_ns=expires,
        now_ns=now,
        note=body.note,
    )
    await state.db.write(
        data.audit,
        p.username,
        "enrollment_token.create",
        tenant=body.tenant,
        object_type="enrollment_token",
        detail={"uses": body.uses, "expires_hours": body.expires_hours, "note": body.note},
        ip=ip,
    )
    return {"token": token, "tenant": body.tenant, "uses": body.uses, "expires": data.iso(expires)}


@router.post(
    "/enrollment-tokens",
    response_model=EnrollmentTokenCreated,
    status_code=201,
    tags=["enrollment"],
)
async def new_enrollment_token(
    request: Request, p: Writer, body: EnrollmentTokenIn
) -> dict[str, Any]:
    return await create_enrollment_token(_state(request), p, body, auth.client_ip(request))


# ---------------------------------------------------------------------------- API tokens


@router.get("/tokens", response_model=list[ApiTokenOut], tags=["account"])
async def api_tokens(request: Request, p: Reader) -> list[dict[str, Any]]:
    return await _state(request).db.read(data.list_api_tokens, p)


@router.post("/tokens", response_model=ApiTokenCreated, status_code=201, tags=["account"])
async def new_api_token(request: Request, p: Writer, body: ApiTokenIn) -> dict[str, Any]:
    expires = time.time_ns() + body.expires_days * 86_400 * 10**9 if body.expires_days else 0
    return await _state(request).db.write(
        data.create_api_token,
        p,
        name=body.name,
        username=body.user,
        expires_ns=expires,
        ip=auth.client_ip(request),
    )


@router.delete("/tokens/{token_id}", status_code=204, response_class=Response, tags=["account"])
async def revoke_api_token(
    request: Request, p: Writer, token_id: Annotated[int, Path(ge=1, le=2**62)]
) -> Response:
    await _state(request).db.write(data.revoke_api_token, p, token_id, ip=auth.client_ip(request))
    return Response(status_code=204)


# ---------------------------------------------------------------------------- users, audit


@router.get("/users", response_model=list[UserOut], tags=["admin"])
async def users(request: Request, p: Reader) -> list[dict[str, Any]]:
    return await _state(request).db.read(data.list_users, p)


@router.post("/users", response_model=UserOut, status_code=201, tags=["admin"])
async def new_user(request: Request, p: Writer, body: UserIn) -> dict[str, Any]:
    data.require_admin(p)
    s = _state(request)
    password_hash = await s.db.call(passwords.hash_password, body.password)
    return await s.db.write(
        data.create_user,
        p,
        username=body.username,
        password_hash=password_hash,
        role=body.role,
        tenants=list(body.tenants),
        all_tenants=body.all_tenants,
        ip=auth.client_ip(request),
    )


@router.get("/users/{user_id}", response_model=UserOut, tags=["admin"])
async def get_user(
    request: Request, p: Reader, user_id: Annotated[int, Path(ge=1, le=2**62)]
) -> dict[str, Any]:
    return await _state(request).db.read(data.get_user, p, user_id)


@router.patch("/users/{user_id}", response_model=UserOut, tags=["admin"])
async def patch_user(
    request: Request,
    p: Writer,
    user_id: Annotated[int, Path(ge=1, le=2**62)],
    body: UserPatch,
) -> dict[str, Any]:
    data.require_admin(p)
    s = _state(request)
    password_hash = None
    if body.password is not None:
        password_hash = await s.db.call(passwords.hash_password, body.password)
    return await s.db.write(
        data.update_user,
        p,
        user_id,
        role=body.role,
        tenants=list(body.tenants) if body.tenants is not None else None,
        all_tenants=body.all_tenants,
        disabled=body.disabled,
        password_hash=password_hash,
        ip=auth.client_ip(request),
    )


@router.get("/audit", response_model=list[AuditOut], tags=["admin"])
async def audit_log(
    request: Request,
    p: Reader,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    action: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 200,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    return await _state(request).db.read(
        data.list_audit, p, limit=limit, offset=offset, actor=actor, action=action
    )


# ---------------------------------------------------------------------------- containment

ContainAction = Literal["isolate", "release", "block", "unblock", "web-offline", "web-online"]
ApprovableAction = Literal["isolate", "web-offline"]
CommandId = Annotated[str, Path(min_length=1, max_length=64)]


class ContainIn(BaseModel):
    action: ContainAction
    minutes: int | None = Field(
        None,
        ge=0,
        le=containment.MAX_MINUTES,
        description="Time limit after which the action lifts by itself (isolate, "
        "web-offline: default 60 and never 0; block: default none).",
    )
    allow: list[str] = Field(
        [], max_length=64, description="isolate: further addresses or CIDR networks allowed."
    )
    address: str = Field("", max_length=64, description="block, unblock: one IP address.")
    reason: str = Field("", max_length=500)


class ContainOut(BaseModel):
    command: str
    agent_id: str
    action: str
    status: Literal["pending", "awaiting_approval", "approved", "refused"]


class ContainmentRequestOut(BaseModel):
    id: str
    tenant: str
    agent_id: str
    action: str
    argument: str
    reason: str
    requested_by: str
    requested: str
    status: str
    decided_by: str
    decided: str


class ApprovalPolicy(BaseModel):
    require: list[ApprovableAction]


def checked_request(body: ContainIn) -> containment.ContainmentRequest:
    try:
        return containment.containment_request(
            body.action, minutes=body.minutes, allow=body.allow, address=body.address
        )
    except containment.ContainmentRequestError as exc:
        raise data.Invalid(str(exc)) from exc


@router.post(
    "/hosts/{agent_id}/contain", response_model=ContainOut, status_code=202, tags=["fleet"]
)
async def contain_host(
    request: Request, p: Writer, agent_id: AgentId, body: ContainIn
) -> dict[str, Any]:
    """Isolate the host, block or unblock an address, take Exchange web access offline or
    back online. Where the host's tenant requires a second analyst for the action, it waits
    (``awaiting_approval``) until another user approves it; otherwise the agent gets it
    at once and confirms (see the host's commands)."""
    return await _state(request).db.write(
        contain_data.request_containment,
        p,
        agent_id,
        checked_request(body),
        body.reason,
        ip=auth.client_ip(request),
    )


@router.get(
    "/containment/requests", response_model=list[ContainmentRequestOut], tags=["containment"]
)
async def containment_requests(
    request: Request,
    p: Reader,
    status: Literal["awaiting", "approved", "refused", "all"] = "awaiting",
    agent_id: Annotated[str | None, Query(max_length=128)] = None,
) -> list[dict[str, Any]]:
    """Containment requests that need (or needed) a second analyst."""
    return await _state(request).db.read(
        contain_data.list_requests, p, agent_id=agent_id, status=None if status == "all" else status
    )


@router.post(
    "/containment/requests/{command_id}/approve", response_model=ContainOut, tags=["containment"]
)
async def approve_containment(request: Request, p: Writer, command_id: CommandId) -> dict[str, Any]:
    """Approve another analyst's request: the command is sent to the agent then. Your own
    request answers 403."""
    return await _state(request).db.write(
        contain_data.decide, p, command_id, approve=True, ip=auth.client_ip(request)
    )


@router.post(
    "/containment/requests/{command_id}/refuse", response_model=ContainOut, tags=["containment"]
)
async def refuse_containment(request: Request, p: Writer, command_id: CommandId) -> dict[str, Any]:
    """Refuse a request (or withdraw your own); nothing is sent."""
    return await _state(request).db.write(
        contain_data.decide, p, command_id, approve=False, ip=auth.client_ip(request)
    )


@router.get("/tenants/{tenant}/approvals", response_model=ApprovalPolicy, tags=["containment"])
async def approval_policy(
    request: Request, p: Reader, tenant: Annotated[str, Path(max_length=64)]
) -> dict[str, Any]:
    """Which containment actions of the tenant wait for a second analyst."""
    if not p.sees(tenant):
        raise data.NotVisible("no such tenant")
    return {"require": await _state(request).db.read(contain_data.approval_policy, tenant)}


@router.put("/tenants/{tenant}/approvals", response_model=ApprovalPolicy, tags=["containment"])
async def set_approval_policy(
    request: Request, p: Writer, tenant: Annotated[str, Path(max_length=64)], body: ApprovalPolicy
) -> dict[str, Any]:
    """Admins: make exactly these actions of the tenant wait for a second analyst."""
    required = await _state(request).db.write(
        contain_data.set_approval_policy, p, tenant, list(body.require), ip=auth.client_ip(request)
    )
    return {"require": required}
