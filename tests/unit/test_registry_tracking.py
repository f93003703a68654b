"""Pieces of run tracking that need no pipeline: history from TensorBoard events, names, config."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from mlops.registry import settings
from mlops.registry.tracking import config_hash, metric_name, record_pipeline_run, training_history
from mlops.summary import RunStatus, RunSummary
from tests.conftest import make_config


def test_training_history_reads_epoch_scalars_written_by_keras(tmp_path: Path) -> None:
    for phase, losses in (("train", [0.6, 0.4]), ("validation", [0.7, 0.5])):
        writer = tf.summary.create_file_writer(str(tmp_path / phase))
        with writer.as_default():
            for epoch, loss in enumerate(losses):
                tf.summary.scalar("epoch_loss", loss, step=epoch)
                tf.summary.scalar("evaluation_loss_vs_iterations", loss, step=epoch * 60)
        writer.close()
    history = training_history(tmp_path)
    assert sorted((n, round(v, 4), s) for n, v, s in history) == [
        ("train/epoch_loss", 0.4, 1), ("train/epoch_loss", 0.6, 0),
        ("validation/epoch_loss", 0.5, 1), ("validation/epoch_loss", 0.7, 0)]


def test_metric_names_keep_slices_readable_and_valid() -> None:
    assert metric_name("eval/payment_type=Credit Card/auc") == "eval/payment_type:Credit Card/auc"
    assert metric_name("eval/a=x & b=y/auc") == "eval/a:x/b:y/auc"
    assert metric_name("eval/company=Taxi (A+B)/auc") == "eval/company:Taxi _A_B_/auc"


def test_defaults_live_in_the_workspace_and_config_hash_tracks_settings(tmp_path: Path) -> None:
    config = make_config(tmp_path / "ws", tmp_path / "data")
    assert settings.tracking_uri(config) == f"sqlite:///{tmp_path / 'ws' / 'mlflow' / 'mlflow.db'}"
    assert settings.artifact_location(config) == str(tmp_path / "ws" / "mlflow" / "artifacts")
    assert settings.model_name(config) == config.pipeline.name
    server = config.with_overrides({"registry.tracking_uri": "http://127.0.0.1:5000"})
    assert settings.artifact_location(server) is None  # the server decides
    assert config_hash(config) == config_hash(make_config(tmp_path / "ws", tmp_path / "data"))
    assert config_hash(config) != config_hash(
        config.with_overrides({"trainer.learning_rate": 0.01}))
    assert not (tmp_path / "ws").exists()  # nothing created until MLflow is used


def test_disabled_registry_records_nothing(tmp_path: Path) -> None:
    config = make_config(tmp_path / "ws", tmp_path / "data", registry__enabled=False)
    summary = RunSummary("run-1", RunStatus.PUSHED, [])
    assert record_pipeline_run(config, summary) is None
    assert not (tmp_path / "ws").exists()
