"""Read-only queries over ML Metadata: runs, component executions, their artifacts and lineage.

ML Metadata is the source of truth for what ran; the CLI summary, the dashboard, drift checks
(pushed model -> training statistics) and the registry all read it through this module instead
of re-recording the same facts elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

PIPELINE_CONTEXT = "pipeline"
RUN_CONTEXT = "pipeline_run"
NODE_CONTEXT = "node"
_STATE_NAMES = {
    value: name for name, value in metadata_store_pb2.Execution.State.items()
}
_INPUT_EVENTS = {metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT}
_OUTPUT_EVENTS = {
    metadata_store_pb2.Event.OUTPUT,
    metadata_store_pb2.Event.DECLARED_OUTPUT,
    metadata_store_pb2.Event.PENDING_OUTPUT,
}


@dataclass(frozen=True)
class ArtifactRecord:
    id: int
    type_name: str
    uri: str
    properties: dict[str, object]
    created_ms: int

    def split_names(self) -> list[str]:
        raw = str(self.properties.get("split_names", "[]"))
        return [s.strip().strip('"') for s in raw.strip("[]").split(",") if s.strip()]


@dataclass
class NodeExecution:
    """One component's execution within a pipeline run."""

    node_id: str
    execution_id: int
    state: str
    started_ms: int
    updated_ms: int
    inputs: dict[str, list[ArtifactRecord]] = field(default_factory=dict)
    outputs: dict[str, list[ArtifactRecord]] = field(default_factory=dict)
    properties: dict[str, object] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return max(0.0, (self.updated_ms - self.started_ms) / 1000.0)

    @property
    def cached(self) -> bool:
        return self.state == "CACHED"

    def output(self, key: str) -> ArtifactRecord | None:
        records = self.outputs.get(key) or []
        return records[0] if records else None


@dataclass
class PipelineRunRecord:
    run_id: str
    created_ms: int
    nodes: dict[str, NodeExecution]

    @property
    def state(self) -> str:
        """RUNNING while a node runs, FAILED if one failed, else COMPLETE."""
        states = {n.state for n in self.nodes.values()}
        if "FAILED" in states:
            return "FAILED"
        if states & {"RUNNING", "NEW"}:
            return "RUNNING"
        return "COMPLETE"


def _value(value: metadata_store_pb2.Value) -> object:
    kind = value.WhichOneof("value")
    if kind == "proto_value":
        return str(value.proto_value)
    return getattr(value, kind) if kind else None


def _properties(message: metadata_store_pb2.Artifact | metadata_store_pb2.Execution) -> dict:
    merged = {k: _value(v) for k, v in message.properties.items()}
    merged.update({k: _value(v) for k, v in message.custom_properties.items()})
    return merged


