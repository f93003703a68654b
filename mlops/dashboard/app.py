"""The dashboard's FastAPI application: sessions, security headers, error pages, routes.

``create_app(config, users)`` is the only entry point (the CLI's ``serve`` and the tests use
it). Users are passed in, never read here, so the app cannot start without them.
"""

from __future__ import annotations

import logging
import secrets
import subprocess
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from mlops.dashboard import views
from mlops.dashboard.auth import User, UsersError
from mlops.dashboard.csrf import csrf_token
from pipelines.config import PlatformConfig

log = logging.getLogger("mlops.dashboard")
PACKAGE_DIR = Path(__file__).parent
SESSION_HOURS = 8
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class NotSignedIn(Exception):
    """No valid session: pages redirect to the sign-in form, actions and APIs answer 401."""


class Forbidden(Exception):
    """Signed in but not allowed (viewer acting, or a bad CSRF token): 403 with the reason."""


class DashboardState:
    """What lives as long as the server: config, users, caches, the runs this server started."""

    def __init__(self, config: PlatformConfig, users: dict[str, User]) -> None:
        self.config = config
        self.users = users
        self.cache = views.SummaryCache()
        self.topology = views.Topology()
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def reap(self) -> bool:
        """Collect finished child runs (no zombies); True while one this server started is
        starting or running. A child whose run record says it finished is only exiting."""
        from mlops.runrecords import load_record

        self.children = {run: p for run, p in self.children.items() if p.poll() is None}
        return any(
            (record := load_record(self.config.workspace, run)) is None
            or record.finished is None
            for run in self.children)

    def starting(self, run_id: str) -> bool:
        """A run this server started whose process is alive (it may not have records yet)."""
        self.reap()
        return run_id in self.children


def create_app(config: PlatformConfig, users: dict[str, User],
               session_secret: str | None = None) -> FastAPI:
    if not users:
        raise UsersError("no dashboard users configured; refusing to start without sign-in")
    app = FastAPI(title="MLOps dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.dashboard = DashboardState(config, users)
    app.state.dashboard.topology.start(config)
    templates = Jinja2Templates(directory=str(PACKAGE_DIR / "templates"))
    templates.env.globals.update(duration=views.duration, csrf_token=csrf_token,
                                 refresh_seconds=config.dashboard.refresh_seconds)
    app.state.templates = templates

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    app.add_middleware(
        SessionMiddleware, secret_key=session_secret or secrets.token_urlsafe(48),
        session_cookie="mlops_dashboard", max_age=SESSION_HOURS * 3600, same_site="strict",
        https_only=False,
    )
    app.mount("/static", StaticFiles(directory=str(PACKAGE_DIR / "static")), name="static")
    _install_error_pages(app, templates)

    from mlops.dashboard import routes

    app.include_router(routes.router)
    return app


def _wants_html(request: Request) -> bool:
    return request.method == "GET" and not request.url.path.startswith("/api/")


def _install_error_pages(app: FastAPI, templates: Jinja2Templates) -> None:
    def page(request: Request, status: int, title: str, message: str) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=status)
        return templates.TemplateResponse(
            request, "error.html", {"title": title, "message": message, "user": None},
            status_code=status)

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _: NotSignedIn) -> Response:
        if _wants_html(request):
            return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
        return page(request, 401, "Sign in required", "Sign in to use the dashboard.")

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, error: Forbidden) -> Response:
        return page(request, 403, "Not allowed", str(error))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        message = error.detail if isinstance(error.detail, str) else "request failed"
        return page(request, error.status_code, f"Error {error.status_code}", message)

    @app.exception_handler(Exception)
    async def server_error(request: Request, error: Exception) -> Response:
        log.exception("dashboard error on %s %s", request.method, request.url.path)
        return page(request, 500, "Something went wrong",
                    "The dashboard hit an internal error; the details are in its log.")


def html(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(request, template, context, status_code=status_code)
