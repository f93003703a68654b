"""Kubeflow Pipelines v2: the same factory output, compiled to a pipeline spec by TFX.

``create_pipeline`` builds exactly the graph the local runner runs; this module only supplies
what differs on a cluster (see :func:`kubeflow_environment`): the image, an object-store or
volume pipeline root, the data location and training steps as runtime parameters (so one
compiled spec serves every run and schedule), Beam settings for a pod, no local ML Metadata
(Kubeflow records it), and the Trainer's GPU/CPU/memory request as a KFP ResourceSpec.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kfp.pipeline_spec import pipeline_spec_pb2
from tfx import v1 as tfx
from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

from pipelines.config import PACKAGE_SCHEME, PlatformConfig
from pipelines.factory import PipelineEnvironment, create_pipeline, split_data_source

DATA_ROOT_PARAMETER = "data_root"
TRAIN_ARGS_PARAMETER = "train_args"
TRAINER_NODE = "Trainer"
# infra/Dockerfile installs the locked stack into this virtual environment.
IMAGE_SITE_PACKAGES = "/opt/venv/lib/python3.11/site-packages"
ResourceSpec = pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec


class KubeflowConfigError(ValueError):
    """The kubeflow section cannot produce a runnable spec; the message names the key."""


@dataclass(frozen=True)
class CompiledSpec:
    path: Path
    image: str
    pipeline_root: str
    parameters: dict[str, Any]


def _required(value: str | None, key: str, hint: str) -> str:
    if not value:
        raise KubeflowConfigError(f"kubeflow.{key} is not set in pipeline_config.yaml: {hint}")
    return value


def cluster_data_root(config: PlatformConfig) -> str:
    """Where pods read data: kubeflow.data_root, a URL data.source, or the sample in the image."""
    if config.kubeflow.data_root:
        return config.kubeflow.data_root
    source = config.data.source
    if source.startswith(PACKAGE_SCHEME):
        module_and_path = source[len(PACKAGE_SCHEME):]
        local_root, _ = split_data_source(config.data_source, config.data.format)
        relative = os.path.relpath(local_root, config.data_source)
        base = f"{IMAGE_SITE_PACKAGES}/{module_and_path}".rstrip("/")
        return base if relative == "." else os.path.normpath(f"{base}/{relative}")
    if "://" in source:
        return source if config.data.spans else split_data_source(source, config.data.format)[0]
    raise KubeflowConfigError(
        f"kubeflow.data_root is not set and data.source '{source}' is a local path the cluster "
        "cannot read; set kubeflow.data_root to a bucket or volume path (e.g. gs://bucket/taxi)."
    )


def _input_pattern(config: PlatformConfig) -> str:
    spans = config.data.spans
    if spans is None:
        return split_data_source(config.data_source, config.data.format)[1]
    if spans.window == "last_n":
        raise KubeflowConfigError(
            "data.spans.window 'last_n' is chosen when a run starts by the local runner; on "
            "Kubeflow the ExampleGen driver resolves spans and TFX 1.16 reads one span per run. "
            "Use window 'latest' (the driver picks the newest span) or 'all' for Kubeflow."
        )
    if spans.window == "latest":
        return spans.pattern
    from pipelines.spans import as_glob

    return as_glob(spans.pattern)


def kubeflow_environment(config: PlatformConfig) -> PipelineEnvironment:
    """What differs on the cluster, with data root and train steps as runtime parameters."""
    section = config.kubeflow
    pipeline_root = _required(section.pipeline_root, "pipeline_root",
                              "an object store or volume path, e.g. gs://bucket/tfx-root")
    push = section.push_destination or (
        f"{pipeline_root.rstrip('/')}/serving/{config.pipeline.name}")
    range_config = None
    if config.data.spans is not None and config.data.spans.window == "latest":
        from tfx.proto import range_config_pb2

        range_config = range_config_pb2.RangeConfig(
            rolling_range=range_config_pb2.RollingRange(num_spans=1))
    curated = config.curated_schema_path
    in_image = None
    if curated is not None and curated.is_file():
        in_image = f"{section.project_dir.rstrip('/')}/{curated.relative_to(config.base_dir)}"
    return PipelineEnvironment(
        pipeline_root=pipeline_root,
        serving_dir=push,
        data_root=tfx.dsl.experimental.RuntimeParameter(
            name=DATA_ROOT_PARAMETER, ptype=str, default=cluster_data_root(config)),
        input_pattern=_input_pattern(config),
        beam_pipeline_args=["--direct_running_mode=multi_processing",
                            "--direct_num_workers=0"],
        metadata_connection_config=None,
        train_steps=tfx.dsl.experimental.RuntimeParameter(
            name=TRAIN_ARGS_PARAMETER, ptype=str,
            default=json.dumps({"num_steps": config.trainer.train_steps})),
        range_config=range_config,
        curated_schema_file=in_image,
    )


def trainer_resources(config: PlatformConfig) -> ResourceSpec:
    """The Trainer's request, in both the numeric fields TFX validates and the string fields
    current KFP backends read (resource_* / accelerator.resource_*)."""
    wanted = config.kubeflow.trainer_resources
    spec = ResourceSpec(
        cpu_limit=wanted.cpu,
        memory_limit=round(wanted.memory_gib * 1.073741824, 3),  # GB, as the field is defined
        resource_cpu_limit=f"{wanted.cpu:g}",
        resource_memory_limit=f"{wanted.memory_gib:g}Gi",
    )
    if wanted.gpu_count:
        spec.accelerator.type = wanted.gpu_type
        spec.accelerator.count = wanted.gpu_count
        spec.accelerator.resource_type = wanted.gpu_type
        spec.accelerator.resource_count = str(wanted.gpu_count)
    return spec


def build_kubeflow_pipeline(config: PlatformConfig) -> tfx.dsl.Pipeline:
    """The factory's pipeline with the Trainer's resource request attached."""
    pipeline = create_pipeline(config, kubeflow_environment(config))
    trainer = next(c for c in pipeline.components if c.id == TRAINER_NODE)
    trainer.with_platform_config(trainer_resources(config))
    return pipeline


def default_output(config: PlatformConfig) -> Path:
    return config.resolve(config.kubeflow.output_spec)


def compile_pipeline(config: PlatformConfig, output: Path | None = None,
                     image: str | None = None) -> CompiledSpec:
    """Write the Kubeflow V2 pipeline spec (a PipelineJob JSON) with KubeflowV2DagRunner."""
    image = _required(image or config.kubeflow.image, "image",
                      "build infra/Dockerfile, push it to a registry the cluster can pull "
                      "from, and set kubeflow.image (or pass --image)")
    target = Path(output) if output else default_output(config)
    pipeline = build_kubeflow_pipeline(config)
    runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
            display_name=config.pipeline.name, default_image=image),
        output_dir=str(target.parent), output_filename=target.name,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    parameters = default_parameters(config)
    runner.run(pipeline, parameter_values=parameters, write_out=True)
    _write_parameter_defaults(target, parameters)
    return CompiledSpec(target, image, str(pipeline.pipeline_info.pipeline_root), parameters)


def default_parameters(config: PlatformConfig) -> dict[str, Any]:
    """The runtime parameters' values from config (a submit may override them)."""
    return {DATA_ROOT_PARAMETER: cluster_data_root(config),
            TRAIN_ARGS_PARAMETER: json.dumps({"num_steps": config.trainer.train_steps})}


def _write_parameter_defaults(path: Path, parameters: dict[str, Any]) -> None:
    """Also put the defaults into the PipelineSpec's root inputs: KFP's API takes only the
    PipelineSpec, and its UI and runs without explicit values fall back to these."""
    job = json.loads(path.read_text())
    text = path.read_text()
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    root_inputs = job["pipelineSpec"]["root"]["inputDefinitions"]["parameters"]
    for name, value in parameters.items():
        root_inputs[name]["defaultValue"] = value
    path.write_text(header + json.dumps(job, indent=2, sort_keys=True) + "\n")


def load_pipeline_spec(path: Path) -> pipeline_spec_pb2.PipelineSpec:
    """The PipelineSpec inside a compiled PipelineJob file (what KFP's API takes)."""
    from google.protobuf import json_format

    job = json.loads(Path(path).read_text())
    return json_format.ParseDict(job.get("pipelineSpec", job), pipeline_spec_pb2.PipelineSpec())
