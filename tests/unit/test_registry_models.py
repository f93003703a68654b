"""Registry rules against a real (embedded SQLite) MLflow store: guards, no-op, rollback, history.

The e2e tests repeat the flow against a real `mlflow server` with a model a pipeline pushed;
these cover every branch of the rules quickly, with a tiny stand-in SavedModel directory.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from mlops.registry.models import (
    HISTORY_TAG_PREFIX,
    ModelRegistry,
    PromotionRefused,
    RegistryError,
    register_model_version,
    register_pushed_model,
)
from mlops.registry.tracking import TAG_BLESSED, TAG_RUN_ID, TAG_STATUS

NAME = "taxi-test"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> MlflowClient:
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_experiment("unit", artifact_location=(root / "artifacts").as_uri())
    return client


@pytest.fixture()
def registry(client: MlflowClient, request: pytest.FixtureRequest) -> ModelRegistry:
    return ModelRegistry(client, f"{NAME}-{request.node.name}"[:60])


def _model_dir(tmp_path: Path) -> Path:
    model = tmp_path / "model"
    (model / "variables").mkdir(parents=True, exist_ok=True)
    (model / "saved_model.pb").write_bytes(b"not parsed by the registry")
    return model


def _register(registry: ModelRegistry, tmp_path: Path, run_id: str, *, status: str = "pushed",
              blessed: str = "true", pushed_id: str | None = None) -> str:
    client = registry.client
    experiment = client.get_experiment_by_name("unit").experiment_id
    mlflow_run = client.create_run(experiment, run_name=run_id)
    tags = {TAG_RUN_ID: run_id, TAG_STATUS: status, TAG_BLESSED: blessed}
    if pushed_id:
        tags["mlops.mlmd.artifact.pushed_model"] = pushed_id
        return register_pushed_model(client, registry.name, mlflow_run.info.run_id,
                                     _model_dir(tmp_path), tags).version
    return register_model_version(client, registry.name, mlflow_run.info.run_id,
                                  _model_dir(tmp_path), tags).version


def test_push_registers_candidate_once_per_pushed_artifact(registry: ModelRegistry,
                                                           tmp_path: Path) -> None:
    first = _register(registry, tmp_path, "run-a", pushed_id="17")
    again = _register(registry, tmp_path, "run-a", pushed_id="17")
    second = _register(registry, tmp_path, "run-b", pushed_id="20")
    assert first == again == "1" and second == "2"
    assert registry.alias_version("candidate") == "2"
    history = registry.history()
    assert [(e.alias, e.action, e.from_version, e.to_version) for e in history] == [
        ("candidate", "push", None, "1"), ("candidate", "push", "1", "2")]
    version = registry.version(2)
    assert version.run_id == "run-b" and version.blessed and "candidate" in version.aliases
    assert version.source == f"runs:/{version.mlflow_run_id}/model"
    listed = registry.client.list_artifacts(version.mlflow_run_id, "model")
    assert "saved_model.pb" in {Path(f.path).name for f in listed}


def test_promote_records_who_when_from_to_why_and_noop_adds_nothing(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    v1 = _register(registry, tmp_path, "run-1")
    v2 = _register(registry, tmp_path, "run-2")
    change = registry.promote(v1, "production", by="alice", reason="first release")
    assert change.changed and change.previous is None
    change = registry.promote(v2, "production", by="bob", reason="better auc")
    assert change.previous == v1 and registry.alias_version("production") == v2
    before = registry.history()
    noop = registry.promote(v2, "production", by="carol", reason="again")
    assert not noop.changed and registry.history() == before
    last = before[-1]
    assert (last.alias, last.action, last.from_version, last.to_version, last.by, last.reason) \
        == ("production", "promote", v1, v2, "bob", "better auc")
    assert last.at.endswith("+00:00")
    raw = registry.client.get_registered_model(registry.name).tags
    stored = [json.loads(v) for k, v in sorted(raw.items()) if k.startswith(HISTORY_TAG_PREFIX)]
    assert stored[-1]["by"] == "bob"  # durable: in the registry, readable by any client


def test_unblessed_and_halted_versions_are_refused_with_the_reason(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    unblessed = _register(registry, tmp_path, "run-x", status="not_blessed", blessed="false")
    halted = _register(registry, tmp_path, "run-h", status="halted", blessed="unknown")
    with pytest.raises(PromotionRefused, match="not blessed by the Evaluator in pipeline run "
                                               "run-x"):
        registry.promote(unblessed, "staging", by="alice")
    with pytest.raises(PromotionRefused, match="run-h halted in data validation"):
        registry.promote(halted, "production", by="alice")
    assert registry.alias_version("staging") is None
    assert registry.alias_version("production") is None
    assert registry.history() == []
    with pytest.raises(RegistryError, match="has no version 99"):
        registry.promote(99, "production", by="alice")
    with pytest.raises(RegistryError, match="unknown alias 'prod'"):
        registry.promote(unblessed, "prod", by="alice")


def test_rollback_walks_back_through_production_history(registry: ModelRegistry,
                                                       tmp_path: Path) -> None:
    v1, v2, v3 = (_register(registry, tmp_path, f"run-{i}") for i in range(3))
    with pytest.raises(RegistryError, match="no 'production' version"):
        registry.rollback(by="ops")
    registry.promote(v1, "production", by="ops")
    with pytest.raises(RegistryError, match="no earlier 'production' version"):
        registry.rollback(by="ops")
    registry.promote(v2, "staging", by="ops")  # other aliases do not count
    registry.promote(v2, "production", by="ops")
    registry.promote(v3, "production", by="ops")
    change = registry.rollback(by="ops", reason="latency regression")
    assert (change.previous, change.version) == (v3, v2)
    assert registry.alias_version("production") == v2
    change = registry.rollback(by="ops")
    assert (change.previous, change.version) == (v2, v1)
    entry = registry.history()[-1]
    assert (entry.action, entry.from_version, entry.to_version) == ("rollback", v2, v1)
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        registry.rollback(by="ops")


def test_dashboard_section_and_actions_go_through_the_registry(
    registry: ModelRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlops.dashboard import sources

    monkeypatch.setattr(sources, "_registry", lambda config: registry)
    good = _register(registry, tmp_path, "run-good")
    registry.client.set_model_version_tag(registry.name, good, "metric.auc", "0.9312")
    bad = _register(registry, tmp_path / "b", "run-bad", blessed="false")
    section = sources.model_versions(None)  # type: ignore[arg-type]
    assert section.available
    by_version = {item["version"]: item for item in section.items}
    assert by_version[good]["metrics"] == {"auc": 0.9312}
    assert by_version[good]["run_id"] == "run-good"
    message = sources.promote_model(None, good, "staging", "looks good", "alice")  # type: ignore[arg-type]
    assert "now points at version" in message
    again = sources.promote_model(None, good, "staging", "again", "alice")  # type: ignore[arg-type]
    assert "nothing changed" in again
    assert "staging" in {i["version"]: i for i in sources.model_versions(None).items}[good][  # type: ignore[arg-type]
        "aliases"]
    with pytest.raises(ValueError, match="bless"):
        sources.promote_model(None, bad, "production", "no", "alice")  # type: ignore[arg-type]
