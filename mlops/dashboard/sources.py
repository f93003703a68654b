"""What the dashboard shows of the scheduler, the drift monitor and the model registry.

Each section reads the same modules the CLI uses (``mlops.scheduler``, ``mlops.monitoring``,
``mlops.registry``) and returns a ``Section`` whose ``items`` are plain dicts (shapes documented
per function), or an empty Section with a hint naming the command that produces the data.
A section that fails to load shows a hint instead of taking the whole page down.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pipelines.config import PlatformConfig

log = logging.getLogger("mlops.dashboard")


class SourceUnavailable(RuntimeError):
    """The data behind an action does not exist yet; the message says what to do."""


@dataclass
class Section:
    """What a page section shows: items (list of dicts) or, when empty, a hint to act on."""

    items: list[dict[str, Any]] = field(default_factory=list)
    hint: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return self.hint is None


def _resilient(loader: Callable[[PlatformConfig], Section]) -> Callable[[PlatformConfig], Section]:
    @functools.wraps(loader)
    def load(config: PlatformConfig) -> Section:
        try:
            return loader(config)
        except Exception:  # a broken source must not take the whole dashboard down
            log.exception("dashboard section %s failed", loader.__name__)
            return Section(hint="this section failed to load; see the dashboard's log")

    return load


# ----- schedules (issue 4) -----------------------------------------------------------------
@_resilient
def schedules(config: PlatformConfig) -> Section:
    """items = [{"name", "cron", "paused", "next_run"}]; extra["firings"] = recorded firings
    of the local scheduler, newest first."""
    import datetime as dt

    from mlops.scheduler import next_firings, pause_state, read_firings

    section = config.schedule
    paused = pause_state(config.workspace)
    upcoming = next_firings(config, dt.datetime.now(dt.UTC), 1) if section.enabled else []
    item = {
        "name": config.pipeline.name,
        "cron": f"{section.cron} ({section.time_zone})",
        "paused": paused is not None or not section.enabled,
        "next_run": upcoming[0].isoformat() if upcoming and paused is None else None,
    }
    firings = [
        {"time": event.get("scheduled", ""), "schedule": event.get("event", ""),
         "run_id": event.get("run_id"),
         "outcome": event.get("outcome") or event.get("reason") or event.get("error", "")}
        for event in reversed(read_firings(config.workspace))
    ]
    return Section(items=[item], extra={"firings": firings})


def set_schedule_paused(config: PlatformConfig, name: str, paused: bool, user: str) -> str:
    """Pause or resume the schedule (same functions as `mlops schedule pause|resume`)."""
    from mlops.scheduler import pause_schedule, resume_schedule

    if name != config.pipeline.name:
        raise LookupError(f"no schedule named '{name}'")
    if paused:
        changed = pause_schedule(config.workspace, user, "from the dashboard")
        return f"schedule '{name}' paused" if changed else f"schedule '{name}' was already paused"
    changed = resume_schedule(config.workspace)
    return f"schedule '{name}' resumed" if changed else f"schedule '{name}' was not paused"


# ----- drift (issue 5) ---------------------------------------------------------------------
DRIFT_HINT = "no drift reports yet: run `mlops drift check`"


@_resilient
def drift_history(config: PlatformConfig) -> Section:
    """items = [{"time", "feature", "distance", "threshold", "drifted"}] (one per feature per
    report, oldest first); extra["decisions"] newest first; extra["latest_report"] = check id.
    Read from the drift reports and decision log (`mlops.monitoring`)."""
    import datetime as dt

    from mlops.monitoring.decisions import load_decisions
    from mlops.monitoring.report import list_reports, load_report

    def when(seconds: float) -> str:
        return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")

    reports = list_reports(config.workspace)
    decisions = load_decisions(config)
    if not reports and not decisions:
        return Section(hint=DRIFT_HINT)
    items = []
    for summary in reversed(reports):  # oldest first, for the per-feature time series
        for feature in load_report(summary.json_path)["features"]:
            items.append({"time": when(summary.created), "feature": feature["name"],
                          "distance": feature["distance"], "threshold": feature["threshold"],
                          "drifted": feature["drifted"]})
    return Section(items=items, extra={
        "decisions": [
            {"time": when(d.time), "decision": d.decision, "detail": d.reason,
             "run_id": d.run_id}
            for d in reversed(decisions)
        ],
        "latest_report": reports[0].check_id if reports else None,
    })


def drift_report_html(config: PlatformConfig, check_id: str) -> str:
    """The saved HTML report of one check (the id is validated by the caller)."""
    from mlops.monitoring.report import reports_dir

    path = reports_dir(config.workspace) / f"{check_id}.html"
    if not path.is_file():
        raise LookupError(f"no drift report '{check_id}'")
    return path.read_text(encoding="utf-8")


# ----- registry (issue 6) ------------------------------------------------------------------
REGISTRY_HINT = "no registered models yet: a pushed `mlops run` registers one"


def _registry(config: PlatformConfig):  # type: ignore[no-untyped-def]
    from mlops.registry.models import ModelRegistry

    return ModelRegistry.for_config(config)


@_resilient
def model_versions(config: PlatformConfig) -> Section:
    """items = [{"version", "aliases", "metrics", "run_id", "created", "source", "blessed"}]
    newest first, from the MLflow registry (same data as `mlops models list`)."""
    import datetime as dt

    registry = _registry(config)
    if not registry.exists():
        return Section(hint=REGISTRY_HINT)
    items = [
        {
            "version": v.version,
            "aliases": list(v.aliases),
            "metrics": _numeric_metrics(v.tags),
            "run_id": v.run_id or None,
            "created": dt.datetime.fromtimestamp(v.created_ms / 1000, dt.UTC)
            .strftime("%Y-%m-%d %H:%M UTC"),
            "source": v.source,
            "blessed": v.blessed,
        }
        for v in registry.versions()
    ]
    history = [entry.__dict__ for entry in registry.history()]
    return Section(items=items, hint=None if items else REGISTRY_HINT,
                   extra={"history": history})


def _numeric_metrics(tags: dict[str, str]) -> dict[str, float]:
    """``metric.*`` tags of a version as numbers (MLflow stores tag values as strings)."""
    metrics = {}
    for key, value in sorted(tags.items()):
        if key.startswith("metric."):
            try:
                metrics[key.removeprefix("metric.")] = float(value)
            except ValueError:
                continue
    return metrics


def promote_model(config: PlatformConfig, version: str, alias: str, reason: str,
                  user: str) -> str:
    """Point ``alias`` at ``version`` through the same guarded code as `mlops models promote`
    (refusals raise ValueError with the registry's reason)."""
    from mlops.registry.models import RegistryError

    registry = _registry(config)
    if not registry.exists():
        raise SourceUnavailable(REGISTRY_HINT)
    try:
        change = registry.promote(version, alias, user, reason)
    except RegistryError as error:
        raise ValueError(str(error)) from None
    if not change.changed:
        return f"version {version} already holds '{alias}'; nothing changed"
    return f"alias '{alias}' now points at version {version}"


def rollback_model(config: PlatformConfig, alias: str, reason: str, user: str) -> str:
    """Move ``alias`` back to the version it pointed at before (`mlops models rollback`)."""
    from mlops.registry.models import RegistryError

    registry = _registry(config)
    if not registry.exists():
        raise SourceUnavailable(REGISTRY_HINT)
    try:
        change = registry.rollback(user, reason, alias=alias)
    except RegistryError as error:
        raise ValueError(str(error)) from None
    return f"alias '{alias}' rolled back to version {change.version}"


