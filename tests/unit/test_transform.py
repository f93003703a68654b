"""The generated preprocessing_fn, run through tf.Transform on Beam over a tiny data set."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from components.features import FeatureSpec
from components.transform import preprocessing_fn
from pipelines.config import LabelSection
from tests.conftest import CONFIG_FILE

FEATURES = [
    {"name": "fare", "kind": "numeric", "transform": "zscore"},
    {"name": "trip_miles", "kind": "numeric", "transform": "log_zscore", "fill": 1.0},
    {"name": "pickup_latitude", "kind": "bucketized", "buckets": 2},
    {"name": "payment_type", "kind": "categorical", "vocab_size": 1, "oov_buckets": 1},
    {"name": "trip_start_hour", "kind": "categorical", "vocab_size": 10, "oov_buckets": 1},
]
RAW_SPEC = {
    "fare": tf.io.VarLenFeature(tf.float32),
    "tips": tf.io.VarLenFeature(tf.float32),
    "trip_miles": tf.io.VarLenFeature(tf.float32),
    "pickup_latitude": tf.io.VarLenFeature(tf.float32),
    "payment_type": tf.io.VarLenFeature(tf.string),
    "trip_start_hour": tf.io.VarLenFeature(tf.int64),
}
ROWS = [
    {"fare": [10.0], "tips": [3.0], "trip_miles": [1.0], "pickup_latitude": [41.8],
     "payment_type": [b"Cash"], "trip_start_hour": [3]},
    {"fare": [20.0], "tips": [1.0], "trip_miles": [3.0], "pickup_latitude": [41.9],
     "payment_type": [b"Cash"], "trip_start_hour": [3]},
    {"fare": [30.0], "tips": [10.0], "trip_miles": [], "pickup_latitude": [42.0],
     "payment_type": [b"Credit Card"], "trip_start_hour": [5]},
    {"fare": [], "tips": [0.0], "trip_miles": [7.0], "pickup_latitude": [42.1],
     "payment_type": [b"Cash"], "trip_start_hour": [7]},
]


def _custom_config() -> dict:
    label = LabelSection(name="big_tipper", source="tips", rule="ratio_above",
                         threshold=0.2, denominator="fare")
    return {"features": FEATURES, "label": label.model_dump()}


@pytest.fixture(scope="module")
def transformed(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(RAW_SPEC))
    custom_config = _custom_config()
    with tft_beam.Context(temp_dir=str(tmp_path_factory.mktemp("tft"))):
        (rows, _), _ = (ROWS, metadata) | tft_beam.AnalyzeAndTransformDataset(
            lambda inputs: preprocessing_fn(inputs, custom_config)
        )
    return list(rows)


def test_numeric_zscore_fills_missing_before_scaling(transformed: list[dict]) -> None:
    fares = np.array([10.0, 20.0, 30.0, 0.0])  # the missing fare is filled with 0
    expected = (fares - fares.mean()) / fares.std()
    np.testing.assert_allclose([r["fare_xf"] for r in transformed], expected, rtol=1e-5)


def test_log_zscore_uses_configured_fill(transformed: list[dict]) -> None:
    logs = np.log1p(np.array([1.0, 3.0, 1.0, 7.0]))  # missing trip_miles filled with 1.0
    expected = (logs - logs.mean()) / logs.std()
    np.testing.assert_allclose([r["trip_miles_xf"] for r in transformed], expected, rtol=1e-5)


def test_bucketize_splits_at_quantiles(transformed: list[dict]) -> None:
    buckets = [int(r["pickup_latitude_xf"]) for r in transformed]
    assert buckets == sorted(buckets) and set(buckets) == {0, 1}


def test_vocabulary_with_oov_bucket(transformed: list[dict]) -> None:
    # vocab_size 1 keeps only the most frequent value ("Cash" -> 0); "Credit Card" hashes into
    # the single OOV bucket (id 1).
    assert [int(r["payment_type_xf"]) for r in transformed] == [0, 0, 1, 0]
    hours = [int(r["trip_start_hour_xf"]) for r in transformed]
    assert hours[0] == hours[1] == 0 and len(set(hours)) == 3  # integers go through strings


def test_label_rule_and_missing_denominator(transformed: list[dict]) -> None:
    # tips > 20% of fare: 3 > 2 yes, 1 > 4 no, 10 > 6 yes, missing fare -> 0
    assert [int(r["big_tipper_xf"]) for r in transformed] == [1, 0, 1, 0]


def test_feature_spec_round_trips_through_custom_config() -> None:
    from pipelines.config import load_config

    spec = FeatureSpec.from_config(load_config(CONFIG_FILE))
    again = FeatureSpec.from_custom_config(spec.to_custom_config())
    assert again == spec
    assert again.label_key == "big_tipper_xf"
    assert again.label_inputs() == ["tips"]  # fare is a feature, so present at serving time
    assert not math.isnan(spec.numeric[0].fill)


