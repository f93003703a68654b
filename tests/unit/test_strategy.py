"""Strategy, precision and learning-rate decisions over given device lists (GPU paths on CPU),
TF_CONFIG parsing and the chief/worker roles."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

import components  # noqa: F401 - configures TensorFlow first
from components.strategy import (
    StrategyChoice,
    build_strategy,
    decide_precision,
    decide_strategy,
    precision_policy,
    read_tf_config,
    scaled_learning_rate,
    worker_role,
)
from components.trainer import plan_training
from pipelines.config import ConfigError, TrainerSection, load_config
from tests.conftest import CONFIG_FILE

CPU = ["/device:CPU:0"]
CPU2 = ["/device:CPU:0", "/device:CPU:1"]
GPU1 = ["/device:GPU:0"]
GPU4 = [f"/device:GPU:{i}" for i in range(4)]


@pytest.mark.parametrize(
    ("distribution", "gpus", "cpus", "expected"),
    [
        ("auto", [], CPU, StrategyChoice("default")),
        ("auto", GPU1, CPU, StrategyChoice("one_device", tuple(GPU1))),
        ("auto", GPU4, CPU, StrategyChoice("mirrored", tuple(GPU4))),
        ("auto", [], CPU2, StrategyChoice("default")),
        ("one_device", GPU4, CPU, StrategyChoice("one_device", ("/device:GPU:0",))),
        ("one_device", [], CPU, StrategyChoice("one_device", ("/device:CPU:0",))),
        ("mirrored", GPU4, CPU, StrategyChoice("mirrored", tuple(GPU4))),
        ("mirrored", GPU1, CPU, StrategyChoice("mirrored", tuple(GPU1))),
        ("mirrored", [], CPU2, StrategyChoice("mirrored", tuple(CPU2))),
        ("multi_worker", GPU4, CPU, StrategyChoice("multi_worker", tuple(GPU4))),
        ("multi_worker", [], CPU, StrategyChoice("multi_worker")),
    ],
)
def test_decide_strategy(distribution: str, gpus: list[str], cpus: list[str],
                         expected: StrategyChoice) -> None:
    assert decide_strategy(distribution, gpus, cpus) == expected


def test_unknown_distribution_names_the_key() -> None:
    with pytest.raises(ValueError, match=r"trainer\.distribution"):
        decide_strategy("tpu", [], CPU)


@pytest.mark.parametrize(
    ("setting", "choice", "policy"),
    [
        ("auto", StrategyChoice("default"), "float32"),
        ("auto", StrategyChoice("mirrored", tuple(CPU2)), "float32"),
        ("auto", StrategyChoice("one_device", tuple(GPU1)), "mixed_float16"),
        ("auto", StrategyChoice("mirrored", tuple(GPU4)), "mixed_float16"),
        ("auto", StrategyChoice("multi_worker", tuple(GPU4)), "mixed_float16"),
        ("auto", StrategyChoice("multi_worker"), "float32"),
        ("off", StrategyChoice("mirrored", tuple(GPU4)), "float32"),
        ("on", StrategyChoice("default"), "mixed_float16"),
    ],
)
def test_decide_precision(setting: str, choice: StrategyChoice, policy: str) -> None:
    assert decide_precision(setting, choice) == policy


@pytest.mark.parametrize(
    ("rule", "global_batch", "reference", "expected"),
    [
        ("linear", 256, 256, 0.003),
        ("linear", 1024, 256, 0.012),
        ("sqrt", 1024, 256, 0.006),
        ("none", 1024, 256, 0.003),
        ("linear", 128, 256, 0.0015),
    ],
)
def test_scaled_learning_rate(rule: str, global_batch: int, reference: int,
                              expected: float) -> None:
    assert scaled_learning_rate(0.003, rule, global_batch, reference) == pytest.approx(expected)


def test_plan_training_global_batch_and_rate_for_four_gpus() -> None:
    settings = TrainerSection(batch_size=256, learning_rate=0.003, epochs=5, train_steps=1000)
    plan = plan_training(settings, 4, StrategyChoice("mirrored", tuple(GPU4)), 1000)
    assert plan.global_batch == 1024
    assert plan.learning_rate == pytest.approx(0.012)  # linear by default, reference = batch_size
    assert plan.precision == "mixed_float16"
    assert plan.steps_per_epoch == 200
    explicit = settings.model_copy(update={"reference_batch_size": 512,
                                           "learning_rate_scaling": "sqrt"})
    assert plan_training(explicit, 4, StrategyChoice("default"), 1000).learning_rate == (
        pytest.approx(0.003 * 2**0.5))


def test_config_rejects_unknown_scaling_rule_with_key() -> None:
    with pytest.raises(ConfigError, match=r"trainer\.learning_rate_scaling"):
        load_config(CONFIG_FILE, {"trainer.learning_rate_scaling": "cubic"})
    config = load_config(CONFIG_FILE, {"trainer.cache_dataset": True,
                                       "trainer.reference_batch_size": 1024})
    assert config.trainer.cache_dataset and config.trainer.reference_batch_size == 1024


def _tf_config(task_type: str, index: int, chief: bool = False) -> dict:
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    if chief:
        cluster["chief"] = ["127.0.0.1:3"]
    return {"cluster": cluster, "task": {"type": task_type, "index": index}}


@pytest.mark.parametrize(
    ("tf_config", "chief", "workers"),
    [
        ({}, True, 1),
        (_tf_config("worker", 0), True, 2),
        (_tf_config("worker", 1), False, 2),
        (_tf_config("chief", 0, chief=True), True, 3),
        (_tf_config("worker", 0, chief=True), False, 3),
    ],
)
def test_worker_role(tf_config: dict, chief: bool, workers: int) -> None:
    role = worker_role(tf_config)
    assert role.is_chief is chief
    assert role.workers == workers


def test_tf_config_errors_say_what_to_set() -> None:
    with pytest.raises(ValueError, match="TF_CONFIG is not set"):
        read_tf_config(None, required=True)
    with pytest.raises(ValueError, match="not valid JSON"):
        read_tf_config("{cluster")
    with pytest.raises(ValueError, match="worker:5 is not in its cluster"):
        read_tf_config(json.dumps(_tf_config("worker", 5)))
    assert read_tf_config(json.dumps(_tf_config("worker", 1)))["task"]["index"] == 1
    assert read_tf_config("") == {}


def test_precision_policy_is_restored_after_building() -> None:
    before = tf.keras.mixed_precision.global_policy().name
    with precision_policy("mixed_float16"):
        assert tf.keras.mixed_precision.global_policy().name == "mixed_float16"
    assert tf.keras.mixed_precision.global_policy().name == before


def test_one_device_choice_supports_backup_and_restore(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Keras' BackupAndRestore rejects OneDeviceStrategy; the one-device choice must work."""
    strategy = build_strategy(StrategyChoice("one_device", ("/device:CPU:0",)))
    assert strategy.num_replicas_in_sync == 1
    with strategy.scope():
        model = tf.keras.Sequential([tf.keras.Input((2,)), tf.keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
    history = model.fit(np.ones((8, 2)), np.ones(8), epochs=2, verbose=0,
                        callbacks=[tf.keras.callbacks.BackupAndRestore(str(tmp_path / "b"))])
    assert len(history.history["loss"]) == 2
