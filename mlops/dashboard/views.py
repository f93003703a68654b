"""What each page shows, computed from ML Metadata, run records, the run lock and artifacts.

Pages only format these objects; every number comes from ``mlops.metadata``,
``mlops.summary`` (the same functions as the CLI) or the artifacts they point to.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from components.validation import Anomaly
from mlops.dashboard import stats as stats_module
from mlops.dashboard import svg
from mlops.metadata import ArtifactRecord, MetadataReader, NodeExecution, open_reader
from mlops.runlock import LockHolder, current_holder
from mlops.runrecords import RunRecord, list_records, load_record
from mlops.summary import RunStatus, RunSummary, summarize_run
from pipelines.config import PlatformConfig

log = logging.getLogger("mlops.dashboard")


def when(milliseconds: float | None) -> str:
    if not milliseconds:
        return ""
    return datetime.fromtimestamp(milliseconds / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m {rest:02d}s" if minutes else f"{seconds:.1f}s"


@dataclass
class RunRow:
    run_id: str
    status: str  # pushed, failed, halted..., running, starting
    status_key: str
    started: str
    seconds: float | None
    components: int
    completed: int
    cached: int
    reason: str = ""
    data_source: str | None = None
    pushed_version: str | None = None
    in_metadata: bool = True


class SummaryCache:
    """Summaries of finished runs never change; keep them instead of re-reading TFMA files."""

    def __init__(self) -> None:
        self._finished: dict[str, RunSummary] = {}
        self._lock = threading.Lock()

    def get(self, reader: MetadataReader, config: PlatformConfig, run_id: str,
            in_progress: bool = False) -> RunSummary:
        """``in_progress``: the run's process holds the run lock, so whatever ML Metadata
        says between two components, the run is still running (and is not cached)."""
        with self._lock:
            cached = self._finished.get(run_id)
        if cached is not None:
            return cached
        summary = summarize_run(reader, config, run_id)
        if in_progress:
            summary.status = RunStatus.RUNNING
        elif summary.status is not RunStatus.RUNNING and summary.components:
            with self._lock:
                self._finished[run_id] = summary
        return summary


def _status_key(status: RunStatus) -> str:
    return status.name.lower()


def run_rows(config: PlatformConfig, cache: SummaryCache,
             holder: LockHolder | None) -> list[RunRow]:
    """Every run in ML Metadata, plus recorded runs that never reached it (bad input, starting)."""
    records = {r.run_id: r for r in list_records(config.workspace)}
    rows: dict[str, RunRow] = {}
    with open_reader(config.metadata_path) as reader:
        if reader is not None:
            for run_id in reader.run_ids(config.pipeline.name):
                in_progress = holder is not None and holder.run_id == run_id
                summary = cache.get(reader, config, run_id, in_progress)
                rows[run_id] = _row(summary, records.get(run_id), holder)
    for run_id, record in records.items():
        if run_id in rows:
            continue
        running = holder is not None and holder.run_id == run_id
        outcome = "starting" if running else (record.outcome or "no pipeline record")
        rows[run_id] = RunRow(
            run_id, outcome, "running" if running else "failed",
            when(record.started * 1000), (record.finished - record.started)
            if record.finished else None, 0, 0, 0, record.reason, record.data_source,
            in_metadata=False)
    return sorted(rows.values(), key=lambda r: r.run_id, reverse=True)


def _row(summary: RunSummary, record: RunRecord | None, holder: LockHolder | None) -> RunRow:
    components = summary.components
    started = min((c.started_ms for c in components), default=0)
    ended = max((c.updated_ms for c in components), default=0)
    status, key = summary.status.label, _status_key(summary.status)
    if summary.status is RunStatus.RUNNING and not (holder and holder.run_id == summary.run_id):
        status, key = "interrupted (no process holds the run lock)", "failed"
    return RunRow(
        run_id=summary.run_id, status=status, status_key=key, started=when(started),
        seconds=(ended - started) / 1000 if components else None,
        components=len(components),
        completed=sum(1 for c in components if c.state in ("COMPLETE", "CACHED")),
        cached=sum(1 for c in components if c.cached),
        reason=record.reason if record else "", data_source=record.data_source if record else None,
        pushed_version=summary.pushed_version)


@dataclass
class NodeView:
    node_id: str
    state: str
    started: str
    seconds: float | None
    cached: bool
    outputs: list[tuple[str, str, str]] = field(default_factory=list)  # key, type, uri
    inputs: list[tuple[str, str, str]] = field(default_factory=list)


@dataclass
class RunDetail:
    summary: RunSummary
    record: RunRecord | None
    nodes: list[NodeView]
    graph_svg: str
    running: bool


class Topology:
    """The pipeline's component DAG, from the same factory that builds the pipeline.

    Building it imports every TFX component (seconds, minutes on a busy machine), so it is
    built once per dashboard process in a background thread started with the server; until
    it is ready, or if the factory cannot build, edges come from the artifacts each execution
    consumed in ML Metadata (lineage), which lacks only order-only edges and unrun nodes.
    """

    def __init__(self) -> None:
        self._graph: tuple[list[str], list[tuple[str, str]]] | None = None
        self._thread: threading.Thread | None = None

    def start(self, config: PlatformConfig) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._build, args=(config,), daemon=True,
                                            name="dashboard-topology")
            self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
        return self._graph is not None

    def _build(self, config: PlatformConfig) -> None:
        try:
            from pipelines.factory import create_pipeline
            from pipelines.runners.local import local_environment

            pipeline = create_pipeline(config, local_environment(config))
            nodes = [c.id for c in pipeline.components]
            edges = [(u.id, c.id) for c in pipeline.components
                     for u in sorted(c.upstream_nodes, key=lambda n: n.id)]
            self._graph = (nodes, edges)
        except Exception:
            log.warning("component graph from the pipeline factory failed; showing lineage",
                        exc_info=True)

    def get(self, config: PlatformConfig) -> tuple[list[str], list[tuple[str, str]]] | None:
        """The graph if built (never blocks a request); starts building it if not started."""
        self.start(config)
        return self._graph


def _lineage_edges(nodes: dict[str, NodeExecution]) -> list[tuple[str, str]]:
    producer = {a.id: n.node_id for n in nodes.values() for arts in n.outputs.values()
                for a in arts}
    edges = set()
    for node in nodes.values():
        for artifacts in node.inputs.values():
            for artifact in artifacts:
                source = producer.get(artifact.id)
                if source and source != node.node_id:
                    edges.add((source, node.node_id))
    return sorted(edges)


def _elapsed(node: NodeExecution) -> float:
    """A running component's time so far (ML Metadata updates it only when it ends)."""
    if node.state == "RUNNING":
        return max(0.0, time.time() - node.started_ms / 1000)
    return node.seconds


