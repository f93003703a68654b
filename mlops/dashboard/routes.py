"""Pages and actions.

Every page needs a signed-in user; every POST also a valid CSRF token; trigger, pause/resume
and promote/rollback also the operator role (checked in that order: 401 not signed in, 403 bad
CSRF token, 403 viewer). Pages that read ML Metadata or artifacts are plain functions, so
FastAPI runs them in its thread pool and a slow read never blocks other requests.
"""

from __future__ import annotations

import logging
import mimetypes
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
)
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from mlops.dashboard import sources, views
from mlops.dashboard.app import DashboardState, Forbidden, NotSignedIn, html
from mlops.dashboard.auth import User, authenticate
from mlops.dashboard.csrf import csrf_valid
from mlops.dashboard.paths import PathRefused, inside_workspace
from mlops.metadata import open_reader
from mlops.runlock import RunInProgressError
from mlops.summary import OVERALL_SLICE
from pipelines.config import ConfigError, data_files, resolve_data_source

log = logging.getLogger("mlops.dashboard")
router = APIRouter()
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")
MAX_FILE_BYTES = 20 * 1024 * 1024


# ----- helpers -----------------------------------------------------------------------------
def state(request: Request) -> DashboardState:
    return request.app.state.dashboard


def signed_in(request: Request) -> User:
    name = request.session.get("user")
    user = state(request).users.get(name) if isinstance(name, str) else None
    if user is None:
        raise NotSignedIn()
    return user


async def acting(request: Request, operator: bool = True) -> User:
    """A signed-in user with a valid CSRF token (and the operator role for operator actions)."""
    user = signed_in(request)
    if not await csrf_valid(request):
        raise Forbidden("missing or invalid CSRF token: reload the page and try again")
    if operator and not user.is_operator:
        raise Forbidden(f"user '{user.name}' is a viewer; only operators can do this")
    return user


def flash(request: Request, message: str, kind: str = "info") -> None:
    request.session.setdefault("flash", []).append({"kind": kind, "message": message})


def take_flashes(request: Request) -> list[dict[str, str]]:
    return request.session.pop("flash", [])


