"""Local runs: LocalDagRunner, Beam DirectRunner on all cores, SQLite ML Metadata, caching on.

Progress: TFX's LocalDagRunner logs "Component X is running/finished" for each node; a logging
handler turns those into one line per component with its duration and whether ML Metadata
recorded it as a cache hit, so a person can follow a run without reading TFX's logs.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from absl import logging as absl_logging
from tfx import v1 as tfx
from tfx.dsl.compiler import compiler
from tfx.dsl.compiler import constants as compiler_constants
from tfx.orchestration.portable import runtime_parameter_utils
from tfx.proto.orchestration import pipeline_pb2

from mlops import beam_pool
from mlops.metadata import MetadataReader
from pipelines.config import PlatformConfig
from pipelines.factory import PipelineEnvironment, create_pipeline, split_data_source
from pipelines.preflight import check_input_data
from pipelines.spans import SpanSelection, record_spans, select_spans

log = logging.getLogger("mlops.run")
_RUNNING = "Component %s is running."
_FINISHED = "Component %s is finished."


@dataclass(frozen=True)
class ComponentEvent:
    """A progress event: ``phase`` is 'start', 'done' or 'failed'."""

    node_id: str
    phase: str
    index: int
    total: int
    seconds: float = 0.0
    cached: bool = False


ProgressCallback = Callable[[ComponentEvent], None]


@dataclass(frozen=True)
class LocalRunResult:
    run_id: str
    error: BaseException | None
    failed_node: str | None


def new_run_id() -> str:
    """Sortable, unique and readable: 20261122T104219Z-1a2b3c."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def local_environment(
    config: PlatformConfig, data_source: str | None = None,
    spans: SpanSelection | None = None,
) -> PipelineEnvironment:
    if spans is not None:  # data.source (or --data) is the root the span pattern is under
        input_base, pattern = data_source or config.data_source, spans.input_pattern
    else:
        input_base, pattern = split_data_source(data_source or config.data_source,
                                                config.data.format)
    beam_args = [f"--direct_running_mode={config.beam.direct_running_mode}"]
    if config.beam.direct_running_mode != "in_memory":
        beam_args.append(f"--direct_num_workers={config.beam.direct_num_workers}")
    if beam_pool.uses_prewarmed_workers(config.beam):
        beam_args.append(f"--runner={beam_pool.RUNNER_NAME}")
    return PipelineEnvironment(
        pipeline_root=str(config.pipeline_root),
        serving_dir=str(config.serving_dir),
        data_root=input_base,
        input_pattern=pattern,
        beam_pipeline_args=beam_args,
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            str(config.metadata_path)
        ),
        range_config=spans.range_config() if spans is not None else None,
    )


class _ProgressHandler(logging.Handler):
    """Turns LocalDagRunner's per-node log lines into ComponentEvents."""

    def __init__(self, config: PlatformConfig, run_id: str, node_ids: list[str],
                 callback: ProgressCallback) -> None:
        super().__init__(logging.INFO)
        self._config, self._run_id, self._nodes, self._callback = config, run_id, node_ids, callback
        self._started: dict[str, float] = {}
        self._reader: MetadataReader | None = None  # opened once, at the first finished node
        self.current: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if record.msg not in (_RUNNING, _FINISHED) or not record.args:
            return
        node_id = str(record.args[0])  # type: ignore[index]
        index = self._nodes.index(node_id) + 1 if node_id in self._nodes else 0
        if record.msg == _RUNNING:
            self._started[node_id] = time.perf_counter()
            self.current = node_id
            self._callback(ComponentEvent(node_id, "start", index, len(self._nodes)))
            return
        self.current = None
        seconds = time.perf_counter() - self._started.get(node_id, time.perf_counter())
        self._callback(ComponentEvent(node_id, "done", index, len(self._nodes), seconds,
                                      cached=self._was_cached(node_id)))

    def failed(self) -> None:
        if self.current is None:
            return
        node_id = self.current
        seconds = time.perf_counter() - self._started.get(node_id, time.perf_counter())
        index = self._nodes.index(node_id) + 1
        self._callback(ComponentEvent(node_id, "failed", index, len(self._nodes), seconds))

    def _was_cached(self, node_id: str) -> bool:
        if self._reader is None:
            self._reader = MetadataReader.for_sqlite(self._config.metadata_path)
        run = self._reader.pipeline_run(self._config.pipeline.name, self._run_id)
        node = run.nodes.get(node_id) if run else None
        return bool(node and node.cached)


