"""The baseline is found through ML Metadata lineage of the serving model, not by recency.

A real ML Metadata store (SQLite) with the graph TFX records: run 1 pushed a model; run 2 is
newer but was not pushed. The baseline must be run 1's StatisticsGen output, reached through
Pusher -> Model -> Trainer -> Transform output -> ExampleGen examples -> StatisticsGen.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as mlmd
from tensorflow_metadata.proto.v0 import statistics_pb2

from mlops.metadata import MetadataReader
from mlops.monitoring.baseline import NoBaselineError, baseline_from_reader
from tests.conftest import REPO

INPUT, OUTPUT = mlmd.Event.INPUT, mlmd.Event.OUTPUT


class Graph:
    def __init__(self, path: Path) -> None:
        self.root = path.parent
        connection = mlmd.ConnectionConfig()
        connection.sqlite.filename_uri = str(path)
        connection.sqlite.connection_mode = mlmd.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        self.reader = MetadataReader(metadata_store.MetadataStore(connection))
        self.store = self.reader.store
        self.types: dict[str, int] = {}

    def _type(self, name: str, execution: bool = False) -> int:
        if name not in self.types:
            self.types[name] = (self.store.put_execution_type(mlmd.ExecutionType(name=name))
                                if execution else
                                self.store.put_artifact_type(mlmd.ArtifactType(name=name)))
        return self.types[name]

    def artifact(self, type_name: str, name: str, **custom: int) -> mlmd.Artifact:
        uri = self.root / name
        uri.mkdir(parents=True, exist_ok=True)
        artifact = mlmd.Artifact(type_id=self._type(type_name), uri=str(uri))
        for key, value in custom.items():
            artifact.custom_properties[key].int_value = value
        [artifact.id] = self.store.put_artifacts([artifact])
        return artifact

    def execution(self, type_name: str, inputs: dict[str, mlmd.Artifact],
                  outputs: dict[str, mlmd.Artifact]) -> None:
        [execution_id] = self.store.put_executions(
            [mlmd.Execution(type_id=self._type(type_name, execution=True))])
        events = []
        for kind, artifacts in ((INPUT, inputs), (OUTPUT, outputs)):
            for key, artifact in artifacts.items():
                event = mlmd.Event(artifact_id=artifact.id, execution_id=execution_id, type=kind)
                event.path.steps.add().key = key
                events.append(event)
        self.store.put_events(events)
        self.store.put_attributions_and_associations(
            [], [mlmd.Association(context_id=self._node(type_name), execution_id=execution_id)])

    def _node(self, type_name: str) -> int:
        """TFX's per-node context ("<pipeline>.<node id>"), shared by the node's runs."""
        key = f"node:{type_name}"
        if key not in self.types:
            context_type = self._context_type()
            [self.types[key]] = self.store.put_contexts(
                [mlmd.Context(type_id=context_type, name=f"pipe.{type_name}")])
        return self.types[key]

    def _context_type(self) -> int:
        if "context:node" not in self.types:
            self.types["context:node"] = self.store.put_context_type(
                mlmd.ContextType(name="node"))
        return self.types["context:node"]


def _statistics(uri: str, rows: int) -> None:
    stats = statistics_pb2.DatasetFeatureStatisticsList()
    stats.datasets.add(num_examples=rows)
    target = Path(uri) / "Split-train"
    target.mkdir(parents=True, exist_ok=True)
    (target / "FeatureStats.pb").write_bytes(stats.SerializeToString())


def _run(graph: Graph, run: int, pushed: int) -> mlmd.Artifact:
    examples = graph.artifact("Examples", f"examples{run}")
    statistics = graph.artifact("ExampleStatistics", f"stats{run}")
    _statistics(statistics.uri, rows=run * 100)
    graph.execution("StatisticsGen", {"examples": examples}, {"statistics": statistics})
    schema = graph.artifact("Schema", f"schema{run}")
    (Path(schema.uri) / "schema.pbtxt").write_text(
        (REPO / "schemas" / "taxi" / "schema.pbtxt").read_text())
    transformed = graph.artifact("Examples", f"transformed{run}")
    post_stats = graph.artifact("ExampleStatistics", f"post_stats{run}")
    graph.execution("Transform", {"examples": examples, "schema": schema},
                    {"transformed_examples": transformed, "post_transform_stats": post_stats})
    model = graph.artifact("Model", f"model{run}")
    graph.execution("Trainer", {"examples": transformed, "schema": schema}, {"model": model})
    pushed_model = graph.artifact("PushedModel", f"pushed{run}", pushed=pushed)
    graph.execution("Pusher", {"model": model}, {"pushed_model": pushed_model})
    return statistics


def test_baseline_follows_lineage_of_the_pushed_model(tmp_path: Path) -> None:
    graph = Graph(tmp_path / "mlmd.sqlite")
    served = _run(graph, 1, pushed=1)
    _run(graph, 2, pushed=0)  # newer statistics, but its model was never pushed
    baseline = baseline_from_reader(graph.reader)
    assert baseline.statistics_uri == served.uri
    assert baseline.statistics.datasets[0].num_examples == 100
    assert baseline.pushed_model_uri.endswith("pushed1")
    assert baseline.examples_uri.endswith("transformed1")
    assert any(f.name == "trip_start_hour" for f in baseline.schema.feature)


def test_no_pushed_model_is_an_actionable_error(tmp_path: Path) -> None:
    graph = Graph(tmp_path / "mlmd.sqlite")
    _run(graph, 1, pushed=0)
    with pytest.raises(NoBaselineError, match=r"no pushed model.*mlops run"):
        baseline_from_reader(graph.reader)
