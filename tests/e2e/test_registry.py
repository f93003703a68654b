"""End to end: MLflow tracking of a real run, and promotion flows against a real `mlflow server`.

The server is a separate process started here on a free loopback port (SQLite backend and
artifact store in a tmp dir, --serve-artifacts) and stopped at the end of the session.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mlops.metadata import MetadataReader
from mlops.registry import settings
from mlops.registry.models import ModelRegistry, register_model_version
from mlops.registry.tracking import (
    collect_run_facts,
    ensure_experiment,
    log_run,
    record_pipeline_run,
    version_tags,
)
from mlops.summary import RunStatus, summarize_run
from pipelines.config import PlatformConfig
from tests.conftest import CompletedRun, cli_args, run_cli

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `mlflow server` process on 127.0.0.1, stopped after the session."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = open(root / "server.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server",
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--artifacts-destination", str(root / "artifacts"), "--serve-artifacts",
         "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        # The registry needs no background job runner (it would start 7 more processes).
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600  # the first start migrates the SQLite schema
        while True:
            assert process.poll() is None, (root / "server.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not start"
            time.sleep(1)
        yield url
    finally:
        stop_process_group(process)
        log.close()


def stop_process_group(process: subprocess.Popen) -> None:
    """Stop the server and the workers it started (they share its own process group)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # anything left behind in the group
    process.wait(timeout=10)


@dataclass(frozen=True)
class Registered:
    config: PlatformConfig
    first: str
    second: str


def server_config(run: CompletedRun, url: str, model_name: str) -> PlatformConfig:
    return run.config.with_overrides(
        {"registry.tracking_uri": url, "registry.model_name": model_name})


def register_twice(run: CompletedRun, url: str, model_name: str) -> Registered:
    """The pushed model recorded from its pipeline run (v1, candidate), then registered again
    under a second MLflow run, as a later push of the same model would be (v2)."""
    config = server_config(run, url, model_name)
    reader = MetadataReader.for_sqlite(config.metadata_path)
    summary = summarize_run(reader, config, run.run_id)
    result = record_pipeline_run(config, summary)
    assert result is not None and result.version is not None
    client = settings.client_for(config)
    mlflow_run = client.create_run(result.experiment_id, run_name=f"{run.run_id}-again")
    again = register_model_version(client, model_name, mlflow_run.info.run_id,
                                   Path(summary.pushed_path or ""), dict(result.version.tags))
    return Registered(config, result.version.version, again.version)


@pytest.fixture(scope="module")
def registered(completed_run: CompletedRun, mlflow_server: str) -> Registered:
    return register_twice(completed_run, mlflow_server, "taxi-promotions")


def test_cli_run_logged_run_and_registered_candidate_in_embedded_store(
    completed_run: CompletedRun,
) -> None:
    config = completed_run.config
    assert "registered version 1 [candidate]" in completed_run.output
    assert (config.workspace / "mlflow" / "mlflow.db").exists()
    client = settings.client_for(config)
    experiment = client.get_experiment_by_name(config.pipeline.name)
    runs = client.search_runs([experiment.experiment_id],
                              filter_string=f"tags.`mlops.run_id` = '{completed_run.run_id}'")
    assert len(runs) == 1
    run = runs[0]
    assert run.data.params["trainer.train_steps"] == "120"
    assert run.data.params["data.span"] == "0"
    assert len(run.data.params["config_hash"]) == 16
    assert run.data.metrics["rows/train"] + run.data.metrics["rows/eval"] == 2000
    assert run.data.metrics["eval/auc"] > 0.7
    assert any(k.startswith("eval/payment_type:") for k in run.data.metrics)
    history = client.get_metric_history(run.info.run_id, "train/epoch_loss")
    assert [m.step for m in history] == [0, 1]  # trainer.epochs=2 in the test config
    tags = run.data.tags
    reader = MetadataReader.for_sqlite(config.metadata_path)
    nodes = reader.pipeline_run(config.pipeline.name, completed_run.run_id).nodes
    assert tags["mlops.mlmd.execution.Trainer"] == str(nodes["Trainer"].execution_id)
    assert tags["mlops.mlmd.artifact.model"] == str(nodes["Trainer"].output("model").id)
    artifacts = {f.path for f in client.list_artifacts(run.info.run_id, "schema")}
    artifacts |= {f.path for f in client.list_artifacts(run.info.run_id, "evaluation")}
    assert {"schema/schema.pbtxt", "evaluation/evaluation_summary.json"} <= artifacts
    evaluation = json.loads(Path(client.download_artifacts(
        run.info.run_id, "evaluation/evaluation_summary.json")).read_text())
    assert evaluation["blessed"] is True

    registry = ModelRegistry.for_config(config)
    version = registry.version(1)
    assert version.run_id == completed_run.run_id and version.blessed
    # `candidate` marks the newest push; other tests of the session may have pushed since.
    assert registry.alias_version("candidate") == registry.versions()[0].version
    assert version.tags["mlops.mlmd.artifact.pushed_model"] == tags[
        "mlops.mlmd.artifact.pushed_model"]


