"""End to end: `mlops serve` machinery on the pushed model, following a real `mlflow server`.

Checks that predictions over HTTP equal the model called in-process, that a promotion during
a bounded loopback load (several client threads, a few thousand requests) fails no request and
switches the served version, and that malformed requests get 400s naming the field.
"""

from __future__ import annotations

import csv
import http.client
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from components.signatures import SERVING_RAW
from mlops.registry.models import ModelRegistry
from mlops.serving import ServingHandle, start_serving
from mlops.serving.api import VERSION_HEADER
from tests.conftest import CompletedRun
from tests.e2e.test_registry import Registered, mlflow_server, register_twice  # noqa: F401

pytestmark = pytest.mark.slow

CLIENTS = 6
REQUESTS_PER_CLIENT = 500  # at least; each client goes on until it saw the new version a while
MAX_REQUESTS_PER_CLIENT = 2000  # bound on the load whatever happens
AFTER_SWITCH = 50


@pytest.fixture(scope="module")
def serving_versions(completed_run: CompletedRun, mlflow_server: str) -> Registered:  # noqa: F811
    registered = register_twice(completed_run, mlflow_server, "taxi-serving")
    ModelRegistry.for_config(registered.config).promote(
        registered.first, "production", by="test", reason="serve it")
    return registered


@pytest.fixture(scope="module", params=["threaded", "uvicorn"])
def serving(request: pytest.FixtureRequest, serving_versions: Registered,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServingHandle]:
    """The server on a free port, with its own download cache (so the fetch path runs)."""
    workspace = tmp_path_factory.mktemp(f"serving-{request.param}")
    config = serving_versions.config.with_overrides({"pipeline.workspace": str(workspace)})
    handle = start_serving(config, port=0, poll_seconds=0.2, server=request.param)
    try:
        yield handle
    finally:
        handle.stop()


def sample_instances(run: CompletedRun, count: int) -> list[dict[str, Any]]:
    """Raw rows of the training data, blanks filled as the features' defaults."""
    model = tf.saved_model.load(str(Path(_pushed_path(run))))
    specs = model.signatures[SERVING_RAW].structured_input_signature[1]
    rows = []
    with open(run.config.data_source + "/data.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            instance: dict[str, Any] = {}
            for name, spec in specs.items():
                text = row[name]
                if spec.dtype == tf.string:
                    instance[name] = text
                elif spec.dtype.is_integer:
                    instance[name] = int(float(text)) if text else 0
                else:
                    instance[name] = float(text) if text else 0.0
            rows.append(instance)
            if len(rows) == count:
                break
    return rows


def _pushed_path(run: CompletedRun) -> str:
    return str(sorted(p for p in run.config.serving_dir.iterdir() if p.is_dir())[0])


def post(connection: http.client.HTTPConnection, path: str, body: Any) -> tuple[int, dict, str]:
    payload = body if isinstance(body, bytes) else json.dumps(body).encode()
    connection.request("POST", path, payload, {"Content-Type": "application/json"})
    response = connection.getresponse()
    data = json.loads(response.read())
    return response.status, data, response.getheader(VERSION_HEADER) or ""


def connect(handle: ServingHandle) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(handle.server.host, handle.server.port, timeout=60)


def test_predictions_match_the_model_called_in_process(
    serving: ServingHandle, completed_run: CompletedRun, serving_versions: Registered
) -> None:
    instances = sample_instances(completed_run, 25)
    model = tf.saved_model.load(_pushed_path(completed_run))
    signature = model.signatures[SERVING_RAW]
    specs = signature.structured_input_signature[1]
    expected = signature(**{
        name: tf.constant([row[name] for row in instances], dtype=spec.dtype)
        for name, spec in specs.items()
    })["probabilities"].numpy()

    name = serving.holder.name
    connection = connect(serving)
    status, body, version = post(connection, f"/v1/models/{name}:predict",
                                 {"instances": instances})
    assert status == 200, body
    assert version == serving.holder.current.version
    assert version in {serving_versions.first, serving_versions.second}
    np.testing.assert_allclose(np.array(body["predictions"]), expected, rtol=1e-5, atol=1e-6)

    columns = {k: [row[k] for row in instances] for k in instances[0]}
    status, body, _ = post(connection, f"/v1/models/{name}:predict", {"inputs": columns})
    assert status == 200, body
    np.testing.assert_allclose(np.array(body["outputs"]), expected, rtol=1e-5, atol=1e-6)

    connection.request("GET", f"/v1/models/{name}")
    status_body = json.loads(connection.getresponse().read())
    assert status_body["model_version_status"][0] == {
        "version": serving.holder.current.version, "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": ""}}
    connection.request("GET", f"/v1/models/{name}/metadata")
    metadata = json.loads(connection.getresponse().read())
    inputs = metadata["metadata"]["signature_def"]["signature_def"][SERVING_RAW]["inputs"]
    assert set(inputs) == set(specs) and inputs["fare"]["dtype"] == "DT_FLOAT"


