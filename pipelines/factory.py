"""The one pipeline factory: the same component graph for the local runner and Kubeflow.

Runners pass a :class:`PipelineEnvironment` holding only what differs per environment (root,
metadata connection, Beam args, where data is read and models are pushed).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ml_metadata.proto import metadata_store_pb2
from tfx import v1 as tfx
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.components.example_gen.custom_executors import parquet_executor
from tfx.dsl.components.base import executor_spec

from components.features import FeatureSpec, trainer_custom_config
from components.pusher import IdempotentPusherExecutor
from components.validation import ValidationGate
from pipelines.config import PlatformConfig
from pipelines.eval_config import build_eval_config

FILE_PATTERNS = {"csv": "*.csv", "parquet": "*.parquet", "tfrecord": "*"}


@dataclass(frozen=True)
class PipelineEnvironment:
    """Per-environment settings. ``data_root``/``train_steps`` may be runtime parameters."""

    pipeline_root: str
    serving_dir: str
    data_root: Any
    input_pattern: str
    beam_pipeline_args: list[str] = field(default_factory=list)
    metadata_connection_config: metadata_store_pb2.ConnectionConfig | None = None
    train_steps: Any = None
    # Data spans: a TFX RangeConfig pinning ExampleGen to one span (pipelines.spans).
    range_config: Any = None
    # The curated schema as the runtime sees it (inside the image on Kubeflow).
    curated_schema_file: str | None = None


def split_data_source(source_path: str, data_format: str) -> tuple[str, str]:
    """(input_base, file pattern) for ExampleGen from a file, directory or glob."""
    if os.path.isdir(source_path):
        return source_path, FILE_PATTERNS[data_format]
    parts = source_path.split(os.sep)
    first_glob = next((i for i, part in enumerate(parts) if any(c in part for c in "*?[")), None)
    if first_glob is None:
        return os.path.dirname(source_path), os.path.basename(source_path)
    return os.sep.join(parts[:first_glob]) or os.sep, os.sep.join(parts[first_glob:])


def _example_gen(config: PlatformConfig, env: PipelineEnvironment) -> Any:
    input_config = tfx.proto.Input(
        splits=[tfx.proto.Input.Split(name="single_split", pattern=env.input_pattern)]
    )
    output_config = tfx.proto.Output(
        split_config=tfx.proto.SplitConfig(
            splits=[
                tfx.proto.SplitConfig.Split(name=name, hash_buckets=buckets)
                for name, buckets in config.data.split_ratios.hash_buckets().items()
            ]
        )
    )
    common = {"input_base": env.data_root, "input_config": input_config,
              "output_config": output_config}
    if env.range_config is not None:
        common["range_config"] = env.range_config
    if config.data.format == "csv":
        return tfx.components.CsvExampleGen(**common)
    if config.data.format == "tfrecord":
        return tfx.components.ImportExampleGen(**common)
    return FileBasedExampleGen(
        custom_executor_spec=executor_spec.BeamExecutorSpec(parquet_executor.Executor), **common
    )


def create_pipeline(config: PlatformConfig, env: PipelineEnvironment) -> tfx.dsl.Pipeline:
    """ExampleGen -> statistics/schema/validation -> gate -> Transform -> Trainer ->
    Evaluator (vs. latest blessed) -> Pusher."""
    example_gen = _example_gen(config, env).with_id("ExampleGen")
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])

    curated = config.curated_schema_path
    if curated is not None and curated.is_file():
        schema_gen = tfx.components.ImportSchemaGen(
            schema_file=env.curated_schema_file or str(curated))
    else:
        schema_gen = tfx.components.SchemaGen(
            statistics=statistics_gen.outputs["statistics"], infer_feature_shape=False
        )
    schema_gen = schema_gen.with_id("SchemaGen")
    schema = schema_gen.outputs["schema"]

    example_validator = tfx.components.ExampleValidator(
        statistics=statistics_gen.outputs["statistics"], schema=schema
    )
    gate = ValidationGate(
        anomalies=example_validator.outputs["anomalies"],
        on_anomalies=config.validation.on_anomalies,
    )

    transform = tfx.components.Transform(
        examples=example_gen.outputs["examples"],
        schema=schema,
        preprocessing_fn="components.transform.preprocessing_fn",
        custom_config=FeatureSpec.from_config(config).to_custom_config(),
        # StatisticsGen already described the raw data and ExampleValidator checked it (drift
        # reads those statistics too); Transform's own pre/post-transform statistics would run
        # TFDV over the data twice more for nothing anyone reads here.
        disable_statistics=True,
    )
    transform.add_upstream_node(gate)

    train_steps = env.train_steps if env.train_steps is not None else config.trainer.train_steps
    # A RuntimeParameter (Kubeflow) carries TrainArgs as JSON, e.g. '{"num_steps": 1000}'.
    train_args = (train_steps if isinstance(train_steps, tfx.dsl.experimental.RuntimeParameter)
                  else tfx.proto.TrainArgs(num_steps=train_steps))
    trainer = tfx.components.Trainer(
        run_fn="components.trainer.run_fn",
        examples=transform.outputs["transformed_examples"],
        transform_graph=transform.outputs["transform_graph"],
        schema=schema,
        train_args=train_args,
        eval_args=tfx.proto.EvalArgs(num_steps=config.trainer.eval_steps),
        custom_config=trainer_custom_config(config),
    )

    model_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing),
    ).with_id("LatestBlessedModelResolver")

    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"],
        model=trainer.outputs["model"],
        baseline_model=model_resolver.outputs["model"],
        eval_config=build_eval_config(config),
    )

    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        model_blessing=evaluator.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=env.serving_dir)
        ),
        # A model identical to the one already serving is not pushed again (module docstring).
        custom_executor_spec=executor_spec.ExecutorClassSpec(IdempotentPusherExecutor),
    )

    return tfx.dsl.Pipeline(
        pipeline_name=config.pipeline.name,
        pipeline_root=env.pipeline_root,
        components=[
            example_gen, statistics_gen, schema_gen, example_validator, gate, transform,
            trainer, model_resolver, evaluator, pusher,
        ],
        enable_cache=True,
        metadata_connection_config=env.metadata_connection_config,
        beam_pipeline_args=env.beam_pipeline_args,
    )
