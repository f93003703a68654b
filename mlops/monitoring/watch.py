"""Checking a landing folder on a schedule: each new or changed CSV file is checked once.

Files are never moved or deleted (the landing folder belongs to whoever delivers data); what
was already checked is remembered in ``<workspace>/drift/watch_state.json`` by path, size and
modification time, so a corrected file (new mtime) is checked again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops.monitoring.check import CheckResult, default_trigger, run_check
from mlops.monitoring.decisions import TriggerFunction, drift_dir
from mlops.monitoring.statistics import DriftInputError
from pipelines.config import PlatformConfig

STATE_FILE = "watch_state.json"


def landing_dir(config: PlatformConfig) -> Path:
    return config.resolve(config.drift.landing)


def _state_path(config: PlatformConfig) -> Path:
    return drift_dir(config) / STATE_FILE


def _load_state(config: PlatformConfig) -> dict[str, str]:
    path = _state_path(config)
    return json.loads(path.read_text()) if path.exists() else {}


def _save_state(config: PlatformConfig, state: dict[str, str]) -> None:
    path = _state_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=2))
    temporary.replace(path)


def _signature(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def pending_files(config: PlatformConfig) -> list[Path]:
    folder = landing_dir(config)
    if not folder.is_dir():
        return []
    state = _load_state(config)
    return [p for p in sorted(folder.glob("*.csv"))
            if p.is_file() and state.get(str(p)) != _signature(p)]


def watch_once(
    config: PlatformConfig,
    *,
    trigger: TriggerFunction = default_trigger,
    report: Callable[[Path, CheckResult | Exception], None] = lambda path, outcome: None,
    **check_options: Any,
) -> list[tuple[Path, CheckResult | Exception]]:
    """Check every pending landing file once; bad files are recorded and not retried until
    they change."""
    outcomes: list[tuple[Path, CheckResult | Exception]] = []
    for path in pending_files(config):
        signature = _signature(path)
        try:
            outcome: CheckResult | Exception = run_check(config, path, trigger=trigger,
                                                         **check_options)
        except DriftInputError as error:
            outcome = error
        state = _load_state(config)
        state[str(path)] = signature
        _save_state(config, state)
        outcomes.append((path, outcome))
        report(path, outcome)
    return outcomes


def watch(
    config: PlatformConfig,
    *,
    interval: float | None = None,
    cycles: int | None = None,
    trigger: TriggerFunction = default_trigger,
    report: Callable[[Path, CheckResult | Exception], None] = lambda path, outcome: None,
    sleep: Callable[[float], None] = time.sleep,
    **check_options: Any,
) -> None:
    """Run :func:`watch_once` every ``interval`` seconds (``cycles`` times, or until stopped)."""
    every = interval or config.drift.watch_interval_seconds
    done = 0
    while cycles is None or done < cycles:
        watch_once(config, trigger=trigger, report=report, **check_options)
        done += 1
        if cycles is None or done < cycles:
            sleep(every)
