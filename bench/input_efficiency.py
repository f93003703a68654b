"""Input efficiency: does the TFRecord input pipeline keep the trainer fed?

Ratio = examples/s training the default model from Transform's real gzipped TFRecords
(components.dataset.make_dataset: interleave, batch-then-parse, prefetch) divided by examples/s
of the same model fed from tensors already in memory (the upper bound: no reading, no parsing).
Target on CPU: >= 0.9. Both feeds are measured in the same run, alternately, after a warm-up
epoch (graph tracing; for the cached feed also the one pass that reads and parses the files), and
the best epoch of each is compared so that load from other processes on a shared machine hurts
all alike. Two TFRecord feeds are measured: streaming (every epoch reads, shuffles and parses
records) and ``trainer.cache_dataset: true`` (the split parsed once into memory, then a fresh
permutation gathered per pass).

``--gpu``: train with the strategy and precision the trainer would pick on this machine (all
GPUs mirrored, mixed_float16) and report examples/s and GPU utilization sampled with nvidia-smi.
Without a GPU it says so and exits 0.

Data: the pipeline is run up to Transform on the bundled taxi sample in a temporary workspace
(or in ``--workspace``, reused when Transform's outputs are already there).

    .venv/bin/python bench/input_efficiency.py [--gpu] [--workspace DIR] [--steps 50]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import mlops  # noqa: E402, F401 - configures TensorFlow before it is imported

# isort: split
import tensorflow as tf  # noqa: E402
import tensorflow_transform as tft  # noqa: E402

from components.dataset import expand_files, make_dataset  # noqa: E402
from components.features import FeatureSpec  # noqa: E402
from components.model import build_model  # noqa: E402
from components.strategy import (  # noqa: E402
    decide_precision,
    decide_strategy,
    make_strategy,
    precision_policy,
)
from components.trainer import id_counts  # noqa: E402
from mlops.metadata import MetadataReader  # noqa: E402
from pipelines.config import PlatformConfig, load_config  # noqa: E402


class EpochTimer(tf.keras.callbacks.Callback):
    """Seconds per training epoch. No per-batch hook, which would sync every step."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def transformed_data(config: PlatformConfig) -> tuple[str, str]:
    """(transform_graph uri, transformed train files pattern), running up to Transform if
    the workspace has none yet."""
    from pipelines.runners.local import run_local

    def find() -> tuple[str, str] | None:
        if not config.metadata_path.exists():
            return None
        reader = MetadataReader.for_sqlite(config.metadata_path)
        for run_id in reader.run_ids(config.pipeline.name):
            record = reader.pipeline_run(config.pipeline.name, run_id)
            transform = record.nodes.get("Transform") if record else None
            if transform and transform.output("transform_graph"):
                graph = transform.output("transform_graph")
                examples = transform.output("transformed_examples")
                if graph and examples:
                    return graph.uri, f"{examples.uri}/Split-train/*"
        return None

    found = find()
    if found is None:
        print(f"running the pipeline up to Transform in {config.workspace} ...", flush=True)
        result = run_local(config, up_to="Transform")
        if result.error is not None:
            raise SystemExit(f"pipeline failed in {result.failed_node}: {result.error}")
        found = find()
    assert found is not None
    return found


def in_memory_dataset(pattern: str, feature_spec: dict, label_key: str, batch: int,
                      steps: int) -> tf.data.Dataset:
    """The same batches, parsed once and held as tensors: the upper bound for any input."""
    parsed = make_dataset(pattern, feature_spec, label_key, batch, shuffle=True, seed=1)
    batches = list(parsed.take(steps))
    return tf.data.Dataset.from_tensor_slices(_stack(batches)).repeat()


def _stack(batches: list[tuple[dict[str, tf.Tensor], tf.Tensor]]) -> tuple[Any, tf.Tensor]:
    features = {name: tf.stack([f[name] for f, _ in batches]) for name in batches[0][0]}
    return features, tf.stack([label for _, label in batches])


def examples_per_second(make_model, dataset: tf.data.Dataset, steps: int, epochs: int,
                        batch: int) -> list[float]:
    model = make_model()
    timer = EpochTimer()
    model.fit(dataset, steps_per_epoch=steps, epochs=epochs + 1, callbacks=[timer], verbose=0)
    return [steps * batch / s for s in timer.seconds[1:]]  # epoch 1 traces the graph


def input_rate(dataset: tf.data.Dataset, batches: int, batch: int) -> float:
    """Examples/s of the input pipeline alone: what it could feed with a core to itself."""
    iterator = iter(dataset)
    next(iterator)  # start-up: threads, shuffle buffer
    started = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch / (time.perf_counter() - started)


