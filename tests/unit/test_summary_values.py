"""Metric values in run summaries: AUC of a one-class slice is undefined, not 0."""

from __future__ import annotations

import math

from mlops import exit_codes
from mlops.console import _fmt
from mlops.summary import RunStatus, _undefine_ranking_metrics


def test_auc_of_a_slice_without_positives_is_undefined() -> None:
    # What TFMA reports for payment_type=Cash: no positive labels, so recall is 0/0.
    cash = {"auc": 0.0, "binary_accuracy": 0.99, "precision": math.nan, "recall": math.nan}
    _undefine_ranking_metrics(cash)
    assert math.isnan(cash["auc"])
    assert cash["binary_accuracy"] == 0.99
    assert _fmt(cash["auc"]) == "n/a"


def test_auc_of_a_slice_with_both_classes_is_kept() -> None:
    card = {"auc": 0.81, "recall": 0.7, "precision": math.nan}
    _undefine_ranking_metrics(card)
    assert card["auc"] == 0.81
    assert _fmt(card["auc"]) == "0.8100" and _fmt(None) == ""


def test_run_statuses_exit_with_the_documented_codes() -> None:
    assert {status.exit_code for status in RunStatus} <= set(exit_codes.RUN_OUTCOMES) | {
        exit_codes.RUNNING}
    assert exit_codes.run_outcome(RunStatus.HALTED.exit_code) == "halted by validation"
    assert exit_codes.run_outcome(-1) == "interrupted"
    assert exit_codes.run_outcome(99) == "failed"