class MetadataReader:
    """Queries one ML Metadata store (a SQLite file locally)."""

    def __init__(self, store: metadata_store.MetadataStore) -> None:
        self._store = store
        self._type_names: dict[int, str] = {}

    @classmethod
    def for_sqlite(cls, path: str | Path) -> MetadataReader:
        config = metadata_store_pb2.ConnectionConfig()
        config.sqlite.filename_uri = str(path)
        config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE
        return cls(metadata_store.MetadataStore(config))

    @property
    def store(self) -> metadata_store.MetadataStore:
        return self._store

    def run_ids(self, pipeline_name: str) -> list[str]:
        """Pipeline run ids, newest first."""
        pipeline = self._store.get_context_by_type_and_name(PIPELINE_CONTEXT, pipeline_name)
        if pipeline is None:
            return []
        runs = [
            c for c in self._store.get_children_contexts_by_context(pipeline.id)
            if self._context_type(c) == RUN_CONTEXT
        ] or [
            c for c in self._store.get_contexts_by_type(RUN_CONTEXT)
        ]
        runs.sort(key=lambda c: (c.create_time_since_epoch, c.name), reverse=True)
        return [c.name for c in runs]

    def pipeline_run(self, pipeline_name: str, run_id: str) -> PipelineRunRecord | None:
        context = self._store.get_context_by_type_and_name(RUN_CONTEXT, run_id)
        if context is None:
            return None
        executions = self._store.get_executions_by_context(context.id)
        prefix = f"{pipeline_name}."
        nodes: dict[str, NodeExecution] = {}
        for execution in sorted(executions, key=lambda e: e.id):
            node_id = self._node_id(execution.id, prefix)
            if node_id is None:
                continue
            nodes[node_id] = NodeExecution(
                node_id=node_id,
                execution_id=execution.id,
                state=_STATE_NAMES.get(execution.last_known_state, "UNKNOWN"),
                started_ms=execution.create_time_since_epoch,
                updated_ms=execution.last_update_time_since_epoch,
                properties=_properties(execution),
            )
        self._attach_artifacts(nodes)
        return PipelineRunRecord(run_id, context.create_time_since_epoch, nodes)

    def artifacts_of_type(self, type_name: str) -> list[ArtifactRecord]:
        """All artifacts of a type, newest first."""
        records = [self._record(a) for a in self._store.get_artifacts_by_type(type_name)]
        return sorted(records, key=lambda r: r.id, reverse=True)

    def producer(self, artifact_id: int) -> NodeExecution | None:
        """The execution that output an artifact (its lineage parent), with its artifacts."""
        events = self._store.get_events_by_artifact_ids([artifact_id])
        outputs = [e for e in events if e.type in _OUTPUT_EVENTS]
        if not outputs:
            return None
        execution = self._store.get_executions_by_id([outputs[0].execution_id])[0]
        node = NodeExecution(
            node_id=self._node_id(execution.id, "") or "",
            execution_id=execution.id,
            state=_STATE_NAMES.get(execution.last_known_state, "UNKNOWN"),
            started_ms=execution.create_time_since_epoch,
            updated_ms=execution.last_update_time_since_epoch,
            properties=_properties(execution),
        )
        self._attach_artifacts({node.node_id: node})
        return node

    def run_ids_of_execution(self, execution_id: int) -> list[str]:
        return [
            c.name for c in self._store.get_contexts_by_execution(execution_id)
            if self._context_type(c) == RUN_CONTEXT
        ]

    # ----- internals ---------------------------------------------------------------------
    def _context_type(self, context: metadata_store_pb2.Context) -> str:
        return self._type_name(context.type_id, self._store.get_context_types_by_id)

    def _type_name(self, type_id: int, getter) -> str:  # type: ignore[no-untyped-def]
        if type_id not in self._type_names:
            self._type_names[type_id] = getter([type_id])[0].name
        return self._type_names[type_id]

    def _node_id(self, execution_id: int, prefix: str) -> str | None:
        for context in self._store.get_contexts_by_execution(execution_id):
            if self._context_type(context) == NODE_CONTEXT and context.name.startswith(prefix):
                return context.name.split(".", 1)[-1]
        return None

    def _record(self, artifact: metadata_store_pb2.Artifact) -> ArtifactRecord:
        return ArtifactRecord(
            id=artifact.id,
            type_name=self._type_name(artifact.type_id, self._store.get_artifact_types_by_id),
            uri=artifact.uri,
            properties=_properties(artifact),
            created_ms=artifact.create_time_since_epoch,
        )

    def _attach_artifacts(self, nodes: dict[str, NodeExecution]) -> None:
        by_execution = {n.execution_id: n for n in nodes.values()}
        if not by_execution:
            return
        events = self._store.get_events_by_execution_ids(list(by_execution))
        artifact_ids = sorted({e.artifact_id for e in events})
        artifacts = {
            a.id: self._record(a) for a in self._store.get_artifacts_by_id(artifact_ids)
        }
        for event in events:
            key = event.path.steps[0].key if event.path.steps else ""
            target = (
                by_execution[event.execution_id].inputs if event.type in _INPUT_EVENTS
                else by_execution[event.execution_id].outputs if event.type in _OUTPUT_EVENTS
                else None
            )
            if target is not None and event.artifact_id in artifacts:
                target.setdefault(key, []).append(artifacts[event.artifact_id])


@contextmanager
def open_reader(metadata_path: str | Path) -> Iterator[MetadataReader | None]:
    """A reader for a SQLite store, or None when no run has created it yet."""
    if not Path(metadata_path).exists():
        yield None
        return
    yield MetadataReader.for_sqlite(metadata_path)
