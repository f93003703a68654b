"""Choosing the tf.distribute strategy and precision from config and the visible devices.

``auto``: MirroredStrategy over all GPUs, OneDeviceStrategy on a single GPU, the default strategy
on CPU. ``multi_worker``: MultiWorkerMirroredStrategy configured from ``TF_CONFIG`` (what the
Kubernetes training operators set). Selection is a pure function of the device list so the GPU
paths are testable on CPU.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass

import tensorflow as tf

DISTRIBUTIONS = ("auto", "one_device", "mirrored", "multi_worker")


@dataclass(frozen=True)
class StrategyChoice:
    """What to build, decided from config and devices (before touching TensorFlow state)."""

    kind: str  # "default" | "one_device" | "mirrored" | "multi_worker"
    devices: tuple[str, ...] = ()


def decide_strategy(distribution: str, gpus: Sequence[str], cpus: Sequence[str]) -> StrategyChoice:
    """Pure decision: which strategy over which devices."""
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"trainer.distribution: '{distribution}' is not one of {DISTRIBUTIONS}")
    if distribution == "multi_worker":
        return StrategyChoice("multi_worker")
    if distribution == "mirrored":
        return StrategyChoice("mirrored", tuple(gpus) or tuple(cpus))
    if distribution == "one_device":
        return StrategyChoice("one_device", ((gpus or cpus)[0],))
    if len(gpus) > 1:
        return StrategyChoice("mirrored", tuple(gpus))
    if len(gpus) == 1:
        return StrategyChoice("one_device", (gpus[0],))
    return StrategyChoice("default")


def visible_devices() -> tuple[list[str], list[str]]:
    """Logical GPU and CPU device names, e.g. (['/device:GPU:0'], ['/device:CPU:0'])."""
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    return gpus, cpus


def build_strategy(choice: StrategyChoice) -> tf.distribute.Strategy:
    if choice.kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if choice.kind == "mirrored":
        return tf.distribute.MirroredStrategy(devices=list(choice.devices))
    if choice.kind == "one_device":
        return tf.distribute.OneDeviceStrategy(choice.devices[0])
    return tf.distribute.get_strategy()


def make_strategy(distribution: str) -> tf.distribute.Strategy:
    gpus, cpus = visible_devices()
    return build_strategy(decide_strategy(distribution, gpus, cpus))


def is_chief() -> bool:
    """True unless TF_CONFIG names this task as a non-chief worker."""
    task = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}").get("task", {})
    task_type, task_index = task.get("type"), task.get("index", 0)
    if task_type in (None, "chief"):
        return True
    cluster = json.loads(os.environ["TF_CONFIG"]).get("cluster", {})
    return task_type == "worker" and task_index == 0 and "chief" not in cluster
