"""Requests to Kubeflow Pipelines, made by the real kfp.Client against a recording HTTP server.

No cluster can run here. A small server on 127.0.0.1 answers the KFP v2beta1 REST paths the
client uses and records each request; the bodies are decoded back into kfp_server_api models
and checked field by field.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import kfp_server_api
import pytest

from mlops.cron import CronError
from mlops.kfp_client import (
    KubeflowError,
    KubeflowUnreachableError,
    connect,
    create_schedule,
    find_schedule,
    kubeflow_cron,
    list_schedules,
    submit_run,
)
from pipelines.config import PlatformConfig, load_config
from tests.conftest import CONFIG_FILE, REPO, run_cli

SPEC = REPO / "infra" / "kubeflow" / "pipeline.json"


class _Recorder(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        server: Any = self.server
        server.requests.append((self.command, url.path, parse_qs(url.query), body))
        path = url.path
        if path.endswith("/healthz"):
            return self._answer({"multi_user": False})
        if path.endswith("/experiments") and self.command == "GET":
            return self._answer({})  # not there yet: the client creates it
        if path.endswith("/experiments"):
            return self._answer({**body, "experiment_id": "exp-1"})
        if path.endswith("/runs"):
            return self._answer({**body, "run_id": "run-1"})
        if path.endswith("/recurringruns") and self.command == "POST":
            return self._answer({**body, "recurring_run_id": "rr-1"})
        if path.endswith("/recurringruns"):
            return self._answer({"recurringRuns": [
                {"recurring_run_id": "rr-1", "display_name": "taxi-big-tipper-retraining",
                 "mode": "ENABLE", "max_concurrency": "1", "no_catchup": True,
                 "trigger": {"cron_schedule": {"cron": "0 0 3 * * *"}}},
                {"recurring_run_id": "rr-9", "display_name": "someone-else"}]})
        return self._answer({})

    do_GET = do_POST = do_DELETE = _handle


@pytest.fixture
def kfp_server() -> Iterator[tuple[str, list[Any]]]:
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", server.requests
    server.shutdown()
    server.server_close()


def _config(host: str, **overrides: object) -> PlatformConfig:
    return load_config(CONFIG_FILE, {"kubeflow.host": host,
                                     "kubeflow.pipeline_root": "gs://mlops-artifacts/tfx",
                                     **overrides})


def _model(body: dict[str, Any], kind: str) -> Any:
    client = kfp_server_api.ApiClient()
    return client._ApiClient__deserialize(body, kind)  # the generated client's own decoder


def _sent(requests: list[Any], method: str, suffix: str) -> list[Any]:
    return [r for r in requests if r[0] == method and r[1].endswith(suffix)]


def test_schedule_create_sends_the_recurring_run_field_by_field(
        kfp_server: tuple[str, list[Any]], tmp_path: Path) -> None:
    host, requests = kfp_server
    config = _config(host)
    created, warning = create_schedule(connect(config), config, SPEC, tmp_path)
    assert (created.id, created.name, created.experiment_id, warning) == (
        "rr-1", "taxi-big-tipper-retraining", "exp-1", None)

    experiment = _model(_sent(requests, "POST", "/experiments")[0][3], "V2beta1Experiment")
    assert experiment.display_name == "retraining"
    [(_, _, _, body)] = _sent(requests, "POST", "/recurringruns")
    recurring = _model(body, "V2beta1RecurringRun")
    assert recurring.display_name == "taxi-big-tipper-retraining"
    assert recurring.experiment_id == "exp-1"
    assert recurring.mode == kfp_server_api.RecurringRunMode.ENABLE
    assert int(recurring.max_concurrency) == 1
    assert recurring.no_catchup is True  # schedule.catch_up: false
    assert recurring.trigger.cron_schedule.cron == "0 0 3 * * *"
    assert recurring.trigger.periodic_schedule is None
    assert recurring.runtime_config.pipeline_root == "gs://mlops-artifacts/tfx"
    assert recurring.runtime_config.parameters == {
        "data_root": "/opt/venv/lib/python3.11/site-packages/tfx/examples/"
                     "chicago_taxi_pipeline/data/simple",
        "train_args": json.dumps({"num_steps": config.trainer.train_steps}),
    }
    compiled = json.loads(SPEC.read_text())["pipelineSpec"]
    assert recurring.pipeline_spec == compiled  # the PipelineSpec itself, not the TFX job
    assert recurring.pipeline_version_reference is None


def test_catch_up_and_disabled_schedule(kfp_server: tuple[str, list[Any]],
                                        tmp_path: Path) -> None:
    host, requests = kfp_server
    config = _config(host, **{"schedule.catch_up": True, "schedule.enabled": False,
                              "schedule.cron": "*/20 6-18 * * MON-FRI"})
    create_schedule(connect(config), config, SPEC, tmp_path)
    recurring = _model(_sent(requests, "POST", "/recurringruns")[0][3], "V2beta1RecurringRun")
    assert recurring.no_catchup is False
    assert recurring.mode == kfp_server_api.RecurringRunMode.DISABLE
    assert recurring.trigger.cron_schedule.cron == "0 */20 6-18 * * MON-FRI"


def test_submit_sends_one_run_with_parameter_overrides(
        kfp_server: tuple[str, list[Any]], tmp_path: Path) -> None:
    host, requests = kfp_server
    config = _config(host)
    submitted = submit_run(connect(config), config, SPEC, tmp_path,
                           {"train_args": '{"num_steps": 50}'}, name="smoke")
    assert (submitted.id, submitted.name) == ("run-1", "smoke")
    run = _model(_sent(requests, "POST", "/runs")[0][3], "V2beta1Run")
    assert (run.display_name, run.experiment_id) == ("smoke", "exp-1")
    assert run.runtime_config.parameters["train_args"] == '{"num_steps": 50}'
    assert run.runtime_config.parameters["data_root"].endswith("chicago_taxi_pipeline/data/simple")
    assert set(run.pipeline_spec["root"]["dag"]["tasks"]) >= {"ExampleGen", "Trainer", "Pusher"}


def test_list_pause_resume_delete_address_the_pipelines_recurring_run(
        kfp_server: tuple[str, list[Any]]) -> None:
    host, requests = kfp_server
    config = _config(host)
    client = connect(config)
    names = [r.display_name for r in list_schedules(client, config)]
    assert names == ["taxi-big-tipper-retraining", "someone-else"]
    listed = _sent(requests, "GET", "/recurringruns")[0][2]
    assert listed["experiment_id"] == ["exp-1"]
    target = find_schedule(client, config, None)
    assert target == "rr-1"
    client.disable_recurring_run(target)
    client.enable_recurring_run(target)
    client.delete_recurring_run(target)
    assert [(r[0], r[1]) for r in requests[-3:]] == [
        ("POST", "/apis/v2beta1/recurringruns/rr-1:disable"),
        ("POST", "/apis/v2beta1/recurringruns/rr-1:enable"),
        ("DELETE", "/apis/v2beta1/recurringruns/rr-1"),
    ]


def test_time_zone_shifts_the_hours_to_utc(tmp_path: Path) -> None:
    winter = dt.datetime(2026, 1, 15, tzinfo=dt.UTC)
    berlin = _config("http://x", **{"schedule.cron": "30 2 * * *",
                                    "schedule.time_zone": "Europe/Berlin"})
    cron, warning = kubeflow_cron(berlin, winter)
    assert cron == "0 30 1 * * *" and warning and "daylight saving" in warning
    hourly = _config("http://x", **{"schedule.cron": "*/15 * * * *",
                                    "schedule.time_zone": "Europe/London"})
    assert kubeflow_cron(hourly, winter) == ("0 */15 * * * *", None)
    kolkata = _config("http://x", **{"schedule.time_zone": "Asia/Kolkata"})  # UTC+5:30
    with pytest.raises(CronError, match=r"schedule\.time_zone Asia/Kolkata"):
        kubeflow_cron(kolkata, winter)
    weekly = _config("http://x", **{"schedule.cron": "0 0 * * MON",
                                    "schedule.time_zone": "Europe/Berlin"})
    with pytest.raises(CronError, match="moves to another day"):
        kubeflow_cron(weekly, winter)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unreachable_host_names_kubeflow_host() -> None:
    address = f"http://127.0.0.1:{_closed_port()}"
    with pytest.raises(KubeflowUnreachableError) as error:
        connect(_config(address))
    assert f"Kubeflow Pipelines at {address} (kubeflow.host) is not reachable" in str(error.value)


def test_missing_host_says_where_to_set_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KF_PIPELINES_ENDPOINT", raising=False)
    with pytest.raises(KubeflowError, match=r"kubeflow\.host is not set"):
        connect(load_config(CONFIG_FILE))


def test_cli_errors_for_unreachable_host_bad_cron_and_missing_image() -> None:
    address = f"http://127.0.0.1:{_closed_port()}"
    unreachable = run_cli("kubeflow", "schedule", "list", "--host", address)
    assert unreachable.returncode == 8
    assert f"{address} (kubeflow.host) is not reachable" in unreachable.stderr
    bad_cron = run_cli("kubeflow", "schedule", "create", "--set", "schedule.cron=0 25 * * *",
                       "--host", address)
    assert bad_cron.returncode == 2
    assert "field 2 (hour) value 25 is out of range 0-23" in bad_cron.stderr
    no_image = run_cli("kubeflow", "compile", "--set", "kubeflow.image=null")
    assert no_image.returncode == 2
    assert "kubeflow.image is not set" in no_image.stderr and "infra/Dockerfile" in no_image.stderr
