"""Choosing the tf.distribute strategy, the worker's role and the precision from config.

``auto``: MirroredStrategy over all GPUs, one device on a single GPU (built as a one-replica
MirroredStrategy, see :func:`build_strategy`), the default strategy on CPU. ``multi_worker``:
MultiWorkerMirroredStrategy configured from ``TF_CONFIG`` (what the Kubernetes training
operators set). Selection, precision and the learning-rate rule are pure
functions of the device list and the settings, so the GPU paths are testable on a CPU machine.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

DISTRIBUTIONS = ("auto", "one_device", "mirrored", "multi_worker")
PRECISIONS = ("auto", "on", "off")
MIXED_POLICY = "mixed_float16"
FLOAT_POLICY = "float32"
TF_CONFIG = "TF_CONFIG"


@dataclass(frozen=True)
class StrategyChoice:
    """What to build, decided from config and devices (before touching TensorFlow state).

    ``devices`` are the local devices the replicas run on; for ``multi_worker`` they are the
    local GPUs (MultiWorkerMirroredStrategy uses all of them) or empty on CPU workers.
    """

    kind: str  # "default" | "one_device" | "mirrored" | "multi_worker"
    devices: tuple[str, ...] = ()

    @property
    def uses_gpu(self) -> bool:
        return any("GPU" in device.upper() for device in self.devices)


def decide_strategy(distribution: str, gpus: Sequence[str], cpus: Sequence[str]) -> StrategyChoice:
    """Pure decision: which strategy over which devices."""
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"trainer.distribution: '{distribution}' is not one of {DISTRIBUTIONS}")
    if distribution == "multi_worker":
        return StrategyChoice("multi_worker", tuple(gpus))
    if distribution == "mirrored":
        return StrategyChoice("mirrored", tuple(gpus) or tuple(cpus))
    if distribution == "one_device":
        if not gpus and not cpus:
            raise ValueError("trainer.distribution 'one_device': TensorFlow sees no device")
        return StrategyChoice("one_device", ((gpus or cpus)[0],))
    if len(gpus) > 1:
        return StrategyChoice("mirrored", tuple(gpus))
    if len(gpus) == 1:
        return StrategyChoice("one_device", (gpus[0],))
    return StrategyChoice("default")


def decide_precision(mixed_precision: str, choice: StrategyChoice) -> str:
    """The Keras dtype policy: mixed_float16 on GPUs by default, float32 on CPU.

    ``on`` forces mixed precision even on CPU (slow there, but it is how the GPU path is tested
    on machines without a GPU); ``off`` always trains in float32.
    """
    if mixed_precision not in PRECISIONS:
        raise ValueError(f"trainer.mixed_precision: '{mixed_precision}' is not one of {PRECISIONS}")
    if mixed_precision == "on" or (mixed_precision == "auto" and choice.uses_gpu):
        return MIXED_POLICY
    return FLOAT_POLICY


def scaled_learning_rate(
    learning_rate: float, rule: str, global_batch: int, reference_batch: int
) -> float:
    """The learning rate for ``global_batch`` when ``learning_rate`` was tuned for
    ``reference_batch``: linear (Goyal et al. 2017), square root, or unchanged."""
    ratio = global_batch / reference_batch
    if rule == "linear":
        return learning_rate * ratio
    if rule == "sqrt":
        return learning_rate * math.sqrt(ratio)
    if rule == "none":
        return learning_rate
    raise ValueError(f"trainer.learning_rate_scaling: '{rule}' is not linear, sqrt or none")


def visible_devices() -> tuple[list[str], list[str]]:
    """Logical GPU and CPU device names, e.g. (['/device:GPU:0'], ['/device:CPU:0'])."""
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
    return gpus, cpus


def build_strategy(choice: StrategyChoice) -> tf.distribute.Strategy:
    if choice.kind == "multi_worker":
        # Reads TF_CONFIG; with GPUs it all-reduces with NCCL, on CPU with gRPC ring collectives.
        return tf.distribute.MultiWorkerMirroredStrategy()
    if choice.kind == "mirrored":
        return tf.distribute.MirroredStrategy(devices=list(choice.devices))
    if choice.kind == "one_device":
        # A one-replica MirroredStrategy, not OneDeviceStrategy: same placement and maths, and
        # BackupAndRestore (fault tolerance) supports it; it rejects OneDeviceStrategy.
        return tf.distribute.MirroredStrategy(devices=[choice.devices[0]])
    return tf.distribute.get_strategy()


def choose_strategy(distribution: str) -> tuple[StrategyChoice, tf.distribute.Strategy]:
    """Decide from the visible devices and build. For ``multi_worker`` call this before any
    other TensorFlow work in the process: collective ops must be configured at startup."""
    if distribution == "multi_worker":
        read_tf_config(os.environ.get(TF_CONFIG), required=True)
        # Physical devices: listing logical ones would initialize the runtime too early.
        gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
        choice = decide_strategy(distribution, gpus, [])
        try:
            return choice, build_strategy(choice)
        except RuntimeError as error:
            if "program startup" not in str(error):
                raise
            raise RuntimeError(
                "trainer.distribution 'multi_worker' needs the Trainer in a fresh process (one "
                "per worker, as on Kubeflow); TensorFlow was already initialized here, e.g. by "
                "earlier components of a local run. Use 'auto' or 'mirrored' locally."
            ) from error
    choice = decide_strategy(distribution, *visible_devices())
    return choice, build_strategy(choice)


def make_strategy(distribution: str) -> tf.distribute.Strategy:
    return choose_strategy(distribution)[1]


# ----- worker role ------------------------------------------------------------------------
@dataclass(frozen=True)
class WorkerRole:
    """This process's place in the cluster. Only the chief writes final outputs."""

    task_type: str | None
    task_index: int
    workers: int
    has_chief_task: bool = False

    @property
    def is_chief(self) -> bool:
        return self.task_type in (None, "chief") or (
            self.task_type == "worker" and self.task_index == 0 and not self.has_chief_task
        )

    @property
    def label(self) -> str:
        return "single worker" if self.task_type is None else f"{self.task_type} {self.task_index}"


