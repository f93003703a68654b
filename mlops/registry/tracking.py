"""Log a finished pipeline run to MLflow, and register the model it pushed.

``mlops run`` calls :func:`record_pipeline_run` right after the run summary. One experiment per
pipeline; one MLflow run per pipeline run (run name = the pipeline run id), holding:

- params: config hash, data span / version / fingerprint, trainer args, evaluator thresholds;
- metrics: rows per split, anomaly count, the training history the Trainer wrote to TensorBoard
  (``train/epoch_loss`` per epoch, ...), and TFMA metrics per slice (``eval/auc``,
  ``eval/payment_type:Cash/auc``, baselines as ``eval_baseline/...``);
- artifacts: ``anomalies/``, ``schema/``, ``evaluation/`` (summary table + validation result),
  ``run_summary.json``;
- tags: the pipeline run id and the ML Metadata ids (run context, executions, artifacts) that
  link back to the source of truth.

Re-recording the same pipeline run updates its MLflow run instead of adding a second one, so
``mlops models record RUN_ID`` can backfill a run whose recording failed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops.metadata import MetadataReader, NodeExecution, PipelineRunRecord
from mlops.registry import settings
from mlops.summary import OVERALL_SLICE, RunStatus, RunSummary
from pipelines.config import PlatformConfig

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from mlops.registry.models import RegisteredVersion

log = logging.getLogger("mlops.registry")

TAG_RUN_ID = "mlops.run_id"
TAG_PIPELINE = "mlops.pipeline"
TAG_STATUS = "mlops.status"
TAG_BLESSED = "mlops.blessed"
MLMD_PREFIX = "mlops.mlmd."
_METRIC_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. :/]")
# Artifacts whose ids link an MLflow run back to ML Metadata: (node, output key, tag suffix).
LINKED_ARTIFACTS = (
    ("ExampleGen", "examples", "examples"),
    ("StatisticsGen", "statistics", "statistics"),
    ("SchemaGen", "schema", "schema"),
    ("ExampleValidator", "anomalies", "anomalies"),
    ("Transform", "transform_graph", "transform_graph"),
    ("Trainer", "model", "model"),
    ("Trainer", "model_run", "model_run"),
    ("Evaluator", "evaluation", "evaluation"),
    ("Evaluator", "blessing", "blessing"),
    ("Pusher", "pushed_model", "pushed_model"),
)


@dataclass
class RunFacts:
    """Everything logged for one pipeline run, gathered before talking to MLflow."""

    run_id: str
    status: RunStatus
    started_ms: int
    finished_ms: int
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[tuple[str, float, int]] = field(default_factory=list)
    artifact_files: list[tuple[str, Path]] = field(default_factory=list)  # (folder, file)
    model_dir: Path | None = None  # the pushed SavedModel, when something was pushed


@dataclass(frozen=True)
class RecordResult:
    """What :func:`record_pipeline_run` did, for the CLI to print."""

    mlflow_run_id: str
    experiment_id: str
    tracking_uri: str
    version: RegisteredVersion | None = None


# ----- public entry point -------------------------------------------------------------------
def record_pipeline_run(config: PlatformConfig, summary: RunSummary) -> RecordResult | None:
    """Log ``summary``'s run to MLflow and register its pushed model (alias ``candidate``).

    Returns None when ``registry.enabled`` is false. Raises on MLflow errors; the caller decides
    whether that fails anything (``mlops run`` reports it and keeps the run's own outcome).
    """
    if not config.registry.enabled:
        return None
    from mlops.registry.models import register_pushed_model

    reader = MetadataReader.for_sqlite(config.metadata_path)
    run = reader.pipeline_run(config.pipeline.name, summary.run_id)
    with tempfile.TemporaryDirectory(prefix="mlops-mlflow-") as scratch:
        facts = collect_run_facts(config, summary, reader, run, Path(scratch))
        client = settings.client_for(config)
        experiment_id = ensure_experiment(client, config)
        mlflow_run_id = log_run(client, experiment_id, facts)
    version = None
    if facts.model_dir is not None and summary.status is RunStatus.PUSHED:
        version = register_pushed_model(
            client, settings.model_name(config), mlflow_run_id, facts.model_dir,
            version_tags(facts, summary),
        )
    return RecordResult(mlflow_run_id, experiment_id, settings.tracking_uri(config), version)


# ----- gathering ----------------------------------------------------------------------------
def collect_run_facts(
    config: PlatformConfig,
    summary: RunSummary,
    reader: MetadataReader,
    run: PipelineRunRecord | None,
    scratch: Path,
) -> RunFacts:
    """Params, tags, metrics and artifact files for one run, from the summary and ML Metadata."""
    nodes = run.nodes if run else {}
    started = run.created_ms if run else 0
    finished = max((n.updated_ms for n in nodes.values()), default=started)
    facts = RunFacts(summary.run_id, summary.status, started, finished)
    facts.params = run_params(config, nodes)
    facts.tags = run_tags(config, summary, reader, nodes)
    facts.metrics = run_metrics(summary, nodes)
    facts.artifact_files = write_reports(summary, nodes, scratch)
    if summary.status is RunStatus.PUSHED and summary.pushed_path:
        facts.model_dir = Path(summary.pushed_path)
    return facts


def config_hash(config: PlatformConfig) -> str:
    """Stable hash of the effective settings (file + overrides), to spot identical configs."""
    canonical = json.dumps(config.model_dump(mode="json", by_alias=True), sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def run_params(config: PlatformConfig, nodes: dict[str, NodeExecution]) -> dict[str, str]:
    params: dict[str, str] = {
        "config_hash": config_hash(config),
        "config_file": config.source_file,
        "data.source": config.data.source,
    }
    for key, value in config.overrides.items():
        params[f"override.{key}"] = str(value)
    examples = nodes["ExampleGen"].output("examples") if "ExampleGen" in nodes else None
    if examples is not None:
        for name in ("span", "version", "input_fingerprint"):
            if examples.properties.get(name) is not None:
                params[f"data.{name}"] = str(examples.properties[name])
    for name, value in config.trainer.model_dump(mode="json").items():
        params[f"trainer.{name}"] = json.dumps(value) if isinstance(value, list) else str(value)
    for metric, threshold in config.evaluator.thresholds.items():
        for bound, value in threshold.model_dump().items():
            if value is not None:
                params[f"evaluator.{metric}.{bound}"] = str(value)
    return {k: v[:6000] for k, v in params.items()}


def run_tags(
    config: PlatformConfig,
    summary: RunSummary,
    reader: MetadataReader,
    nodes: dict[str, NodeExecution],
) -> dict[str, str]:
    from mlops.runrecords import load_record

    tags = {
        TAG_RUN_ID: summary.run_id,
        TAG_PIPELINE: config.pipeline.name,
        TAG_STATUS: summary.status.name.lower(),
        TAG_BLESSED: _flag(summary.blessed),
        f"{MLMD_PREFIX}store": str(config.metadata_path),
    }
    context = reader.store.get_context_by_type_and_name("pipeline_run", summary.run_id)
    if context is not None:
        tags[f"{MLMD_PREFIX}run_context_id"] = str(context.id)
    for node in nodes.values():
        tags[f"{MLMD_PREFIX}execution.{node.node_id}"] = str(node.execution_id)
    for node_id, key, suffix in LINKED_ARTIFACTS:
        artifact = nodes[node_id].output(key) if node_id in nodes else None
        if artifact is not None:
            tags[f"{MLMD_PREFIX}artifact.{suffix}"] = str(artifact.id)
    if summary.pushed_version:
        tags["mlops.pushed_version"] = summary.pushed_version
        tags["mlops.pushed_path"] = summary.pushed_path or ""
    if summary.validation_failures:
        tags["mlops.validation_failures"] = "; ".join(summary.validation_failures)[:4000]
    if summary.error:
        tags["mlops.error"] = summary.error[:4000]
    record = load_record(config.workspace, summary.run_id)
    if record is not None:
        tags["mlops.reason"] = record.reason
        if record.data_source:
            tags["mlops.data_override"] = record.data_source
    return tags


def run_metrics(
    summary: RunSummary, nodes: dict[str, NodeExecution]
) -> list[tuple[str, float, int]]:
    """(name, value, step) triples: data counts, training history, TFMA metrics per slice."""
    metrics: list[tuple[str, float, int]] = [
        (f"rows/{split}", float(count), 0) for split, count in summary.rows_per_split.items()
    ]
    metrics.append(("anomalies", float(len(summary.anomalies)), 0))
    model_run = nodes["Trainer"].output("model_run") if "Trainer" in nodes else None
    if model_run is not None:
        metrics.extend(training_history(Path(model_run.uri)))
    for row in summary.metrics:
        prefix = "eval" if row.slice == OVERALL_SLICE else f"eval/{row.slice}"
        metrics.append((f"{prefix}/{row.metric}", row.value, 0))  # type: ignore[arg-type]
        if row.slice == OVERALL_SLICE and row.baseline is not None:
            metrics.append((f"eval_baseline/{row.metric}", row.baseline, 0))
    return [
        (metric_name(name), float(value), step)
        for name, value, step in metrics
        if value is not None and math.isfinite(value)
    ]


def training_history(model_run_dir: Path) -> list[tuple[str, float, int]]:
    """Per-epoch scalars the Trainer's TensorBoard callback wrote (train/ and validation/)."""
    import tensorflow as tf

    history: list[tuple[str, float, int]] = []
    for events_file in sorted(model_run_dir.glob("*/events.out.tfevents.*")):
        phase = events_file.parent.name  # "train" or "validation"
        for record in tf.data.TFRecordDataset(str(events_file)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                if not value.tag.startswith("epoch_"):
                    continue  # per-iteration duplicates and the model graph
                if value.HasField("tensor"):
                    number = float(tf.make_ndarray(value.tensor))
                else:
                    number = float(value.simple_value)
                history.append((f"{phase}/{value.tag}", number, int(event.step)))
    return history


def metric_name(name: str) -> str:
    """MLflow allows letters, digits, ``_-. :/``; slice values may hold anything else."""
    return _METRIC_NAME_UNSAFE.sub("_", name.replace("=", ":").replace(" & ", "/"))


def write_reports(
    summary: RunSummary, nodes: dict[str, NodeExecution], scratch: Path
) -> list[tuple[str, Path]]:
    """Files logged as artifacts, with the artifact folder each goes in."""
    files: list[tuple[str, Path]] = []
    anomalies = scratch / "anomalies.json"
    anomalies.write_text(json.dumps([asdict(a) for a in summary.anomalies], indent=2))
    files.append(("anomalies", anomalies))
    anomaly_artifact = (
        nodes["ExampleValidator"].output("anomalies") if "ExampleValidator" in nodes else None
    )
    if anomaly_artifact is not None:
        for split_file in Path(anomaly_artifact.uri).glob("Split-*/*"):
            copy = scratch / f"{split_file.parent.name}-{split_file.name}"
            shutil.copyfile(split_file, copy)
            files.append(("anomalies", copy))
    schema = nodes["SchemaGen"].output("schema") if "SchemaGen" in nodes else None
    if schema is not None and (Path(schema.uri) / "schema.pbtxt").exists():
        files.append(("schema", Path(schema.uri) / "schema.pbtxt"))
    if summary.metrics or summary.blessed is not None:
        evaluation = scratch / "evaluation_summary.json"
        evaluation.write_text(json.dumps({
            "blessed": summary.blessed,
            "validation_failures": summary.validation_failures,
            "metrics": [asdict(row) for row in summary.metrics],
        }, indent=2))
        files.append(("evaluation", evaluation))
    overview = scratch / "run_summary.json"
    overview.write_text(json.dumps({
        "run_id": summary.run_id,
        "status": summary.status.label,
        "rows_per_split": summary.rows_per_split,
        "components": [
            {"node": n.node_id, "state": n.state, "seconds": n.seconds,
             "mlmd_execution_id": n.execution_id}
            for n in summary.components
        ],
        "pushed_version": summary.pushed_version,
        "pushed_path": summary.pushed_path,
        "error": summary.error,
    }, indent=2))
    files.append(("", overview))
    return files


def version_tags(facts: RunFacts, summary: RunSummary) -> dict[str, str]:
    """Tags of a registered version: its run, data, blessing and headline metrics."""
    keep = (TAG_RUN_ID, TAG_STATUS, TAG_BLESSED, "mlops.pushed_version", "mlops.pushed_path",
            "mlops.validation_failures", f"{MLMD_PREFIX}run_context_id")
    tags = {k: v for k, v in facts.tags.items() if k in keep or k.startswith(
        f"{MLMD_PREFIX}artifact.")}
    for name in ("data.span", "data.version", "data.input_fingerprint", "config_hash"):
        if name in facts.params:
            tags[f"mlops.{name}"] = facts.params[name]
    for split, count in summary.rows_per_split.items():
        tags[f"mlops.data.rows.{split}"] = str(count)
    for row in summary.metrics:
        if row.slice == OVERALL_SLICE and row.value is not None:
            tags[f"metric.{row.metric}"] = f"{row.value:.6g}"
    return tags


# ----- writing to MLflow --------------------------------------------------------------------
def ensure_experiment(client: MlflowClient, config: PlatformConfig) -> str:
    """The pipeline's experiment id, creating it (with the workspace artifact store) if new."""
    name = settings.experiment_name(config)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = settings.artifact_location(config)
    if location is not None and "://" not in location:
        Path(location).mkdir(parents=True, exist_ok=True)
        location = Path(location).as_uri()
    return client.create_experiment(
        name, artifact_location=location, tags={TAG_PIPELINE: config.pipeline.name}
    )


def find_mlflow_run(client: MlflowClient, experiment_id: str, run_id: str) -> Any | None:
    found = client.search_runs(
        [experiment_id], filter_string=f"tags.`{TAG_RUN_ID}` = '{run_id}'", max_results=1
    )
    return found[0] if found else None


def log_run(client: MlflowClient, experiment_id: str, facts: RunFacts) -> str:
    """Create (or update) the MLflow run of ``facts.run_id``; returns the MLflow run id."""
    import os

    from mlflow.entities import Metric, Param, RunTag

    # MLflow prints "View run ... at URL" to stdout when a run ends; the CLI prints its own line.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")

    existing = find_mlflow_run(client, experiment_id, facts.run_id)
    if existing is not None:
        mlflow_run_id = existing.info.run_id
        new_params = {k: v for k, v in facts.params.items() if k not in existing.data.params}
    else:
        mlflow_run = client.create_run(
            experiment_id, start_time=facts.started_ms or None, run_name=facts.run_id,
            tags=facts.tags,
        )
        mlflow_run_id = mlflow_run.info.run_id
        new_params = facts.params
    timestamp = facts.finished_ms or facts.started_ms
    params = [Param(k, v) for k, v in sorted(new_params.items())]
    tags = [RunTag(k, v) for k, v in sorted(facts.tags.items())]
    metrics = [Metric(name, value, timestamp, step) for name, value, step in facts.metrics]
    # log_batch accepts at most 100 params, 100 tags and 1000 metrics per call.
    for start in range(0, len(params), 100):
        client.log_batch(mlflow_run_id, params=params[start : start + 100])
    for start in range(0, len(tags), 100):
        client.log_batch(mlflow_run_id, tags=tags[start : start + 100])
    for start in range(0, len(metrics), 1000):
        client.log_batch(mlflow_run_id, metrics=metrics[start : start + 1000])
    for folder, path in facts.artifact_files:
        client.log_artifact(mlflow_run_id, str(path), folder or None)
    status = "FAILED" if facts.status is RunStatus.FAILED else "FINISHED"
    client.set_terminated(mlflow_run_id, status, end_time=facts.finished_ms or None)
    return mlflow_run_id


def _flag(value: bool | None) -> str:
    return "unknown" if value is None else str(bool(value)).lower()
