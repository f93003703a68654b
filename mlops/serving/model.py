"""One loaded model version: validates REST payloads and calls the ``serving_raw`` signature.

Request parsing lives here, next to the signature's input specs, so a bad payload is refused
with a message that names the field (``instances[3].fare: expected a number, got "abc"``)
before anything reaches TensorFlow.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from components.signatures import SERVING_RAW


class PayloadError(ValueError):
    """The request body is not a valid predict request; the message names the field (HTTP 400)."""


_KIND_TEXT = {"string": "a string", "integer": "an integer", "number": "a number"}


@dataclass(frozen=True)
class InputSpec:
    name: str
    dtype: tf.DType

    @property
    def kind(self) -> str:
        if self.dtype == tf.string:
            return "string"
        return "integer" if self.dtype.is_integer else "number"

    def convert(self, value: Any, where: str) -> Any:
        """One JSON value checked against this input's type; raises PayloadError naming it."""
        kind = self.kind
        if kind == "string":
            if isinstance(value, str):
                return value
        elif isinstance(value, bool) or value is None:
            pass
        elif kind == "integer":
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
        elif isinstance(value, int | float) and math.isfinite(value):
            return float(value)
        raise PayloadError(f"{where}: expected {_KIND_TEXT[kind]}, got {json.dumps(value)}")

    def placeholder(self) -> Any:
        return "" if self.kind == "string" else 0


