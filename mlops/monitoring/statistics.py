"""TFDV statistics of newly landed data, computed on Beam like the pipeline's StatisticsGen.

Why these options: the new side is compared bucket by bucket with the baseline's standard
histogram (see ``compare``), so it needs a fine view of its own distribution. TFDV's quantiles
histogram gives that (an empirical CDF); ``FINE_QUANTILE_BUCKETS`` equal-mass buckets are enough
to place every value in the baseline's buckets with well under 1% error. Types come from the
serving model's schema, so decoding is a single streaming pass (no type-inference pass) and a
value of the wrong type is an error instead of a silently different feature.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import apache_beam as beam
import tensorflow_data_validation as tfdv
from apache_beam.options.pipeline_options import PipelineOptions
from tensorflow_data_validation.coders import csv_decoder
from tensorflow_metadata.proto.v0 import schema_pb2, statistics_pb2

from pipelines.config import PlatformConfig

FINE_QUANTILE_BUCKETS = 200
_INT, _FLOAT = schema_pb2.INT, schema_pb2.FLOAT
_PROBE_ROWS = 1000


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


def beam_options(config: PlatformConfig) -> PipelineOptions:
    """The pipeline's own Beam settings (runner mode, workers), so the check scales the same."""
    return PipelineOptions([
        "--runner=DirectRunner",
        f"--direct_running_mode={config.beam.direct_running_mode}",
        f"--direct_num_workers={config.beam.direct_num_workers}",
    ])


def compute_statistics(
    files: Sequence[Path],
    schema: schema_pb2.Schema,
    features: Sequence[str],
    config: PlatformConfig,
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """Streams every file once through TFDV's GenerateStatistics on Beam."""
    schema_columns = {f.name for f in schema.feature}
    headers = {path: check_readable(path, schema, list(features)) for path in files}
    first = files[0]
    for path, header in headers.items():
        if header != headers[first]:
            raise DriftInputError(
                f"{path}: columns differ from {first} ({header} vs {headers[first]}); files "
                "checked together must share one header"
            )
    column_names = headers[first]
    unknown = [c for c in column_names if c not in schema_columns]
    decode_schema = _schema_with_columns(schema, unknown)
    options = stats_options(decode_schema, [f for f in features if f in column_names])
    with tempfile.TemporaryDirectory(prefix="drift-stats-") as scratch:
        output = os.path.join(scratch, "stats.tfrecord")
        try:
            with beam.Pipeline(options=beam_options(config)) as pipeline:
                _ = (
                    pipeline
                    | "ReadFiles" >> beam.Create([str(p) for p in files])
                    | "ReadLines" >> beam.io.ReadAllFromText(skip_header_lines=1)
                    | "Decode" >> csv_decoder.DecodeCSV(
                        column_names=column_names, schema=decode_schema,
                        desired_batch_size=options.desired_batch_size or 1000)
                    | "Statistics" >> tfdv.GenerateStatistics(options)
                    | "Write" >> tfdv.WriteStatisticsToTFRecord(output)
                )
        except Exception as error:
            names = ", ".join(str(p) for p in files)
            raise DriftInputError(f"{names}: computing statistics failed: {error}") from error
        return tfdv.load_statistics(output)


def _schema_with_columns(schema: schema_pb2.Schema, extra: Sequence[str]) -> schema_pb2.Schema:
    """The schema plus BYTES entries for columns it does not know (e.g. a timestamp), so the
    decoder can read every column; only the allow-listed features get statistics."""
    copy = schema_pb2.Schema()
    copy.CopyFrom(schema)
    for name in extra:
        copy.feature.add(name=name, type=schema_pb2.BYTES)
    return copy
