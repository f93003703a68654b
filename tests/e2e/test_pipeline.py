"""End to end: the real pipeline on ~2,000 taxi rows, through the CLI, checked in ML Metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from components.signatures import SERVING_EXAMPLES, SERVING_RAW
from mlops.metadata import MetadataReader
from mlops.summary import RunStatus, summarize_run
from tests.conftest import CompletedRun, cli_args, make_config, run_cli, write_sample

pytestmark = pytest.mark.slow

EXPECTED_NODES = {
    "ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "ValidationGate",
    "Transform", "Trainer", "LatestBlessedModelResolver", "Evaluator", "Pusher",
}


def _reader(run: CompletedRun) -> MetadataReader:
    return MetadataReader.for_sqlite(run.config.metadata_path)


def _pushed_versions(run: CompletedRun) -> list[Path]:
    return sorted(p for p in run.config.serving_dir.iterdir() if p.is_dir())


def test_each_component_executed_once_and_artifacts_exist(completed_run: CompletedRun) -> None:
    record = _reader(completed_run).pipeline_run(
        completed_run.config.pipeline.name, completed_run.run_id
    )
    assert record is not None
    assert set(record.nodes) == EXPECTED_NODES
    assert all(node.state == "COMPLETE" for node in record.nodes.values()), {
        n.node_id: n.state for n in record.nodes.values()
    }
    assert record.nodes["ExampleValidator"].output("anomalies") is not None
    assert record.nodes["Evaluator"].output("evaluation") is not None
    blessing = record.nodes["Evaluator"].output("blessing")
    assert blessing is not None and blessing.properties["blessed"] == 1
    assert record.nodes["SchemaGen"].properties  # ImportSchemaGen of the curated schema ran


def test_summary_reports_rows_metrics_and_push(completed_run: CompletedRun) -> None:
    summary = summarize_run(_reader(completed_run), completed_run.config, completed_run.run_id)
    assert summary.status is RunStatus.PUSHED
    assert sum(summary.rows_per_split.values()) == 2000
    assert set(summary.rows_per_split) == {"train", "eval"}
    assert summary.anomalies == []
    overall_auc = [m for m in summary.metrics if m.slice == "Overall" and m.metric == "auc"]
    assert overall_auc and overall_auc[0].value > 0.7 and overall_auc[0].passed is True
    assert any(m.slice.startswith("payment_type=") for m in summary.metrics)
    assert summary.pushed_path and Path(summary.pushed_path).is_dir()
    for text in ("[ 7/10] Transform", "Rows per split: train", "Evaluation (overall",
                 "Pushed: version"):
        assert text in completed_run.output


def test_pushed_model_answers_raw_and_example_requests(completed_run: CompletedRun) -> None:
    model = tf.saved_model.load(str(_pushed_versions(completed_run)[-1]))
    raw = model.signatures[SERVING_RAW]
    rows = 3
    inputs = {}
    for name, spec in raw.structured_input_signature[1].items():
        if spec.dtype == tf.string:
            inputs[name] = tf.constant(["Credit Card"] * rows if name == "payment_type"
                                       else ["Taxi Affiliation Services"] * rows)
        else:
            inputs[name] = tf.cast(tf.constant([5.0, 12.0, 30.0]), spec.dtype)
    probabilities = raw(**inputs)["probabilities"].numpy()
    assert probabilities.shape == (rows, 1)
    assert np.all((probabilities >= 0) & (probabilities <= 1))

    example = tf.train.Example()
    example.features.feature["fare"].float_list.value.append(10.0)
    example.features.feature["payment_type"].bytes_list.value.append(b"Cash")
    by_example = model.signatures[SERVING_EXAMPLES](
        examples=tf.constant([example.SerializeToString()])
    )["probabilities"].numpy()
    assert by_example.shape == (1, 1) and 0.0 <= by_example[0, 0] <= 1.0


def test_second_run_is_served_from_cache(completed_run: CompletedRun) -> None:
    before = _pushed_versions(completed_run)
    result = run_cli("run", *cli_args(completed_run.config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "cached (reused from an earlier run)" in result.stdout
    # The cached model is blessed again against itself; it is not pushed a second time.
    assert "identical to the version already serving: not copied again" in result.stdout
    assert _pushed_versions(completed_run) == before
    reader = _reader(completed_run)
    latest = reader.run_ids(completed_run.config.pipeline.name)[0]
    nodes = reader.pipeline_run(completed_run.config.pipeline.name, latest).nodes
    for node_id in ("ExampleGen", "StatisticsGen", "Transform", "Trainer"):
        assert nodes[node_id].cached, node_id


def _bad_run(completed_run: CompletedRun, tmp_path: Path, edit=None, rows: int = 2000,
             text: str | None = None):  # type: ignore[no-untyped-def]
    data = tmp_path / "bad" / "data.csv"
    if text is None:
        write_sample(data, rows=rows, edit=edit)
    else:
        data.parent.mkdir(parents=True, exist_ok=True)
        data.write_text(text)
    before = _pushed_versions(completed_run)
    result = run_cli("run", *cli_args(completed_run.config), "--data", str(data.parent))
    assert _pushed_versions(completed_run) == before, "a bad-input run must push nothing"
    return result, data


def test_type_change_halts_before_transform_naming_feature(
    completed_run: CompletedRun, tmp_path: Path
) -> None:
    def fare_as_text(row: dict[str, str]) -> dict[str, str]:
        return {**row, "fare": "twelve dollars" if int(row["trip_start_day"]) < 4 else row["fare"]}

    result, _ = _bad_run(completed_run, tmp_path, fare_as_text)
    output = result.stdout + result.stderr
    assert result.returncode == RunStatus.HALTED.exit_code, output
    assert "fare" in output and "halted by validation" in output
    reader = _reader(completed_run)
    latest = reader.run_ids(completed_run.config.pipeline.name)[0]
    nodes = reader.pipeline_run(completed_run.config.pipeline.name, latest).nodes
    assert "Transform" not in nodes and "Pusher" not in nodes


def test_new_category_halts_naming_feature(completed_run: CompletedRun, tmp_path: Path) -> None:
    def new_payment(row: dict[str, str]) -> dict[str, str]:
        return {**row, "payment_type": "Crypto"} if row["trip_start_hour"] == "3" else row

    result, _ = _bad_run(completed_run, tmp_path, new_payment)
    output = result.stdout + result.stderr
    assert result.returncode == RunStatus.HALTED.exit_code, output
    assert "payment_type" in output and "ENUM_TYPE_UNEXPECTED_STRING_VALUES" in output
    assert "Crypto" in output


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("missing_label_column", "missing column(s) tips"),
        ("empty_file", "the file is empty"),
        ("missing_path", "no csv files"),
    ],
)
def test_bad_input_files_fail_fast_with_named_problem(
    completed_run: CompletedRun, tmp_path: Path, case: str, expected: str
) -> None:
    if case == "missing_path":
        result = run_cli("run", *cli_args(completed_run.config),
                         "--data", str(tmp_path / "nowhere"))
    elif case == "empty_file":
        result, _ = _bad_run(completed_run, tmp_path, text="")
    else:
        data = write_sample(tmp_path / "bad" / "data.csv", rows=50, drop_columns=("tips",))
        result = run_cli("run", *cli_args(completed_run.config), "--data", str(data.parent))
    output = result.stdout + result.stderr
    assert result.returncode == 5, output
    assert expected in output


def test_invalid_config_key_stops_before_any_work(tmp_path: Path, sample_csv: Path) -> None:
    config = make_config(tmp_path / "ws", sample_csv.parent)
    result = run_cli("run", *cli_args(config), "--set", "trainer.batch_sise=64")
    assert result.returncode == 2
    assert "trainer.batch_sise" in result.stderr and "batch_size" in result.stderr
    assert not (tmp_path / "ws" / "pipelines").exists()


def test_runs_list_and_show(completed_run: CompletedRun) -> None:
    listing = run_cli("runs", "list", *cli_args(completed_run.config))
    assert listing.returncode == 0, listing.stderr
    assert completed_run.run_id in listing.stdout and "pushed" in listing.stdout
    shown = run_cli("runs", "show", *cli_args(completed_run.config), completed_run.run_id)
    assert shown.returncode == 0, shown.stderr
    assert "Rows per split: train" in shown.stdout and "Blessed: yes" in shown.stdout
    missing = run_cli("runs", "show", *cli_args(completed_run.config), "no-such-run")
    assert missing.returncode == 1 and "mlops runs list" in missing.stderr


def test_schema_freeze_from_latest_run_refuses_to_overwrite(
    completed_run: CompletedRun, tmp_path: Path
) -> None:
    target = tmp_path / "frozen" / "schema.pbtxt"
    frozen = run_cli("schema", "freeze", *cli_args(completed_run.config), "--output", str(target))
    assert frozen.returncode == 0, frozen.stdout + frozen.stderr
    import tensorflow_data_validation as tfdv

    schema = tfdv.load_schema_text(str(target))
    names = {f.name for f in schema.feature}
    assert {"fare", "payment_type", "tips"} <= names
    assert list(schema.default_environment) == ["TRAINING", "SERVING"]
    assert list(tfdv.get_feature(schema, "tips").not_in_environment) == ["SERVING"]
    again = run_cli("schema", "freeze", *cli_args(completed_run.config), "--output", str(target))
    assert again.returncode == 1 and "--force" in again.stderr


def test_run_refused_while_another_holds_the_workspace(completed_run: CompletedRun) -> None:
    from mlops.runlock import run_lock

    with run_lock(completed_run.config.workspace, "someone-else", "test"):
        result = run_cli("run", *cli_args(completed_run.config))
    assert result.returncode == 7
    assert "another pipeline run is in progress" in result.stderr
    assert "someone-else" in result.stderr
