"""This project's default pipeline vs. TFX's own reference taxi pipeline, same data, same run.

Runs, one after the other on fresh roots, each in its own fresh Python process (so neither
inherits the other's imports, caches or process-wide settings; each times its run only, after
its imports):
  1. TFX's `taxi_pipeline_native_keras` (its `_create_pipeline`, its module file, its
     BeamDagRunner and Beam args) on the bundled Chicago-taxi sample;
  2. this project's default pipeline (`pipeline_config.yaml`) on the same file.
Prints both wall times, their ratio (ours / reference; target < 1.0, aim 0.5), and both models'
AUC and accuracy on the same held-out rows: examples that are in *both* pipelines' eval splits,
so neither model trained on them.

Usage: .venv/bin/python bench/pipeline_vs_reference.py [--workdir DIR]
(``--only reference|ours --workdir DIR`` is the child-process mode the script uses itself.)
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import mlops  # noqa: F401 - configures TensorFlow before it is imported
from mlops.runtime import silence_library_warnings

silence_library_warnings()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402

from pipelines.config import load_config  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _reference_run(root: Path, data_dir: str) -> float:
    from tfx.examples.chicago_taxi_pipeline import taxi_pipeline_native_keras as reference
    from tfx.orchestration.beam.beam_dag_runner import BeamDagRunner

    module_file = os.path.join(os.path.dirname(reference.__file__), "taxi_utils_native_keras.py")
    pipeline = reference._create_pipeline(
        pipeline_name="chicago_taxi_native_keras",
        pipeline_root=str(root / "pipeline"),
        data_root=data_dir,
        module_file=module_file,
        serving_model_dir=str(root / "serving"),
        metadata_path=str(root / "metadata.db"),
        beam_pipeline_args=reference._beam_pipeline_args,
    )
    started = time.perf_counter()
    BeamDagRunner().run(pipeline)
    return time.perf_counter() - started


def _our_run(root: Path) -> float:
    from pipelines.runners.local import run_local

    config = load_config(REPO / "pipeline_config.yaml", {"pipeline.workspace": str(root)})
    started = time.perf_counter()
    result = run_local(config)
    if result.error is not None:
        raise SystemExit(f"our pipeline failed in {result.failed_node}: {result.error}")
    return time.perf_counter() - started


def _eval_examples(pipeline_root: Path) -> set[bytes]:
    files = glob.glob(str(pipeline_root / "**" / "Split-eval" / "*.gz"), recursive=True)
    files = [f for f in files if "ExampleGen" in f]
    return {r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")}


def _labels(examples: list[bytes]) -> np.ndarray:
    labels = []
    for serialized in examples:
        features = tf.train.Example.FromString(serialized).features.feature
        tips = features["tips"].float_list.value
        fare = features["fare"].float_list.value
        labels.append(int(bool(tips and fare and tips[0] > 0.2 * fare[0])))
    return np.array(labels)


def _score(model_dir: str, output_key: str, examples: list[bytes]) -> np.ndarray:
    serve = tf.saved_model.load(model_dir).signatures["serving_default"]
    scores = [serve(examples=tf.constant(examples[i:i + 512]))[output_key].numpy().ravel()
              for i in range(0, len(examples), 512)]
    return np.concatenate(scores)


def _latest(pattern: str) -> str:
    found = sorted(glob.glob(pattern))
    if not found:
        raise SystemExit(f"no pushed model at {pattern}")
    return found[-1]


def _timed_in_child(which: str, workdir: Path) -> float:
    """Run one pipeline in a fresh interpreter; its wall seconds (run only, after imports)."""
    output = subprocess.run(
        [sys.executable, __file__, "--only", which, "--workdir", str(workdir)],
        check=True, stdout=subprocess.PIPE, text=True,
    ).stdout
    return float(output.strip().splitlines()[-1])


def _child(which: str, workdir: Path, data_dir: str) -> None:
    from mlops.console import configure_logging

    configure_logging(workdir / f"bench-{which}.log")  # TFX/Beam INFO lines go to the file
    seconds = (_reference_run(workdir / "reference", data_dir) if which == "reference"
               else _our_run(workdir / "ours"))
    print(f"{seconds:.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=None,
                        help="Where both pipelines write (default: a fresh temp dir, removed).")
    parser.add_argument("--only", choices=["reference", "ours"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    config = load_config(REPO / "pipeline_config.yaml")
    data_dir = config.data_source
    if args.only:
        _child(args.only, workdir, data_dir)
        return

    print(f"data: {data_dir}\nworkdir: {workdir}\ncores: {os.cpu_count()}", flush=True)
    print("running TFX reference (taxi_pipeline_native_keras) ...", flush=True)
    reference_seconds = _timed_in_child("reference", workdir)
    print(f"  reference: {reference_seconds:.1f}s", flush=True)
    print("running this project's default pipeline ...", flush=True)
    our_seconds = _timed_in_child("ours", workdir)
    print(f"  ours: {our_seconds:.1f}s", flush=True)

    held_out = sorted(_eval_examples(workdir / "reference" / "pipeline")
                      & _eval_examples(workdir / "ours" / "pipelines"))
    labels = _labels(held_out)
    reference_scores = _score(_latest(str(workdir / "reference" / "serving" / "*")), "outputs",
                              held_out)
    our_scores = _score(_latest(str(workdir / "ours" / "serving" / "*" / "*")), "probabilities",
                        held_out)

    def metrics(scores: np.ndarray) -> tuple[float, float]:
        return roc_auc_score(labels, scores), float(np.mean((scores > 0.5) == labels))

    reference_auc, reference_accuracy = metrics(reference_scores)
    our_auc, our_accuracy = metrics(our_scores)
    print(f"\nheld-out rows (eval split of both pipelines): {len(held_out)}, "
          f"positives {labels.mean():.1%}")
    print(f"{'':<28}{'wall s':>8}{'AUC':>9}{'accuracy':>10}")
    print(f"{'TFX reference':<28}{reference_seconds:>8.1f}{reference_auc:>9.4f}"
          f"{reference_accuracy:>10.4f}")
    print(f"{'this project (default)':<28}{our_seconds:>8.1f}{our_auc:>9.4f}{our_accuracy:>10.4f}")
    print(f"\nratio ours/reference wall time: {our_seconds / reference_seconds:.2f} "
          f"(target < 1.0, aim 0.5); AUC difference {our_auc - reference_auc:+.4f}")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