class LoadedModel:
    """A SavedModel version loaded in memory, ready to answer predict requests."""

    def __init__(self, name: str, version: str, path: Path, module: Any) -> None:
        self.name = name
        self.version = version
        self.path = path
        self._module = module  # keeps the variables alive
        self.signature = module.signatures[SERVING_RAW]
        inputs = self.signature.structured_input_signature[1]
        self.inputs = [InputSpec(name, spec.dtype) for name, spec in sorted(inputs.items())]
        self._by_name = {spec.name: spec for spec in self.inputs}
        self.outputs = dict(self.signature.structured_outputs)

    @classmethod
    def load(cls, name: str, version: str, path: str | Path) -> LoadedModel:
        path = Path(path)
        if not (path / "saved_model.pb").exists():
            raise FileNotFoundError(f"{path}: no saved_model.pb; not a SavedModel directory")
        module = tf.saved_model.load(str(path))
        if SERVING_RAW not in module.signatures:
            raise ValueError(
                f"{path}: the SavedModel has no '{SERVING_RAW}' signature (it has "
                f"{sorted(module.signatures)}); export it with components.signatures"
            )
        return cls(name, version, path, module)

    # ----- calling -----------------------------------------------------------------------
    def predict_columns(self, columns: dict[str, list[Any]]) -> dict[str, np.ndarray]:
        """Call the signature on already validated columns (one list per input)."""
        tensors = {
            spec.name: tf.constant(columns[spec.name], dtype=spec.dtype) for spec in self.inputs
        }
        return {k: v.numpy() for k, v in self.signature(**tensors).items()}

    def warm_up(self, rows: int = 4) -> None:
        """Run the graph once so the first real request does not pay for initialisation."""
        self.predict_columns({s.name: [s.placeholder()] * rows for s in self.inputs})
        self.predict_columns({s.name: [s.placeholder()] for s in self.inputs})

    def predict_request(self, body: bytes | str | dict[str, Any]) -> tuple[dict[str, Any], int]:
        """A TF Serving REST predict request -> (response body, number of examples)."""
        request = _as_object(body)
        signature = request.get("signature_name", SERVING_RAW)
        if signature != SERVING_RAW:
            raise PayloadError(
                f"signature_name: '{signature}' is not served here; use '{SERVING_RAW}' "
                "(raw feature values) or leave it out"
            )
        has_rows, has_columns = "instances" in request, "inputs" in request
        if has_rows == has_columns:
            raise PayloadError(
                "instances: the request needs exactly one of 'instances' (a list of objects, "
                "one per example, feature name -> value) or 'inputs' (feature name -> list)"
            )
        if has_rows:
            columns = self.columns_from_instances(request["instances"])
            outputs = self.predict_columns(columns)
            return {"predictions": self._rows(outputs)}, len(next(iter(columns.values())))
        columns = self.columns_from_inputs(request["inputs"])
        outputs = self.predict_columns(columns)
        count = len(next(iter(columns.values())))
        if len(outputs) == 1:
            return {"outputs": next(iter(outputs.values())).tolist()}, count
        return {"outputs": {k: v.tolist() for k, v in outputs.items()}}, count

    def columns_from_instances(self, instances: Any) -> dict[str, list[Any]]:
        if not isinstance(instances, list) or not instances:
            raise PayloadError("instances: expected a non-empty list of objects")
        columns: dict[str, list[Any]] = {spec.name: [] for spec in self.inputs}
        for index, instance in enumerate(instances):
            where = f"instances[{index}]"
            if not isinstance(instance, dict):
                raise PayloadError(f"{where}: expected an object of feature name -> value")
            self._check_names(instance, where)
            for spec in self.inputs:
                columns[spec.name].append(spec.convert(instance[spec.name],
                                                       f"{where}.{spec.name}"))
        return columns

    def columns_from_inputs(self, inputs: Any) -> dict[str, list[Any]]:
        if not isinstance(inputs, dict):
            raise PayloadError("inputs: expected an object of feature name -> list of values")
        self._check_names(inputs, "inputs")
        columns: dict[str, list[Any]] = {}
        length = None
        for spec in self.inputs:
            values = inputs[spec.name]
            where = f"inputs.{spec.name}"
            if not isinstance(values, list) or not values:
                raise PayloadError(f"{where}: expected a non-empty list of values")
            if length is not None and len(values) != length:
                raise PayloadError(
                    f"{where}: has {len(values)} values but other inputs have {length}")
            length = len(values)
            columns[spec.name] = [spec.convert(v, f"{where}[{i}]") for i, v in enumerate(values)]
        return columns

    def _check_names(self, given: dict[str, Any], where: str) -> None:
        missing = [spec.name for spec in self.inputs if spec.name not in given]
        if missing:
            raise PayloadError(f"{where}: missing feature '{missing[0]}'"
                               + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        unknown = sorted(set(given) - set(self._by_name))
        if unknown:
            raise PayloadError(
                f"{where}.{unknown[0]}: unknown feature; expected: "
                + ", ".join(spec.name for spec in self.inputs)
            )

    def _rows(self, outputs: dict[str, np.ndarray]) -> list[Any]:
        if len(outputs) == 1:
            return next(iter(outputs.values())).tolist()
        names = sorted(outputs)
        count = len(outputs[names[0]])
        return [{n: outputs[n][i].tolist() for n in names} for i in range(count)]

    # ----- description -------------------------------------------------------------------
    def signature_def(self) -> dict[str, Any]:
        """The ``serving_raw`` signature in TF Serving's metadata JSON shape."""

        def tensor_info(name: str, spec: tf.TensorSpec) -> dict[str, Any]:
            dims = [{"size": str(-1 if d is None else d), "name": ""}
                    for d in spec.shape.as_list()]
            return {"dtype": types_pb2.DataType.Name(spec.dtype.as_datatype_enum),
                    "tensor_shape": {"dim": dims, "unknown_rank": False}, "name": name}

        inputs = self.signature.structured_input_signature[1]
        return {
            "inputs": {n: tensor_info(n, s) for n, s in sorted(inputs.items())},
            "outputs": {n: tensor_info(n, s) for n, s in sorted(self.outputs.items())},
            "method_name": "tensorflow/serving/predict",
        }


def _as_object(body: bytes | str | dict[str, Any]) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    try:
        request = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise PayloadError(f"body: not valid JSON ({error})") from None
    if not isinstance(request, dict):
        raise PayloadError("body: expected a JSON object with 'instances' or 'inputs'")
    return request
