"""Server-rendered pages (Jinja2) for the on-call analyst.

Every page works without JavaScript; htmx only adds the live refresh of the alert queue
(polling a rows fragment) and live filtering. State changes are plain POST forms with
the session's CSRF token, answered with a redirect (post/redirect/get).
"""

from __future__ import annotations

import secrets
import time
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError
from starlette.responses import Response

from collector import evidence_files
from collector.alerting.candidates import MSP_SCOPE
from collector.console import auth, data, passwords
from collector.console import containment as contain_data
from collector.console.app import ConsoleState
from collector.console.data import Principal
from collector.console.routes_api import (
    ContainIn,
    EnrollmentTokenIn,
    change_status,
    checked_request,
    create_enrollment_token,
)

router = APIRouter(include_in_schema=False)

Reader = Annotated[Principal, Depends(auth.require_principal)]
Writer = Annotated[Principal, Depends(auth.require_writer)]
AlertId = Annotated[int, Path(ge=1, le=2**62)]
AgentId = Annotated[str, Path(min_length=1, max_length=128)]
RANGES = {"1h": 3600, "24h": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400, "all": 0}
QUEUE_PAGE = 200


def _state(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


def _render(
    request: Request, template: str, p: Principal | None, status_code: int = 200, **ctx: Any
) -> HTMLResponse:
    return _state(request).templates.TemplateResponse(
        request,
        template,
        {"principal": p, "now_ns": time.time_ns(), **ctx},
        status_code=status_code,
    )


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never //evil.example or a scheme (open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _offline_ns(request: Request) -> int:
    return _state(request).settings.offline_after_seconds * 10**9


# ---------------------------------------------------------------------------- login


def _login_page(
    request: Request, next_url: str, error: str = "", status_code: int = 200
) -> HTMLResponse:
    s = _state(request).settings
    token = request.cookies.get(auth.LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = _render(
        request,
        "login.html",
        None,
        status_code=status_code,
        csrf=token,
        next_url=next_url,
        error=error,
    )
    response.set_cookie(
        auth.LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path="/login",
        secure=s.secure_cookies,
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(
    request: Request, next: Annotated[str, Query(max_length=2000)] = "/"
) -> Response:
    # Shown even to a signed-in browser: signing in again (as someone else) is how a shared
    # on-call laptop switches user; the old session ends then.
    return _login_page(request, _safe_next(next))


@router.post("/login", response_class=HTMLResponse)
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    s = _state(request)
    cookie = request.cookies.get(auth.LOGIN_CSRF_COOKIE, "")
    if not cookie or not secrets.compare_digest(cookie, csrf_token):
        raise auth.CSRFError()
    ip = auth.client_ip(request)
    keys = (f"user:{username.lower()}", f"ip:{ip}")
    if s.throttle.blocked(*keys):
        await s.db.write(data.audit, username, "login.throttled", ip=ip)
        return _login_page(
            request, next, "Too many failed attempts: wait a few minutes.", status_code=429
        )
    row = await s.db.read(data.user_auth_row, username)
    ok = await s.db.call(passwords.verify_password, row["password_hash"] if row else None, password)
    if row is None or not ok or row["disabled"]:
        s.throttle.failed(*keys)
        await s.db.write(data.audit, username, "login.failed", ip=ip)
        return _login_page(request, next, "Wrong username or password.", status_code=401)
    s.throttle.succeeded(*keys)
    old = request.cookies.get(auth.session_cookie_name(s.settings.secure_cookies), "")
    absolute = s.settings.session_absolute_hours * 3600
    token, _ = await s.db.write(
        _login_tx,
        row["id"],
        row["username"],
        absolute_ns=absolute * 10**9,
        ip=ip,
        user_agent=request.headers.get("user-agent", ""),
        replaces=old,
    )
    response = _see_other(_safe_next(next))
    auth.set_session_cookie(response, token, secure=s.settings.secure_cookies, max_age=absolute)
    response.delete_cookie(auth.LOGIN_CSRF_COOKIE, path="/login")
    return response


def _login_tx(
    conn: Any,
    user_id: int,
    username: str,
    *,
    absolute_ns: int,
    ip: str,
    user_agent: str,
    replaces: str,
) -> tuple[str, str]:
    """New session and its audit record in one transaction."""
    result = data.create_session(
        conn, user_id, absolute_ns=absolute_ns, ip=ip, user_agent=user_agent, replaces=replaces
    )
    data.audit(conn, username, "login", object_type="user", object_id=username, ip=ip)
    return result


@router.post("/logout")
async def logout(request: Request, p: Writer) -> Response:
    s = _state(request)

    def tx(conn: Any) -> None:
        data.delete_session(conn, p.session_key)
        data.audit(conn, p.username, "logout", ip=auth.client_ip(request))

    if p.via == "session":
        await s.db.write(tx)
    response = _see_other("/login")
    auth.clear_session_cookie(response, secure=s.settings.secure_cookies)
    return response


# ---------------------------------------------------------------------------- overview


@router.get("/", response_class=HTMLResponse)
async def overview(request: Request, p: Reader) -> Response:
    s = _state(request)
    now = time.time_ns()
    tenants = await s.db.read(
        data.tenant_summaries, p, now=now, offline_after_ns=_offline_ns(request)
    )
    hist = await s.db.read(data.alert_histogram, p, days=14, now=now)
    by_tenant: dict[str, list[dict[str, Any]]] = {}
    for r in hist:
        by_tenant.setdefault(r["tenant"], []).append(r)
    recent = await s.db.read(
        data.list_alerts, p, data.AlertFilter(status="unresolved"), limit=10, with_evidence=False
    )
    return _render(
        request,
        "overview.html",
        p,
        tenants=tenants,
        hist=hist,
        hist_by_tenant=by_tenant,
        recent=recent,
        days=14,
    )


@router.get("/fleet", response_class=HTMLResponse)
async def fleet(
    request: Request,
    p: Reader,
    tenant: Annotated[str, Query(max_length=64)] = "",
    state: Annotated[str, Query(max_length=16)] = "",
    q: Annotated[str, Query(max_length=255)] = "",
) -> Response:
    s = _state(request)
    hosts = await s.db.read(
        data.list_hosts,
        p,
        now=time.time_ns(),
        offline_after_ns=_offline_ns(request),
        tenant=tenant or None,
        state=state or None,
        q=q or None,
    )
    groups: dict[str, list[dict[str, Any]]] = {}
    for h in hosts:
        groups.setdefault(h["tenant"], []).append(h)
    return _render(
        request,
        "fleet.html",
        p,
        groups=groups,
        tenants=await s.db.read(data.visible_tenants, p),
        f={"tenant": tenant, "state": state, "q": q},
        total=len(hosts),
    )


@router.get("/hosts/{agent_id}", response_class=HTMLResponse)
async def host_page(
    request: Request,
    p: Reader,
    agent_id: AgentId,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    s = _state(request)
    host = await s.db.read(
        data.get_host, p, agent_id, now=time.time_ns(), offline_after_ns=_offline_ns(request)
    )
    rows = await s.db.read(data.host_events, p, agent_id, limit=100, before=before)
    alerts = await s.db.read(
        data.list_alerts, p, data.AlertFilter(agent_id=agent_id), limit=100, with_evidence=False
    )
    files = await s.db.read(evidence_files.host_files, p, agent_id)
    return _render(
        request,
        "host.html",
        p,
        host=host,
        files=files,
        events=[data.event_view(r) | {"rowid": r["rowid"]} for r in rows],
        alerts=alerts,
        next_before=rows[-1]["rowid"] if len(rows) == 100 else None,
    )


@router.post("/hosts/{agent_id}/collect")
async def host_collect(
    request: Request,
    p: Writer,
    agent_id: AgentId,
    path: Annotated[str, Form(max_length=evidence_files.MAX_PATH)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    await _state(request).db.write(
        evidence_files.queue_collect, p, agent_id, path, reason, ip=auth.client_ip(request)
    )
    return _see_other(f"/hosts/{agent_id}")


@router.post("/hosts/{agent_id}/revoke")
async def host_revoke(request: Request, p: Writer, agent_id: AgentId) -> Response:
    from collector.console.routes_api import revoke_host

    await revoke_host(request, p, agent_id)
    return _see_other(f"/hosts/{agent_id}")


# ---------------------------------------------------------------------------- alerts


def _queue_filter(params: dict[str, str]) -> tuple[data.AlertFilter, dict[str, str]]:
    f = {
        k: params.get(k, "")[:255]
        for k in ("tenant", "severity", "status", "tag", "host", "range", "q", "assignee")
    }
    if f["status"] == "":
        f["status"] = "unresolved"  # the on-call default: what still needs someone
    if f["status"] == "all":
        status = None
    elif f["status"] in data.STATUS_FILTERS:
        status = f["status"]
    else:
        raise data.Invalid(f"unknown status {f['status']!r}")
    if f["severity"] and f["severity"] not in data.SEVERITIES:
        raise data.Invalid(f"unknown severity {f['severity']!r}")
    seconds = RANGES.get(f["range"] or "all")
    if seconds is None:
        raise data.Invalid(f"unknown range {f['range']!r}")
    return (
        data.AlertFilter(
            tenant=f["tenant"] or None,
            min_severity=f["severity"] or None,
            status=status,
            tag=f["tag"] or None,
            host=f["host"] or None,
            q=f["q"] or None,
            assignee=f["assignee"] or None,
            since_ns=time.time_ns() - seconds * 10**9 if seconds else None,
        ),
        f,
    )


async def _queue_rows(request: Request, p: Principal) -> dict[str, Any]:
    s = _state(request)
    flt, f = _queue_filter(dict(request.query_params))
    alerts = await s.db.read(data.list_alerts, p, flt, limit=QUEUE_PAGE, with_evidence=False)
    total = await s.db.read(data.count_alerts, p, flt)
    query = urlencode({k: v for k, v in f.items() if v})
    return {"alerts": alerts, "total": total, "f": f, "query": query, "shown": len(alerts)}


@router.get("/alerts", response_class=HTMLResponse)
async def alert_queue(request: Request, p: Reader) -> Response:
    ctx = await _queue_rows(request, p)
    tenants = await _state(request).db.read(data.visible_tenants, p)
    if p.tenants is None:
        tenants.append(MSP_SCOPE)  # fleet-wide alerts (campaigns across tenants)
    return _render(
        request,
        "alerts.html",
        p,
        tenants=tenants,
        severities=data.SEVERITIES,
        statuses=("unresolved", *data.ALERT_STATUSES, "all"),
        ranges=list(RANGES),
        **ctx,
    )


@router.get("/alerts/rows", response_class=HTMLResponse)
async def alert_rows(request: Request, p: Reader) -> Response:
    """The queue's rows alone: what htmx polls every few seconds."""
    return _render(request, "_alert_rows.html", p, **await _queue_rows(request, p))


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
async def alert_page(
    request: Request, p: Reader, alert_id: AlertId, done: Annotated[str, Query(max_length=40)] = ""
) -> Response:
    s = _state(request)
    alert = await s.db.read(data.get_alert, p, alert_id)
    rows, total = await s.db.read(data.alert_events, p, alert_id, limit=s.settings.timeline_limit)
    comments = await s.db.read(data.alert_comments, p, alert_id)
    users = await s.db.read(data.assignable_users, alert["tenant"]) if p.can_write_alerts else []
    events = [data.event_view(r) for r in rows]
    return _render(
        request,
        "alert.html",
        p,
        alert=alert,
        events=events,
        total_events=total,
        comments=comments,
        users=users,
        done=done,
        has_files=any(e["kind"] == "file" for e in events),
    )


@router.post("/alerts/{alert_id}/status")
async def alert_status(
    request: Request,
    p: Writer,
    alert_id: AlertId,
    status: Annotated[str, Form(max_length=20)],
    comment: Annotated[str, Form(max_length=data.MAX_COMMENT)] = "",
) -> Response:
    if status not in data.ALERT_STATUSES:
        raise data.Invalid(f"unknown status {status!r}")
    await change_status(_state(request), p, alert_id, status, comment, auth.client_ip(request))
    return _see_other(f"/alerts/{alert_id}?done={status}")


@router.post("/alerts/{alert_id}/assign")
async def alert_assign(
    request: Request,
    p: Writer,
    alert_id: AlertId,
    assignee: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    await _state(request).db.write(
        data.assign_alert, p, alert_id, assignee.strip(), ip=auth.client_ip(request)
    )
    return _see_other(f"/alerts/{alert_id}?done=assigned")


@router.post("/alerts/{alert_id}/comment")
async def alert_comment(
    request: Request,
    p: Writer,
    alert_id: AlertId,
    body: Annotated[str, Form(max_length=data.MAX_COMMENT)],
) -> Response:
    await _state(request).db.write(data.add_comment, p, alert_id, body, ip=auth.client_ip(request))
    return _see_other(f"/alerts/{alert_id}?done=commented")


@router.post("/alerts/{alert_id}/quarantine")
async def alert_quarantine(request: Request, p: Writer, alert_id: AlertId) -> Response:
    await _state(request).db.write(
        data.quarantine_alert_files, p, alert_id, ip=auth.client_ip(request)
    )
    return _see_other(f"/alerts/{alert_id}?done=quarantine+queued")


# ---------------------------------------------------------------------------- rules, enrollment


@router.get("/rules", response_class=HTMLResponse)
async def rules(request: Request, p: Reader) -> Response:
    rows = await _state(request).db.read(data.rules_versions, p)
    return _render(request, "rules.html", p, rows=rows)


@router.get("/enrollment", response_class=HTMLResponse)
async def enrollment(request: Request, p: Reader) -> Response:
    s = _state(request)
    tokens = await s.db.read(data.list_enrollment_tokens, p)
    tenants = await s.db.read(data.visible_tenants, p)
    return _render(request, "enrollment.html", p, tokens=tokens, tenants=tenants, created=None)


@router.post("/enrollment", response_class=HTMLResponse)
async def enrollment_create(
    request: Request,
    p: Writer,
    tenant: Annotated[str, Form(max_length=64)],
    uses: Annotated[int, Form(ge=1, le=10_000)] = 1,
    expires_hours: Annotated[int, Form(ge=1, le=24 * 365)] = 24,
    note: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    data.require_admin(p)
    try:
        body = EnrollmentTokenIn(tenant=tenant, uses=uses, expires_hours=expires_hours, note=note)
    except ValueError as exc:
        raise data.Invalid("a tenant name is 1-64 letters, digits, '.', '_' or '-'") from exc
    s = _state(request)
    created = await create_enrollment_token(s, p, body, auth.client_ip(request))
    tokens = await s.db.read(data.list_enrollment_tokens, p)
    tenants = await s.db.read(data.visible_tenants, p)
    # Rendered, not redirected: the token is shown this once and never stored in clear.
    return _render(request, "enrollment.html", p, tokens=tokens, tenants=tenants, created=created)


# ---------------------------------------------------------------------------- account


@router.get("/account", response_class=HTMLResponse)
async def account(request: Request, p: Reader) -> Response:
    tokens = await _state(request).db.read(data.list_api_tokens, p)
    return _render(request, "account.html", p, tokens=tokens, created=None)


@router.post("/account/tokens", response_class=HTMLResponse)
async def account_token(
    request: Request, p: Writer, name: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    s = _state(request)
    created = await s.db.write(data.create_api_token, p, name=name, ip=auth.client_ip(request))
    tokens = await s.db.read(data.list_api_tokens, p)
    return _render(request, "account.html", p, tokens=tokens, created=created)


@router.post("/account/tokens/{token_id}/revoke")
async def account_token_revoke(
    request: Request, p: Writer, token_id: Annotated[int, Path(ge=1, le=2**62)]
) -> Response:
    await _state(request).db.write(data.revoke_api_token, p, token_id, ip=auth.client_ip(request))
    return _see_other("/account" if not p.is_admin else "/users")


@router.post("/account/password")
async def account_password(
    request: Request,
    p: Writer,
    current: Annotated[str, Form(max_length=1024)],
    new: Annotated[str, Form(max_length=1024)],
) -> Response:
    s = _state(request)
    row = await s.db.read(data.user_auth_row, p.username)
    if row is None or not await s.db.call(passwords.verify_password, row["password_hash"], current):
        raise data.Invalid("the current password is wrong")
    password_hash = await s.db.call(passwords.hash_password, new)
    await s.db.write(
        data.update_user, p, p.user_id, password_hash=password_hash, ip=auth.client_ip(request)
    )
    return _see_other("/account?done=password")


# ---------------------------------------------------------------------------- admin


@router.get("/users", response_class=HTMLResponse)
async def users(request: Request, p: Reader) -> Response:
    s = _state(request)
    rows = await s.db.read(data.list_users, p)  # Forbidden for non-admins
    tokens = await s.db.read(data.list_api_tokens, p)
    tenants = await s.db.read(data.visible_tenants, p)
    return _render(
        request,
        "users.html",
        p,
        users=rows,
        tokens=tokens,
        tenants=tenants,
        roles=data.ROLES,
        created=None,
    )


@router.post("/users", response_class=HTMLResponse)
async def user_create(
    request: Request,
    p: Writer,
    username: Annotated[str, Form(max_length=64)],
    role: Annotated[str, Form(max_length=20)],
    tenants: Annotated[str, Form(max_length=5000)] = "",
    all_tenants: Annotated[bool, Form()] = False,
) -> Response:
    data.require_admin(p)
    s = _state(request)
    password = passwords.generate_password()
    password_hash = await s.db.call(passwords.hash_password, password)
    user = await s.db.write(
        data.create_user,
        p,
        username=username,
        password_hash=password_hash,
        role=role,
        tenants=[t for t in tenants.replace(",", " ").split() if t],
        all_tenants=all_tenants,
        ip=auth.client_ip(request),
    )
    rows = await s.db.read(data.list_users, p)
    tokens = await s.db.read(data.list_api_tokens, p)
    tenant_names = await s.db.read(data.visible_tenants, p)
    return _render(
        request,
        "users.html",
        p,
        users=rows,
        tokens=tokens,
        tenants=tenant_names,
        roles=data.ROLES,
        created={"username": user["username"], "password": password},
    )


@router.post("/users/{user_id}", response_class=HTMLResponse)
async def user_update(
    request: Request,
    p: Writer,
    user_id: Annotated[int, Path(ge=1, le=2**62)],
    action: Annotated[str, Form(max_length=20)],
    role: Annotated[str, Form(max_length=20)] = "",
    tenants: Annotated[str, Form(max_length=5000)] = "",
    all_tenants: Annotated[bool, Form()] = False,
) -> Response:
    data.require_admin(p)
    s = _state(request)
    ip = auth.client_ip(request)
    if action in ("disable", "enable"):
        await s.db.write(data.update_user, p, user_id, disabled=action == "disable", ip=ip)
    elif action == "scope":
        await s.db.write(
            data.update_user,
            p,
            user_id,
            role=role,
            tenants=[t for t in tenants.replace(",", " ").split() if t],
            all_tenants=all_tenants,
            ip=ip,
        )
    elif action == "password":
        password = passwords.generate_password()
        password_hash = await s.db.call(passwords.hash_password, password)
        user = await s.db.write(data.update_user, p, user_id, password_hash=password_hash, ip=ip)
        rows = await s.db.read(data.list_users, p)
        tokens = await s.db.read(data.list_api_tokens, p)
        tenant_names = await s.db.read(data.visible_tenants, p)
        return _render(
            request,
            "users.html",
            p,
            users=rows,
            tokens=tokens,
            tenants=tenant_names,
            roles=data.ROLES,
            created={"username": user["username"], "password": password},
        )
    else:
        raise data.Invalid(f"unknown action {action!r}")
    return _see_other("/users")


@router.get("/audit", response_class=HTMLResponse)
async def audit(
    request: Request,
    p: Reader,
    actor: Annotated[str, Query(max_length=100)] = "",
    action: Annotated[str, Query(max_length=100)] = "",
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Response:
    rows = await _state(request).db.read(
        data.list_audit, p, limit=200, offset=offset, actor=actor or None, action=action or None
    )
    return _render(
        request, "audit.html", p, rows=rows, f={"actor": actor, "action": action}, offset=offset
    )


# ---------------------------------------------------------------------------- containment


@router.post("/hosts/{agent_id}/contain")
async def host_contain(
    request: Request,
    p: Writer,
    agent_id: AgentId,
    action: Annotated[str, Form(max_length=16)],
    minutes: Annotated[str, Form(max_length=8)] = "",
    allow: Annotated[str, Form(max_length=2000)] = "",
    address: Annotated[str, Form(max_length=64)] = "",
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    # another tenant's host is "not found" whatever the form holds
    await _state(request).db.read(contain_data.host_tenant, p, agent_id)
    if minutes.strip() and not minutes.strip().isdigit():
        raise data.Invalid(f"minutes must be a whole number, got {minutes!r}")
    try:
        body = ContainIn.model_validate(
            {
                "action": action,
                "minutes": int(minutes) if minutes.strip() else None,
                "allow": allow.replace(",", " ").split(),
                "address": address,
                "reason": reason,
            }
        )
    except ValidationError as exc:
        problems = "; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in exc.errors())
        raise data.Invalid(problems) from exc
    queued = await _state(request).db.write(
        contain_data.request_containment,
        p,
        agent_id,
        checked_request(body),
        reason,
        ip=auth.client_ip(request),
    )
    done = f"{action} {queued['status'].replace('_', ' ')} (command {queued['command']})"
    return _see_other(f"/containment?{urlencode({'done': done, 'agent_id': agent_id})}")


@router.get("/containment", response_class=HTMLResponse)
async def containment_page(
    request: Request,
    p: Reader,
    agent_id: Annotated[str, Query(max_length=128)] = "",
    done: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    s = _state(request)
    waiting = await s.db.read(contain_data.list_requests, p, agent_id=agent_id or None)
    decided = [
        r
        for r in await s.db.read(
            contain_data.list_requests, p, agent_id=agent_id or None, status=None
        )
        if r["status"] != "awaiting"
    ][-50:]
    return _render(
        request,
        "containment.html",
        p,
        waiting=waiting,
        decided=list(reversed(decided)),
        agent_id=agent_id,
        done=done,
    )


@router.post("/containment/{command_id}/{verdict}")
async def containment_decide(
    request: Request,
    p: Writer,
    command_id: Annotated[str, Path(min_length=1, max_length=64)],
    verdict: Annotated[str, Path(pattern="^(approve|refuse)$")],
) -> Response:
    result = await _state(request).db.write(
        contain_data.decide,
        p,
        command_id,
        approve=verdict == "approve",
        ip=auth.client_ip(request),
    )
    done = f"{result['action']} for {result['agent_id']} {result['status']}"
    return _see_other(f"/containment?{urlencode({'done': done})}")
