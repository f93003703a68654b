"""The Keras model in float32 and with mixed precision forced on (the GPU default) on CPU:
policies, dtypes, loss scaling, and that it still learns."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import components  # noqa: F401 - configures TensorFlow first
from components.features import FeatureSpec, transformed_name
from components.model import PROBABILITY_OUTPUT, build_model
from components.strategy import precision_policy
from pipelines.config import load_config
from tests.conftest import CONFIG_FILE

IDS = 12


@pytest.fixture(scope="module")
def spec_and_settings():  # type: ignore[no-untyped-def]
    config = load_config(CONFIG_FILE, {"trainer.hidden_units": [16, 8], "trainer.embedding_dim": 4})
    return FeatureSpec.from_config(config), config.trainer


def learnable_data(spec: FeatureSpec, rows: int = 1024) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Label = first numeric feature > 0 plus an id effect, so a working model gets AUC ~1."""
    rng = np.random.default_rng(0)
    features = {transformed_name(f.name): rng.standard_normal((rows, 1)).astype("float32")
                for f in spec.numeric}
    features.update({transformed_name(f.name): rng.integers(0, IDS, (rows, 1))
                     for f in spec.categorical})
    first = features[transformed_name(spec.numeric[0].name)][:, 0]
    return features, (first > 0).astype("float32")


def fit_and_auc(model: tf.keras.Model, spec: FeatureSpec) -> tuple[list[float], float]:
    features, labels = learnable_data(spec)
    history = model.fit(features, labels, epochs=3, batch_size=128, verbose=0)
    auc = tf.keras.metrics.AUC()
    auc.update_state(labels, model.predict(features, batch_size=512, verbose=0)[:, 0])
    return history.history["loss"], float(auc.result())


def test_mixed_precision_forced_on_cpu_uses_float16_compute_and_loss_scaling(
    spec_and_settings,  # type: ignore[no-untyped-def]
) -> None:
    spec, settings = spec_and_settings
    counts = {transformed_name(f.name): IDS for f in spec.categorical}
    tf.keras.utils.set_random_seed(1)
    with precision_policy("mixed_float16"):
        model = build_model(spec, settings, counts, learning_rate=0.01)
    assert tf.keras.mixed_precision.global_policy().name == "float32"  # restored

    hidden = [layer for layer in model.layers
              if isinstance(layer, tf.keras.layers.Dense) and layer.name != "logits"]
    assert hidden and all(layer.dtype_policy.name == "mixed_float16" for layer in hidden)
    assert all(layer.compute_dtype == "float16" for layer in hidden)
    assert all(v.dtype == tf.float32 for v in model.trainable_variables)  # float32 masters
    assert model.get_layer(PROBABILITY_OUTPUT).dtype_policy.name == "float32"
    assert model.output.dtype == tf.float32
    assert isinstance(model.optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
    assert model.optimizer.dynamic
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)

    losses, auc = fit_and_auc(model, spec)
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert auc > 0.95
    scale = float(model.optimizer.loss_scale)
    assert np.isfinite(scale) and scale >= 1.0


def test_float32_model_has_plain_optimizer_and_learns(spec_and_settings) -> None:  # type: ignore[no-untyped-def]
    spec, settings = spec_and_settings
    counts = {transformed_name(f.name): IDS for f in spec.categorical}
    tf.keras.utils.set_random_seed(1)
    with precision_policy("float32"):
        model = build_model(spec, settings, counts, learning_rate=0.01)
    assert not isinstance(model.optimizer, tf.keras.mixed_precision.LossScaleOptimizer)
    assert all(layer.compute_dtype == "float32" for layer in model.layers
               if isinstance(layer, tf.keras.layers.Dense))
    losses, auc = fit_and_auc(model, spec)
    assert losses[-1] < losses[0] and auc > 0.95
