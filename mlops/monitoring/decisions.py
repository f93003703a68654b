"""What a drift check decided, and why: cooldown, one run at a time, the decision log.

Every check ends in exactly one decision, appended as one JSON line to
``<workspace>/drift/decisions.jsonl`` (append-only, so the history survives crashes and can be
tailed by people and read by the dashboard):

  no_drift          nothing over threshold
  drift_reported    drift, and ``drift.on_drift: report``
  cooling_down      drift, but a run was triggered less than ``drift.cooldown_minutes`` ago
  triggered         drift, and a retraining run was started (its run id is recorded)
  run_in_progress   drift, but another pipeline run holds the workspace lock
  bad_input         the new data could not be read or broke the schema; nothing triggered
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mlops.runlock import RunInProgressError
from pipelines.config import PlatformConfig, data_files
from pipelines.preflight import InputDataError
from pipelines.spans import list_spans, next_span_files

DECISIONS_FILE = "decisions.jsonl"
NO_DRIFT, REPORTED, COOLING_DOWN = "no_drift", "drift_reported", "cooling_down"
TRIGGERED, RUN_IN_PROGRESS, BAD_INPUT = "triggered", "run_in_progress", "bad_input"

TriggerFunction = Callable[..., Any]  # mlops.trigger.start_pipeline_run's signature


@dataclass
class Decision:
    check_id: str
    decision: str
    reason: str
    source: list[str]
    drifted_features: list[str] = field(default_factory=list)
    run_id: str | None = None
    report: str | None = None
    data_source: str | None = None
    time: float = field(default_factory=time.time)


def drift_dir(config: PlatformConfig) -> Path:
    return config.workspace / "drift"


def decisions_path(config: PlatformConfig) -> Path:
    return drift_dir(config) / DECISIONS_FILE


def record(config: PlatformConfig, decision: Decision) -> Decision:
    path = decisions_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as log:
        log.write(json.dumps(asdict(decision)) + "\n")
    return decision


def load_decisions(config: PlatformConfig) -> list[Decision]:
    """All decisions, oldest first."""
    path = decisions_path(config)
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as log:
        return [Decision(**json.loads(line)) for line in log if line.strip()]


def last_trigger(config: PlatformConfig) -> Decision | None:
    return next((d for d in reversed(load_decisions(config)) if d.decision == TRIGGERED), None)


def decide(
    config: PlatformConfig,
    *,
    check_id: str,
    files: Sequence[Path],
    drifted: list[str],
    distances: dict[str, float],
    report: str | None,
    trigger: TriggerFunction,
    now: float | None = None,
) -> Decision:
    """Turn a comparison into one recorded decision, starting a run when it should."""
    now = time.time() if now is None else now
    source = [str(p) for p in files]
    base = {"check_id": check_id, "source": source, "drifted_features": drifted,
            "report": report, "time": now}
    if not drifted:
        return record(config, Decision(decision=NO_DRIFT, reason="no feature over its "
                                       "threshold", **base))
    detail = ", ".join(f"{name} {distances[name]:.4f}" for name in drifted)
    if config.drift.on_drift == "report":
        return record(config, Decision(decision=REPORTED, reason=f"drift ({detail}); "
                                       "drift.on_drift is 'report'", **base))
    previous = last_trigger(config)
    cooldown = config.drift.cooldown_minutes * 60
    if previous is not None and now - previous.time < cooldown:
        remaining = (cooldown - (now - previous.time)) / 60
        return record(config, Decision(
            decision=COOLING_DOWN, run_id=previous.run_id,
            reason=f"drift ({detail}) but run {previous.run_id} was triggered "
                   f"{(now - previous.time) / 60:.1f} min ago; cooldown ends in "
                   f"{remaining:.1f} min", **base))
    try:
        data = retraining_data(config, check_id, files)
    except InputDataError as error:  # e.g. data.spans.pattern cannot name the new span's files
        return record(config, Decision(decision=BAD_INPUT, reason=f"drift ({detail}) but no "
                                       f"run started: {error}", **base))
    reason = f"drift: {detail} (check {check_id})"
    try:
        started = trigger(config, reason=reason, data_source=str(data))
    except RunInProgressError as error:
        return record(config, Decision(decision=RUN_IN_PROGRESS, data_source=str(data),
                                       reason=f"drift ({detail}) but not started: {error}",
                                       **base))
    return record(config, Decision(decision=TRIGGERED, run_id=started.run_id,
                                   data_source=str(data), reason=reason, **base))


def retraining_data(config: PlatformConfig, check_id: str, files: Sequence[Path]) -> Path:
    """Where the retraining run reads: the training data plus a copy of the new data.

    With ``data.spans`` the new files become the next span under data.source (the run's span
    window then takes it in, as for any newly landed span) and the data root is returned.
    Without spans: a folder of the training data (symlinks) plus the copy.

    The new files are copied, not moved (the landing folder is left as it was), and rewritten
    in the training data's column order, because CsvExampleGen reads every file with one
    header. The copy also keeps the data that triggered the run reproducible after the landing
    folder is cleaned."""
    if config.data.spans is not None:
        return _as_next_span(config, check_id, files)
    target = drift_dir(config) / "retrain" / check_id
    target.mkdir(parents=True, exist_ok=True)
    training = [Path(p) for p in data_files(config.data_source)
                if p.endswith(f".{config.data.format}")]
    header: list[str] | None = None
    for index, path in enumerate(training):
        link = target / f"train-{index:04d}-{path.name}"
        if not link.exists():
            link.symlink_to(path.resolve())
        header = header or _header(path)
    for index, path in enumerate(files):
        _copy_csv(path, target / f"span-{check_id}-{index:04d}.csv", header)
    return target


def _as_next_span(config: PlatformConfig, check_id: str, files: Sequence[Path]) -> Path:
    spans = config.data.spans
    assert spans is not None
    root = config.data_source
    existing = list_spans(root, spans.pattern)
    header = _header(Path(existing[-1].files[0])) if existing else None
    _, targets = next_span_files(root, spans.pattern, len(files), f"drift-{check_id}")
    for source, target in zip(files, targets, strict=True):
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        # Written under a hidden name first: a span never holds a half-written file that a
        # run could read (globs skip dot files).
        partial = Path(target).with_name(f".{Path(target).name}.partial")
        _copy_csv(source, partial, header)
        partial.rename(target)
    return Path(root)


def _header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8") as handle:
        return next(csv.reader(handle))


def _copy_csv(source: Path, target: Path, header: list[str] | None) -> None:
    with open(source, newline="", encoding="utf-8") as reader_handle, \
            open(target, "w", newline="", encoding="utf-8") as writer_handle:
        reader = csv.DictReader(reader_handle)
        columns = header or list(reader.fieldnames or [])
        writer = csv.DictWriter(writer_handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(reader)
