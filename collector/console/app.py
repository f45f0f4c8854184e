"""The MSP console: FastAPI app factory (pages, JSON API under /api/v1, /metrics).

It runs on the collector's event loop; every database call goes through ``ConsoleDB``,
which keeps SQLite off the loop.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from collector.console import auth, data, passwords
from collector.console.settings import ConsoleSettings
from collector.errors import NotFound, StoreError
from collector.store.backend import open_database
from collector.store.store import Store

HERE = Path(__file__).resolve().parent
API_PREFIX = "/api/v1"

__all__ = ["ConsoleSettings", "ConsoleState", "bootstrap_admin", "create_app"]

# script/style only from this origin: the vendored htmx and our CSS; no inline script,
# so an injected tag in an event field (a hostile filename, a log line) cannot run.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@dataclass
class ConsoleState:
    settings: ConsoleSettings
    db: data.ConsoleDB
    store: Store
    templates: Jinja2Templates
    throttle: auth.LoginThrottle


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(API_PREFIX) or request.url.path == "/metrics"


def _error_page(request: Request, status: int, message: str) -> Response:
    state: ConsoleState = request.app.state.console
    principal = getattr(request.state, "principal", None)
    return state.templates.TemplateResponse(
        request,
        "error.html",
        {"status": status, "message": message, "principal": principal},
        status_code=status,
    )


def _error(request: Request, status: int, message: str) -> Response:
    if _is_api(request):
        return JSONResponse({"detail": message}, status_code=status)
    return _error_page(request, status, message)


def create_app(settings: ConsoleSettings, store: Store) -> FastAPI:
    """The console app. ``store`` is the collector's own ``Store`` (its one writer,
    used for alert status changes, enrollment tokens and revocation)."""
    db = data.ConsoleDB(open_database(settings.db_path), store, workers=settings.read_workers)
    passwords.dummy_hash()  # now, so that the first login with an unknown name is not the slower

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        db.acquire()
        try:
            yield
        finally:
            db.release()

    app = FastAPI(
        title="exwatch console API",
        version="1",
        description="Alerts, hosts and accounts of an exwatch collector. Authenticate with "
        "`Authorization: Bearer exwc_...` (an API token, acting with its user's role and "
        "tenants). Objects of tenants you cannot see answer 404.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    from collector.console import charts, views

    templates.env.filters.update(views.FILTERS)
    templates.env.globals.update(
        title=settings.title, poll_seconds=settings.live_poll_seconds, chart=charts
    )
    app.state.console = ConsoleState(
        settings=settings,
        db=db,
        store=store,
        templates=templates,
        throttle=auth.LoginThrottle(settings.login_max_failures, settings.login_window_seconds),
    )
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if not request.url.path.startswith("/static"):
            # Pages show tenant data: never kept by a shared proxy or the back button cache.
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(auth.LoginRequired)
    async def login_required(request: Request, _: Exception) -> Response:
        if _is_api(request):
            return JSONResponse(
                {"detail": "not authenticated"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        if request.method != "GET" or request.headers.get("hx-request"):
            # A live fragment or a form from a session that just expired: make htmx load
            # the login page as a whole page.
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    @app.exception_handler(auth.CSRFError)
    async def csrf_failed(request: Request, _: Exception) -> Response:
        return _error(request, 403, "missing or wrong CSRF token: reload the page and retry")

    @app.exception_handler(data.ConsoleError)
    async def console_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, data.ConsoleError)
        return _error(request, exc.status, str(exc))

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(request, 404, str(exc))

    @app.exception_handler(StoreError)
    async def store_error(request: Request, exc: Exception) -> Response:
        return _error(request, 422, str(exc))

    @app.exception_handler(UnicodeEncodeError)
    async def bad_text(request: Request, _: Exception) -> Response:
        # Lone surrogates ("\ud800") are valid JSON escapes but not storable text.
        return _error(request, 422, "text contains characters that are not valid Unicode")

    @app.exception_handler(OverflowError)
    async def too_big(request: Request, _: Exception) -> Response:
        return _error(request, 422, "a number is out of range")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if _is_api(request):
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        return _error_page(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        if _is_api(request):
            errors: list[dict[str, Any]] = [
                {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
                for e in exc.errors()
            ]
            return JSONResponse({"detail": errors}, status_code=422)
        return _error_page(request, 422, "; ".join(str(e.get("msg")) for e in exc.errors()))

    from collector.console import metrics, routes_api, routes_pages

    app.include_router(routes_api.router, prefix=API_PREFIX)
    app.include_router(routes_pages.router)
    app.include_router(metrics.router)
    return app


def bootstrap_admin(db_path: Path | str) -> tuple[str, str] | None:
    """Create a first admin ("admin", random password) when the console has no user.
    Returns (username, password) to show once, or None when users exist.
    ``db_path``: the store's SQLite file or PostgreSQL DSN."""
    database = open_database(db_path)
    try:
        database.migrate()
        conn = database.connect()
        try:
            with conn.transaction():
                if data.count_users(conn):
                    return None
                password = passwords.generate_password()
                data.create_user(
                    conn,
                    data.cli_principal("bootstrap"),
                    username="admin",
                    password_hash=passwords.hash_password(password),
                    role="admin",
                    tenants=[],
                )
        finally:
            conn.close()
    finally:
        database.close()
    return "admin", password


def new_csrf() -> str:
    return secrets.token_urlsafe(32)
