"""The Keras model: wide (one-hot ids -> linear) and deep (z-scores + embeddings -> MLP).

Inputs are Transform's outputs, one [batch, 1] tensor per feature. The output layer is float32
so that mixed precision (float16 compute on GPUs) keeps a numerically stable sigmoid and loss.
"""

from __future__ import annotations

import tensorflow as tf

from components.features import FeatureSpec, transformed_name
from pipelines.config import TrainerSection

PROBABILITY_OUTPUT = "probabilities"


def build_model(
    spec: FeatureSpec, settings: TrainerSection, id_counts: dict[str, int]
) -> tf.keras.Model:
    """A compiled binary classifier. ``id_counts`` maps each id feature to its number of ids."""
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
        optimizer=tf.keras.optimizers.Adam(learning_rate=settings.learning_rate),
        loss=tf.keras.losses.BinaryCrossentropy(),
        metrics=[tf.keras.metrics.AUC(name="auc"), tf.keras.metrics.BinaryAccuracy()],
    )
    return model


def _concatenate(parts: list[tf.Tensor]) -> tf.Tensor:
    return parts[0] if len(parts) == 1 else tf.keras.layers.Concatenate()(parts)
