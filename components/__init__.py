"""Code that runs inside the pipeline: feature spec, preprocessing_fn, run_fn, model, strategy.

TFX imports these by module path (``components.transform.preprocessing_fn``), so they are plain
importable modules; importing the package configures TensorFlow for the process first.
"""

from mlops.runtime import configure_tensorflow_env

configure_tensorflow_env()
