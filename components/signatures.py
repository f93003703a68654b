"""Serving signatures of the exported model, all applying the Transform graph inside the model.

- ``serving_default``: serialized tf.Examples (what TFMA and TF Serving's classify path use);
- ``serving_raw``: one tensor per raw feature, so a REST client can send plain values;
- ``transform_features``: serialized tf.Examples -> transformed features incl. the label, used
  by the Evaluator (TFMA ``preprocessing_function_names``) to get labels the model never sees.
"""

from __future__ import annotations

import tensorflow as tf
import tensorflow_transform as tft

from components.features import FeatureSpec
from components.model import PROBABILITY_OUTPUT

SERVING_EXAMPLES = "serving_default"
SERVING_RAW = "serving_raw"
TRANSFORM_FEATURES = "transform_features"


def serving_signatures(
    model: tf.keras.Model, tf_transform_output: tft.TFTransformOutput, spec: FeatureSpec
) -> dict[str, tf.types.experimental.ConcreteFunction]:
    """The three signatures above, ready for ``model.save(..., signatures=...)``."""
    # The layer must be tracked by the model to be saved with it.
    model.tft_layer = tf_transform_output.transform_features_layer()
    raw_spec = tf_transform_output.raw_feature_spec()
    feature_names = [f.name for f in spec.features]
    serving_spec = {name: raw_spec[name] for name in feature_names}

    def predict(raw_features: dict[str, tf.Tensor | tf.SparseTensor]) -> dict[str, tf.Tensor]:
        transformed = model.tft_layer(raw_features)
        model_inputs = {
            name: tf.expand_dims(transformed[name], -1) if transformed[name].shape.rank == 1
            else transformed[name]
            for name in model.input_names
        }
        return {PROBABILITY_OUTPUT: model(model_inputs)}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def serve_examples(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return predict(tf.io.parse_example(serialized, serving_spec))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
    def transform_features(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        return model.tft_layer(tf.io.parse_example(serialized, raw_spec))

    raw_specs = [
        tf.TensorSpec([None], serving_spec[name].dtype, name=name) for name in feature_names
    ]

    def serve_raw_values(*values: tf.Tensor) -> dict[str, tf.Tensor]:
        return predict(
            {
                name: _as_raw_feature(value, serving_spec[name])
                for name, value in zip(feature_names, values, strict=True)
            }
        )

    return {
        SERVING_EXAMPLES: serve_examples.get_concrete_function(),
        SERVING_RAW: tf.function(serve_raw_values, input_signature=raw_specs)
        .get_concrete_function(),
        TRANSFORM_FEATURES: transform_features.get_concrete_function(),
    }


def _as_raw_feature(
    value: tf.Tensor, feature: tf.io.FixedLenFeature | tf.io.VarLenFeature
) -> tf.Tensor | tf.SparseTensor:
    """One value per row, shaped as the parser would produce it for ``feature``."""
    if isinstance(feature, tf.io.VarLenFeature):
        rows = tf.shape(value, out_type=tf.int64)[0]
        indices = tf.stack([tf.range(rows), tf.zeros([rows], tf.int64)], axis=1)
        return tf.SparseTensor(indices, value, tf.stack([rows, tf.constant(1, tf.int64)]))
    if len(feature.shape) == 1:
        return tf.expand_dims(value, -1)
    return value
