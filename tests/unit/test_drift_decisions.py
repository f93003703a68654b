"""Decisions of a drift check: trigger once, cool down, one run at a time, bad input, reports.

The checks are real (TFDV statistics on Beam, TFDV comparators); the baseline is injected and
the trigger is a recording stand-in for mlops.trigger.start_pipeline_run, except in the
run-in-progress test, which uses the real trigger against a held run lock. A real triggered
`mlops run` is in tests/e2e/test_drift.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import tensorflow_data_validation as tfdv
from click.testing import CliRunner

from mlops.monitoring.baseline import Baseline
from mlops.monitoring.check import run_check
from mlops.monitoring.decisions import load_decisions
from mlops.monitoring.report import list_reports, load_report
from mlops.monitoring.statistics import DriftInputError
from mlops.runlock import run_lock
from tests.conftest import REPO, make_config, write_sample
from tests.drift_data import shift_row, write_resample

HOUR = 3600.0


@dataclass
class StartedRun:
    run_id: str


class RecordingTrigger:
    def __init__(self) -> None:
        self.calls: list[dict[str, object]] = []

    def __call__(self, config, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append(kwargs)
        return StartedRun(f"run-{len(self.calls)}")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("drift-decisions")
    training = write_sample(root / "train" / "data.csv")
    schema = tfdv.load_schema_text(str(REPO / "schemas" / "taxi" / "schema.pbtxt"))
    baseline = Baseline(
        statistics=tfdv.generate_statistics_from_csv(str(training)), schema=schema,
        statistics_uri=str(training.parent), schema_uri="schemas/taxi", pushed_model_id=1,
        pushed_model_uri="serving/1", model_id=1, trainer_execution_id=1, run_ids=("r1",),
        examples_uri=str(training.parent),
    )
    shifted = write_resample(training, root / "landing" / "shifted.csv", 1500, seed=5,
                             edit=shift_row)
    same = write_resample(training, root / "landing" / "same.csv", 1500, seed=6)
    return training, baseline, shifted, same


def _config(tmp_path: Path, training: Path, **overrides: object):  # type: ignore[no-untyped-def]
    return make_config(tmp_path / "workspace", training.parent,
                       beam__direct_running_mode="in_memory", **overrides)


def test_drift_triggers_once_then_cools_down_then_triggers_again(data, tmp_path: Path) -> None:
    training, baseline, shifted, _ = data
    config = _config(tmp_path, training, drift__on_drift="retrain", drift__cooldown_minutes=120)
    trigger = RecordingTrigger()
    start = 1_800_000_000.0

    first = run_check(config, shifted, trigger=trigger, now=start, baseline=baseline)
    assert first.decision.decision == "triggered" and first.decision.run_id == "run-1"
    assert len(trigger.calls) == 1
    reason = str(trigger.calls[0]["reason"])
    assert reason.startswith("drift: ") and "trip_start_hour" in reason
    retrain_data = Path(str(trigger.calls[0]["data_source"]))
    names = sorted(p.name for p in retrain_data.iterdir())
    assert any(n.startswith("train-") for n in names) and any(n.startswith("span-") for n in names)
    span = next(p for p in retrain_data.iterdir() if p.name.startswith("span-"))
    assert span.read_text().splitlines()[0] == training.read_text().splitlines()[0]
    assert shifted.exists()  # the landing file stays where it was

    second = run_check(config, shifted, trigger=trigger, now=start + HOUR, baseline=baseline)
    assert second.decision.decision == "cooling_down"
    assert "run-1" in second.decision.reason
    assert len(trigger.calls) == 1

    third = run_check(config, shifted, trigger=trigger, now=start + 2.5 * HOUR,
                      baseline=baseline)
    assert third.decision.decision == "triggered" and third.decision.run_id == "run-2"
    assert len(trigger.calls) == 2

    log = [d.decision for d in load_decisions(config)]
    assert log == ["triggered", "cooling_down", "triggered"]
    lines = (config.workspace / "drift" / "decisions.jsonl").read_text().splitlines()
    assert all(json.loads(line)["reason"] for line in lines)


def test_no_drift_records_and_triggers_nothing(data, tmp_path: Path) -> None:
    training, baseline, _, same = data
    config = _config(tmp_path, training, drift__on_drift="retrain")
    trigger = RecordingTrigger()
    result = run_check(config, same, trigger=trigger, baseline=baseline)
    assert result.decision.decision == "no_drift" and result.drifted_features == []
    assert trigger.calls == []


def test_report_mode_reports_without_triggering(data, tmp_path: Path) -> None:
    training, baseline, shifted, _ = data
    config = _config(tmp_path, training)  # drift.on_drift defaults to report
    trigger = RecordingTrigger()
    result = run_check(config, shifted, trigger=trigger, baseline=baseline)
    assert result.decision.decision == "drift_reported"
    assert trigger.calls == []


def test_run_in_progress_is_recorded_and_nothing_starts(data, tmp_path: Path) -> None:
    from mlops.monitoring.check import default_trigger

    training, baseline, shifted, _ = data
    config = _config(tmp_path, training, drift__on_drift="retrain")
    with run_lock(config.workspace, "busy-run", "schedule"):
        result = run_check(config, shifted, trigger=default_trigger, baseline=baseline)
    assert result.decision.decision == "run_in_progress"
    assert "busy-run" in result.decision.reason
    assert not (config.workspace / "logs").exists()  # no child run was started


def test_corrupted_file_errors_triggers_nothing_and_stays(data, tmp_path: Path) -> None:
    training, baseline, _, _ = data
    config = _config(tmp_path, training, drift__on_drift="retrain")
    landing = tmp_path / "landing"
    landing.mkdir()
    corrupted = landing / "corrupted.csv"
    text = training.read_text().splitlines()
    corrupted.write_text("\n".join([*text[:5], text[6][:len(text[6]) // 2], *text[7:20]]))
    before = corrupted.read_bytes()
    trigger = RecordingTrigger()
    with pytest.raises(DriftInputError, match=r"corrupted\.csv, line 6: 7 fields"):
        run_check(config, corrupted, trigger=trigger, baseline=baseline)
    assert trigger.calls == []
    assert corrupted.read_bytes() == before
    [decision] = load_decisions(config)
    assert decision.decision == "bad_input" and "corrupted.csv" in decision.reason


def test_reports_are_listed_and_readable(data, tmp_path: Path) -> None:
    training, baseline, shifted, same = data
    config = _config(tmp_path, training)
    older = run_check(config, same, now=1_800_000_000.0, baseline=baseline)
    newer = run_check(config, shifted, now=1_800_000_100.0, baseline=baseline)
    listed = list_reports(config.workspace)
    assert [r.check_id for r in listed] == [newer.check_id, older.check_id]
    report = load_report(listed[0].json_path)
    assert report["summary"]["drifted"] is True
    assert {f["name"] for f in report["features"]} == set(config.feature_names())
    assert all("distance" in f and "threshold" in f for f in report["features"])
    assert report["decision"]["decision"] == "drift_reported"
    page = listed[0].html_path.read_text()
    assert "<svg" in page and "trip_start_hour" in page and "drifted" in page
    assert "http://" not in page.replace('http://www.w3.org', '') and "<script" not in page

    from mlops.cli import main

    args = ["--config", config.source_file, "--set", f"pipeline.workspace={config.workspace}"]
    listing = CliRunner().invoke(main, ["drift", "reports", "list", *args])
    assert listing.exit_code == 0, listing.output
    assert newer.check_id in listing.output and "fare" in listing.output
    shown = CliRunner().invoke(main, ["drift", "reports", "show", newer.check_id[:22], *args])
    assert shown.exit_code == 0, shown.output
    assert "trip_start_hour" in shown.output and "DRIFT" in shown.output
    decisions = CliRunner().invoke(main, ["drift", "decisions", *args])
    assert decisions.exit_code == 0 and "drift_reported" in decisions.output


def test_watch_checks_each_landing_file_once_and_leaves_it(data, tmp_path: Path) -> None:
    from mlops.monitoring.watch import pending_files, watch

    training, baseline, shifted, same = data
    landing = tmp_path / "landing"
    landing.mkdir()
    for source in (same, shifted):
        (landing / source.name).write_bytes(source.read_bytes())
    (landing / "broken.csv").write_text("not,a,taxi,file\n1,2,3,4\n")
    config = _config(tmp_path, training, drift__landing=str(landing))
    seen: list[tuple[str, object]] = []
    naps: list[float] = []
    watch(config, interval=7, cycles=2, sleep=naps.append, baseline=baseline,
          report=lambda path, outcome: seen.append((path.name, outcome)))
    assert naps == [7]  # two cycles, one pause between them
    outcomes = dict(seen)
    assert sorted(outcomes) == ["broken.csv", "same.csv", "shifted.csv"]  # each once
    assert isinstance(outcomes["broken.csv"], DriftInputError)
    assert outcomes["same.csv"].decision.decision == "no_drift"  # type: ignore[attr-defined]
    assert outcomes["shifted.csv"].decision.decision == "drift_reported"  # type: ignore[attr-defined]
    assert pending_files(config) == []
    assert sorted(p.name for p in landing.iterdir()) == ["broken.csv", "same.csv", "shifted.csv"]


def test_with_spans_the_new_data_becomes_the_next_span(data, tmp_path: Path) -> None:
    training, baseline, shifted, _ = data
    root = tmp_path / "spans"
    (root / "span-1").mkdir(parents=True)
    (root / "span-1" / "data.csv").write_text(training.read_text())
    config = make_config(tmp_path / "workspace", root, beam__direct_running_mode="in_memory",
                         data__spans={"pattern": "span-{SPAN}/*.csv"},
                         drift__on_drift="retrain")
    trigger = RecordingTrigger()
    result = run_check(config, shifted, trigger=trigger, now=1_800_000_000.0,
                       baseline=baseline)
    assert result.decision.decision == "triggered"
    assert trigger.calls[0]["data_source"] == str(root)  # the run selects spans as usual
    landed = sorted((root / "span-2").iterdir())
    assert [p.name for p in landed] == [f"drift-{result.check_id}-0000.csv"]
    assert landed[0].read_text().splitlines()[0] == training.read_text().splitlines()[0]
    assert shifted.exists()  # the landing file stays where it was
    from pipelines.spans import select_spans

    assert select_spans(str(root), config.data.spans).names == ["2"]


def test_new_data_that_cannot_become_a_span_is_recorded_and_triggers_nothing(
        data, tmp_path: Path) -> None:
    """A fixed file name in data.spans.pattern cannot hold two new files: the decision says
    so, naming the pattern, instead of the check failing half-way."""
    training, baseline, shifted, _ = data
    root = tmp_path / "spans"
    (root / "span-1").mkdir(parents=True)
    (root / "span-1" / "data.csv").write_text(training.read_text())
    landing = tmp_path / "landing"
    landing.mkdir()
    for name in ("a.csv", "b.csv"):
        (landing / name).write_text(shifted.read_text())
    config = make_config(tmp_path / "workspace", root, beam__direct_running_mode="in_memory",
                         data__spans={"pattern": "span-{SPAN}/data.csv"},
                         drift__on_drift="retrain")
    trigger = RecordingTrigger()
    result = run_check(config, landing, trigger=trigger, now=1_800_000_000.0,
                       baseline=baseline)
    assert result.decision.decision == "bad_input"
    assert "span-{SPAN}/data.csv" in result.decision.reason
    assert trigger.calls == [] and not (root / "span-2").exists()
    assert sorted(p.name for p in landing.iterdir()) == ["a.csv", "b.csv"]
