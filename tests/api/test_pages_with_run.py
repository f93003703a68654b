"""Every page against the real artifacts of the shared ``completed_run`` (slow: needs it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlops.metadata import MetadataReader
from mlops.summary import summarize_run
from tests.api.conftest import AppFactory, Session
from tests.conftest import CompletedRun

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def viewer(completed_run: CompletedRun) -> TestClient:
    from mlops.dashboard.app import create_app
    from tests.api.conftest import USERS

    app = create_app(completed_run.config, USERS, "test-secret")
    app.state.dashboard.topology.wait(600)
    client = TestClient(app, raise_server_exceptions=False)
    Session(client).sign_in("bob")
    return client


def test_runs_list_shows_the_run_with_status_components_and_cache(
        viewer: TestClient, completed_run: CompletedRun) -> None:
    page = viewer.get("/runs").text
    row = re.search(rf'<tr class="status-pushed" data-run="{completed_run.run_id}">(.*?)</tr>',
                    page, re.S)
    assert row, page
    assert "pushed" in row.group(1) and ">10/10<" in row.group(1)
    api = viewer.get("/api/runs").json()
    entry = next(r for r in api["runs"] if r["run_id"] == completed_run.run_id)
    summary = summarize_run(MetadataReader.for_sqlite(completed_run.config.metadata_path),
                            completed_run.config, completed_run.run_id)
    assert entry["components"] == len(summary.components) == 10
    assert entry["cached"] == sum(1 for c in summary.components if c.cached)
    assert entry["pushed_version"] == summary.pushed_version
    assert entry["reason"] == "manual" and api["in_progress"] is None


def test_run_page_draws_the_component_graph_and_lists_artifacts(
        viewer: TestClient, completed_run: CompletedRun) -> None:
    page = viewer.get(f"/runs/{completed_run.run_id}").text
    svg = page[page.index("<svg class=\"graph\""):page.index("</svg>", page.index(
        "<svg class=\"graph\"")) + 6]
    nodes = re.findall(r'data-node="([^"]+)" data-state="([^"]+)"', svg)
    assert {n for n, _ in nodes} == {
        "ExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "ValidationGate",
        "Transform", "Trainer", "LatestBlessedModelResolver", "Evaluator", "Pusher"}
    assert all(state in ("COMPLETE", "CACHED") for _, state in nodes)
    assert svg.count('class="edge"') >= 12  # factory DAG incl. ValidationGate -> Transform
    reader = MetadataReader.for_sqlite(completed_run.config.metadata_path)
    run = reader.pipeline_run(completed_run.config.pipeline.name, completed_run.run_id)
    assert run is not None
    model_uri = run.nodes["Trainer"].output("model").uri
    assert model_uri in page
    listing = viewer.get("/artifacts", params={"path": model_uri})
    assert listing.status_code == 200 and "Format-Serving" in listing.text


def test_validation_report_has_statistics_histograms_and_comparison(
        viewer: TestClient, completed_run: CompletedRun) -> None:
    page = viewer.get(f"/runs/{completed_run.run_id}/validation").text
    assert 'id="no-anomalies"' in page
    fare = page[page.index('data-feature="fare"'):]
    fare = fare[:fare.index("</tr>")]
    assert fare.count('<svg class="hist') == 2  # train and eval side by side
    counts = [int(c) for c in re.findall(r"<dt>count</dt><dd>(\d+)</dd>", fare)]
    assert sum(counts) == 2000
    payment = page[page.index('data-feature="payment_type"'):]
    assert "Credit Card" in payment[:payment.index("</tr>")]
    compared = viewer.get(f"/runs/{completed_run.run_id}/validation",
                          params={"compare": completed_run.run_id, "split": "eval"}).text
    assert f"{completed_run.run_id} · eval" in compared
    assert 'class="hist other"' in compared


def test_evaluation_page_shows_metrics_thresholds_and_blessing(
        viewer: TestClient, completed_run: CompletedRun) -> None:
    page = viewer.get(f"/runs/{completed_run.run_id}/evaluation").text
    assert '<span class="pill pill-pushed" id="verdict">blessed</span>' in page
    summary = summarize_run(MetadataReader.for_sqlite(completed_run.config.metadata_path),
                            completed_run.config, completed_run.run_id)
    auc = next(m for m in summary.metrics if m.slice == "Overall" and m.metric == "auc")
    row = re.search(r'<tr class="" data-metric="auc">(.*?)</tr>', page, re.S)
    assert row and f"{auc.value:.4f}" in row.group(1) and ">pass<" in row.group(1)
    assert 'data-slice="payment_type=Cash"' in page


def test_artifact_of_another_workspace_is_refused(viewer: TestClient, tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    assert viewer.get("/artifacts", params={"path": str(tmp_path / "elsewhere")}) \
        .status_code == 404


def test_operator_sees_trigger_and_viewer_does_not(
        client_for: AppFactory, completed_run: CompletedRun) -> None:
    client = client_for(completed_run.config)
    Session(client).sign_in("alice")
    assert 'id="trigger"' in client.get("/runs").text