def read_tf_config(text: str | None, *, required: bool = False) -> dict[str, Any]:
    """TF_CONFIG parsed and checked, with an error saying what is wrong and what to set."""
    if not text:
        if required:
            raise ValueError(
                "trainer.distribution is 'multi_worker' but TF_CONFIG is not set. The Kubeflow/"
                'Kubernetes training operator sets it; by hand: TF_CONFIG=\'{"cluster": {"worker":'
                ' ["host1:port", "host2:port"]}, "task": {"type": "worker", "index": 0}}\''
            )
        return {}
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON ({error}): {text[:200]}") from None
    cluster, task = parsed.get("cluster", {}), parsed.get("task", {})
    if task:
        task_type, index = task.get("type"), task.get("index", 0)
        members = cluster.get(task_type, [])
        if not isinstance(index, int) or index >= len(members):
            raise ValueError(
                f"TF_CONFIG task {task_type}:{index} is not in its cluster {cluster}; "
                "task.type must name a cluster job and task.index an entry of it"
            )
    return parsed


def worker_role(tf_config: Mapping[str, Any]) -> WorkerRole:
    """Role from a parsed TF_CONFIG: chief is the 'chief' task, or worker 0 when there is none."""
    cluster, task = tf_config.get("cluster", {}), tf_config.get("task", {})
    workers = sum(len(cluster.get(job, [])) for job in ("chief", "worker")) or 1
    return WorkerRole(task.get("type"), int(task.get("index", 0)), workers, "chief" in cluster)


def current_role() -> WorkerRole:
    return worker_role(read_tf_config(os.environ.get(TF_CONFIG)))


def is_chief() -> bool:
    """True unless TF_CONFIG names this task as a non-chief worker."""
    return current_role().is_chief


# ----- precision --------------------------------------------------------------------------
@contextlib.contextmanager
def precision_policy(policy: str) -> Iterator[None]:
    """Set the global Keras dtype policy for building a model, then restore the previous one.

    Why scoped: the policy is process-global, and layers created later (e.g. Transform's layer
    in the serving signatures) must stay float32 so raw values are not rounded to float16.
    """
    previous = tf.keras.mixed_precision.global_policy()
    tf.keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        tf.keras.mixed_precision.set_global_policy(previous)
