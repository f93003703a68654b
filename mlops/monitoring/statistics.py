"""TFDV statistics of newly landed data, computed on Beam like the pipeline's StatisticsGen.

Why these options: the new side is compared bucket by bucket with the baseline's standard
histogram (see ``compare``), so it needs a fine view of its own distribution. TFDV's quantiles
histogram gives that (an empirical CDF); ``FINE_QUANTILE_BUCKETS`` equal-mass buckets are enough
to place every value in the baseline's buckets with well under 1% error. Types come from the
serving model's schema, so decoding is a single streaming pass (no type-inference pass) and a
value of the wrong type is an error instead of a silently different feature. Decoding uses
Arrow's C++ CSV reader in blocks (TFDV's own CSV source parses every line in Python, which made
it ~7 s per 100k rows here); the statistics themselves are TFDV's GenerateStatistics on Beam.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import apache_beam as beam
import numpy as np
import pyarrow as pa
import tensorflow_data_validation as tfdv
from apache_beam.options.pipeline_options import PipelineOptions
from pyarrow import csv as pa_csv
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from pipelines.config import PlatformConfig

FINE_QUANTILE_BUCKETS = 200
_INT, _FLOAT = schema_pb2.INT, schema_pb2.FLOAT
_PROBE_ROWS = 1000
_BLOCK_BYTES = 8 << 20  # Arrow parses this much CSV at a time: memory stays bounded


class DriftInputError(ValueError):
    """New data that cannot be read or does not fit the schema; names file and feature."""


def data_files(location: str | os.PathLike[str]) -> list[Path]:
    """A file, or the CSV files of a folder (sorted), or an error naming the location."""
    path = Path(location)
    if path.is_dir():
        files = sorted(p for p in path.glob("*.csv") if p.is_file())
        if not files:
            raise DriftInputError(f"{path}: folder holds no *.csv file to check")
        return files
    if not path.is_file():
        raise DriftInputError(f"{path}: no such file or folder")
    return [path]


def read_header(path: Path) -> list[str]:
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return next(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error, StopIteration) as error:
        raise DriftInputError(f"{path}: cannot read a CSV header ({error or 'empty file'})") \
            from None


def check_readable(path: Path, schema: schema_pb2.Schema, required: Sequence[str]) -> list[str]:
    """Header has every required column and the first rows parse with the schema's types.

    Runs before Beam so the error names the file, the line and the feature instead of a Beam
    stack trace; returns the header (column names in file order)."""
    header = read_header(path)
    missing = [c for c in required if c not in header]
    if missing:
        raise DriftInputError(
            f"{path}: missing column(s) {', '.join(missing)}; new data must have the training "
            f"data's columns ({', '.join(required)})"
        )
    types = {f.name: f.type for f in schema.feature}
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            next(reader)
            for line_number, row in enumerate(reader, start=2):
                if line_number > _PROBE_ROWS + 1:
                    break
                if len(row) != len(header):
                    raise DriftInputError(
                        f"{path}, line {line_number}: {len(row)} fields, header has "
                        f"{len(header)}; the file is truncated or not this data set's CSV"
                    )
                for column, cell in zip(header, row, strict=True):
                    _check_cell(path, line_number, column, cell, types.get(column))
    except (UnicodeDecodeError, csv.Error) as error:
        raise DriftInputError(f"{path}: not a readable CSV file ({error})") from None
    return header


def _check_cell(path: Path, line: int, column: str, cell: str, kind: int | None) -> None:
    if not cell or kind not in (_INT, _FLOAT):
        return
    try:
        int(cell) if kind == _INT else float(cell)
    except ValueError:
        expected = "an integer" if kind == _INT else "a number"
        raise DriftInputError(
            f"{path}, line {line}: feature '{column}' is '{cell}', the schema expects "
            f"{expected}"
        ) from None


def stats_options(schema: schema_pb2.Schema, features: Sequence[str]) -> tfdv.StatsOptions:
    return tfdv.StatsOptions(
        schema=schema,
        infer_type_from_schema=True,
        feature_allowlist=list(features),
        num_quantiles_histogram_buckets=FINE_QUANTILE_BUCKETS,
    )


def beam_options(config: PlatformConfig, files: int) -> PipelineOptions:
    """The pipeline's own Beam settings when several files can be read in parallel; one file
    is one reading task, so it runs in-process (worker processes would only add their start-up,
    ~10 s each for importing TensorFlow, and parallelise nothing)."""
    mode = config.beam.direct_running_mode if files > 1 else "in_memory"
    workers = config.beam.direct_num_workers if files > 1 else 1
    return PipelineOptions([
        "--runner=DirectRunner",
        f"--direct_running_mode={mode}",
        f"--direct_num_workers={workers}",
    ])


def _arrow_type(kind: int) -> pa.DataType:
    return {schema_pb2.INT: pa.int64(), schema_pb2.FLOAT: pa.float32()}.get(kind, pa.binary())


def read_record_batches(path: str, columns: dict[str, int]) -> Iterator[pa.RecordBatch]:
    """Stream a CSV file as TFDV-shaped record batches (one list value per cell, empty cell =
    missing), parsed by Arrow's C++ CSV reader in blocks: bounded memory, no Python per row."""
    reader = pa_csv.open_csv(
        path,
        read_options=pa_csv.ReadOptions(block_size=_BLOCK_BYTES),
        convert_options=pa_csv.ConvertOptions(
            column_types={name: _arrow_type(kind) for name, kind in columns.items()},
            include_columns=list(columns), null_values=[""], strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    try:
        for batch in reader:
            yield pa.RecordBatch.from_arrays(
                [_as_list_array(batch.column(i)) for i in range(batch.num_columns)],
                batch.schema.names,
            )
    except pa.ArrowInvalid as error:
        raise DriftInputError(f"{path}: {error}") from None


def _as_list_array(column: pa.Array) -> pa.Array:
    valid = np.asarray(column.is_valid())
    offsets = np.zeros(len(valid) + 1, dtype=np.int32)
    np.cumsum(valid, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), column.filter(pa.array(valid)),
                                    mask=pa.array(~valid))


def compute_statistics(
    files: Sequence[Path],
    schema: schema_pb2.Schema,
    features: Sequence[str],
    config: PlatformConfig,
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Streams every file once through TFDV's GenerateStatistics on Beam."""
    for path in files:  # clear errors naming file, line and feature before any Beam work
        check_readable(path, schema, list(features))
    types = {f.name: f.type for f in schema.feature}
    columns = {name: types[name] for name in features if name in types}
    options = stats_options(schema, list(columns))
    with tempfile.TemporaryDirectory(prefix="drift-stats-") as scratch:
        output = os.path.join(scratch, "stats.tfrecord")
        try:
            with beam.Pipeline(options=beam_options(config, len(files))) as pipeline:
                _ = (
                    pipeline
                    | "Files" >> beam.Create([str(p) for p in files])
                    | "ReadCsv" >> beam.FlatMap(read_record_batches, columns)
                    | "Statistics" >> tfdv.GenerateStatistics(options)
                    | "Write" >> tfdv.WriteStatisticsToTFRecord(output)
                )
        except DriftInputError:
            raise
        except Exception as error:
            names = ", ".join(str(p) for p in files)
            raise DriftInputError(f"{names}: computing statistics failed: {error}") from error
        return tfdv.load_statistics(output)
