"""The one factory: component graph, schema choice, input formats and the TFMA config."""

from __future__ import annotations

from pathlib import Path

import pytest
import tensorflow_model_analysis as tfma

from pipelines.config import load_config
from pipelines.eval_config import build_eval_config
from pipelines.factory import create_pipeline, split_data_source
from pipelines.runners.local import local_environment
from tests.conftest import CONFIG_FILE, write_sample


def _pipeline(tmp_path: Path, **overrides: object):  # type: ignore[no-untyped-def]
    data = write_sample(tmp_path / "d" / "data.csv", rows=5)
    values = {"pipeline.workspace": str(tmp_path / "ws"), "data.source": str(data.parent)}
    values.update({k.replace("__", "."): v for k, v in overrides.items()})
    config = load_config(CONFIG_FILE, values)
    return config, create_pipeline(config, local_environment(config))


def test_graph_order_and_dependencies(tmp_path: Path) -> None:
    config, pipeline = _pipeline(tmp_path)
    ids = [c.id for c in pipeline.components]
    chain = ["ExampleGen", "StatisticsGen", "ExampleValidator", "ValidationGate", "Transform",
             "Trainer", "Evaluator", "Pusher"]
    assert set(ids) == {*chain, "SchemaGen", "LatestBlessedModelResolver"}
    assert [i for i in ids if i in chain] == chain  # topological order of the main chain
    by_id = {c.id: c for c in pipeline.components}
    assert {n.id for n in by_id["Transform"].upstream_nodes} >= {"ValidationGate", "SchemaGen"}
    assert {n.id for n in by_id["Pusher"].upstream_nodes} == {"Trainer", "Evaluator"}
    assert type(by_id["SchemaGen"]).__name__ == "ImportSchemaGen"  # curated schema exists
    assert pipeline.enable_cache is True
    assert "--direct_running_mode=multi_processing" in pipeline.beam_pipeline_args
    assert "--direct_num_workers=0" in pipeline.beam_pipeline_args
    assert str(config.serving_dir) in str(by_id["Pusher"].exec_properties["push_destination"])


def test_schemagen_infers_when_no_curated_schema(tmp_path: Path) -> None:
    _, pipeline = _pipeline(tmp_path, schema__curated=str(tmp_path / "absent.pbtxt"))
    schema_gen = next(c for c in pipeline.components if c.id == "SchemaGen")
    assert type(schema_gen).__name__ == "SchemaGen"


@pytest.mark.parametrize(("data_format", "component"), [
    ("csv", "CsvExampleGen"), ("tfrecord", "ImportExampleGen"),
    ("parquet", "FileBasedExampleGen"),
])
def test_input_formats(tmp_path: Path, data_format: str, component: str) -> None:
    _, pipeline = _pipeline(tmp_path, data__format=data_format)
    assert type(pipeline.components[0]).__name__ == component


def test_split_data_source(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    assert split_data_source(str(tmp_path / "in"), "csv") == (str(tmp_path / "in"), "*.csv")
    assert split_data_source(str(tmp_path / "in" / "a.csv"), "csv") == (
        str(tmp_path / "in"), "a.csv")
    assert split_data_source(str(tmp_path / "in" / "2024-*" / "*.csv"), "csv") == (
        str(tmp_path / "in"), "2024-*/*.csv")


def test_eval_config_thresholds_gate_overall_slice_only() -> None:
    config = load_config(CONFIG_FILE)
    eval_config = build_eval_config(config)
    assert eval_config.model_specs[0].label_key == "big_tipper_xf"
    assert list(eval_config.model_specs[0].preprocessing_function_names) == [
        "transform_features"]
    slices = [list(s.feature_keys) for s in eval_config.slicing_specs]
    assert slices == [[], ["payment_type"], ["trip_start_hour"]]
    metrics = {m.class_name: m for m in eval_config.metrics_specs[0].metrics}
    auc = metrics["AUC"].per_slice_thresholds[0]
    assert list(auc.slicing_specs) == [tfma.SlicingSpec()]
    assert auc.threshold.value_threshold.lower_bound.value == pytest.approx(0.7)
    assert auc.threshold.change_threshold.absolute.value == pytest.approx(-0.01)
    assert auc.threshold.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
    assert not metrics["BinaryAccuracy"].per_slice_thresholds[0].threshold.HasField(
        "change_threshold")
    assert eval_config.options.include_default_metrics.value is False
