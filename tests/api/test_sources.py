"""Dashboard sections over real drift reports and decision logs written by mlops.monitoring."""

from __future__ import annotations

from pipelines.config import PlatformConfig
from tests.api.conftest import AppFactory, Session


def _report(check_id: str, created: float, distance: float) -> dict:
    features = [
        {"name": "fare", "kind": "numeric", "comparator": "jensen_shannon_divergence",
         "threshold": 0.01, "distance": distance, "drifted": distance > 0.01,
         "baseline": {"edges": [[0, 1], [1, 2]], "shares": [0.5, 0.5]},
         "current": {"edges": [[0, 1], [1, 2]], "shares": [0.4, 0.6]}, "skew_distance": None},
        {"name": "payment_type", "kind": "categorical", "comparator": "infinity_norm",
         "threshold": 0.1, "distance": 0.02, "drifted": False,
         "baseline": {"labels": ["Cash"], "shares": [1.0]},
         "current": {"labels": ["Cash"], "shares": [1.0]}, "skew_distance": None},
    ]
    drifted = [f["name"] for f in features if f["drifted"]]
    return {"check_id": check_id, "created": created, "source": ["/landing/new.csv"],
            "rows": 100, "baseline": {}, "features": features, "decision": None,
            "summary": {"drifted": bool(drifted), "drifted_features": drifted,
                        "checked": len(features)}}


def test_drift_page_shows_history_decisions_and_latest_report(
    client_for: AppFactory, empty_config: PlatformConfig
) -> None:
    from mlops.monitoring.decisions import Decision, record
    from mlops.monitoring.report import save_report

    save_report(empty_config.workspace, _report("check-1", 1_700_000_000.0, 0.002))
    save_report(empty_config.workspace, _report("check-2", 1_700_086_400.0, 0.05))
    record(empty_config, Decision(check_id="check-2", decision="triggered",
                                  reason="drift: fare 0.05", source=["/landing/new.csv"],
                                  drifted_features=["fare"], run_id="20261122T000000Z-abc123"))
    client = client_for(empty_config)
    Session(client).sign_in("bob")
    page = client.get("/drift").text
    assert 'href="/drift/reports/check-2"' in page
    assert "drift: fare 0.05" in page and "20261122T000000Z-abc123" in page
    assert "fare" in page and "payment_type" in page and "drifted" in page
    report = client.get("/drift/reports/check-2")
    assert report.status_code == 200 and "fare" in report.text
    assert client.get("/drift/reports/check-9").status_code == 404
    assert client.get("/drift/reports/..%2Fdecisions").status_code == 404


def test_registry_metric_tags_become_numbers() -> None:
    from mlops.dashboard.sources import _numeric_metrics

    tags = {"metric.auc": "0.9312", "metric.note": "n/a", "mlops.run_id": "r1"}
    assert _numeric_metrics(tags) == {"auc": 0.9312}