def back(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def checked_run_id(run_id: str) -> str:
    if not RUN_ID.match(run_id):
        raise HTTPException(404, f"no run '{run_id[:60]}'")
    return run_id


async def form_text(request: Request, name: str, limit: int = 1000) -> str:
    value = (await request.form()).get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> Response:
    dashboard = state(request)
    holder = views.holder_of(dashboard.config)
    return html(request, template, status_code=status_code, user=signed_in(request),
                flashes=take_flashes(request), holder=holder,
                pipeline=dashboard.config.pipeline.name, **context)


# ----- sign in / out -----------------------------------------------------------------------
@router.get("/login")
async def login_form(request: Request, next: str = "/runs") -> Response:
    return html(request, "login.html", user=None, flashes=take_flashes(request),
                next=_local(next), error=None)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    if not await csrf_valid(request):
        raise Forbidden("missing or invalid CSRF token: reload the sign-in page and try again")
    name, password = str(form.get("username", "")), str(form.get("password", ""))
    user = authenticate(state(request).users, name, password)
    target = _local(str(form.get("next", "/runs")))
    if user is None:
        log.warning("dashboard: failed sign-in for %r", name[:60])
        return html(request, "login.html", status_code=401, user=None, flashes=[],
                    next=target, error="Wrong user name or password.")
    csrf = request.session.get("csrf")
    request.session.clear()  # a fresh session on sign-in (no fixation)
    request.session.update({"user": user.name, "csrf": csrf})
    log.info("dashboard: %s signed in (%s)", user.name, user.role.value)
    return back(target)


@router.post("/logout")
async def logout(request: Request) -> Response:
    await acting(request, operator=False)
    request.session.clear()
    return back("/login")


def _local(target: str) -> str:
    """Only same-site redirects after sign-in (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") else "/runs"


@router.get("/")
async def home(request: Request) -> Response:
    signed_in(request)
    return back("/runs")


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


# ----- runs --------------------------------------------------------------------------------
@router.get("/runs")
def runs_page(request: Request) -> Response:
    signed_in(request)
    dashboard = state(request)
    dashboard.reap()
    holder = views.holder_of(dashboard.config)
    rows = views.run_rows(dashboard.config, dashboard.cache, holder)
    busy = holder is not None or dashboard.reap()
    return page(request, "runs.html", rows=rows, refresh=busy,
                data_default=dashboard.config.data.source)


@router.get("/api/runs")
def runs_api(request: Request) -> Response:
    signed_in(request)
    dashboard = state(request)
    holder = views.holder_of(dashboard.config)
    rows = views.run_rows(dashboard.config, dashboard.cache, holder)
    return JSONResponse({"in_progress": asdict(holder) if holder else None,
                         "runs": [asdict(r) for r in rows]})


@router.post("/runs/trigger")
async def trigger(request: Request) -> Response:
    user = await acting(request)
    dashboard = state(request)
    config = dashboard.config
    data = await form_text(request, "data_source")
    if data:
        try:
            if not data_files(resolve_data_source(data, config.base_dir)):
                flash(request, f"Not started: no data files at '{data}'. Give a file, "
                      "directory or glob that exists on the dashboard's machine.", "error")
                return back("/runs")
        except ConfigError as error:
            flash(request, f"Not started: {error}", "error")
            return back("/runs")
    if dashboard.reap():
        flash(request, "Not started: a run this dashboard started is still starting or "
              "running; wait for it to finish.", "error")
        return back("/runs")
    from mlops.trigger import start_pipeline_run

    try:
        triggered = await run_in_threadpool(start_pipeline_run, config,
                                            reason=f"dashboard:{user.name}",
                                            data_source=data or None)
    except RunInProgressError as error:
        flash(request, f"Not started: {error}", "error")
        return back("/runs")
    dashboard.children[triggered.run_id] = triggered.process
    log.info("dashboard: %s started run %s (data %s)", user.name, triggered.run_id,
             data or "default")
    flash(request, f"Started run {triggered.run_id}"
          + (f" on {data}" if data else "") + ".", "success")
    return back(f"/runs/{quote(triggered.run_id)}")


@router.get("/runs/{run_id}")
def run_page(request: Request, run_id: str) -> Response:
    signed_in(request)
    run_id = checked_run_id(run_id)
    dashboard = state(request)
    dashboard.reap()
    holder = views.holder_of(dashboard.config)
    with open_reader(dashboard.config.metadata_path) as reader:
        detail = (views.run_detail(dashboard.config, reader, dashboard.cache,
                                   dashboard.topology, run_id, holder) if reader else None)
    record = views.load_record(dashboard.config.workspace, run_id)
    starting = detail is None and (dashboard.starting(run_id)
                                   or (holder is not None and holder.run_id == run_id))
    if detail is None and record is None and not starting:
        raise HTTPException(404, f"no run '{run_id}' in ML Metadata or the run records")
    return page(request, "run.html", run_id=run_id, detail=detail, record=record,
                refresh=bool(starting or (detail and detail.running)), starting=starting,
                log_tail=_log_tail(dashboard, run_id) if detail is None else None)


def _log_tail(dashboard: DashboardState, run_id: str, lines: int = 30) -> str | None:
    logs = dashboard.config.workspace / "logs"
    for path in (logs / f"trigger-{run_id}.out", logs / f"run-{run_id}.log"):
        if path.exists():
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return None


@router.get("/runs/{run_id}/validation")
def validation_page(request: Request, run_id: str, compare: str = "",
                          split: str = "") -> Response:
    signed_in(request)
    run_id = checked_run_id(run_id)
    compare = checked_run_id(compare) if compare else ""
    dashboard = state(request)
    with open_reader(dashboard.config.metadata_path) as reader:
        report = (views.validation_report(dashboard.config, reader, dashboard.cache, run_id,
                                          compare or None, split or None) if reader else None)
        others = reader.run_ids(dashboard.config.pipeline.name) if reader else []
    if report is None:
        raise HTTPException(404, f"no run '{run_id}' in ML Metadata")
    from mlops.dashboard import svg

    return page(request, "validation.html", report=report, svg=svg, compare=compare,
                others=[r for r in others if r != run_id])


@router.get("/runs/{run_id}/evaluation")
def evaluation_page(request: Request, run_id: str) -> Response:
    signed_in(request)
    run_id = checked_run_id(run_id)
    dashboard = state(request)
    with open_reader(dashboard.config.metadata_path) as reader:
        if reader is None or reader.pipeline_run(dashboard.config.pipeline.name, run_id) is None:
            raise HTTPException(404, f"no run '{run_id}' in ML Metadata")
        summary = dashboard.cache.get(reader, dashboard.config, run_id)
    overall = [row for row in summary.metrics if row.slice == OVERALL_SLICE]
    by_slice: dict[str, dict[str, Any]] = {}
    for row in summary.metrics:
        if row.slice != OVERALL_SLICE:
            by_slice.setdefault(row.slice, {})[row.metric] = row
    metric_names = sorted({row.metric for row in summary.metrics})
    return page(request, "evaluation.html", run_id=run_id, summary=summary, overall=overall,
                slices=sorted(by_slice.items(), key=lambda item: _natural(item[0])),
                metric_names=metric_names, thresholds=dashboard.config.evaluator.thresholds)


def _natural(text: str) -> list[Any]:
    """'trip_start_hour=9' before 'trip_start_hour=10'."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part)
            for part in re.split(r"(\d+)", text)]


