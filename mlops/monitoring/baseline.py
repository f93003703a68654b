"""The statistics the serving model was trained on, found through ML Metadata lineage.

Why lineage and not "the newest statistics file": after a run that was not blessed, or while a
new run is in progress, the newest StatisticsGen output belongs to data no serving model has
seen. The chain followed here is the one TFX recorded:

    newest PushedModel (pushed=1) -> Pusher execution -> its input Model
    -> Trainer execution -> its input examples (Transform output, or ExampleGen's)
    -> ... back until a StatisticsGen consumed that examples artifact -> its statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from mlops.metadata import ArtifactRecord, MetadataReader, open_reader
from pipelines.config import PlatformConfig

PUSHED_MODEL_TYPE = "PushedModel"
STATISTICS_TYPE = "ExampleStatistics"
STATISTICS_OUTPUT_KEY = "statistics"
BASELINE_SPLIT = "train"
_MAX_LINEAGE_HOPS = 5


class NoBaselineError(RuntimeError):
    """No serving model with recorded training statistics; the message says what to do."""


@dataclass(frozen=True)
class Baseline:
    """Where the serving model came from, and the statistics of the data it was trained on."""

    statistics: statistics_pb2.DatasetFeatureStatisticsList
    schema: schema_pb2.Schema
    statistics_uri: str
    schema_uri: str
    pushed_model_id: int
    pushed_model_uri: str
    model_id: int
    trainer_execution_id: int
    run_ids: tuple[str, ...]
    examples_uri: str

    def lineage(self) -> dict[str, object]:
        """Plain-JSON description, stored in every drift report."""
        return {
            "pushed_model_id": self.pushed_model_id,
            "pushed_model_uri": self.pushed_model_uri,
            "model_id": self.model_id,
            "trainer_execution_id": self.trainer_execution_id,
            "training_run_ids": list(self.run_ids),
            "examples_uri": self.examples_uri,
            "statistics_uri": self.statistics_uri,
            "schema_uri": self.schema_uri,
            "split": BASELINE_SPLIT,
        }


def find_serving_baseline(config: PlatformConfig) -> Baseline:
    """The training statistics of the newest pushed model, or NoBaselineError."""
    with open_reader(config.metadata_path) as reader:
        if reader is None:
            raise NoBaselineError(
                f"{config.metadata_path}: no ML Metadata store yet. Run `mlops run` until a "
                "model is pushed; drift is measured against that model's training data."
            )
        return baseline_from_reader(reader)


def baseline_from_reader(reader: MetadataReader) -> Baseline:
    pushed = next((a for a in reader.artifacts_of_type(PUSHED_MODEL_TYPE)
                   if int(a.properties.get("pushed", 0) or 0) == 1), None)
    if pushed is None:
        raise NoBaselineError(
            "no pushed model in ML Metadata: no run has been blessed and pushed yet. Run "
            "`mlops run` until one pushes; drift is measured against the serving model."
        )
    pusher = reader.producer(pushed.id)
    model = _single(pusher.inputs.get("model") if pusher else None)
    trainer = reader.producer(model.id) if model else None
    if model is None or trainer is None:
        raise NoBaselineError(
            f"pushed model {pushed.uri}: ML Metadata has no lineage back to its Trainer"
        )
    examples = _single(trainer.inputs.get("examples"))
    statistics = _statistics_of(reader, examples)
    schema_artifact = _single(trainer.inputs.get("schema"))
    if examples is None or statistics is None or schema_artifact is None:
        raise NoBaselineError(
            f"pushed model {pushed.uri}: no StatisticsGen output or schema found upstream of "
            f"its Trainer (execution {trainer.execution_id}) in ML Metadata"
        )
    stats_file = Path(statistics.uri) / f"Split-{BASELINE_SPLIT}" / "FeatureStats.pb"
    schema_file = Path(schema_artifact.uri) / "schema.pbtxt"
    for needed in (stats_file, schema_file):
        if not needed.is_file():
            raise NoBaselineError(
                f"{needed}: recorded in ML Metadata but missing on disk (was the pipeline "
                "root cleaned?). Run `mlops run` to produce a new serving model."
            )
    return Baseline(
        statistics=tfdv.load_stats_binary(str(stats_file)),
        schema=tfdv.load_schema_text(str(schema_file)),
        statistics_uri=statistics.uri,
        schema_uri=schema_artifact.uri,
        pushed_model_id=pushed.id,
        pushed_model_uri=pushed.uri,
        model_id=model.id,
        trainer_execution_id=trainer.execution_id,
        run_ids=tuple(reader.run_ids_of_execution(trainer.execution_id)),
        examples_uri=examples.uri,
    )


def _single(records: list[ArtifactRecord] | None) -> ArtifactRecord | None:
    return records[0] if records else None


def _statistics_of(reader: MetadataReader, examples: ArtifactRecord | None
                   ) -> ArtifactRecord | None:
    """StatisticsGen output computed on ``examples`` or, walking up the lineage (Transform's
    output -> ExampleGen's examples), on the raw examples they were derived from."""
    for _ in range(_MAX_LINEAGE_HOPS):
        if examples is None:
            return None
        for candidate in reader.artifacts_of_type(STATISTICS_TYPE):
            producer = reader.producer(candidate.id)
            if producer is None:
                continue
            # StatisticsGen's output key; Transform's pre/post-transform statistics are not it.
            produced = producer.outputs.get(STATISTICS_OUTPUT_KEY, [])
            consumed = producer.inputs.get("examples", [])
            if any(a.id == candidate.id for a in produced) and any(
                    e.id == examples.id for e in consumed):
                return candidate
        parent = reader.producer(examples.id)
        examples = _single(parent.inputs.get("examples")) if parent else None
    return None
