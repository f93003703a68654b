"""Drift distances on real TFDV statistics (Beam, in memory) of taxi-sample data.

The baseline here is TFDV's statistics of the training rows computed with StatisticsGen's
default options; the lineage that finds the real one is tested in test_drift_baseline.py and
tests/e2e/test_drift.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import statistics_pb2

from mlops.monitoring.compare import (
    SchemaBreakingError,
    compare,
    equal_mass_buckets,
    rebucket,
)
from mlops.monitoring.statistics import DriftInputError, compute_statistics
from tests.conftest import REPO, make_config, write_sample
from tests.drift_data import SHIFTED_FEATURES, shift_row, write_resample

SCHEMA = REPO / "schemas" / "taxi" / "schema.pbtxt"


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("drift")
    return _setting_for(root, write_sample(root / "train" / "data.csv"))


def _setting_for(root: Path, training: Path):  # type: ignore[no-untyped-def]
    """(config, training file, baseline statistics of it, curated schema)."""
    config = make_config(root / "workspace", training.parent,
                         beam__direct_running_mode="in_memory", beam__direct_num_workers=1)
    baseline = tfdv.generate_statistics_from_csv(str(training))
    return config, training, baseline, tfdv.load_schema_text(str(SCHEMA))


def _check(setting, path: Path):  # type: ignore[no-untyped-def]
    config, _, baseline, schema = setting
    statistics = compute_statistics([path], schema, config.feature_names(), config)
    return compare(baseline, statistics, schema, config, config.feature_names(),
                   source=str(path))


def test_resample_of_training_distribution_reports_no_drift(setting, tmp_path: Path) -> None:
    config, training, _, _ = setting
    results = _check(setting, write_resample(training, tmp_path / "same.csv", 2000, seed=1))
    assert [r.name for r in results] == config.feature_names()  # every feature measured
    assert [r.name for r in results if r.drifted] == []
    for result in results:
        assert 0.0 <= result.distance < result.threshold, result
    # raw distances are recorded, not only verdicts: at least some non-zero noise is measured
    assert sum(r.distance for r in results) > 0


def test_shifted_features_drift_exactly(setting, tmp_path: Path) -> None:
    _, training, _, _ = setting
    results = _check(setting, write_resample(training, tmp_path / "shift.csv", 2000, seed=2,
                                             edit=shift_row))
    by_name = {r.name: r for r in results}
    assert sorted(r.name for r in results if r.drifted) == sorted(SHIFTED_FEATURES)
    assert by_name["payment_type"].comparator == "infinity_norm"
    assert by_name["trip_start_hour"].comparator == "jensen_shannon_divergence"
    for name in SHIFTED_FEATURES:
        assert by_name[name].distance > by_name[name].threshold
    # both distributions are kept for the report's overlay
    hour = by_name["trip_start_hour"]
    assert len(hour.baseline["shares"]) == len(hour.current["shares"]) >= 10
    assert abs(sum(hour.current["shares"]) - 1.0) < 1e-6


def test_per_feature_threshold_overrides_default(setting, tmp_path: Path) -> None:
    config, training, baseline, schema = setting
    lenient = config.with_overrides({"drift.thresholds": {"trip_start_hour": 0.5}})
    path = write_resample(training, tmp_path / "shift.csv", 2000, seed=2, edit=shift_row)
    statistics = compute_statistics([path], schema, lenient.feature_names(), lenient)
    results = {r.name: r for r in compare(baseline, statistics, schema, lenient,
                                          lenient.feature_names())}
    assert results["trip_start_hour"].threshold == 0.5
    assert not results["trip_start_hour"].drifted
    assert results["fare"].drifted


def test_rebucket_uses_baseline_edges_and_adds_overflow() -> None:
    quantiles = statistics_pb2.Histogram(type=statistics_pb2.Histogram.QUANTILES)
    for low, high in [(0, 1), (1, 2), (2, 3), (3, 14)]:
        quantiles.buckets.add(low_value=low, high_value=high, sample_count=25)
    reference = statistics_pb2.Histogram(type=statistics_pb2.Histogram.STANDARD)
    for low, high in [(0, 5), (5, 10)]:
        reference.buckets.add(low_value=low, high_value=high, sample_count=1)
    result = rebucket(quantiles, reference, new_min=0, new_max=14)
    counts = [b.sample_count for b in result.buckets]
    assert [b.low_value for b in result.buckets][:2] == [0, 5]
    assert result.buckets[-1].high_value == 14  # overflow bucket beyond the baseline's max
    assert counts == pytest.approx([75 + 25 * 2 / 11, 25 * 5 / 11, 25 * 4 / 11])


def test_value_of_wrong_type_names_file_line_and_feature(setting, tmp_path: Path) -> None:
    _, training, _, _ = setting

    def corrupt(row, rng):  # type: ignore[no-untyped-def]
        row["trip_seconds"] = "twelve minutes"
        return row

    path = write_resample(training, tmp_path / "bad.csv", 50, edit=corrupt)
    with pytest.raises(DriftInputError, match=r"bad\.csv, line 2: feature 'trip_seconds'"):
        _check(setting, path)


def test_missing_column_and_garbage_are_named(setting, tmp_path: Path) -> None:
    missing = write_sample(tmp_path / "missing.csv", 20, drop_columns=("fare",))
    with pytest.raises(DriftInputError, match=r"missing\.csv: missing column\(s\) fare"):
        _check(setting, missing)
    garbage = tmp_path / "garbage.csv"
    garbage.write_bytes(b"\xff\xfe\x00binary\x00junk")
    with pytest.raises(DriftInputError, match=r"garbage\.csv"):
        _check(setting, garbage)


def test_value_outside_schema_is_schema_breaking(setting, tmp_path: Path) -> None:
    _, training, _, _ = setting

    def new_payment(row, rng):  # type: ignore[no-untyped-def]
        row["payment_type"] = "Bitcoin"
        return row

    path = write_resample(training, tmp_path / "new_value.csv", 200, edit=new_payment)
    with pytest.raises(SchemaBreakingError, match=r"new_value\.csv.*feature 'payment_type'"):
        _check(setting, path)


def test_one_outlier_does_not_hide_a_shift_of_the_bulk(tmp_path: Path) -> None:
    """One 700-dollar fare stretches equal-width buckets so that every other fare shares the
    first: the check compares on the baseline's equal-mass buckets, so a +30% fare shift is
    still found and a resample is still quiet (the bug a 1M-row bench run showed)."""
    seen = {"rows": 0}

    def one_outlier(row: dict[str, str]) -> dict[str, str]:
        seen["rows"] += 1
        return {**row, "fare": "700.07"} if seen["rows"] == 1 else row

    setting = _setting_for(tmp_path, write_sample(tmp_path / "train" / "data.csv",
                                                  edit=one_outlier))
    _, training, baseline, _ = setting
    fare = next(f for f in baseline.datasets[0].features if f.path.step[0] == "fare")
    standard = next(h for h in fare.num_stats.histograms
                    if h.type == statistics_pb2.Histogram.STANDARD)
    assert standard.buckets[0].sample_count > 0.99 * fare.num_stats.common_stats.num_non_missing

    def fare_result(path: Path):  # type: ignore[no-untyped-def]
        return next(r for r in _check(setting, path) if r.name == "fare")

    shifted = fare_result(write_resample(training, tmp_path / "shift.csv", 2000, seed=3,
                                         edit=shift_row))
    same = fare_result(write_resample(training, tmp_path / "same.csv", 2000, seed=4))
    assert shifted.drifted and shifted.distance > 0.03, shifted
    assert not same.drifted and same.distance < same.threshold, same


def test_equal_mass_buckets_merge_point_masses() -> None:
    stats = statistics_pb2.NumericStatistics()
    quantiles = stats.histograms.add(type=statistics_pb2.Histogram.QUANTILES)
    for low, high, count in ((0, 0, 10), (0, 0, 10), (0, 0.5, 10), (0.5, 2, 10), (2, 2, 10),
                             (2, 9, 10)):
        quantiles.buckets.add(low_value=low, high_value=high, sample_count=count)
    merged = equal_mass_buckets(stats)
    assert merged is not None
    assert [(b.low_value, b.high_value, b.sample_count) for b in merged.buckets] == [
        (0, 0.5, 30), (0.5, 2, 20), (2, 9, 10)]  # (low, high] as TFDV's overlap rule counts
    constant = statistics_pb2.NumericStatistics()
    constant.histograms.add(type=statistics_pb2.Histogram.QUANTILES).buckets.add(
        low_value=3, high_value=3, sample_count=5)
    assert equal_mass_buckets(constant) is None
