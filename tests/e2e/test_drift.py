"""Drift checks against the real serving model of `completed_run`, and a real retraining run.

The baseline comes from ML Metadata lineage of the pushed model; `mlops drift check` runs as a
person would type it; with `drift.on_drift: retrain` the real trigger starts a real
`mlops run` on the training data plus the new span, recorded with the drift reason.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlops.monitoring.baseline import find_serving_baseline
from mlops.runrecords import load_record
from tests.conftest import CompletedRun, cli_args, make_config, run_cli
from tests.drift_data import SHIFTED_FEATURES, shift_row, write_resample

pytestmark = pytest.mark.slow


def _training_csv(run: CompletedRun) -> Path:
    return next(Path(run.config.data_source).glob("*.csv"))


def test_baseline_is_the_pushed_models_training_statistics(completed_run: CompletedRun) -> None:
    baseline = find_serving_baseline(completed_run.config)
    assert completed_run.run_id in baseline.run_ids
    assert "StatisticsGen" in baseline.statistics_uri
    assert baseline.statistics.datasets[0].num_examples > 1000  # the train split of 2,000 rows


def test_check_command_no_drift_then_drift(completed_run: CompletedRun, tmp_path: Path) -> None:
    training = _training_csv(completed_run)
    args = cli_args(completed_run.config)
    same = run_cli("drift", "check", *args, str(write_resample(training, tmp_path / "same.csv",
                                                               3000, seed=11)))
    assert same.returncode == 0, same.stdout + same.stderr
    assert "no drift" in same.stdout
    shifted = run_cli("drift", "check", *args, str(write_resample(
        training, tmp_path / "shifted.csv", 3000, seed=12, edit=shift_row)))
    assert shifted.returncode == 3, shifted.stdout + shifted.stderr
    verdict = next(line for line in shifted.stdout.splitlines() if line.startswith("Check "))
    for feature in SHIFTED_FEATURES:
        assert feature in verdict
    listing = run_cli("drift", "reports", "list", *args)
    assert listing.returncode == 0 and listing.stdout.count("drift_reported") >= 1


def test_drift_triggers_a_real_retraining_run(completed_run: CompletedRun,
                                              tmp_path: Path) -> None:
    # A copy of the completed run's workspace, so the new run does not change what other
    # tests read; ML Metadata still points at the original (read-only) artifacts.
    workspace = tmp_path / "workspace"
    shutil.copytree(completed_run.config.workspace, workspace,
                    ignore=shutil.ignore_patterns("run.lock", "drift"))
    training = _training_csv(completed_run)
    config = make_config(workspace, training.parent, drift__on_drift="retrain")
    landed = write_resample(training, tmp_path / "landing" / "new.csv", 600, seed=13,
                            edit=shift_row)
    result = run_cli("drift", "check", *cli_args(config), "--wait", str(landed), timeout=1800)
    output = result.stdout + result.stderr
    assert result.returncode in (0, 3), output  # the retraining run pushed, or was not blessed
    assert landed.exists()
    [decision] = [json.loads(line) for line in
                  (workspace / "drift" / "decisions.jsonl").read_text().splitlines()]
    assert decision["decision"] == "triggered"
    record = load_record(workspace, decision["run_id"])
    assert record is not None and record.reason.startswith("drift: ")
    assert record.finished is not None and record.exit_code == result.returncode
    data = Path(str(record.data_source))
    assert any(p.name.startswith("span-") for p in data.iterdir())

    again = run_cli("drift", "check", *cli_args(config), str(landed))
    assert again.returncode == 3, again.stdout + again.stderr
    decisions = [json.loads(line)["decision"] for line in
                 (workspace / "drift" / "decisions.jsonl").read_text().splitlines()]
    assert decisions == ["triggered", "cooling_down"]
