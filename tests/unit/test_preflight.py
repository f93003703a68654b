"""Pre-flight input checks: bad input fails before any work, naming the file and column."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipelines.config import load_config
from pipelines.preflight import InputDataError, check_input_data
from tests.conftest import CONFIG_FILE, write_sample


def _config(data: Path | str):  # type: ignore[no-untyped-def]
    return load_config(CONFIG_FILE, {"data.source": str(data)})


def test_good_sample_passes_and_lists_files(tmp_path: Path) -> None:
    data = write_sample(tmp_path / "d" / "data.csv", rows=10)
    assert check_input_data(_config(data.parent)) == [str(data)]
    assert check_input_data(_config(tmp_path / "d" / "*.csv")) == [str(data)]
    assert check_input_data(_config(data)) == [str(data)]


def test_missing_path_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(InputDataError, match=r"data\.source: no csv files at"):
        check_input_data(_config(tmp_path / "nowhere"))


def test_empty_file(tmp_path: Path) -> None:
    empty = tmp_path / "d" / "data.csv"
    empty.parent.mkdir()
    empty.write_text("")
    with pytest.raises(InputDataError, match="the file is empty") as error:
        check_input_data(_config(empty.parent))
    assert str(empty) in str(error.value)


def test_header_only(tmp_path: Path) -> None:
    data = write_sample(tmp_path / "d" / "data.csv", rows=0)
    with pytest.raises(InputDataError, match="only a header"):
        check_input_data(_config(data.parent))


@pytest.mark.parametrize("column", ["tips", "fare", "company"])
def test_missing_label_or_feature_column_is_named(tmp_path: Path, column: str) -> None:
    data = write_sample(tmp_path / "d" / "data.csv", rows=5, drop_columns=(column,))
    with pytest.raises(InputDataError) as error:
        check_input_data(_config(data.parent))
    assert f"missing column(s) {column}" in str(error.value)
    assert str(data) in str(error.value)


def test_parquet_columns_are_checked(tmp_path: Path) -> None:
    import pandas as pd

    frame = pd.read_csv(write_sample(tmp_path / "c.csv", rows=5)).drop(columns=["fare"])
    parquet = tmp_path / "p" / "data.parquet"
    parquet.parent.mkdir()
    frame.to_parquet(parquet)
    config = load_config(CONFIG_FILE, {"data.source": str(parquet.parent),
                                       "data.format": "parquet"})
    with pytest.raises(InputDataError, match=r"missing column\(s\) fare"):
        check_input_data(config)
