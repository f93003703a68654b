"""The idempotent Pusher: TFX's Pusher executor, run for real on artifacts in tmp_path, pushes a
new model, records an identical one as the version already serving, and pushes a changed one."""

from __future__ import annotations

import json
import time
from pathlib import Path

from tfx.types import standard_artifacts

from components.pusher import (
    ALREADY_SERVING_PROPERTY,
    IdempotentPusherExecutor,
    newest_version,
    same_files,
)


def saved_model(root: Path, weights: bytes) -> standard_artifacts.Model:
    serving = root / "Format-Serving"
    (serving / "variables").mkdir(parents=True)
    (serving / "saved_model.pb").write_bytes(b"graph")
    (serving / "variables" / "variables.data-00000-of-00001").write_bytes(weights)
    model = standard_artifacts.Model()
    model.uri = str(root)
    return model


def push(tmp_path: Path, model: standard_artifacts.Model, name: str,
         serving: Path) -> standard_artifacts.PushedModel:
    blessing = standard_artifacts.ModelBlessing()
    blessing.uri = str(tmp_path / f"blessing-{name}")
    blessing.set_int_custom_property("blessed", 1)
    pushed = standard_artifacts.PushedModel()
    pushed.uri = str(tmp_path / f"pushed-{name}")
    destination = {"filesystem": {"base_directory": str(serving)}}
    IdempotentPusherExecutor().Do(
        {"model": [model], "model_blessing": [blessing]}, {"pushed_model": [pushed]},
        {"push_destination": json.dumps(destination), "custom_config": "null"})
    return pushed


def test_identical_model_is_not_pushed_twice_and_a_changed_one_is(tmp_path: Path) -> None:
    serving = tmp_path / "serving"
    first = push(tmp_path, saved_model(tmp_path / "m1", b"w1"), "1", serving)
    assert first.get_int_custom_property("pushed") == 1
    versions = sorted(p.name for p in serving.iterdir())
    assert len(versions) == 1

    # The same model again (a re-blessed cached Trainer output): recorded, not copied.
    again = push(tmp_path, saved_model(tmp_path / "m1-again", b"w1"), "2", serving)
    assert again.get_int_custom_property("pushed") == 1
    assert again.get_int_custom_property(ALREADY_SERVING_PROPERTY) == 1
    assert again.get_string_custom_property("pushed_version") == versions[0]
    assert sorted(p.name for p in serving.iterdir()) == versions
    assert (Path(again.uri) / "saved_model.pb").exists()  # archived like any push

    time.sleep(1.1)  # TFX versions pushes by UNIX second
    changed = push(tmp_path, saved_model(tmp_path / "m2", b"w2"), "3", serving)
    assert changed.get_int_custom_property(ALREADY_SERVING_PROPERTY) == 0
    assert len(list(serving.iterdir())) == 2
    assert changed.get_string_custom_property("pushed_version") != versions[0]


def test_newest_version_and_file_comparison(tmp_path: Path) -> None:
    assert newest_version(str(tmp_path / "absent")) is None
    for name in ("9", "10", "notes"):
        (tmp_path / name).mkdir()
    assert newest_version(str(tmp_path)) == str(tmp_path / "10")
    (tmp_path / "9" / "a").write_text("x")
    (tmp_path / "10" / "a").write_text("x")
    assert same_files(str(tmp_path / "9"), str(tmp_path / "10"))
    (tmp_path / "10" / "b").write_text("extra")
    assert not same_files(str(tmp_path / "9"), str(tmp_path / "10"))
