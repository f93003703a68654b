"""Distributed training for real, on CPU, in child processes (tests/e2e/train_worker.py):

- MirroredStrategy over 2 logical CPU devices vs one device, same seed and global batch;
- MultiWorkerMirroredStrategy with 2 workers on loopback ports: only the chief exports;
- both workers killed after the first epoch and restarted: they resume from the backup.

Training data are the Transform outputs of the shared ``completed_run``, found in ML Metadata.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.features import trainer_custom_config
from components.trainer import BACKUP_SUBDIR
from mlops.metadata import MetadataReader
from tests.conftest import REPO, CompletedRun

pytestmark = pytest.mark.slow
STEPS = {"trainer.train_steps": 60, "trainer.eval_steps": 5, "trainer.epochs": 2}
CHILD_TIMEOUT = 1200


def training_job(run: CompletedRun, out: Path, overrides: dict[str, Any],
                 **extra: Any) -> dict[str, Any]:
    """FnArgs fields for run_fn, pointing at the completed run's Transform outputs."""
    record = MetadataReader.for_sqlite(run.config.metadata_path).pipeline_run(
        run.config.pipeline.name, run.run_id)
    assert record is not None
    transform, example_gen = record.nodes["Transform"], record.nodes["ExampleGen"]
    examples = transform.output("transformed_examples")
    graph = transform.output("transform_graph")
    raw = example_gen.output("examples")
    assert examples and graph and raw
    config = run.config.with_overrides({**STEPS, **overrides})
    return {
        "train_files": [f"{examples.uri}/Split-train/*"],
        "eval_files": [f"{examples.uri}/Split-eval/*"],
        "transform_output": graph.uri,
        "serving_model_dir": str(out / "serving_model"),
        "model_run_dir": str(out / "model_run"),
        "train_steps": config.trainer.train_steps,
        "eval_steps": config.trainer.eval_steps,
        "custom_config": trainer_custom_config(config),
        "raw_eval_files": sorted(str(p) for p in Path(raw.uri, "Split-eval").glob("*")),
        **extra,
    }


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Child processes of a test; any still running when it ends (failed) are killed."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def start_worker(children: list[subprocess.Popen[bytes]], job: dict[str, Any], job_file: Path,
                 log_file: Path, tf_config: dict[str, Any] | None = None,
                 tmpdir: Path | None = None) -> subprocess.Popen[bytes]:
    job_file.write_text(json.dumps(job))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    if tmpdir is not None:
        tmpdir.mkdir(parents=True, exist_ok=True)
        env["TMPDIR"] = str(tmpdir)
    with open(log_file, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.train_worker", str(job_file)],
            cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    children.append(process)
    return process


def finish(process: subprocess.Popen[bytes], log_file: Path) -> str:
    try:
        code = process.wait(timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    output = log_file.read_text(errors="replace")
    assert code == 0, output[-6000:]
    return output


def trainer_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("mlops.trainer:")]


def free_ports(count: int) -> list[int]:
    """Ports the OS reports free on loopback (held together so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def cluster(ports: list[int]) -> dict[str, Any]:
    return {"worker": [f"127.0.0.1:{port}" for port in ports]}


def saved_models_under(directory: Path) -> list[Path]:
    return sorted(p.parent for p in directory.rglob("saved_model.pb"))


def test_mirrored_on_two_logical_cpus_matches_one_device(
    completed_run: CompletedRun, tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    # Same seed, same global batch (256) and same learning rate (tuned for 256).
    common = {"trainer.reference_batch_size": 256, "trainer.learning_rate": 0.003,
              "trainer.seed": 7}
    single = training_job(completed_run, tmp_path / "single",
                          {**common, "trainer.distribution": "one_device",
                           "trainer.batch_size": 256},
                          result=str(tmp_path / "single.json"))
    mirrored = training_job(completed_run, tmp_path / "mirrored",
                            {**common, "trainer.distribution": "mirrored",
                             "trainer.batch_size": 128},
                            result=str(tmp_path / "mirrored.json"), logical_cpus=2)
    processes = [
        (start_worker(children, job, tmp_path / f"{name}.job", tmp_path / f"{name}.log"),
         tmp_path / f"{name}.log")
        for name, job in (("single", single), ("mirrored", mirrored))
    ]
    single_out, mirrored_out = (finish(p, log) for p, log in processes)

    assert "with one_device on 1 replica(s)" in single_out
    assert ("with mirrored on 2 replica(s) [/device:CPU:0, /device:CPU:1]: 2 epochs x 30 "
            "steps, global batch 256 (128 per replica), learning rate 0.003") in mirrored_out
    for output in (single_out, mirrored_out):
        epochs = [line for line in trainer_lines(output) if " epoch " in line]
        assert len(epochs) == 2 and all("examples/s" in line for line in epochs)
    single_auc = json.loads((tmp_path / "single.json").read_text())["auc"]
    mirrored_auc = json.loads((tmp_path / "mirrored.json").read_text())["auc"]
    assert single_auc > 0.7
    assert abs(mirrored_auc - single_auc) < 0.02, (single_auc, mirrored_auc)
    assert list((tmp_path / "mirrored" / "model_run" / "train").glob("events.out.tfevents*"))


def test_multi_worker_only_chief_exports(
    completed_run: CompletedRun, tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    out = tmp_path / "cluster"
    ports = free_ports(2)
    overrides = {"trainer.distribution": "multi_worker", "trainer.batch_size": 64}
    chief_job = training_job(completed_run, out, overrides, result=str(tmp_path / "chief.json"))
    worker_job = training_job(completed_run, out, overrides)
    workers = [
        start_worker(children, job, tmp_path / f"w{index}.job", tmp_path / f"w{index}.log",
                     {"cluster": cluster(ports), "task": {"type": "worker", "index": index}},
                     tmpdir=tmp_path / f"tmp{index}")
        for index, job in enumerate((chief_job, worker_job))
    ]
    chief_out = finish(workers[0], tmp_path / "w0.log")
    worker_out = finish(workers[1], tmp_path / "w1.log")

    for index, output in enumerate((chief_out, worker_out)):
        assert f"(worker {index}) with multi_worker on 2 replica(s)" in output
        assert f"[worker {index}] epoch 2/2" in output
    assert "global batch 128 (64 per replica)" in chief_out
    assert saved_models_under(tmp_path) == [out / "serving_model"]
    assert "exported SavedModel to" in chief_out
    assert "the chief exports the model (temporary copy deleted)" in worker_out
    assert list((tmp_path / "tmp1").iterdir()) == []  # the non-chief's scratch copy is gone
    assert json.loads((tmp_path / "chief.json").read_text())["auc"] > 0.7
    assert len(list((out / "model_run" / "train").glob("events.out.tfevents*"))) == 1


def test_killed_workers_resume_from_backup(
    completed_run: CompletedRun, tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    out = tmp_path / "cluster"
    overrides = {"trainer.distribution": "multi_worker", "trainer.batch_size": 64,
                 "trainer.epochs": 4, "trainer.train_steps": 160}
    jobs = [training_job(completed_run, out, overrides, result=str(tmp_path / "chief.json")),
            training_job(completed_run, out, overrides)]

    def start_cluster(ports: list[int]) -> list[subprocess.Popen[bytes]]:
        return [
            start_worker(children, job, tmp_path / f"w{index}.job", tmp_path / f"w{index}.log",
                         {"cluster": cluster(ports), "task": {"type": "worker", "index": index}})
            for index, job in enumerate(jobs)
        ]

    first = start_cluster(free_ports(2))
    deadline = time.monotonic() + CHILD_TIMEOUT
    while "[worker 0] epoch 1/4" not in (tmp_path / "w0.log").read_text(errors="replace"):
        assert all(p.poll() is None for p in first), (tmp_path / "w0.log").read_text()[-4000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    for process in first:  # preempted: no chance to clean up
        process.send_signal(signal.SIGKILL)
        process.wait()
    backup = out / "model_run" / BACKUP_SUBDIR
    assert any(backup.rglob("*")), "no backup was written after the first epoch"
    killed_log = (tmp_path / "w0.log").read_text(errors="replace")
    assert "[worker 0] epoch 4/4" not in killed_log
    for index in range(2):  # keep only the restarted run's output in the logs
        (tmp_path / f"w{index}.log").write_text("")

    second = start_cluster(free_ports(2))
    outputs = [finish(p, tmp_path / f"w{i}.log") for i, p in enumerate(second)]
    for index, output in enumerate(outputs):
        lines = trainer_lines(output)
        resumed = [line for line in lines if "resumed from backup: continuing at epoch" in line]
        assert resumed, output[-4000:]
        assert f"[worker {index}] epoch 1/4" not in output  # epoch 1 was not trained again
        assert f"[worker {index}] epoch 4/4" in output
    assert saved_models_under(tmp_path) == [out / "serving_model"]
    assert json.loads((tmp_path / "chief.json").read_text())["auc"] > 0.7
    assert not any(p.is_file() for p in backup.rglob("*"))  # removed after a finished run


def test_mixed_precision_forced_on_cpu_trains_and_exports_float32_outputs(
    completed_run: CompletedRun, tmp_path: Path, children: list[subprocess.Popen[bytes]]
) -> None:
    job = training_job(completed_run, tmp_path / "mixed", {"trainer.mixed_precision": "on"},
                       result=str(tmp_path / "mixed.json"))
    output = finish(start_worker(children, job, tmp_path / "mixed.job", tmp_path / "mixed.log"),
                    tmp_path / "mixed.log")
    assert "precision mixed_float16" in output
    assert json.loads((tmp_path / "mixed.json").read_text())["auc"] > 0.7

    import tensorflow as tf

    loaded = tf.saved_model.load(job["serving_model_dir"])
    outputs = loaded.signatures["serving_default"].structured_outputs
    assert outputs["probabilities"].dtype == tf.float32


def test_pipeline_run_shows_epochs_and_writes_tensorboard(completed_run: CompletedRun) -> None:
    """Inside the real pipeline (TFX Trainer -> run_fn): per-epoch progress reaches the run's
    output, TensorBoard logs land in the model run directory, the backup is cleaned up."""
    record = MetadataReader.for_sqlite(completed_run.config.metadata_path).pipeline_run(
        completed_run.config.pipeline.name, completed_run.run_id)
    assert record is not None
    model_run = record.nodes["Trainer"].output("model_run")
    assert model_run is not None
    epochs = completed_run.config.trainer.epochs
    for epoch in range(1, epochs + 1):
        line = next(line for line in completed_run.output.splitlines()
                    if line.startswith(f"epoch {epoch}/{epochs} "))
        assert "loss=" in line and "val_auc=" in line and line.endswith("examples/s")
    batch = completed_run.config.trainer.batch_size
    assert f"global batch {batch} ({batch} per replica)" in completed_run.output
    for split in ("train", "validation"):
        assert list(Path(model_run.uri, split).glob("events.out.tfevents*")), split
    assert not any(p.is_file() for p in Path(model_run.uri, BACKUP_SUBDIR).rglob("*"))
