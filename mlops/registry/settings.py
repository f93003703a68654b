"""Where MLflow lives for a given config, and a client for it.

The embedded default keeps everything inside the workspace (SQLite backend + local artifact
store), so a laptop needs no server; ``registry.tracking_uri`` points the same code at a real
``mlflow server``. Nothing is created until a client is asked for (no import-time side effects).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from pipelines.config import PlatformConfig

if TYPE_CHECKING:
    from mlflow import MlflowClient

MLFLOW_DIR = "mlflow"


def mlflow_dir(config: PlatformConfig) -> Path:
    return config.workspace / MLFLOW_DIR


def tracking_uri(config: PlatformConfig) -> str:
    """``registry.tracking_uri`` or the embedded SQLite store in the workspace."""
    if config.registry.tracking_uri:
        return config.registry.tracking_uri
    return f"sqlite:///{mlflow_dir(config) / 'mlflow.db'}"


def is_embedded(config: PlatformConfig) -> bool:
    return tracking_uri(config).startswith("sqlite:")


def artifact_location(config: PlatformConfig) -> str | None:
    """Artifact root for the pipeline's experiment; None lets a server use its own store."""
    if config.registry.artifact_location:
        return str(config.resolve(config.registry.artifact_location))
    if is_embedded(config):
        return str(mlflow_dir(config) / "artifacts")
    return None


def model_name(config: PlatformConfig) -> str:
    """Registered model name: ``registry.model_name`` or the pipeline name."""
    return config.registry.model_name or config.pipeline.name


def experiment_name(config: PlatformConfig) -> str:
    """One experiment per pipeline."""
    return config.pipeline.name


def client_for(config: PlatformConfig) -> MlflowClient:
    """A tracking + registry client; creates the embedded store's folder on first use."""
    import os

    from mlflow import MlflowClient

    # MLflow retries an unreachable server with backoff for minutes by default; a pipeline run
    # should report "MLflow unreachable" soon instead (users may still raise these).
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "60")
    uri = tracking_uri(config)
    if is_embedded(config):
        mlflow_dir(config).mkdir(parents=True, exist_ok=True)
        # "Creating initial MLflow database tables..." on first use is not news to a user.
        logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)