# ----- artifacts ---------------------------------------------------------------------------
@router.get("/artifacts")
def artifact_page(request: Request, path: str = "") -> Response:
    signed_in(request)
    workspace = state(request).config.workspace
    try:
        target = inside_workspace(workspace, path)
    except PathRefused as error:
        raise HTTPException(404, f"artifact path refused: {error}") from None
    if target.is_file():
        if target.stat().st_size > MAX_FILE_BYTES:
            raise HTTPException(413, "file too large to download through the dashboard")
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if kind.startswith("text/html"):
            kind = "text/plain"  # never render workspace HTML in the dashboard's origin
        return FileResponse(target, media_type=kind, filename=target.name)
    entries = sorted(target.iterdir(), key=lambda p: (not p.is_dir(), p.name))
    root = workspace.resolve()
    listing = [{"name": p.name + ("/" if p.is_dir() else ""),
                "path": str(p.relative_to(root)), "size": p.stat().st_size if p.is_file() else None}
               for p in entries[:500]]
    parent = str(target.parent.relative_to(root)) if target != root else None
    return page(request, "artifacts.html", target=str(target.relative_to(root)) or ".",
                absolute=str(target), listing=listing, parent=parent)


# ----- schedules, drift, models ------------------------------------------------------------
@router.get("/schedules")
def schedules_page(request: Request) -> Response:
    signed_in(request)
    return page(request, "schedules.html", section=sources.schedules(state(request).config))


@router.post("/schedules/{name}/{action}")
async def schedule_action(request: Request, name: str, action: str) -> Response:
    user = await acting(request)
    if action not in ("pause", "resume") or not NAME.match(name):
        raise HTTPException(404, "unknown schedule action")
    try:
        message = sources.set_schedule_paused(state(request).config, name, action == "pause",
                                              user.name)
        flash(request, message, "success")
    except (sources.SourceUnavailable, ValueError, LookupError) as error:
        flash(request, f"Not done: {error}", "error")
    return back("/schedules")


@router.get("/drift")
def drift_page(request: Request) -> Response:
    signed_in(request)
    section = sources.drift_history(state(request).config)
    from mlops.dashboard import svg

    by_feature: dict[str, list[dict[str, Any]]] = {}
    for item in section.items:
        by_feature.setdefault(str(item.get("feature")), []).append(item)
    return page(request, "drift.html", section=section, by_feature=by_feature, svg=svg)


@router.get("/drift/reports/{check_id}")
def drift_report(request: Request, check_id: str) -> Response:
    """A saved drift report (self-contained HTML: distance vs threshold, overlaid
    distributions)."""
    signed_in(request)
    if not NAME.match(check_id):
        raise HTTPException(404, "unknown report")
    try:
        return HTMLResponse(sources.drift_report_html(state(request).config, check_id))
    except LookupError:
        raise HTTPException(404, "unknown report") from None


@router.get("/models")
def models_page(request: Request) -> Response:
    signed_in(request)
    return page(request, "models.html", section=sources.model_versions(state(request).config))


@router.post("/models/promote")
async def promote(request: Request) -> Response:
    user = await acting(request)
    version, alias = await form_text(request, "version", 64), await form_text(request, "alias", 64)
    reason = await form_text(request, "reason")
    if not (await form_text(request, "confirm")) or not reason:
        flash(request, "Not promoted: tick the confirmation and give a reason.", "error")
        return back("/models")
    if not NAME.match(version) or not NAME.match(alias):
        flash(request, "Not promoted: version and alias must be plain names.", "error")
        return back("/models")
    try:
        flash(request, sources.promote_model(state(request).config, version, alias, reason,
                                             user.name), "success")
    except sources.SourceUnavailable as error:
        flash(request, f"Not promoted: {error}", "error")
    except (ValueError, KeyError, LookupError) as error:
        flash(request, f"Not promoted: {error}", "error")
    return back("/models")


@router.post("/models/rollback")
async def rollback(request: Request) -> Response:
    user = await acting(request)
    alias, reason = await form_text(request, "alias", 64), await form_text(request, "reason")
    if not (await form_text(request, "confirm")) or not reason:
        flash(request, "Not rolled back: tick the confirmation and give a reason.", "error")
        return back("/models")
    if not NAME.match(alias):
        flash(request, "Not rolled back: the alias must be a plain name.", "error")
        return back("/models")
    try:
        flash(request, sources.rollback_model(state(request).config, alias, reason, user.name),
              "success")
    except sources.SourceUnavailable as error:
        flash(request, f"Not rolled back: {error}", "error")
    except (ValueError, KeyError, LookupError) as error:
        flash(request, f"Not rolled back: {error}", "error")
    return back("/models")


def relative_to_workspace(workspace: Path, uri: str) -> str | None:
    try:
        return str(Path(uri).resolve().relative_to(workspace.resolve()))
    except ValueError:
        return None
