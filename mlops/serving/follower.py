"""Follow a registry alias and swap the served model without failing a request.

The swap is a single reference assignment, done only after the new version is downloaded,
loaded and warmed up. A request reads the reference once and finishes on the model it got,
so requests in flight during a swap complete on the old version and every later request goes
to the new one; the old model is freed when its last request lets go of it. A version that
fails to download or load is logged and the current one keeps serving.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path

from mlops.registry.models import ModelRegistry
from mlops.serving.model import LoadedModel

log = logging.getLogger("mlops.serving")


class ModelHolder:
    """The currently served model; ``current`` is None until a first version is loaded."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.current: LoadedModel | None = None
        self.swaps = 0
        self.last_error: str | None = None

    def swap(self, model: LoadedModel) -> None:
        self.current = model  # atomic: readers see the old or the new model, never a mix
        self.swaps += 1


class AliasFollower:
    """Polls ``alias`` of a registered model and loads each new version before switching."""

    def __init__(self, registry: ModelRegistry, alias: str, cache_dir: Path, holder: ModelHolder,
                 poll_seconds: float) -> None:
        self.registry = registry
        self.alias = alias
        self.cache_dir = cache_dir
        self.holder = holder
        self.poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check_once(self) -> bool:
        """Load and switch to the alias's version if it changed; True when it switched."""
        version = self.registry.alias_version(self.alias)
        current = self.holder.current
        if version is None or (current is not None and current.version == version):
            return False
        log.info("%s@%s is now version %s: loading", self.registry.name, self.alias, version)
        model = LoadedModel.load(self.registry.name, version, self.fetch(version))
        model.warm_up()
        self.holder.swap(model)
        self.holder.last_error = None
        log.info("serving %s version %s", self.registry.name, version)
        return True

    def fetch(self, version: str) -> Path:
        """The version's SavedModel in the local cache, downloaded from MLflow if needed."""
        target = self.cache_dir / self.registry.name / version
        if (target / "saved_model.pb").exists():
            return target
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no bar in logs
        registered = self.registry.version(version)
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as scratch:
            if registered.mlflow_run_id and registered.source.startswith("runs:/"):
                artifact_path = registered.source.removeprefix("runs:/").split("/", 1)[1]
                local = self.registry.client.download_artifacts(
                    registered.mlflow_run_id, artifact_path, scratch)
            else:
                from mlflow.artifacts import download_artifacts

                local = download_artifacts(artifact_uri=registered.source, dst_path=scratch)
            shutil.rmtree(target, ignore_errors=True)
            Path(local).rename(target)  # whole directory appears at once
        return target

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="alias-follower", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.check_once()
            except Exception as error:  # keep serving the current version
                self.holder.last_error = f"{type(error).__name__}: {error}"
                log.error("could not switch to the new %s version: %s", self.alias, error)
