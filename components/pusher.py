"""TFX's Pusher, made idempotent: a blessed model identical to the newest pushed version is not
pushed again.

Why: after a model's first run, the next run with unchanged data reuses every cached component
except the Evaluator (its baseline input changed: the latest blessed model now exists), whose
new blessing makes TFX's Pusher copy the same model to a new version directory. Serving then
"upgrades" to an identical model and the registry gets a duplicate version. Here the push is
recorded as usual (a PushedModel artifact, archived copy, ``pushed`` = 1) but points at the
version already serving, so ML Metadata, the run summary and the registry all name that
version, and nothing new appears under the serving directory.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from absl import logging
from tfx import types
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.io import fileio
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

ALREADY_SERVING_PROPERTY = "already_serving"


class IdempotentPusherExecutor(pusher_executor.Executor):
    def Do(self, input_dict: dict[str, list[types.Artifact]],
           output_dict: dict[str, list[types.Artifact]],
           exec_properties: dict[str, Any]) -> None:
        serving = self._serving_copy(input_dict, exec_properties)
        if serving is None:
            super().Do(input_dict, output_dict, exec_properties)
            return
        model_push = artifact_utils.get_single_instance(
            output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        io_utils.copy_dir(self.GetModelPath(input_dict), model_push.uri)  # archived, as TFX does
        self._MarkPushed(model_push, pushed_destination=serving,
                         pushed_version=os.path.basename(serving))
        model_push.set_int_custom_property(ALREADY_SERVING_PROPERTY, 1)
        logging.info("Model identical to serving version %s: not copied again.", serving)

    def _serving_copy(self, input_dict: dict[str, list[types.Artifact]],
                      exec_properties: dict[str, Any]) -> str | None:
        """The newest pushed version when it holds exactly this blessed model, else None."""
        if not self.CheckBlessing(input_dict):
            return None
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(
            exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        if destination.WhichOneof("destination") != "filesystem":
            return None
        newest = newest_version(destination.filesystem.base_directory)
        if newest is None:
            return None
        return newest if same_files(self.GetModelPath(input_dict), newest) else None


def newest_version(base_directory: str) -> str | None:
    """The highest numeric version directory under the push destination."""
    if not fileio.exists(base_directory):
        return None
    versions = [name.rstrip("/") for name in fileio.listdir(base_directory)]
    numeric = sorted((int(name), name) for name in versions if name.isdigit())
    return os.path.join(base_directory, numeric[-1][1]) if numeric else None


def same_files(left: str, right: str) -> bool:
    """Same relative file names with the same bytes (a SavedModel's pb, variables, assets).
    Sizes are compared first, so a changed model is told apart without reading it."""
    left_sizes, right_sizes = _sizes(left), _sizes(right)
    if left_sizes != right_sizes:
        return False
    return all(_sha256(os.path.join(left, name)) == _sha256(os.path.join(right, name))
               for name in left_sizes)


def _sizes(directory: str) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for root, _, files in fileio.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            sizes[os.path.relpath(path, directory)] = fileio.stat(path).length
    return sizes


_CHUNK_BYTES = 8 << 20


def _sha256(path: str) -> str:
    """Streamed: variables of a large model are never held in memory at once."""
    digest = hashlib.sha256()
    with fileio.open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()
