"""The Kubeflow V2 spec compiled from the one factory, read back with KFP's pipeline-spec protos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from pipelines.config import PlatformConfig, load_config
from pipelines.runners.kubeflow import (
    KubeflowConfigError,
    compile_pipeline,
    default_output,
)
from tests.conftest import CONFIG_FILE

IMAGE = "registry.example.com/tfx-mlops-platform:0.1.0"
ROOT = "gs://mlops-artifacts/tfx"
# What the committed infra/kubeflow/pipeline.json was compiled with (docs/kubeflow.md).
COMMITTED = {"kubeflow.image": IMAGE, "kubeflow.pipeline_root": ROOT}
DEPENDENCIES = {
    "ExampleGen": set(),
    "StatisticsGen": {"ExampleGen"},
    "SchemaGen": set(),  # ImportSchemaGen of the curated schema
    "ExampleValidator": {"StatisticsGen", "SchemaGen"},
    "ValidationGate": {"ExampleValidator"},
    "Transform": {"ExampleGen", "SchemaGen", "ValidationGate"},
    "Trainer": {"Transform", "SchemaGen"},
    "LatestBlessedModelResolver-model-resolver": set(),
    "LatestBlessedModelResolver-model-blessing-resolver": set(),
    "Evaluator": {"ExampleGen", "Trainer", "LatestBlessedModelResolver-model-resolver"},
    "Pusher": {"Trainer", "Evaluator"},
}


def _config(**overrides: object) -> PlatformConfig:
    values = {**COMMITTED, "trainer.train_steps": 321,
              "kubeflow.trainer_resources": {"gpu_count": 2, "gpu_type": "nvidia.com/gpu",
                                             "cpu": 8, "memory_gib": 32}}
    values.update(overrides)
    return load_config(CONFIG_FILE, values)


def _job(path: Path) -> pipeline_spec_pb2.PipelineJob:
    return json_format.Parse(path.read_text(), pipeline_spec_pb2.PipelineJob())


def _spec(job: pipeline_spec_pb2.PipelineJob) -> pipeline_spec_pb2.PipelineSpec:
    return json_format.ParseDict(json_format.MessageToDict(job.pipeline_spec),
                                 pipeline_spec_pb2.PipelineSpec())


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> pipeline_spec_pb2.PipelineJob:
    path = tmp_path_factory.mktemp("kfp") / "pipeline.json"
    result = compile_pipeline(_config(), path)
    assert result.path == path and result.image == IMAGE
    return _job(path)


def test_every_component_is_a_task_with_its_dependencies(
        compiled: pipeline_spec_pb2.PipelineJob) -> None:
    tasks = _spec(compiled).root.dag.tasks
    assert {name: set(task.dependent_tasks) for name, task in tasks.items()} == DEPENDENCIES
    assert compiled.display_name == "taxi-big-tipper"


def test_every_container_uses_the_configured_image(
        compiled: pipeline_spec_pb2.PipelineJob) -> None:
    spec = _spec(compiled)
    executors = spec.deployment_spec["executors"]
    containers = {label: e["container"] for label, e in executors.items() if "container" in e}
    assert len(containers) == 9  # every node except the two resolver queries
    assert {c["image"] for c in containers.values()} == {IMAGE}
    assert "tfx.components.trainer.executor.GenericExecutor" in \
        containers["Trainer_executor"]["args"]


def test_runtime_parameters_and_pipeline_root(compiled: pipeline_spec_pb2.PipelineJob) -> None:
    spec = _spec(compiled)
    root_inputs = spec.root.input_definitions.parameters
    assert set(root_inputs) == {"data_root", "train_args"}
    assert root_inputs["data_root"].default_value.string_value.endswith(
        "/site-packages/tfx/examples/chicago_taxi_pipeline/data/simple")
    assert json.loads(root_inputs["train_args"].default_value.string_value) == {
        "num_steps": 321}
    tasks = spec.root.dag.tasks
    assert tasks["ExampleGen"].inputs.parameters["input_base"].component_input_parameter == \
        "data_root"
    assert tasks["Trainer"].inputs.parameters["train_args"].component_input_parameter == \
        "train_args"
    assert compiled.runtime_config.gcs_output_directory == ROOT
    values = compiled.runtime_config.parameters  # TFX 1.16 writes the Value form
    assert values["train_args"].string_value == '{"num_steps": 321}'
    pusher = json.loads(tasks["Pusher"].inputs.parameters["push_destination"]
                        .runtime_value.constant_value.string_value)
    assert pusher["filesystem"]["base_directory"] == f"{ROOT}/serving/taxi-big-tipper"
    schema_file = tasks["SchemaGen"].inputs.parameters["schema_file"]
    assert schema_file.runtime_value.constant_value.string_value == \
        "/pipeline/schemas/taxi/schema.pbtxt"  # the curated schema inside the image


def test_trainer_requests_the_configured_gpus(compiled: pipeline_spec_pb2.PipelineJob) -> None:
    executors = _spec(compiled).deployment_spec["executors"]
    resources = json_format.ParseDict(
        executors["Trainer_executor"]["container"]["resources"],
        pipeline_spec_pb2.PipelineDeploymentConfig.PipelineContainerSpec.ResourceSpec())
    assert (resources.accelerator.type, resources.accelerator.count) == ("nvidia.com/gpu", 2)
    assert (resources.accelerator.resource_type, resources.accelerator.resource_count) == (
        "nvidia.com/gpu", "2")
    assert (resources.cpu_limit, resources.resource_cpu_limit) == (8, "8")
    assert resources.resource_memory_limit == "32Gi"
    others = [label for label, e in executors.items()
              if "container" in e and "resources" in e["container"]]
    assert others == ["Trainer_executor"]


def test_latest_span_window_is_left_to_the_example_gen_driver(tmp_path: Path) -> None:
    config = _config(**{"data.spans": {"pattern": "{YYYY}-{MM}-{DD}/*.csv"},
                        "kubeflow.data_root": "gs://landing/taxi"})
    job = _job(compile_pipeline(config, tmp_path / "spans.json").path)
    example_gen = _spec(job).root.dag.tasks["ExampleGen"].inputs.parameters
    constant = {k: v.runtime_value.constant_value.string_value for k, v in example_gen.items()}
    input_config = json.loads(constant["input_config"])
    assert input_config["splits"][0]["pattern"] == "{YYYY}-{MM}-{DD}/*.csv"
    range_config = json.loads(constant["range_config"])
    assert range_config == {"rolling_range": {"num_spans": 1}}
    assert job.runtime_config.parameters["data_root"].string_value == "gs://landing/taxi"


@pytest.mark.parametrize(("overrides", "message"), [
    ({"kubeflow.image": None}, "kubeflow.image is not set"),
    ({"kubeflow.pipeline_root": None}, "kubeflow.pipeline_root is not set"),
    ({"data.source": "local/data.csv"}, "kubeflow.data_root is not set"),
    ({"data.spans": {"pattern": "{SPAN}/*", "window": "last_n"},
      "kubeflow.data_root": "gs://x"}, "data.spans.window 'last_n'"),
])
def test_errors_name_the_key(tmp_path: Path, overrides: dict, message: str) -> None:
    with pytest.raises(KubeflowConfigError, match=message.replace(".", r"\.")):
        compile_pipeline(_config(**overrides), tmp_path / "x.json")


def test_committed_spec_is_what_the_factory_compiles_today(tmp_path: Path) -> None:
    config = load_config(CONFIG_FILE, COMMITTED)
    fresh = compile_pipeline(config, tmp_path / "pipeline.json").path
    committed = default_output(config)
    assert committed.is_file()
    assert json.loads(fresh.read_text()) == json.loads(committed.read_text()), (
        "infra/kubeflow/pipeline.json is stale: recompile it with the command in "
        "docs/kubeflow.md")


def test_manifests_parse_and_tf_serving_reads_the_push_destination() -> None:
    import yaml

    manifests = sorted((Path(__file__).resolve().parents[2] / "infra" / "k8s").glob("*.yaml"))
    documents = [d for path in manifests for d in yaml.safe_load_all(path.read_text()) if d]
    kinds = {(d["kind"], d["metadata"]["name"]) for d in documents}
    assert {("Namespace", "mlops"), ("StatefulSet", "mlflow-postgres"),
            ("Deployment", "mlflow"), ("Deployment", "tf-serving"),
            ("Service", "tf-serving")} <= kinds
    assert all(d["metadata"].get("namespace") == "mlops" for d in documents
               if d["kind"] != "Namespace")
    serving = next(d for d in documents if d["metadata"]["name"] == "tf-serving"
                   and d["kind"] == "Deployment")
    args = serving["spec"]["template"]["spec"]["containers"][0]["args"]
    base_path = next(a.split("=", 1)[1] for a in args if a.startswith("--model_base_path="))
    tasks = json.loads(default_output(load_config(CONFIG_FILE, COMMITTED)).read_text())[
        "pipelineSpec"]["root"]["dag"]["tasks"]
    push = json.loads(tasks["Pusher"]["inputs"]["parameters"]["push_destination"]
                      ["runtimeValue"]["constantValue"]["stringValue"])
    assert base_path == push["filesystem"]["base_directory"]
    mlflow = next(d for d in documents if d["metadata"]["name"] == "mlflow"
                  and d["kind"] == "Deployment")
    assert "postgresql+psycopg2://" in mlflow["spec"]["template"]["spec"]["containers"][0][
        "args"][0]
