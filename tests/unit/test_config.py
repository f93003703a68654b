"""pipeline_config.yaml loading: the defaults, and every rejection naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.config import (
    ConfigError,
    NumericFeature,
    load_config,
    parse_override,
    resolve_data_source,
)
from tests.conftest import CONFIG_FILE, REPO


def _write(tmp_path: Path, mutate) -> Path:  # type: ignore[no-untyped-def]
    raw = yaml.safe_load(CONFIG_FILE.read_text())
    mutate(raw)
    path = tmp_path / "pipeline_config.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_default_config_loads_with_resolved_paths() -> None:
    config = load_config(CONFIG_FILE)
    assert config.pipeline.name == "taxi-big-tipper"
    assert config.workspace == REPO / "workspace"
    assert config.metadata_path.parent == REPO / "workspace" / "metadata"
    assert config.curated_schema_path == REPO / "schemas" / "taxi" / "schema.pbtxt"
    assert config.curated_schema_path.is_file()
    assert Path(config.data_source, "data.csv").is_file()  # pkg:// resolved into installed tfx
    assert config.label.rule == "ratio_above" and config.label.denominator == "fare"
    assert isinstance(config.features[0], NumericFeature)
    assert "tips" in config.raw_columns() and "tips" not in config.feature_names()
    assert config.data.split_ratios.hash_buckets() == {"train": 80, "eval": 20}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r["trainer"].update(batch_sise=64),
         ["trainer.batch_sise", "unknown key", "batch_size"]),
        (lambda r: r.update(trainr={}), ["trainr", "unknown key", "trainer"]),
        (lambda r: r["trainer"].update(batch_size="big"), ["trainer.batch_size", "integer"]),
        (lambda r: r["trainer"].update(learning_rate=-1),
         ["trainer.learning_rate", "greater than 0"]),
        (lambda r: r["validation"].update(on_anomalies="ignore"),
         ["validation.on_anomalies", "'halt' or 'warn'"]),
        (lambda r: r["data"].update(format="xlsx"), ["data.format", "'csv'", "'parquet'"]),
        (lambda r: r["data"]["split_ratios"].update(train=0.9), ["split_ratios", "must be 1.0"]),
        (lambda r: r["features"].append({"name": "x", "kind": "textual"}),
         ["features.", "kind", "numeric"]),
        (lambda r: r["features"][0].update(buckets=5),
         ["features.0.numeric.buckets", "unknown key", "transform"]),
        (lambda r: r["features"].append({"name": "fare", "kind": "numeric"}),
         ["duplicate feature names: fare"]),
        (lambda r: r["features"].append({"name": "tips", "kind": "numeric"}),
         ["label.source 'tips' is also listed in features"]),
        (lambda r: r["label"].pop("denominator"), ["needs 'denominator'"]),
        (lambda r: r["evaluator"]["slices"].append(["weekday"]),
         ["evaluator.slices[2]", "weekday"]),
        (lambda r: r["evaluator"]["thresholds"].update(f1={"lower_bound": 0.5}),
         ["evaluator.thresholds.f1", "'auc'"]),
        (lambda r: r["trainer"].update(train_steps=2, epochs=5), ["train_steps (2)", "epochs (5)"]),
        (lambda r: r["pipeline"].update(name="Taxi Pipeline!"), ["pipeline.name", "pattern"]),
        (lambda r: r.pop("label"), ["label", "required key is missing"]),
    ],
)
def test_bad_values_are_rejected_naming_the_key(tmp_path: Path, mutate, expected) -> None:  # type: ignore[no-untyped-def]
    path = _write(tmp_path, mutate)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    message = str(error.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message, message


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("pipeline: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_config(listing)


def test_overrides_are_typed_validated_and_remembered(tmp_path: Path) -> None:
    key, value = parse_override("trainer.train_steps=50")
    assert (key, value) == ("trainer.train_steps", 50)
    config = load_config(CONFIG_FILE, {key: value, "pipeline.workspace": str(tmp_path)})
    assert config.trainer.train_steps == 50
    assert config.workspace == tmp_path
    assert config.overrides == {"trainer.train_steps": 50, "pipeline.workspace": str(tmp_path)}
    again = config.with_overrides({"trainer.epochs": 1})
    assert again.trainer.epochs == 1 and again.overrides["trainer.train_steps"] == 50
    with pytest.raises(ConfigError, match=r"trainer\.train_steps"):
        load_config(CONFIG_FILE, {"trainer.train_steps": "many"})
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        parse_override("trainer.train_steps")


def test_config_is_frozen() -> None:
    config = load_config(CONFIG_FILE)
    with pytest.raises(Exception, match="frozen"):
        config.trainer.batch_size = 1  # type: ignore[misc]


def test_package_data_source_names_missing_package(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="package 'no_such_pkg' is not installed"):
        resolve_data_source("pkg://no_such_pkg/data.csv", tmp_path)
    assert resolve_data_source("data/x.csv", tmp_path) == str(tmp_path / "data" / "x.csv")


def test_override_values_that_are_not_yaml_are_taken_as_text() -> None:
    assert parse_override("schedule.cron=*/5 * * * *") == ("schedule.cron", "*/5 * * * *")
