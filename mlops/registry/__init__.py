"""MLflow side of the platform: the experiment log of every run and the model registry.

ML Metadata stays the source of truth for what ran; MLflow holds what people browse and decide
on (parameters, curves, metrics per slice, reports) and the registry's aliases
(``candidate``/``staging``/``production``). Every MLflow record carries the ML Metadata ids that
link back, and nothing here re-reads what TFX records except through ``mlops.metadata`` and
``mlops.summary``.

Entry points: :func:`mlops.registry.tracking.record_pipeline_run` (called by ``mlops run``) and
:mod:`mlops.registry.models` (promotion, rollback, history, guards).
"""
