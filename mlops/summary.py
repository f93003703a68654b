"""What a pipeline run produced, read back from ML Metadata and the artifacts it points to.

The CLI prints it at the end of a run (and for any past run); the dashboard, the registry and
the notebooks use the same functions, so a number means the same thing everywhere.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from pathlib import Path

import tensorflow_data_validation as tfdv
import tensorflow_model_analysis as tfma

from components.pusher import ALREADY_SERVING_PROPERTY
from components.validation import Anomaly, read_anomalies
from mlops import exit_codes
from mlops.metadata import ArtifactRecord, MetadataReader, NodeExecution, PipelineRunRecord
from pipelines.config import PlatformConfig
from pipelines.eval_config import METRIC_CLASSES

OVERALL_SLICE = "Overall"


class RunStatus(enum.Enum):
    """Outcome of a run, with the CLI exit code that reports it."""

    PUSHED = ("pushed", exit_codes.PUSHED)
    FAILED = ("failed", exit_codes.FAILED)
    NOT_BLESSED = ("not blessed, nothing pushed", exit_codes.NOT_BLESSED)
    HALTED = ("halted by validation, nothing pushed", exit_codes.HALTED)
    RUNNING = ("running", exit_codes.RUNNING)

    def __init__(self, label: str, exit_code: int) -> None:
        self.label = label
        self.exit_code = exit_code


@dataclass(frozen=True)
class MetricRow:
    slice: str
    metric: str
    value: float | None
    baseline: float | None = None
    lower_bound: float | None = None
    max_drop: float | None = None
    passed: bool | None = None


@dataclass
class RunSummary:
    run_id: str
    status: RunStatus
    components: list[NodeExecution]
    rows_per_split: dict[str, int] = field(default_factory=dict)
    anomalies: list[Anomaly] = field(default_factory=list)
    metrics: list[MetricRow] = field(default_factory=list)
    validation_failures: list[str] = field(default_factory=list)
    blessed: bool | None = None
    pushed_version: str | None = None
    pushed_path: str | None = None
    already_serving: bool = False  # the blessed model was identical to the pushed version
    error: str | None = None


def rows_per_split(statistics: ArtifactRecord) -> dict[str, int]:
    counts: dict[str, int] = {}
    for split in statistics.split_names():
        path = Path(statistics.uri) / f"Split-{split}" / "FeatureStats.pb"
        if path.exists():
            stats = tfdv.load_stats_binary(str(path))
            counts[split] = int(stats.datasets[0].num_examples) if stats.datasets else 0
    return counts


def slice_name(slice_key: tfma.metrics.SliceKeyType | object) -> str:
    """'Overall' or 'payment_type=Cash' (crossed slices joined with ' & ')."""
    keys = getattr(slice_key, "single_slice_keys", [])
    if not keys:
        return OVERALL_SLICE
    parts = []
    for key in keys:
        kind = key.WhichOneof("kind")
        value = getattr(key, kind)
        parts.append(f"{key.column}={value.decode() if isinstance(value, bytes) else value}")
    return " & ".join(parts)


def evaluation_rows(evaluation_uri: str, config: PlatformConfig) -> list[MetricRow]:
    """Candidate metrics per slice, with the baseline's value and the configured thresholds."""
    reported = {METRIC_CLASSES[name][1]: name for name in METRIC_CLASSES}
    rows: list[MetricRow] = []
    for metrics_for_slice in tfma.load_metrics(evaluation_uri):
        name_of_slice = slice_name(metrics_for_slice.slice_key)
        candidate: dict[str, float] = {}
        baseline: dict[str, float] = {}
        for entry in metrics_for_slice.metric_keys_and_values:
            key, value = entry.key, entry.value
            if key.is_diff or not value.HasField("double_value"):
                continue
            target = baseline if key.model_name == "baseline" else candidate
            target[key.name] = value.double_value.value
        for values in (candidate, baseline):
            _undefine_ranking_metrics(values)
        for metric, value in sorted(candidate.items()):
            threshold = config.evaluator.thresholds.get(reported.get(metric, metric))
            rows.append(MetricRow(
                slice=name_of_slice,
                metric=metric,
                value=value,
                baseline=baseline.get(metric),
                lower_bound=threshold.lower_bound if threshold else None,
                max_drop=threshold.max_drop if threshold else None,
            ))
    return _mark_failures(rows, evaluation_uri)


