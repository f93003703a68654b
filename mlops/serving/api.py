"""The TF Serving REST API, independent of the HTTP server that carries it.

Routes (as TF Serving's): ``GET /v1/models/<name>`` (version status),
``GET /v1/models/<name>/metadata`` (signature), ``POST /v1/models/<name>:predict``; the same
with ``/versions/<v>`` for the version being served. Every response carries the served version
in the ``X-Model-Version`` header, so clients (and tests) can see a switch happen.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from components.signatures import SERVING_RAW
from mlops.serving.follower import ModelHolder
from mlops.serving.model import PayloadError

VERSION_HEADER = "X-Model-Version"
_ROUTE = re.compile(
    r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>[^/:]+))?"
    r"(?P<tail>/metadata|:predict)?/?$"
)


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, payload: Any, version: str | None = None) -> Response:
    headers = {"Content-Type": "application/json"}
    if version is not None:
        headers[VERSION_HEADER] = version
    return Response(status, json.dumps(payload).encode(), headers)


def _error(status: int, message: str, version: str | None = None) -> Response:
    return _json(status, {"error": message}, version)


def handle(holder: ModelHolder, method: str, path: str, body: bytes) -> Response:
    """Answer one request; never raises (errors become 4xx/5xx JSON bodies)."""
    match = _ROUTE.match(path.split("?", 1)[0])
    if match is None:
        return _error(404, f"no route {path}; use /v1/models/{holder.name}[:predict|/metadata]")
    if match["name"] != holder.name:
        return _error(404, f"model '{match['name']}' is not served here; this serves "
                           f"'{holder.name}'")
    model = holder.current  # read once: this request finishes on this model
    tail = match["tail"] or ""
    if model is None:
        if tail == "" and method == "GET":
            return _json(200, {"model_version_status": []})
        return _error(503, f"no version of '{holder.name}' is loaded yet (waiting for the "
                           "registry alias; see `mlops models list`)")
    if match["version"] is not None and match["version"] != model.version:
        return _error(404, f"version {match['version']} of '{holder.name}' is not served; "
                           f"serving version {model.version}", model.version)
    if tail == ":predict":
        if method != "POST":
            return _error(405, "predict needs POST", model.version)
        try:
            payload, _ = model.predict_request(body)
        except PayloadError as error:
            return _error(400, str(error), model.version)
        except Exception as error:  # a TensorFlow error on valid-looking input
            return _error(500, f"prediction failed: {error}", model.version)
        return _json(200, payload, model.version)
    if method != "GET":
        return _error(405, f"{path} needs GET", model.version)
    if tail == "/metadata":
        return _json(200, {
            "model_spec": {"name": holder.name, "signature_name": "", "version": model.version},
            "metadata": {"signature_def": {"signature_def": {SERVING_RAW: model.signature_def()}}},
        }, model.version)
    return _json(200, {"model_version_status": [{
        "version": model.version,
        "state": "AVAILABLE",
        "status": {"error_code": "OK", "error_message": holder.last_error or ""},
    }]}, model.version)
