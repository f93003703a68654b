"""Shared fixtures: the bundled taxi sample, small configs in tmp dirs, one real pipeline run.

The session-scoped ``completed_run`` runs the real pipeline once (about 2,000 rows, few steps)
through the CLI; every end-to-end test that needs a run's artifacts reads that one, so the
suite stays well inside CI's time budget.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

import mlops  # noqa: F401 - configures TensorFlow before any test imports it
from pipelines.config import PlatformConfig, load_config, resolve_data_source

REPO = Path(__file__).resolve().parents[1]
CONFIG_FILE = REPO / "pipeline_config.yaml"
SAMPLE_ROWS = 2000
# Small but real: enough steps for a model that passes the default AUC floor.
FAST_TRAINING = {
    "trainer.train_steps": 120,
    "trainer.eval_steps": 5,
    "trainer.epochs": 2,
}


def taxi_csv() -> Path:
    return Path(resolve_data_source(
        "pkg://tfx/examples/chicago_taxi_pipeline/data/simple/data.csv", REPO))


def write_sample(target: Path, rows: int = SAMPLE_ROWS,
                 edit: Callable[[dict[str, str]], dict[str, str]] | None = None,
                 drop_columns: tuple[str, ...] = ()) -> Path:
    """The first ``rows`` rows of the taxi CSV, optionally edited row by row."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(taxi_csv(), newline="") as source, open(target, "w", newline="") as sink:
        reader = csv.DictReader(source)
        columns = [c for c in reader.fieldnames or [] if c not in drop_columns]
        writer = csv.DictWriter(sink, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for index, row in enumerate(reader):
            if index >= rows:
                break
            writer.writerow(edit(row) if edit else row)
    return target


@pytest.fixture(scope="session")
def sample_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sample(tmp_path_factory.mktemp("data") / "sample" / "data.csv")


def make_config(workspace: Path, data: Path | str, **overrides: object) -> PlatformConfig:
    values = {"pipeline.workspace": str(workspace), "data.source": str(data), **FAST_TRAINING}
    values.update({k.replace("__", "."): v for k, v in overrides.items()})
    return load_config(CONFIG_FILE, values)


def cli_args(config: PlatformConfig) -> list[str]:
    args = ["--config", config.source_file]
    for key, value in config.overrides.items():
        args += ["--set", f"{key}={value}"]
    return args


def run_cli(*args: str, timeout: int = 2400) -> subprocess.CompletedProcess[str]:
    """``mlops ...`` in a child process, as a person or scheduler would run it."""
    return subprocess.run(
        [sys.executable, "-m", "mlops.cli", *args],
        capture_output=True, text=True, timeout=timeout, cwd=REPO, env=dict(os.environ),
    )


@dataclass(frozen=True)
class CompletedRun:
    config: PlatformConfig
    run_id: str
    output: str
    exit_code: int


def _run_id_from(output: str) -> str:
    for line in output.splitlines():
        if line.startswith("Run ") and ":" in line:
            return line.split()[1].rstrip(":")
    raise AssertionError(f"no run id in output:\n{output}")


@pytest.fixture(scope="session")
def completed_run(tmp_path_factory: pytest.TempPathFactory, sample_csv: Path) -> CompletedRun:
    """One real pipeline run on the small sample, shared by the end-to-end tests."""
    config = make_config(tmp_path_factory.mktemp("workspace"), sample_csv.parent)
    result = run_cli("run", *cli_args(config))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return CompletedRun(config, _run_id_from(result.stdout), output, result.returncode)
