"""The Trainer's run_fn: distributed Keras training on Transform's output, then export.

TFX's Trainer component calls :func:`run_fn` (``run_fn='components.trainer.run_fn'``) with
``fn_args.custom_config`` holding the feature spec and trainer settings from the config. The same
function trains on a CPU, one GPU, all GPUs of a machine (MirroredStrategy) or many workers
(MultiWorkerMirroredStrategy from TF_CONFIG); ``trainer.distribution`` picks, nothing else
changes. Only the chief writes the final SavedModel and TensorBoard logs; other workers write
to a private temporary directory that is deleted (they must still save: saving a distributed
model takes part in collective ops).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import tensorflow as tf
import tensorflow_transform as tft

from components.dataset import make_dataset
from components.features import FeatureSpec, trainer_settings, transformed_name
from components.model import build_model
from components.signatures import serving_signatures
from components.strategy import (
    StrategyChoice,
    WorkerRole,
    choose_strategy,
    current_role,
    decide_precision,
    precision_policy,
    scaled_learning_rate,
)
from pipelines.config import TrainerSection

log = logging.getLogger("mlops.trainer")
BACKUP_SUBDIR = "backup"


class EpochProgress(tf.keras.callbacks.Callback):
    """One log line per epoch: loss, metrics and training examples per second.

    Examples/s counts training steps only (validation time excluded) at the global batch, so
    the figure is comparable between one device and many; the first epoch includes building
    the graph. A run resumed from a backup says so.
    """

    def __init__(self, epochs: int, steps_per_epoch: int, global_batch: int,
                 worker: str = "") -> None:
        super().__init__()
        self._epochs, self._steps, self._batch = epochs, steps_per_epoch, global_batch
        self._worker = f"[{worker}] " if worker else ""
        self._started = self._train_done = 0.0
        self._first_epoch: int | None = None
        self.completed_epochs: list[int] = []

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._first_epoch is None:
            self._first_epoch = epoch
            if epoch > 0:
                log.info("%sresumed from backup: continuing at epoch %d/%d",
                         self._worker, epoch + 1, self._epochs)
        self._started, self._train_done = time.perf_counter(), 0.0

    def on_test_begin(self, logs: dict[str, Any] | None = None) -> None:
        # Validation starts: training steps of this epoch are done. (No per-batch hook: it
        # would make Keras copy the logs to the host after every step.)
        self._train_done = self._train_done or time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        seconds = max((self._train_done or time.perf_counter()) - self._started, 1e-9)
        metrics = "  ".join(f"{k}={float(v):.4f}" for k, v in sorted((logs or {}).items()))
        rate = self._steps * self._batch / seconds
        self.completed_epochs.append(epoch + 1)
        log.info("%sepoch %d/%d  %s  %.0f examples/s", self._worker, epoch + 1, self._epochs,
                 metrics, rate)


@dataclass(frozen=True)
class TrainingPlan:
    """The numbers derived from settings and the strategy, logged once at the start."""

    replicas: int
    global_batch: int
    learning_rate: float
    precision: str
    steps_per_epoch: int


def plan_training(settings: TrainerSection, replicas: int, choice: StrategyChoice,
                  train_steps: int) -> TrainingPlan:
    """Global batch = per-replica batch x replicas; the rate follows the configured rule."""
    global_batch = settings.batch_size * replicas
    reference = settings.reference_batch_size or settings.batch_size
    return TrainingPlan(
        replicas=replicas,
        global_batch=global_batch,
        learning_rate=scaled_learning_rate(
            settings.learning_rate, settings.learning_rate_scaling, global_batch, reference
        ),
        precision=decide_precision(settings.mixed_precision, choice),
        steps_per_epoch=max(1, train_steps // settings.epochs),
    )


def id_counts(tf_transform_output: tft.TFTransformOutput, spec: FeatureSpec) -> dict[str, int]:
    """Number of distinct ids per vocabulary/bucket feature, as recorded by Transform."""
    return {
        transformed_name(f.name): tf_transform_output.num_buckets_for_transformed_feature(
            transformed_name(f.name)
        )
        for f in spec.categorical
    }


def backup_dir(model_run_dir: str) -> str:
    """Where BackupAndRestore keeps the last finished epoch, so a restarted worker resumes."""
    return os.path.join(model_run_dir, BACKUP_SUBDIR)


# TFX Trainer component entry point.
def run_fn(fn_args: Any) -> None:
    """Train on the transformed examples and export a SavedModel with serving signatures."""
    spec = FeatureSpec.from_custom_config(fn_args.custom_config)
    settings = trainer_settings(fn_args.custom_config)
    # First: MultiWorkerMirroredStrategy must configure collectives before other TF work.
    choice, strategy = choose_strategy(settings.distribution)
    role = current_role() if choice.kind == "multi_worker" else WorkerRole(None, 0, 1)
    tf.keras.utils.set_random_seed(settings.seed)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    feature_spec = tf_transform_output.transformed_feature_spec()
    plan = plan_training(settings, strategy.num_replicas_in_sync, choice, fn_args.train_steps)

    def distributed(files: list[str], shuffle: bool) -> tf.distribute.DistributedDataset:
        def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
            return make_dataset(
                files, feature_spec, spec.label_key,
                context.get_per_replica_batch_size(plan.global_batch),
                shuffle=shuffle, repeat=True, seed=settings.seed,
                cache=settings.cache_dataset,
                shuffle_buffer=max(10 * plan.global_batch, 1024), input_context=context,
            )
        return strategy.distribute_datasets_from_function(dataset_fn)

    log.info(
        "training %s (%s) with %s on %d replica(s)%s: %d epochs x %d steps, global batch %d "
        "(%d per replica), learning rate %.5g (%s scaling), precision %s",
        settings.model, role.label, choice.kind, plan.replicas,
        f" [{', '.join(choice.devices)}]" if choice.devices else "", settings.epochs,
        plan.steps_per_epoch, plan.global_batch, settings.batch_size, plan.learning_rate,
        settings.learning_rate_scaling, plan.precision,
    )
    scratch = None if role.is_chief else tempfile.mkdtemp(prefix=f"trainer-{role.task_index}-")
    try:
        with precision_policy(plan.precision):
            with strategy.scope():
                model = build_model(spec, settings, id_counts(tf_transform_output, spec),
                                    learning_rate=plan.learning_rate)
            model.fit(
                distributed(fn_args.train_files, shuffle=True),
                epochs=settings.epochs,
                steps_per_epoch=plan.steps_per_epoch,
                validation_data=distributed(fn_args.eval_files, shuffle=False),
                validation_steps=fn_args.eval_steps,
                callbacks=[
                    tf.keras.callbacks.BackupAndRestore(backup_dir(fn_args.model_run_dir)),
                    tf.keras.callbacks.TensorBoard(
                        log_dir=scratch or fn_args.model_run_dir, update_freq="epoch"
                    ),
                    EpochProgress(settings.epochs, plan.steps_per_epoch, plan.global_batch,
                                  "" if role.task_type is None else role.label),
                ],
                verbose=0,
            )
        # Outside the mixed policy: Transform's layer in the signatures must stay float32.
        export_dir = fn_args.serving_model_dir if scratch is None else os.path.join(
            scratch, "model")
        model.save(export_dir, save_format="tf",
                   signatures=serving_signatures(model, tf_transform_output, spec))
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    if role.is_chief:
        log.info("exported SavedModel to %s", fn_args.serving_model_dir)
    else:
        log.info("%s: trained; the chief exports the model (temporary copy deleted)", role.label)