class GpuSampler:
    """Mean utilization per GPU from ``nvidia-smi`` while the timed epochs run."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.available = shutil.which("nvidia-smi") is not None

    def __enter__(self) -> GpuSampler:
        if self.available:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self.available:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            output = subprocess.run(
                ["nvidia-smi", "--query-gpu=index,utilization.gpu",
                 "--format=csv,noheader,nounits"],
                capture_output=True, text=True, check=False).stdout
            for line in output.strip().splitlines():
                index, _, value = line.partition(",")
                self.samples.setdefault(index.strip(), []).append(float(value))
            self._stop.wait(0.5)


def cpu_ratio(config: PlatformConfig, graph: str, pattern: str, steps: int, epochs: int,
              rounds: int) -> None:
    spec = FeatureSpec.from_config(config)
    settings = config.trainer
    output = tft.TFTransformOutput(graph)
    feature_spec, counts = output.transformed_feature_spec(), id_counts(output, spec)
    batch = settings.batch_size

    def new_model() -> tf.keras.Model:
        tf.keras.utils.set_random_seed(settings.seed)
        return build_model(spec, settings, counts)

    feeds = {
        "tfrecords": make_dataset(pattern, feature_spec, spec.label_key, batch,
                                  seed=settings.seed),
        "tfrecords_cached": make_dataset(pattern, feature_spec, spec.label_key, batch,
                                         seed=settings.seed, cache=True),
        "in_memory": in_memory_dataset(pattern, feature_spec, spec.label_key, batch, steps),
    }
    rates: dict[str, list[float]] = {name: [] for name in feeds}
    for _ in range(rounds):
        for name, feed in feeds.items():
            rates[name] += examples_per_second(new_model, feed, steps, epochs, batch)
    best = {name: max(values) for name, values in rates.items()}
    print(f"\nmodel {settings.model}, batch {batch}, {steps} steps x {epochs} timed epochs x "
          f"{rounds} rounds, {len(expand_files(pattern))} TFRecord file(s)")
    print(f"{'feed':<18}{'best ex/s':>12}{'median ex/s':>14}{'input only ex/s':>18}")
    for name, values in rates.items():
        alone = input_rate(feeds[name], steps * epochs, batch)
        print(f"{name:<18}{best[name]:>12.0f}{statistics.median(values):>14.0f}{alone:>18.0f}")
    print("(input only: the feed's own rate, reading+parsing without training)")
    for name, mode in (("tfrecords", "streaming"),
                       ("tfrecords_cached", "trainer.cache_dataset: true")):
        ratio = best[name] / best["in_memory"]
        median_ratio = statistics.median(rates[name]) / statistics.median(rates["in_memory"])
        verdict = "meets" if ratio >= 0.9 else "BELOW"
        print(f"input efficiency, {mode} ({name} / in_memory): best {ratio:.3f}, median "
              f"{median_ratio:.3f}  -> {verdict} the 0.9 target")


def gpu_report(config: PlatformConfig, graph: str, pattern: str, steps: int,
               epochs: int) -> None:
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        print("--gpu: TensorFlow sees no GPU on this machine, so there are no GPU figures.\n"
              "  Install the CUDA build (pip install 'tensorflow[and-cuda]==2.16.2', NVIDIA "
              "driver >= 525) on a GPU machine and rerun; see docs/training.md.")
        return
    spec, settings = FeatureSpec.from_config(config), config.trainer
    logical = [d.name for d in tf.config.list_logical_devices("GPU")]
    choice = decide_strategy("auto", logical, [])
    strategy = make_strategy("auto")
    policy = decide_precision(settings.mixed_precision, choice)
    output = tft.TFTransformOutput(graph)
    global_batch = settings.batch_size * strategy.num_replicas_in_sync
    dataset = make_dataset(pattern, output.transformed_feature_spec(), spec.label_key,
                           global_batch, seed=settings.seed)

    def new_model() -> tf.keras.Model:
        with precision_policy(policy), strategy.scope():
            return build_model(spec, settings, id_counts(output, spec))

    with GpuSampler() as sampler:
        rates = examples_per_second(new_model, dataset, steps, epochs, global_batch)
    print(f"\nGPU: {choice.kind} over {len(logical)} GPU(s), precision {policy}, global batch "
          f"{global_batch}: best {max(rates):.0f} ex/s, median {statistics.median(rates):.0f}")
    if not sampler.available:
        print("GPU utilization: nvidia-smi not found")
    for index, values in sorted(sampler.samples.items()):
        print(f"GPU {index} utilization: mean {statistics.mean(values):.0f}%, "
              f"max {max(values):.0f}% over {len(values)} samples")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="GPU examples/s and utilization")
    parser.add_argument("--workspace", type=Path, help="reuse/keep this workspace")
    parser.add_argument("--steps", type=int, default=50, help="steps per timed epoch")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per round")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds per feed")
    args = parser.parse_args()
    workspace = args.workspace or Path(tempfile.mkdtemp(prefix="bench-input-"))
    config = load_config(REPO / "pipeline_config.yaml", {
        "pipeline.workspace": str(workspace), "beam.direct_running_mode": "in_memory"})
    graph, pattern = transformed_data(config)
    try:
        if args.gpu:
            gpu_report(config, graph, pattern, args.steps, args.epochs)
        else:
            cpu_ratio(config, graph, pattern, args.steps, args.epochs, args.rounds)
    finally:
        if args.workspace is None:
            shutil.rmtree(workspace, ignore_errors=True)


if __name__ == "__main__":
    main()