@pytest.mark.parametrize(("body", "expected"), [
    (b"{not json", "body: not valid JSON"),
    ({"instances": []}, "instances: expected a non-empty list"),
    ({"rows": [1]}, "exactly one of 'instances'"),
    ({"instances": [{"fare": 1.0}]}, "instances[0]: missing feature"),
    ("wrong-type", "instances[1].fare: expected a number, got \"twelve\""),
    ("unknown", "instances[0].tip_pct: unknown feature"),
    ("int-as-text", "instances[0].trip_start_hour: expected an integer"),
    ({"signature_name": "serving_default", "instances": [{}]}, "signature_name:"),
    ({"inputs": {"fare": [1.0]}}, "inputs: missing feature"),
])
def test_malformed_requests_get_400_naming_the_field(
    serving: ServingHandle, completed_run: CompletedRun, body: Any, expected: str
) -> None:
    instances = sample_instances(completed_run, 2)
    if body == "wrong-type":
        body = {"instances": [instances[0], {**instances[1], "fare": "twelve"}]}
    elif body == "unknown":
        body = {"instances": [{**instances[0], "tip_pct": 3}]}
    elif body == "int-as-text":
        body = {"instances": [{**instances[0], "trip_start_hour": "3pm"}]}
    status, answer, _ = post(connect(serving), f"/v1/models/{serving.holder.name}:predict",
                             body)
    assert status == 400
    assert expected in answer["error"]
    status, answer, _ = post(connect(serving), "/v1/models/other-model:predict",
                             {"instances": instances})
    assert status == 404 and "other-model" in answer["error"]


def test_promotion_under_load_switches_version_without_failed_requests(
    serving: ServingHandle, completed_run: CompletedRun, serving_versions: Registered
) -> None:
    registry = ModelRegistry.for_config(serving_versions.config)
    registry.promote(serving_versions.first, "production", by="test", reason="start")
    deadline = time.monotonic() + 60
    while serving.holder.current.version != serving_versions.first:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    instances = sample_instances(completed_run, 8)
    path = f"/v1/models/{serving.holder.name}:predict"
    seen: list[list[str]] = [[] for _ in range(CLIENTS)]
    failures: list[str] = []
    done = [0]
    lock = threading.Lock()

    def client(index: int) -> None:
        connection = connect(serving)
        for n in range(MAX_REQUESTS_PER_CLIENT):
            if n >= REQUESTS_PER_CLIENT and \
                    seen[index][-AFTER_SWITCH:].count(serving_versions.second) == AFTER_SWITCH:
                break
            try:
                status, body, version = post(connection, path,
                                             {"instances": [instances[n % len(instances)]]})
            except Exception as error:  # a dropped connection is a failed request too
                failures.append(f"{type(error).__name__}: {error}")
                connection = connect(serving)
                continue
            if status != 200:
                failures.append(f"{status}: {body}")
            seen[index].append(version)
            with lock:
                done[0] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    while done[0] < CLIENTS * REQUESTS_PER_CLIENT // 5 and any(t.is_alive() for t in threads):
        time.sleep(0.01)
    registry.promote(serving_versions.second, "production", by="test", reason="under load")
    for thread in threads:
        thread.join(timeout=600)

    assert failures == []
    total = sum(len(s) for s in seen)
    assert CLIENTS * REQUESTS_PER_CLIENT <= total <= CLIENTS * MAX_REQUESTS_PER_CLIENT
    assert serving.holder.current.version == serving_versions.second
    everything = [v for s in seen for v in s]
    assert set(everything) == {serving_versions.first, serving_versions.second}
    for versions in seen:  # each client switches once, never goes back, ends on the new one
        switched = versions.index(serving_versions.second)
        assert set(versions[switched:]) == {serving_versions.second}
        assert set(versions[:switched]) <= {serving_versions.first}
