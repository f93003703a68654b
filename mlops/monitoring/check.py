"""One drift check, end to end: the entry point of `mlops drift check`, the watcher and the
dashboard.

new data -> TFDV statistics on Beam -> TFDV comparators against the serving model's training
statistics (ML Metadata lineage) -> report saved in the workspace -> one recorded decision
(and a retraining run when ``drift.on_drift: retrain`` and the cooldown allows).
Bad input raises :class:`DriftInputError`, records a ``bad_input`` decision, triggers nothing and
leaves the files where they are.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlops.monitoring.baseline import Baseline, find_serving_baseline
from mlops.monitoring.compare import FeatureDrift, SchemaBreakingError, compare, summarize
from mlops.monitoring.decisions import BAD_INPUT, Decision, TriggerFunction, decide, record
from mlops.monitoring.report import save_report
from mlops.monitoring.statistics import DriftInputError, compute_statistics, data_files
from pipelines.config import ConfigError, PlatformConfig


@dataclass
class CheckResult:
    check_id: str
    features: list[FeatureDrift]
    decision: Decision
    json_path: Path
    html_path: Path
    rows: int

    @property
    def drifted_features(self) -> list[str]:
        return [f.name for f in self.features if f.drifted]


def new_check_id(now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now or time.time()))
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


def default_trigger(config: PlatformConfig, **kwargs: Any) -> Any:
    from mlops.trigger import start_pipeline_run

    return start_pipeline_run(config, **kwargs)


def run_check(
    config: PlatformConfig,
    location: str | os.PathLike[str],
    *,
    trigger: TriggerFunction = default_trigger,
    now: float | None = None,
    baseline: Baseline | None = None,
    progress: Callable[[str], None] = lambda message: None,
) -> CheckResult:
    """Check ``location`` (a CSV file or a folder of them) for drift and act on the result."""
    check_id = new_check_id(now)
    features = checked_features(config)
    try:
        files = data_files(location)
        progress(f"baseline: the serving model's training statistics ({config.metadata_path})")
        baseline = baseline or find_serving_baseline(config)
        progress(f"statistics of {len(files)} file(s) with TFDV on Beam")
        statistics = compute_statistics(files, baseline.schema, features, config)
        source = ", ".join(str(p) for p in files)
        results = compare(baseline.statistics, statistics, baseline.schema, config, features,
                          source=source)
    except (DriftInputError, SchemaBreakingError) as error:
        record(config, Decision(check_id=check_id, decision=BAD_INPUT, reason=str(error),
                                source=[str(location)], time=now or time.time()))
        if isinstance(error, SchemaBreakingError):
            raise DriftInputError(str(error)) from error
        raise
    rows = statistics.datasets[0].num_examples
    report: dict[str, Any] = {
        "check_id": check_id, "created": now or time.time(), "source": [str(p) for p in files],
        "rows": rows, "baseline": baseline.lineage(), "summary": dict(summarize(results)),
        "features": [r.to_dict() for r in results], "decision": None,
    }
    json_path, _ = save_report(config.workspace, report)
    decision = decide(
        config, check_id=check_id, files=files,
        drifted=[r.name for r in results if r.drifted],
        distances={r.name: r.distance for r in results}, report=str(json_path),
        trigger=trigger, now=now,
    )
    report["decision"] = asdict(decision)
    json_path, html_path = save_report(config.workspace, report)
    return CheckResult(check_id, results, decision, json_path, html_path, rows)


def checked_features(config: PlatformConfig) -> list[str]:
    """The model's input features; per-feature thresholds must name one of them."""
    names = config.feature_names()
    unknown = sorted(set(config.drift.thresholds) - set(names))
    if unknown:
        raise ConfigError(
            f"{config.source_file}: drift.thresholds names unknown feature(s) {unknown}; "
            f"known: {names}"
        )
    return names
