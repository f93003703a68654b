"""Serving without a pipeline: a small real SavedModel with a ``serving_raw`` signature, the
REST routes, payload validation, a real HTTP round trip and an in-process version swap."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest
import tensorflow as tf

from components.signatures import SERVING_RAW
from mlops.serving.api import VERSION_HEADER, handle
from mlops.serving.follower import ModelHolder
from mlops.serving.model import LoadedModel, PayloadError
from mlops.serving.servers import start_server

NAME = "tiny"


def save_tiny_model(path: Path, weight: float) -> Path:
    """probability = sigmoid(weight * fare + 0.1 * hour + (1 if payment_type == 'Cash'))."""

    class Tiny(tf.Module):
        @tf.function(input_signature=[
            tf.TensorSpec([None], tf.float32, name="fare"),
            tf.TensorSpec([None], tf.string, name="payment_type"),
            tf.TensorSpec([None], tf.int64, name="trip_start_hour"),
        ])
        def serve(self, fare, payment_type, trip_start_hour):  # type: ignore[no-untyped-def]
            cash = tf.cast(tf.equal(payment_type, "Cash"), tf.float32)
            logit = weight * fare + 0.1 * tf.cast(trip_start_hour, tf.float32) + cash
            return {"probabilities": tf.expand_dims(tf.sigmoid(logit), -1)}

    module = Tiny()
    tf.saved_model.save(module, str(path), signatures={SERVING_RAW: module.serve})
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> tuple[LoadedModel, LoadedModel]:
    root = tmp_path_factory.mktemp("models")
    first = LoadedModel.load(NAME, "1", save_tiny_model(root / "1", 0.5))
    second = LoadedModel.load(NAME, "2", save_tiny_model(root / "2", -0.5))
    for model in (first, second):
        model.warm_up()
    return first, second


ROW = {"fare": 2.0, "payment_type": "Cash", "trip_start_hour": 3}


def expected(weight: float, row: dict) -> float:
    import math

    logit = weight * row["fare"] + 0.1 * row["trip_start_hour"] + (row["payment_type"] == "Cash")
    return 1 / (1 + math.exp(-logit))


def test_rows_and_columns_give_the_signature_outputs(models: tuple[LoadedModel, ...]) -> None:
    first, _ = models
    body, count = first.predict_request(json.dumps({"instances": [ROW, {**ROW, "fare": 0}]}))
    assert count == 2
    assert body["predictions"][0][0] == pytest.approx(expected(0.5, ROW), rel=1e-5)
    assert body["predictions"][1][0] == pytest.approx(expected(0.5, {**ROW, "fare": 0}),
                                                      rel=1e-5)
    columns, _ = first.predict_request({"inputs": {k: [v] for k, v in ROW.items()}})
    assert columns["outputs"][0][0] == pytest.approx(expected(0.5, ROW), rel=1e-5)
    # integral floats are accepted for integer features, as JSON encoders may send 3.0
    assert first.predict_request({"instances": [{**ROW, "trip_start_hour": 3.0}]})[0] == \
        first.predict_request({"instances": [ROW]})[0]


@pytest.mark.parametrize(("request_body", "message"), [
    ("[1, 2]", "body: expected a JSON object"),
    ({"instances": [ROW], "inputs": {}}, "exactly one of 'instances'"),
    ({"instances": "x"}, "instances: expected a non-empty list"),
    ({"instances": [ROW, 5]}, "instances[1]: expected an object"),
    ({"instances": [{"fare": 1.0, "payment_type": "Cash"}]},
     "instances[0]: missing feature 'trip_start_hour'"),
    ({"instances": [{**ROW, "fare": None}]}, "instances[0].fare: expected a number, got null"),
    ({"instances": [{**ROW, "fare": True}]}, "instances[0].fare: expected a number, got true"),
    ({"instances": [{**ROW, "trip_start_hour": 3.5}]},
     "instances[0].trip_start_hour: expected an integer, got 3.5"),
    ({"instances": [{**ROW, "payment_type": 1}]},
     "instances[0].payment_type: expected a string, got 1"),
    ({"instances": [{**ROW, "tips": 1}]}, "instances[0].tips: unknown feature"),
    ({"inputs": {"fare": [1.0, 2.0], "payment_type": ["Cash"], "trip_start_hour": [1]}},
     "inputs.payment_type: has 1 values but other inputs have 2"),
    ({"signature_name": "serving_default", "instances": [ROW]}, "signature_name:"),
])
def test_bad_payloads_name_the_field(models: tuple[LoadedModel, ...], request_body: object,
                                     message: str) -> None:
    with pytest.raises(PayloadError) as raised:
        models[0].predict_request(request_body)  # type: ignore[arg-type]
    assert message in str(raised.value)


def test_routes_status_metadata_and_errors(models: tuple[LoadedModel, ...]) -> None:
    holder = ModelHolder(NAME)
    empty = handle(holder, "POST", f"/v1/models/{NAME}:predict", b"{}")
    assert empty.status == 503 and b"no version" in empty.body
    holder.swap(models[0])
    status = handle(holder, "GET", f"/v1/models/{NAME}", b"")
    assert json.loads(status.body)["model_version_status"][0]["state"] == "AVAILABLE"
    assert status.headers[VERSION_HEADER] == "1"
    metadata = json.loads(handle(holder, "GET", f"/v1/models/{NAME}/metadata", b"").body)
    inputs = metadata["metadata"]["signature_def"]["signature_def"][SERVING_RAW]["inputs"]
    assert inputs["trip_start_hour"]["dtype"] == "DT_INT64"
    body = json.dumps({"instances": [ROW]}).encode()
    assert handle(holder, "POST", f"/v1/models/{NAME}/versions/1:predict", body).status == 200
    assert handle(holder, "POST", f"/v1/models/{NAME}/versions/7:predict", body).status == 404
    assert handle(holder, "POST", "/v1/models/other:predict", body).status == 404
    assert handle(holder, "GET", f"/v1/models/{NAME}:predict", b"").status == 405
    bad = handle(holder, "POST", f"/v1/models/{NAME}:predict", b"{")
    assert bad.status == 400 and b"not valid JSON" in bad.body


@pytest.mark.parametrize("kind", ["threaded", "uvicorn"])
def test_http_round_trip_and_swap(models: tuple[LoadedModel, ...], kind: str) -> None:
    holder = ModelHolder(NAME)
    holder.swap(models[0])
    server = start_server(kind, holder, "127.0.0.1", 0)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        answers = []
        for _ in range(2):
            connection.request("POST", f"/v1/models/{NAME}:predict",
                               json.dumps({"instances": [ROW]}))
            response = connection.getresponse()
            answers.append((response.status, response.getheader(VERSION_HEADER),
                            json.loads(response.read())["predictions"][0][0]))
            holder.swap(models[1])  # same keep-alive connection sees the new version
        assert answers[0][:2] == (200, "1") and answers[1][:2] == (200, "2")
        assert answers[0][2] == pytest.approx(expected(0.5, ROW), rel=1e-5)
        assert answers[1][2] == pytest.approx(expected(-0.5, ROW), rel=1e-5)
        connection.request("POST", f"/v1/models/{NAME}:predict", b'{"instances": [{}]}')
        response = connection.getresponse()
        assert response.status == 400
        assert "missing feature" in json.loads(response.read())["error"]
    finally:
        server.stop()
