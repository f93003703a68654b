"""Process-wide TensorFlow settings that must be in place before TensorFlow is first imported.

Why this exists: TF 2.16's ``tf.keras`` is Keras 3, whose ``fit`` fails under
MultiWorkerMirroredStrategy (see ../shared/STACK.md); the tf-keras 2.16 package works. TensorFlow
reads ``TF_USE_LEGACY_KERAS`` once, at its first import, so every process that builds or loads a
model (CLI, Trainer, Evaluator, Beam workers, serving, tests, notebooks) must set it first. All of
this project's packages call :func:`configure_tensorflow_env` from their ``__init__``, so importing
any of them is enough; Beam worker processes inherit the environment.
"""

from __future__ import annotations

import os
import sys
import warnings

LEGACY_KERAS_VARIABLE = "TF_USE_LEGACY_KERAS"


class TensorFlowEnvironmentError(RuntimeError):
    """TensorFlow was imported before the platform could configure it."""


def configure_tensorflow_env() -> None:
    """Select tf-keras (Keras 2) and quiet TensorFlow's C++ logging, before TF is imported.

    Raises TensorFlowEnvironmentError when TensorFlow was already imported with Keras 3, because
    models built then would silently use the wrong Keras.
    """
    os.environ.setdefault(LEGACY_KERAS_VARIABLE, "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    tf = sys.modules.get("tensorflow")
    if tf is None or os.environ[LEGACY_KERAS_VARIABLE] != "1":
        return
    keras_module = getattr(getattr(tf, "keras", None), "__name__", "")
    if keras_module and not keras_module.startswith("tf_keras"):
        raise TensorFlowEnvironmentError(
            "TensorFlow was imported before the platform set TF_USE_LEGACY_KERAS=1, so tf.keras "
            "is Keras 3. Import mlops/pipelines/components first, or export TF_USE_LEGACY_KERAS=1."
        )


def keep_autograph_out_of_tf_keras() -> None:
    """Tell AutoGraph not to convert tf-keras's own code, as it never converted Keras 2's.

    Why: AutoGraph's list of libraries it leaves alone names ``keras`` (Keras 2 when that list
    was written) but not ``tf_keras``, so every ``fit`` re-parsed and rewrote the source of
    tf-keras's train step, layers, metrics and optimizer: about 12 of the 14 seconds before the
    first training step on this project's machines. tf-keras is the same code Keras 2 was and
    runs unconverted, as it did under the name ``keras``. Only the trace is faster; the graph is
    the same. Idempotent; touches a private TensorFlow module, hence the guard.
    """
    try:
        from tensorflow.python.autograph.core import config, config_lib
    except ImportError:  # a TensorFlow without this module: conversion just stays slow
        return
    rule = config_lib.DoNotConvert("tf_keras")
    if not any(isinstance(existing, config_lib.DoNotConvert) and existing.matches("tf_keras.x")
               for existing in config.CONVERSION_RULES):
        config.CONVERSION_RULES = (rule, *config.CONVERSION_RULES)


def silence_library_warnings() -> None:
    """Hide the FutureWarning/DeprecationWarning flood that google-cloud, Beam and TF print on
    import, in this process and (through PYTHONWARNINGS) in the Beam workers it starts.

    Called by the CLI before it imports TFX; library code never calls it.
    """
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning,ignore::DeprecationWarning")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    # TFMA divides by zero for slices without positives (precision/recall are then NaN).
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="tensorflow_model_analysis")
    sys.unraisablehook = _drop_tensorflow_finalizer_noise


_default_unraisablehook = sys.unraisablehook


def _drop_tensorflow_finalizer_noise(unraisable: sys.UnraisableHookArgs) -> None:
    """TF 2.16 prints "Exception ignored in AtomicFunction.__del__" when graphs are freed after
    Transform; it is harmless and known upstream, so it is not shown to people."""
    if "AtomicFunction.__del__" in repr(unraisable.object):
        return
    _default_unraisablehook(unraisable)
