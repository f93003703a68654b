"""Adapters to the scheduler, drift monitor and model registry, which land in other modules.

The dashboard must show what those parts produce as they land, and an empty section with a
hint where one is not there yet. Each adapter imports its module lazily and returns a
``Section`` whose ``items`` are plain dicts (the shapes are documented on each function), or
an empty Section with a hint naming the command that produces the data. Actions raise
``SourceUnavailable`` with the same kind of hint.

INTEGRATION: the functions marked ``WIRE:`` call the other modules through ``_call``, which
looks up a function by name; when merging, replace those look-ups by direct calls.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from pipelines.config import PlatformConfig

log = logging.getLogger("mlops.dashboard")

SCHEDULER_MODULE = "mlops.scheduler"
DRIFT_MODULE = "mlops.monitoring"
REGISTRY_MODULE = "mlops.registry"


class SourceUnavailable(RuntimeError):
    """The module behind a section is not installed or not wired yet; the message says why."""


@dataclass
class Section:
    """What a page section shows: items (list of dicts) or, when empty, a hint to act on."""

    items: list[dict[str, Any]] = field(default_factory=list)
    hint: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return self.hint is None


def _module(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _call(module_name: str, function: str, hint: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``module.function`` or raise SourceUnavailable(hint) if either is missing."""
    module = _module(module_name)
    target: Callable[..., Any] | None = getattr(module, function, None) if module else None
    if target is None:
        raise SourceUnavailable(hint)
    return target(*args, **kwargs)


def _section(loader: Callable[[], list[dict[str, Any]]], empty_hint: str,
             missing_hint: str) -> Section:
    try:
        items = loader()
    except SourceUnavailable as error:
        return Section(hint=str(error) or missing_hint)
    except Exception:  # a broken source must not take the whole dashboard down
        log.exception("dashboard source failed")
        return Section(hint="this section failed to load; see the dashboard's log")
    return Section(items=list(items)) if items else Section(hint=empty_hint)


# ----- schedules (issue 4) -----------------------------------------------------------------
SCHEDULER_HINT = "no scheduler configured yet: set up a schedule with `mlops schedule`"


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


def drift_history(config: PlatformConfig) -> Section:
    """WIRE: items = [{"time": str, "feature": str, "distance": float, "threshold": float,
    "drifted": bool}] (one per feature per report, oldest first);
    extra["decisions"] = [{"time": str, "decision": "triggered"|"cooling down"|"no drift",
    "detail": str, "run_id": str|None}] newest first."""
    section = _section(lambda: _call(DRIFT_MODULE, "drift_history", DRIFT_HINT, config),
                       DRIFT_HINT, DRIFT_HINT)
    if section.available:
        try:
            section.extra["decisions"] = list(
                _call(DRIFT_MODULE, "drift_decisions", DRIFT_HINT, config))
        except SourceUnavailable:
            section.extra["decisions"] = []
    return section


# ----- registry (issue 6) ------------------------------------------------------------------
REGISTRY_HINT = "no registered models yet: a pushed `mlops run` registers one"


def _registry(config: PlatformConfig):  # type: ignore[no-untyped-def]
    from mlops.registry.models import ModelRegistry

    return ModelRegistry.for_config(config)


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
            "metrics": {k.removeprefix("metric."): value for k, value in sorted(v.tags.items())
                        if k.startswith("metric.")},
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


