"""The Keras model: wide (one-hot ids -> linear) and deep (z-scores + embeddings -> MLP).

Inputs are Transform's outputs, one [batch, 1] tensor per feature. Under the ``mixed_float16``
policy (set by the trainer around :func:`build_model`) layers compute in float16 with float32
variables; the output layer stays float32 so the sigmoid and the loss are numerically stable, and
``compile`` wraps the optimizer in a ``LossScaleOptimizer`` (Keras does this for float16 compute)
so small float16 gradients do not underflow.
"""

from __future__ import annotations

import tensorflow as tf

from components.features import FeatureSpec, transformed_name
from mlops.runtime import keep_autograph_out_of_tf_keras
from pipelines.config import TrainerSection

keep_autograph_out_of_tf_keras()  # every model is built through here: traces 10x faster

PROBABILITY_OUTPUT = "probabilities"


def build_model(
    spec: FeatureSpec,
    settings: TrainerSection,
    id_counts: dict[str, int],
    *,
    learning_rate: float | None = None,
) -> tf.keras.Model:
    """A compiled binary classifier. ``id_counts`` maps each id feature to its number of ids;
    ``learning_rate`` (default ``settings.learning_rate``) is the rate after batch scaling."""
    inputs: dict[str, tf.keras.Input] = {}
    deep_parts: list[tf.Tensor] = []
    wide_parts: list[tf.Tensor] = []
    for feature in spec.numeric:
        name = transformed_name(feature.name)
        inputs[name] = tf.keras.Input(shape=(1,), name=name, dtype=tf.float32)
        deep_parts.append(inputs[name])
    for feature in spec.categorical:
        name = transformed_name(feature.name)
        count = id_counts[name]
        inputs[name] = tf.keras.Input(shape=(1,), name=name, dtype=tf.int64)
        embedded = tf.keras.layers.Embedding(count, settings.embedding_dim, name=f"{name}_emb")(
            inputs[name]
        )
        deep_parts.append(tf.keras.layers.Flatten()(embedded))
        if settings.model == "wide_and_deep":
            wide_parts.append(
                tf.keras.layers.CategoryEncoding(count, output_mode="one_hot")(inputs[name])
            )

    deep = _concatenate(deep_parts)
    for units in settings.hidden_units:
        deep = tf.keras.layers.Dense(units, activation="relu")(deep)
    head_input = _concatenate([deep, *wide_parts]) if wide_parts else deep
    logits = tf.keras.layers.Dense(1, name="logits")(head_input)
    probabilities = tf.keras.layers.Activation(
        "sigmoid", dtype="float32", name=PROBABILITY_OUTPUT
    )(logits)

    model = tf.keras.Model(inputs=inputs, outputs=probabilities)
    model.compile(
        optimizer=tf.keras.optimizers.Adam(learning_rate=learning_rate or settings.learning_rate),
        loss=tf.keras.losses.BinaryCrossentropy(),
        metrics=[tf.keras.metrics.AUC(name="auc"), tf.keras.metrics.BinaryAccuracy()],
    )
    return model


def _concatenate(parts: list[tf.Tensor]) -> tf.Tensor:
    return parts[0] if len(parts) == 1 else tf.keras.layers.Concatenate()(parts)
