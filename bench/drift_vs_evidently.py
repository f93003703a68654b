"""Drift check vs Evidently's DataDriftPreset on the same generated files, in the same run.

Files (scaled copies of the data the serving model was trained on, --rows each):
  reference.csv  a resample of the training data (Evidently's reference side; our reference is
                 the serving model's training statistics, already in ML Metadata)
  same.csv       another resample: any drift reported here is a false alarm
  shifted.csv    a resample with fares +30%, trip start hours +3 (cyclic) and 60% of card
                 payments turned into cash: exactly those three features must be reported

Each tool runs in its own child process; the parent samples the whole process tree's resident
memory (psutil, children included: Beam workers count) and measures wall time. The ratio
printed is ours / Evidently's.

    .venv/bin/python bench/drift_vs_evidently.py --rows 20000 \
        --workspace WORKSPACE_WITH_A_PUSHED_MODEL --data TRAINING_DATA
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


from tests.drift_data import SHIFTED_FEATURES, shift_row, write_resample  # noqa: E402


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += member.memory_info().rss
    return total


def measure(command: list[str]) -> dict[str, object]:
    """Run ``command``; wall time, peak RSS of the process tree, and its JSON result line."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             cwd=REPO, text=True)
    peak = 0
    watched = psutil.Process(child.pid)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            with contextlib.suppress(psutil.Error):
                peak = max(peak, _tree_rss(watched))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output, _ = child.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    if child.returncode != 0:
        raise RuntimeError(f"{command} exited {child.returncode}")
    result = json.loads(output.strip().splitlines()[-1])
    return {"wall_s": wall, "peak_mb": peak / 2**20, **result}


# ----- workers (run in child processes) -------------------------------------------------------
def worker_ours(config_file: str, overrides: dict[str, object], path: str) -> None:
    started = time.perf_counter()
    import mlops  # noqa: F401 - configures TensorFlow first
    from mlops.monitoring.check import run_check
    from pipelines.config import load_config

    config = load_config(config_file, {**overrides, "drift.on_drift": "report"})
    imported = time.perf_counter()
    result = run_check(config, path)
    print(json.dumps({"drifted": result.drifted_features, "import_s": imported - started,
                      "compute_s": time.perf_counter() - imported,
                      "distances": {f.name: round(f.distance, 5) for f in result.features},
                      "report": str(result.html_path)}))


def worker_evidently(reference: str, current: str, features: list[str]) -> None:
    started = time.perf_counter()
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    imported = time.perf_counter()
    reference_frame = pd.read_csv(reference, usecols=features)
    current_frame = pd.read_csv(current, usecols=features)
    snapshot = Report([DataDriftPreset()]).run(current_data=current_frame,
                                               reference_data=reference_frame)
    drifted, methods = [], {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if not config["type"].endswith("ValueDrift"):
            continue
        value, threshold = metric["value"], config["threshold"]
        is_p_value = "p_value" in config["method"]
        if (value < threshold) if is_p_value else (value >= threshold):
            drifted.append(config["column"])
        methods[config["column"]] = f"{config['method']}={value:.4g}"
    print(json.dumps({"drifted": sorted(drifted), "import_s": imported - started,
                      "compute_s": time.perf_counter() - imported, "distances": methods}))


# ----- driver -----------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="Rows per generated file.")
    parser.add_argument("--config", default=str(REPO / "pipeline_config.yaml"))
    parser.add_argument("--workspace", required=True,
                        help="Workspace whose ML Metadata has a pushed model (e.g. after "
                        "`mlops run`).")
    parser.add_argument("--data", required=True,
                        help="The training data of that pushed model (CSV file); resampled.")
    parser.add_argument("--out", default=None,
                        help="Where files are written (default: a new temp dir).")
    parser.add_argument("--worker", choices=["ours", "evidently"], help=argparse.SUPPRESS)
    parser.add_argument("--files", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    overrides = {"pipeline.workspace": args.workspace, "data.source": args.data}

    if args.worker == "ours":
        worker_ours(args.config, overrides, args.files[0])
        return
    import mlops  # noqa: F401
    from pipelines.config import load_config

    features = load_config(args.config, overrides).feature_names()
    if args.worker == "evidently":
        worker_evidently(args.files[0], args.files[1], features)
        return

    out = Path(args.out or tempfile.mkdtemp(prefix="drift-bench-"))
    training = Path(args.data)
    files = {}
    for name, seed, edit in (("reference", 1, None), ("same", 2, None),
                             ("shifted", 3, shift_row)):
        target = out / f"{name}-{args.rows}.csv"
        if not target.exists():
            print(f"writing {target} ...", flush=True)
            write_resample(training, target, args.rows, seed=seed, edit=edit)
        files[name] = str(target)

    me = [sys.executable, __file__, "--config", args.config, "--workspace", args.workspace,
          "--data", args.data]
    results = {}
    for case in ("same", "shifted"):
        results[("ours", case)] = measure([*me, "--worker", "ours", "--files", files[case]])
        results[("evidently", case)] = measure(
            [*me, "--worker", "evidently", "--files", files["reference"], files[case]])

    expected = {"same": [], "shifted": sorted(SHIFTED_FEATURES)}
    print(f"\n{args.rows:,} rows per file; expected drift: same=none, "
          f"shifted={', '.join(expected['shifted'])}\n")
    header = (f"{'tool':10} {'case':8} {'wall s':>7} {'compute s':>9} {'peak MB':>8}  "
              "verdict")
    print(header)
    for (tool, case), result in results.items():
        verdict = ", ".join(result["drifted"]) or "no drift"
        correct = sorted(result["drifted"]) == expected[case]
        print(f"{tool:10} {case:8} {result['wall_s']:7.1f} {result['compute_s']:9.1f} "
              f"{result['peak_mb']:8.0f}  {verdict}{'' if correct else '  <-- WRONG'}")
    for case in ("same", "shifted"):
        ours, theirs = results[("ours", case)], results[("evidently", case)]
        print(f"ratio ours/evidently ({case}): wall {ours['wall_s'] / theirs['wall_s']:.2f}, "
              f"peak memory {ours['peak_mb'] / theirs['peak_mb']:.2f}")
    print("\nper-feature distances (shifted):")
    print("  ours:     ", results[("ours", "shifted")]["distances"])
    print("  evidently:", results[("evidently", "shifted")]["distances"])


if __name__ == "__main__":
    main()
