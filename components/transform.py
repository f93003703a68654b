"""The preprocessing_fn, generated from the feature spec instead of written per data set.

Called by TFX's Transform component (``preprocessing_fn='components.transform.preprocessing_fn'``)
with ``custom_config`` holding the feature spec. The same graph is embedded in the exported model,
so training and serving transform features identically.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from components.features import FeatureSpec, transformed_name
from pipelines.config import (
    BucketizedFeature,
    CategoricalFeature,
    LabelSection,
    NumericFeature,
)

Tensor = tf.Tensor | tf.SparseTensor


def fill_missing(value: Tensor, default: Any) -> tf.Tensor:
    """A dense rank-1 tensor with missing entries replaced by ``default``.

    Raw features from a schema without a fixed shape arrive as SparseTensors of shape
    [batch, <=1]; rows without a value become ``default``.
    """
    if isinstance(value, tf.SparseTensor):
        if value.dtype.is_integer and not _is_whole_number(default):
            # An integer column with a fractional/NaN fill (e.g. a NaN denominator) goes float.
            value = tf.SparseTensor(
                value.indices, tf.cast(value.values, tf.float32), value.dense_shape
            )
        default_value = _typed_default(default, value.dtype)
        dense = tf.sparse.to_dense(
            tf.SparseTensor(value.indices, value.values, [value.dense_shape[0], 1]),
            default_value,
        )
        return tf.squeeze(dense, axis=1)
    if value.shape.rank == 2:
        return tf.squeeze(value, axis=1)
    return value


def _is_whole_number(value: Any) -> bool:
    try:
        return float(value).is_integer()
    except (TypeError, ValueError):
        return False


def _typed_default(default: Any, dtype: tf.DType) -> tf.Tensor:
    if dtype == tf.string:
        return tf.constant(str(default))
    if dtype.is_integer:
        return tf.constant(int(float(default)), dtype=dtype)
    return tf.constant(float(default), dtype=dtype)


def _as_float(value: tf.Tensor) -> tf.Tensor:
    return value if value.dtype == tf.float32 else tf.cast(value, tf.float32)


def _numeric(feature: NumericFeature, value: Tensor) -> tf.Tensor:
    x = _as_float(fill_missing(value, feature.fill))
    if feature.transform == "zscore":
        return tft.scale_to_z_score(x)
    if feature.transform == "log_zscore":
        return tft.scale_to_z_score(tf.math.log1p(tf.maximum(x, 0.0)))
    if feature.transform == "scale_0_1":
        return tft.scale_to_0_1(x)
    return x


def _bucketized(feature: BucketizedFeature, value: Tensor) -> tf.Tensor:
    return tft.bucketize(_as_float(fill_missing(value, feature.fill)), feature.buckets)


def _categorical(feature: CategoricalFeature, value: Tensor) -> tf.Tensor:
    fill = feature.fill if value.dtype == tf.string else (feature.fill or 0)
    x = fill_missing(value, fill)
    if x.dtype != tf.string:
        x = tf.strings.as_string(x)
    return tft.compute_and_apply_vocabulary(
        x,
        top_k=feature.vocab_size,
        num_oov_buckets=feature.oov_buckets,
        vocab_filename=feature.name,
    )


def label_tensor(label: LabelSection, inputs: dict[str, Tensor]) -> tf.Tensor:
    """The 0/1 int64 label from raw columns, per the configured rule."""
    source = _as_float(fill_missing(inputs[label.source], 0))
    if label.rule == "as_is":
        return tf.cast(source > 0.5, tf.int64)
    if label.rule == "above":
        return tf.cast(source > label.threshold, tf.int64)
    denominator = _as_float(fill_missing(inputs[label.denominator], float("nan")))
    is_big = tf.greater(source, denominator * label.threshold)
    return tf.where(tf.math.is_nan(denominator), tf.zeros_like(source, tf.int64),
                    tf.cast(is_big, tf.int64))


_TRANSFORMS = {
    NumericFeature: _numeric,
    BucketizedFeature: _bucketized,
    CategoricalFeature: _categorical,
}


# TFX Transform component entry point.
def preprocessing_fn(inputs: dict[str, Tensor], custom_config: dict[str, Any]) -> dict[str, Any]:
    """Transforms raw features into model inputs: z-scores, buckets, vocabulary ids, label."""
    spec = FeatureSpec.from_custom_config(custom_config)
    outputs: dict[str, Any] = {}
    for feature in spec.features:
        outputs[transformed_name(feature.name)] = _TRANSFORMS[type(feature)](
            feature, inputs[feature.name]
        )
    outputs[spec.label_key] = label_tensor(spec.label, inputs)
    return outputs