def run_detail(config: PlatformConfig, reader: MetadataReader, cache: SummaryCache,
               topology: Topology, run_id: str, holder: LockHolder | None) -> RunDetail | None:
    run = reader.pipeline_run(config.pipeline.name, run_id)
    record = load_record(config.workspace, run_id)
    if run is None:
        return None
    in_progress = holder is not None and holder.run_id == run_id
    summary = cache.get(reader, config, run_id, in_progress)
    graph = topology.get(config)
    if graph is None:
        names, edges = list(run.nodes), _lineage_edges(run.nodes)
    else:
        names, edges = graph
        names = names + [n for n in run.nodes if n not in names]
        edges = edges + [e for e in _lineage_edges(run.nodes) if e not in edges]
    states = {n: node.state for n, node in run.nodes.items()}
    seconds = {n: _elapsed(node) for n, node in run.nodes.items()}
    details = {n: ("cache hit" if node.cached else
                   f"{node.state.lower()} {duration(seconds[n])}".strip())
               for n, node in run.nodes.items()}
    views = []
    for name in names:
        node = run.nodes.get(name)
        if node is None:
            views.append(NodeView(name, "NOT_RUN", "", None, False))
            continue
        views.append(NodeView(
            name, node.state, when(node.started_ms), seconds[name], node.cached,
            outputs=[(k, a.type_name, a.uri) for k, arts in sorted(node.outputs.items())
                     for a in arts],
            inputs=[(k, a.type_name, a.uri) for k, arts in sorted(node.inputs.items())
                    for a in arts]))
    return RunDetail(summary, record, views, svg.component_graph(names, edges, states, details),
                     in_progress)


@dataclass
class FeatureRow:
    """One feature of the validation report: its statistics per column, and its anomalies."""

    name: str
    kind: str
    cells: list[stats_module.FeatureStatistics | None]
    anomalies: list[Anomaly]


@dataclass
class ValidationReport:
    """Columns are the run's splits side by side, or (comparing) one split of two runs."""

    run_id: str
    splits: list[str]
    examples: dict[str, int]
    columns: list[str]
    features: list[FeatureRow]
    anomalies: list[Anomaly]
    split: str | None = None
    compare_run: str | None = None
    compare_examples: dict[str, int] = field(default_factory=dict)
    halted: bool = False


def _statistics_of(reader: MetadataReader, config: PlatformConfig,
                   run_id: str) -> tuple[bool, ArtifactRecord | None]:
    run = reader.pipeline_run(config.pipeline.name, run_id)
    if run is None:
        return False, None
    node = run.nodes.get("StatisticsGen")
    return True, node.output("statistics") if node else None


def validation_report(config: PlatformConfig, reader: MetadataReader, cache: SummaryCache,
                      run_id: str, compare_run: str | None = None,
                      split: str | None = None) -> ValidationReport | None:
    found, statistics = _statistics_of(reader, config, run_id)
    if not found:
        return None
    summary = cache.get(reader, config, run_id)
    per_split = stats_module.feature_statistics(statistics) if statistics else {}
    splits = sorted(per_split, key=lambda s: (s != "train", s))
    report = ValidationReport(
        run_id, splits, stats_module.examples_per_split(statistics) if statistics else {},
        [], [], list(summary.anomalies), halted=summary.status is RunStatus.HALTED)
    tables: list[dict[str, stats_module.FeatureStatistics]] = []
    if compare_run:
        _, other_statistics = _statistics_of(reader, config, compare_run)
        other = stats_module.feature_statistics(other_statistics) if other_statistics else {}
        chosen = split if split in per_split else (splits[0] if splits else None)
        report.split, report.compare_run = chosen, compare_run
        report.compare_examples = (stats_module.examples_per_split(other_statistics)
                                   if other_statistics else {})
        for label, source in ((run_id, per_split), (compare_run, other)):
            report.columns.append(f"{label} · {chosen}")
            tables.append({f.name: f for f in source.get(chosen or "", [])})
    else:
        for name in splits:
            report.columns.append(name)
            tables.append({f.name: f for f in per_split[name]})
    for name in sorted({n for table in tables for n in table}):
        cells = [table.get(name) for table in tables]
        kind = next((c.kind for c in cells if c is not None), "other")
        report.features.append(FeatureRow(
            name, kind, cells, [a for a in summary.anomalies if a.feature == name]))
    return report


def holder_of(config: PlatformConfig) -> LockHolder | None:
    return current_holder(config.workspace)
