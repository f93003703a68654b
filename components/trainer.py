"""The Trainer's run_fn: distributed Keras training on Transform's output, then export.

TFX's Trainer component calls :func:`run_fn` (``run_fn='components.trainer.run_fn'``) with
``fn_args.custom_config`` holding the feature spec and trainer settings from the config.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from components.dataset import make_dataset
from components.features import FeatureSpec, trainer_settings, transformed_name
from components.model import build_model
from components.signatures import serving_signatures
from components.strategy import make_strategy

log = logging.getLogger("mlops.trainer")


class EpochProgress(tf.keras.callbacks.Callback):
    """One log line per epoch: loss, metrics and training examples per second."""

    def __init__(self, epochs: int, steps_per_epoch: int, global_batch: int) -> None:
        super().__init__()
        self._epochs, self._steps, self._batch = epochs, steps_per_epoch, global_batch
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        seconds = time.perf_counter() - self._started
        metrics = "  ".join(f"{k}={v:.4f}" for k, v in sorted((logs or {}).items()))
        rate = self._steps * self._batch / max(seconds, 1e-9)
        log.info("epoch %d/%d  %s  %.0f examples/s", epoch + 1, self._epochs, metrics, rate)


def id_counts(tf_transform_output: tft.TFTransformOutput, spec: FeatureSpec) -> dict[str, int]:
    """Number of distinct ids per vocabulary/bucket feature, as recorded by Transform."""
    return {
        transformed_name(f.name): tf_transform_output.num_buckets_for_transformed_feature(
            transformed_name(f.name)
        )
        for f in spec.categorical
    }


# TFX Trainer component entry point.
def run_fn(fn_args: Any) -> None:
    """Train on the transformed examples and export a SavedModel with serving signatures."""
    spec = FeatureSpec.from_custom_config(fn_args.custom_config)
    settings = trainer_settings(fn_args.custom_config)
    tf.keras.utils.set_random_seed(settings.seed)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    strategy = make_strategy(settings.distribution)
    global_batch = settings.batch_size * strategy.num_replicas_in_sync
    feature_spec = tf_transform_output.transformed_feature_spec()

    def dataset(files: list[str], shuffle: bool) -> tf.data.Dataset:
        return make_dataset(files, feature_spec, spec.label_key, global_batch,
                            shuffle=shuffle, repeat=True, seed=settings.seed)

    with strategy.scope():
        model = build_model(spec, settings, id_counts(tf_transform_output, spec))
    steps_per_epoch = max(1, fn_args.train_steps // settings.epochs)
    log.info(
        "training %s on %d replica(s): %d epochs x %d steps, global batch %d",
        settings.model, strategy.num_replicas_in_sync, settings.epochs, steps_per_epoch,
        global_batch,
    )
    model.fit(
        dataset(fn_args.train_files, shuffle=True),
        epochs=settings.epochs,
        steps_per_epoch=steps_per_epoch,
        validation_data=dataset(fn_args.eval_files, shuffle=False),
        validation_steps=fn_args.eval_steps,
        callbacks=[
            tf.keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch"),
            EpochProgress(settings.epochs, steps_per_epoch, global_batch),
        ],
        verbose=0,
    )
    model.save(
        fn_args.serving_model_dir,
        save_format="tf",
        signatures=serving_signatures(model, tf_transform_output, spec),
    )
    log.info("exported SavedModel to %s", fn_args.serving_model_dir)