def test_promote_noop_rollback_and_history_through_the_cli(registered: Registered) -> None:
    args = cli_args(registered.config)
    first, second = registered.first, registered.second

    result = run_cli("models", "promote", first, "--to", "production", "--by", "alice",
                     "--reason", "first release", *args)
    assert result.returncode == 0, result.stderr
    assert f"version (none) -> {first}" in result.stdout
    result = run_cli("models", "promote", second, "--to", "production", "--by", "bob",
                     "--reason", "retrained", *args)
    assert result.returncode == 0, result.stderr
    registry = ModelRegistry.for_config(registered.config)
    assert registry.alias_version("production") == second
    entries = len(registry.history())

    result = run_cli("models", "promote", second, "--to", "production", *args)
    assert result.returncode == 0, result.stderr
    assert "already production; nothing changed" in result.stdout
    assert len(registry.history()) == entries

    result = run_cli("models", "rollback", "--by", "carol", "--reason", "regression", *args)
    assert result.returncode == 0, result.stderr
    assert registry.alias_version("production") == first
    last = registry.history()[-1]
    assert (last.action, last.from_version, last.to_version, last.by, last.reason) == (
        "rollback", second, first, "carol", "regression")

    listing = run_cli("models", "list", *args)
    history = run_cli("models", "history", *args)
    assert listing.returncode == 0 and history.returncode == 0
    assert "production" in listing.stdout and "candidate" in listing.stdout
    for text in ("alice", "bob", "carol", "first release", "rollback"):
        assert text in history.stdout


def test_unblessed_run_is_recorded_but_its_model_cannot_be_promoted(
    completed_run: CompletedRun, registered: Registered, tmp_path: Path
) -> None:
    config = registered.config
    result = run_cli("run", *cli_args(config),
                     "--set", "evaluator.thresholds.auc.lower_bound=0.999")
    assert result.returncode == RunStatus.NOT_BLESSED.exit_code, result.stdout + result.stderr
    unblessed_config = config.with_overrides({"evaluator.thresholds.auc.lower_bound": 0.999})
    reader = MetadataReader.for_sqlite(config.metadata_path)
    run_id = reader.run_ids(config.pipeline.name)[0]
    summary = summarize_run(reader, unblessed_config, run_id)
    assert summary.status is RunStatus.NOT_BLESSED and summary.blessed is False

    registry = ModelRegistry.for_config(config)
    assert all(v.run_id != run_id for v in registry.versions())  # nothing pushed: no version
    client: MlflowClient = registry.client
    experiment_id = ensure_experiment(client, config)
    logged = client.search_runs([experiment_id], f"tags.`mlops.run_id` = '{run_id}'")
    assert len(logged) == 1 and logged[0].data.tags["mlops.status"] == "not_blessed"

    # Register the run's trained model anyway, as someone might by hand: the guard must hold.
    run = reader.pipeline_run(config.pipeline.name, run_id)
    model_dir = Path(run.nodes["Trainer"].output("model").uri) / "Format-Serving"
    facts = collect_run_facts(unblessed_config, summary, reader, run, tmp_path)
    mlflow_run_id = log_run(client, experiment_id, facts)
    version = register_model_version(client, registry.name, mlflow_run_id, model_dir,
                                     version_tags(facts, summary)).version
    before = registry.history()
    refused = run_cli("models", "promote", version, "--to", "staging", *cli_args(config))
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert f"version {version} cannot be promoted" in refused.stderr
    assert "not blessed by the Evaluator" in refused.stderr and run_id in refused.stderr
    assert "auc" in refused.stderr  # the failed threshold is named
    assert registry.alias_version("staging") != version
    assert registry.history() == before
