"""Pipeline definition: the typed config, the one factory, the evaluation config and runners."""

from mlops.runtime import configure_tensorflow_env

configure_tensorflow_env()
