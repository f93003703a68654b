"""The operator-facing side of the platform: CLI, run summaries, metadata queries, registry."""

from mlops.runtime import configure_tensorflow_env

configure_tensorflow_env()