# Ranking metrics need both classes; TFMA reports them as 0 for a slice that has one class only.
_RANKING_METRICS = ("auc", "auc_precision_recall")


def _undefine_ranking_metrics(values: dict[str, float]) -> None:
    """Set AUC to NaN (shown "n/a") for a slice without positives, where TFMA says 0: recall is
    NaN exactly when a slice has no positive labels (0/0)."""
    recall = values.get("recall")
    if recall is not None and math.isnan(recall):
        for name in _RANKING_METRICS:
            if name in values:
                values[name] = math.nan


def validation_failures(evaluation_uri: str) -> list[str]:
    result = tfma.load_validation_result(evaluation_uri)
    messages = []
    for per_slice in result.metric_validations_per_slice:
        for failure in per_slice.failures:
            bound = failure.metric_threshold
            messages.append(
                f"{slice_name(per_slice.slice_key)}: {failure.metric_key.name}"
                f"{' change' if failure.metric_key.is_diff else ''} = "
                f"{failure.metric_value.double_value.value:.4f} fails {_bound_text(bound)}"
            )
    return messages


def _bound_text(threshold: object) -> str:
    text = str(threshold).replace("\n", " ")
    return " ".join(text.split())


def _mark_failures(rows: list[MetricRow], evaluation_uri: str) -> list[MetricRow]:
    result = tfma.load_validation_result(evaluation_uri)
    failed = {
        (slice_name(per_slice.slice_key), failure.metric_key.name)
        for per_slice in result.metric_validations_per_slice
        for failure in per_slice.failures
    }
    marked = []
    for row in rows:
        gated = row.slice == OVERALL_SLICE and (
            row.lower_bound is not None or row.max_drop is not None
        )
        passed = (row.slice, row.metric) not in failed if gated else None
        marked.append(MetricRow(**{**row.__dict__, "passed": passed}))
    return marked


def summarize_run(
    reader: MetadataReader, config: PlatformConfig, run_id: str, error: BaseException | None = None
) -> RunSummary:
    run = reader.pipeline_run(config.pipeline.name, run_id)
    if run is None:
        return RunSummary(run_id, RunStatus.FAILED, [], error=str(error) if error else "no record")
    summary = RunSummary(run_id, _status(run, error), list(run.nodes.values()),
                         error=str(error) if error else None)
    nodes = run.nodes
    if (stats := _output(nodes, "StatisticsGen", "statistics")) is not None:
        summary.rows_per_split = rows_per_split(stats)
    if (anomalies := _output(nodes, "ExampleValidator", "anomalies")) is not None:
        summary.anomalies = read_anomalies(anomalies.uri, anomalies.split_names())
    if (evaluation := _output(nodes, "Evaluator", "evaluation")) is not None:
        summary.metrics = evaluation_rows(evaluation.uri, config)
        summary.validation_failures = validation_failures(evaluation.uri)
    if (blessing := _output(nodes, "Evaluator", "blessing")) is not None:
        summary.blessed = bool(blessing.properties.get("blessed", 0))
    if (pushed := _output(nodes, "Pusher", "pushed_model")) is not None and pushed.properties.get(
        "pushed"
    ):
        summary.pushed_version = str(pushed.properties.get("pushed_version"))
        summary.pushed_path = str(pushed.properties.get("pushed_destination"))
        summary.already_serving = bool(pushed.properties.get(ALREADY_SERVING_PROPERTY, 0))
    return summary


def _output(nodes: dict[str, NodeExecution], node_id: str, key: str) -> ArtifactRecord | None:
    node = nodes.get(node_id)
    return node.output(key) if node else None


def _status(run: PipelineRunRecord, error: BaseException | None) -> RunStatus:
    gate = run.nodes.get("ValidationGate")
    if gate is not None and gate.state == "FAILED":
        return RunStatus.HALTED
    if error is not None or run.state == "FAILED":
        return RunStatus.FAILED
    if run.state == "RUNNING":
        return RunStatus.RUNNING
    pusher = run.nodes.get("Pusher")
    pushed = pusher.output("pushed_model") if pusher else None
    if pushed is not None and pushed.properties.get("pushed"):
        return RunStatus.PUSHED
    return RunStatus.NOT_BLESSED