def run_local(
    config: PlatformConfig,
    *,
    data_source: str | None = None,
    progress: ProgressCallback | None = None,
    run_id: str | None = None,
    up_to: str | None = None,
) -> LocalRunResult:
    """Run the pipeline in this process (only up to node ``up_to`` when given).

    Input problems raise before any work starts.
    """
    run_id = run_id or new_run_id()
    spans = None
    if config.data.spans is not None:
        root = data_source or config.data_source
        spans = select_spans(root, config.data.spans)
        log.info("run %s reads spans %s", run_id, ", ".join(spans.names))
        check_input_data(config, os.path.join(root, spans.file_glob))
    else:
        check_input_data(config, data_source)
    for directory in (config.pipeline_root, config.metadata_path.parent, config.serving_dir):
        directory.mkdir(parents=True, exist_ok=True)
    with beam_pool.worker_pool(config.beam):  # started before compiling: it imports meanwhile
        return _run_checked(config, data_source, spans, progress, run_id, up_to)


def _run_checked(config: PlatformConfig, data_source: str | None, spans: SpanSelection | None,
                 progress: ProgressCallback | None, run_id: str,
                 up_to: str | None) -> LocalRunResult:
    pipeline = create_pipeline(config, local_environment(config, data_source, spans))
    ir = compiler.Compiler().compile(pipeline)
    runtime_parameter_utils.substitute_runtime_parameter(
        ir, {compiler_constants.PIPELINE_RUN_ID_PARAMETER_NAME: run_id}
    )
    run_options = None
    if up_to is not None:
        run_options = pipeline_pb2.RunOptions()
        run_options.partial_run.to_nodes.append(up_to)
        run_options.partial_run.snapshot_settings.latest_pipeline_run_strategy.SetInParent()
    node_ids = [node.pipeline_node.node_info.id for node in ir.nodes]
    handler = _ProgressHandler(config, run_id, node_ids, progress or (lambda event: None))
    absl_logger = logging.getLogger("absl")
    # The per-node lines are INFO records. Set absl's verbosity flag, not the logger level:
    # TensorFlow's SavedModel code saves and restores the flag, resetting the level to it.
    previous_verbosity = absl_logging.get_verbosity()
    absl_logging.set_verbosity(absl_logging.INFO)
    absl_logger.addHandler(handler)
    try:
        tfx.orchestration.LocalDagRunner().run_with_ir(ir, run_options=run_options)
    except Exception as error:
        failed = handler.current
        handler.failed()
        log.debug("run %s failed in %s", run_id, failed, exc_info=True)
        return LocalRunResult(run_id, error, failed)
    finally:
        absl_logger.removeHandler(handler)
        absl_logging.set_verbosity(previous_verbosity)
        if spans is not None:
            _record_spans(config, run_id, spans)
    return LocalRunResult(run_id, None, None)


def _record_spans(config: PlatformConfig, run_id: str, spans: SpanSelection) -> None:
    """Stamp the spans on this run's Examples artifact (when ExampleGen produced one)."""
    reader = MetadataReader.for_sqlite(config.metadata_path)
    run = reader.pipeline_run(config.pipeline.name, run_id)
    node = run.nodes.get("ExampleGen") if run else None
    examples = node.output("examples") if node else None
    if examples is not None:
        record_spans(reader.store, examples.id, spans)
