"""Drift monitoring: compare newly landed data with the training data of the model now serving,
report per-feature distances, and (optionally) trigger a retraining run.

Modules: ``baseline`` (serving model -> its training statistics through ML Metadata lineage),
``statistics`` (TFDV statistics of new data on Beam), ``compare`` (TFDV drift comparators),
``report`` (JSON + offline HTML), ``decisions`` (cooldown, trigger, decision log) and ``check``
(the one entry point the CLI, the watcher and the dashboard call).
"""
