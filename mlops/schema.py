"""Freezing an inferred schema into ``schemas/`` so people can review and curate it.

The pipeline validates against a curated schema when one exists (ImportSchemaGen). This module
produces the starting point: a schema inferred by TFDV from the latest run's statistics (or
from the configured data when no run exists), with a SERVING environment that leaves out the
columns only the label needs. It never overwrites a curated schema unless asked to.
"""

from __future__ import annotations

import logging
from pathlib import Path

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from components.features import FeatureSpec
from mlops.metadata import open_reader
from pipelines.config import PlatformConfig

log = logging.getLogger("mlops.schema")
TRAINING, SERVING = "TRAINING", "SERVING"
STATISTICS_TYPE = "ExampleStatistics"


class SchemaExistsError(FileExistsError):
    """Refusing to overwrite a curated schema."""


def latest_statistics(
    config: PlatformConfig,
) -> tuple[statistics_pb2.DatasetFeatureStatisticsList, str] | None:
    """Train-split statistics of the newest StatisticsGen output in ML Metadata, and its URI."""
    with open_reader(config.metadata_path) as reader:
        if reader is None:
            return None
        for artifact in reader.artifacts_of_type(STATISTICS_TYPE):
            path = Path(artifact.uri) / "Split-train" / "FeatureStats.pb"
            if path.exists():
                return tfdv.load_stats_binary(str(path)), artifact.uri
    return None


def statistics_from_data(config: PlatformConfig) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Run the pipeline up to StatisticsGen, so the statistics see the data exactly as
    ExampleGen encodes it (e.g. empty CSV cells as empty features), then read them back."""
    from pipelines.runners.local import run_local

    result = run_local(config, up_to="StatisticsGen")
    if result.error is not None:
        raise RuntimeError(f"computing statistics failed: {result.error}") from result.error
    found = latest_statistics(config)
    if found is None:
        raise RuntimeError("StatisticsGen ran but recorded no statistics")
    return found[0]


def infer_curation_schema(
    config: PlatformConfig, statistics: statistics_pb2.DatasetFeatureStatisticsList
) -> schema_pb2.Schema:
    """TFDV's inferred schema plus TRAINING/SERVING environments (label-only columns absent
    at serving time)."""
    schema = tfdv.infer_schema(statistics, infer_feature_shape=False)
    schema.default_environment.extend([TRAINING, SERVING])
    label_only = set(FeatureSpec.from_config(config).label_inputs())
    for feature in schema.feature:
        if feature.name in label_only:
            feature.not_in_environment.append(SERVING)
    return schema


def freeze_schema(
    config: PlatformConfig, output: Path | None = None, *, force: bool = False
) -> Path:
    """Write the inferred schema for curation; returns the path written."""
    target = output or config.curated_schema_path or (
        config.base_dir / "schemas" / config.pipeline.name / "schema.pbtxt"
    )
    if target.exists() and not force:
        raise SchemaExistsError(
            f"{target}: a curated schema is already there; pass --force to replace it "
            "or --output PATH to write elsewhere."
        )
    found = latest_statistics(config)
    if found is not None:
        statistics, origin = found
        log.info("inferring the schema from the statistics of %s", origin)
    else:
        log.info("no pipeline run yet: computing statistics from %s", config.data_source)
        statistics = statistics_from_data(config)
    schema = infer_curation_schema(config, statistics)
    target.parent.mkdir(parents=True, exist_ok=True)
    tfdv.write_schema_text(schema, str(target))
    return target
