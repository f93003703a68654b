"""Checks on the input data before any pipeline work, so bad input fails fast and clearly.

Schema-level problems (a column whose type changed, a category beyond the schema) are caught by
ExampleValidator inside the pipeline; what is checked here are the problems that would make
ExampleGen fail obscurely or silently: no data, empty files, missing columns.
"""

from __future__ import annotations

import csv
import os

from pipelines.config import PlatformConfig, data_files


class InputDataError(ValueError):
    """The input data cannot be used; the message names the file and what to do."""


def check_input_data(config: PlatformConfig, source_path: str | None = None) -> list[str]:
    """The data files, after checking they exist, are non-empty and carry every needed column."""
    source = source_path or config.data_source
    files = data_files(source)
    if config.data.format == "csv":
        files = [f for f in files if f.endswith(".csv")] if os.path.isdir(source) else files
    if not files:
        raise InputDataError(
            f"data.source: no {config.data.format} files at '{source}'. Check the path (a file, "
            "a directory or a glob) or pass --set data.source=PATH."
        )
    required = config.raw_columns()
    for path in files:
        if os.path.getsize(path) == 0:
            raise InputDataError(f"{path}: the file is empty; remove it or replace it with data.")
        columns = _columns(path, config.data.format)
        if columns is None:
            continue
        missing = [c for c in required if c not in columns]
        if missing:
            raise InputDataError(
                f"{path}: missing column(s) {', '.join(missing)} required by pipeline_config.yaml "
                f"(features / label). Columns found: {', '.join(columns) or '(none)'}."
            )
    return files


def _columns(path: str, data_format: str) -> list[str] | None:
    if data_format == "csv":
        with open(path, newline="", encoding="utf-8", errors="replace") as handle:
            header = next(csv.reader(handle), None)
        if not header or not any(cell.strip() for cell in header):
            raise InputDataError(f"{path}: no CSV header line; the first line must name columns.")
        rows_after_header = _has_data_row(path)
        if not rows_after_header:
            raise InputDataError(f"{path}: only a header, no data rows.")
        return [cell.strip() for cell in header]
    if data_format == "parquet":
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    return _tfrecord_columns(path)


def _has_data_row(path: str) -> bool:
    with open(path, encoding="utf-8", errors="replace") as handle:
        next(handle, None)
        return any(line.strip() for line in handle)


def _tfrecord_columns(path: str) -> list[str] | None:
    """Feature names of the first tf.Example in a (possibly gzipped) TFRecord file."""
    import tensorflow as tf

    compression = "GZIP" if _is_gzip(path) else ""
    for record in tf.data.TFRecordDataset(path, compression_type=compression).take(1):
        example = tf.train.Example.FromString(record.numpy())
        return sorted(example.features.feature.keys())
    raise InputDataError(f"{path}: no records in this TFRecord file.")


def _is_gzip(path: str) -> bool:
    with open(path, "rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


