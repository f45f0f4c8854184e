"""Who is asking, and may they: passwords, sessions, API tokens, CSRF, login throttling.

- Passwords (``passwords``): verified off the event loop.
- Sessions: a random id in an HttpOnly, SameSite=Strict cookie (Secure and ``__Host-``
  when the console is served over https); only its SHA-256 is stored. Every login makes a
  new id and ends the one the browser presented, so a planted cookie is worthless
  (fixation). Idle and absolute expiry are checked on every request.
- CSRF: each session has its own token, checked server-side on every state-changing
  request made with the session cookie (form field ``csrf_token`` or header
  ``X-CSRF-Token``, which htmx sends). The login form, before any session exists, uses a
  double-submit cookie. Bearer-token requests carry no ambient credential and need none.
- API tokens: ``Authorization: Bearer exwc_...``, SHA-256 at rest, acting as their user.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request
from starlette.responses import Response

from collector.console import data
from collector.console.data import Principal

if TYPE_CHECKING:
    from collector.console.app import ConsoleState

LOGIN_CSRF_COOKIE = "exw_login_csrf"


class LoginRequired(Exception):
    """No valid session or token: 401 for the API, a redirect to /login for pages."""


class CSRFError(Exception):
    """A state-changing request without the session's CSRF token."""


def session_cookie_name(secure: bool) -> str:
    # __Host- makes browsers refuse the cookie unless Secure, Path=/ and host-only: a
    # sibling subdomain cannot plant or overwrite it.
    return "__Host-exw_session" if secure else "exw_session"


def set_session_cookie(response: Response, token: str, *, secure: bool, max_age: int) -> None:
    response.set_cookie(
        session_cookie_name(secure),
        token,
        max_age=max_age,
        path="/",
        secure=secure,
        httponly=True,
        samesite="strict",
    )


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(
        session_cookie_name(secure), path="/", secure=secure, httponly=True, samesite="strict"
    )


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


@dataclass
class LoginThrottle:
    """Failed logins per username and per client address in a sliding window: enough to
    stop online guessing against argon2 without a table (a restart forgets, which is fine)."""

    max_failures: int
    window_seconds: float
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _recent(self, key: str, now: float) -> deque[float]:
        q = self._failures.setdefault(key, deque())
        while q and q[0] <= now - self.window_seconds:
            q.popleft()
        return q

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        with self._lock:
            return any(len(self._recent(k, now)) >= self.max_failures for k in keys)

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for k in keys:
                self._recent(k, now).append(now)
            if len(self._failures) > 10_000:  # bound memory under a spray of names
                self._failures = {k: v for k, v in self._failures.items() if v}

    def succeeded(self, *keys: str) -> None:
        with self._lock:
            for k in keys:
                self._failures.pop(k, None)


async def authenticate(request: Request) -> Principal | None:
    """The request's principal (cached on the request), or None."""
    if hasattr(request.state, "principal"):
        cached: Principal | None = request.state.principal
        return cached
    state: ConsoleState = request.app.state.console
    principal: Principal | None = None
    header = request.headers.get("authorization", "")
    if header[:7].lower() == "bearer ":
        principal, touch = await state.db.read(data.token_principal, header[7:].strip())
        if principal is not None and touch:
            await state.db.write(data.touch_token, principal.token_id)
    else:
        cookie = request.cookies.get(session_cookie_name(state.settings.secure_cookies))
        if cookie:
            principal, action = await state.db.read(
                data.session_principal,
                cookie,
                idle_ns=state.settings.session_idle_minutes * 60 * 10**9,
            )
            if action:
                await state.db.write(data.touch_session, data.sha256(cookie), action)
    request.state.principal = principal
    return principal


async def require_principal(request: Request) -> Principal:
    principal = await authenticate(request)
    if principal is None:
        raise LoginRequired()
    return principal


async def check_csrf(request: Request, principal: Principal) -> None:
    """Refuse a cookie-authenticated state change that lacks this session's token."""
    if principal.via != "session":
        return
    sent = request.headers.get("x-csrf-token", "")
    if not sent and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token", "")
        sent = value if isinstance(value, str) else ""
    if not sent or not secrets.compare_digest(sent, principal.csrf_token):
        raise CSRFError()


async def require_writer(request: Request) -> Principal:
    """A principal allowed to make a state change here: signed in, with CSRF."""
    principal = await require_principal(request)
    await check_csrf(request, principal)
    return principal
