"""The TFMA EvalConfig: metrics, absolute thresholds, change thresholds and slices from config.

Labels come from the model's ``transform_features`` signature (the label is derived by
Transform, so the raw data never holds it in final form).
"""

from __future__ import annotations

import tensorflow_model_analysis as tfma
from google.protobuf.wrappers_pb2 import BoolValue

from components.features import FeatureSpec
from components.signatures import SERVING_EXAMPLES, TRANSFORM_FEATURES
from pipelines.config import MetricThreshold, PlatformConfig

# Config metric name -> (TFMA/Keras class, name TFMA reports it under).
METRIC_CLASSES = {
    "auc": ("AUC", "auc"),
    "auc_precision_recall": ("AUC", "auc_precision_recall"),
    "binary_accuracy": ("BinaryAccuracy", "binary_accuracy"),
    "precision": ("Precision", "precision"),
    "recall": ("Recall", "recall"),
}


def build_eval_config(config: PlatformConfig) -> tfma.EvalConfig:
    spec = FeatureSpec.from_config(config)
    metric_names = list(dict.fromkeys([*config.evaluator.metrics, *config.evaluator.thresholds]))
    metrics = [tfma.MetricConfig(class_name="ExampleCount")]
    for name in metric_names:
        class_name = METRIC_CLASSES[name][0]
        metric = tfma.MetricConfig(class_name=class_name)
        if name == "auc_precision_recall":
            metric = tfma.MetricConfig(
                class_name=class_name, config='{"curve": "PR", "name": "auc_precision_recall"}'
            )
        threshold = config.evaluator.thresholds.get(name)
        if threshold is not None:
            # Gate on the overall slice only: a small slice's noisy AUC must not block a push.
            metric.per_slice_thresholds.append(
                tfma.PerSliceMetricThreshold(
                    slicing_specs=[tfma.SlicingSpec()], threshold=_threshold(threshold)
                )
            )
        metrics.append(metric)
    return tfma.EvalConfig(
        model_specs=[
            tfma.ModelSpec(
                signature_name=SERVING_EXAMPLES,
                label_key=spec.label_key,
                preprocessing_function_names=[TRANSFORM_FEATURES],
            )
        ],
        slicing_specs=[tfma.SlicingSpec()]
        + [tfma.SlicingSpec(feature_keys=keys) for keys in config.evaluator.slices],
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)],
        # Only the configured metrics, not a second copy of the Keras compile() metrics.
        options=tfma.Options(include_default_metrics=BoolValue(value=False)),
    )


def _threshold(threshold: MetricThreshold) -> tfma.MetricThreshold:
    """Value bounds plus a change bound; TFMA ignores the change bound with no baseline."""
    result = tfma.MetricThreshold()
    if threshold.lower_bound is not None:
        result.value_threshold.lower_bound.value = threshold.lower_bound
    if threshold.upper_bound is not None:
        result.value_threshold.upper_bound.value = threshold.upper_bound
    if threshold.max_drop is not None:
        result.change_threshold.direction = tfma.MetricDirection.HIGHER_IS_BETTER
        # A tiny epsilon so "must not get worse" (max_drop 0) accepts an identical model.
        result.change_threshold.absolute.value = -threshold.max_drop - 1e-10
    return result
