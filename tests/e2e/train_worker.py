"""A child process for the distributed-training tests: runs ``components.trainer.run_fn``.

Why a separate process: logical CPU devices and MultiWorkerMirroredStrategy's collectives must be
configured before TensorFlow initializes its devices, and each worker of a cluster is its own
process with its own ``TF_CONFIG`` (exactly as in a Kubernetes training job).

Usage: ``python -m tests.e2e.train_worker JOB.json`` where the JSON holds FnArgs fields
(train_files, eval_files, transform_output, serving_model_dir, model_run_dir, train_steps,
eval_steps, custom_config) plus ``logical_cpus`` (optional) and ``result`` (optional: a path to
write ``{"auc": ...}`` of the exported model on ``raw_eval_files``).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import mlops  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow is imported


def configure_logical_cpus(count: int) -> None:
    """Split the one physical CPU into ``count`` logical devices (before TF initializes)."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
    )


def exported_model_auc(model_dir: str, raw_eval_files: list[str], label_key: str) -> float:
    """AUC of the exported SavedModel on raw tf.Examples, through its serving signatures:
    ``serving_default`` for the prediction, ``transform_features`` for the label."""
    import tensorflow as tf

    loaded = tf.saved_model.load(model_dir)
    predict = loaded.signatures["serving_default"]
    transform = loaded.signatures["transform_features"]
    auc = tf.keras.metrics.AUC()
    records = tf.data.TFRecordDataset(raw_eval_files, compression_type="GZIP").batch(256)
    for batch in records:
        labels = transform(examples=batch)[label_key]
        probabilities = predict(examples=batch)["probabilities"]
        auc.update_state(tf.reshape(labels, [-1]), tf.reshape(probabilities, [-1]))
    return float(auc.result())


def main(job_file: str) -> None:
    job: dict[str, Any] = json.loads(Path(job_file).read_text())
    logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="%(name)s: %(message)s")
    logging.getLogger("mlops").setLevel(logging.INFO)
    if job.get("logical_cpus"):
        configure_logical_cpus(int(job["logical_cpus"]))
    from tfx.components.trainer.fn_args_utils import FnArgs

    from components.features import FeatureSpec
    from components.trainer import run_fn

    fields = ("train_files", "eval_files", "transform_output", "serving_model_dir",
              "model_run_dir", "train_steps", "eval_steps", "custom_config")
    run_fn(FnArgs(**{name: job[name] for name in fields}))
    if job.get("result"):
        label_key = FeatureSpec.from_custom_config(job["custom_config"]).label_key
        auc = exported_model_auc(job["serving_model_dir"], job["raw_eval_files"], label_key)
        Path(job["result"]).write_text(json.dumps({"auc": auc}))
        print(f"exported model AUC {auc:.4f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
