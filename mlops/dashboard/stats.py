"""Per-feature statistics of a run, read from its StatisticsGen artifact with TFDV's protos.

This is the offline replacement for TFDV's Facets view (which loads scripts from the
internet): counts, missing share, numeric moments or top values, and the histogram buckets
TFDV computed, per split. The notebooks and the dashboard both call ``feature_statistics``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import statistics_pb2

from mlops.metadata import ArtifactRecord

STATS_FILE = "FeatureStats.pb"
TOP_VALUES = 10


@dataclass
class FeatureStatistics:
    """One feature in one split. ``buckets`` are (label, count) pairs ready to draw."""

    name: str
    kind: str  # "numeric" | "string" | "other"
    count: int
    missing: int
    mean: float | None = None
    std: float | None = None
    min: float | None = None
    max: float | None = None
    zeros: int | None = None
    unique: int | None = None
    top_values: list[tuple[str, float]] = field(default_factory=list)
    buckets: list[tuple[str, float]] = field(default_factory=list)

    @property
    def missing_pct(self) -> float:
        total = self.count + self.missing
        return 100.0 * self.missing / total if total else 0.0


def _common(feature: statistics_pb2.FeatureNameStatistics) -> statistics_pb2.CommonStatistics:
    kind = feature.WhichOneof("stats")
    if kind == "num_stats":
        return feature.num_stats.common_stats
    if kind == "string_stats":
        return feature.string_stats.common_stats
    if kind == "bytes_stats":
        return feature.bytes_stats.common_stats
    return statistics_pb2.CommonStatistics()


def _feature(feature: statistics_pb2.FeatureNameStatistics) -> FeatureStatistics:
    name = ".".join(feature.path.step) or feature.name
    common = _common(feature)
    stats = FeatureStatistics(name, "other", int(common.num_non_missing),
                              int(common.num_missing))
    if feature.HasField("num_stats"):
        numbers = feature.num_stats
        stats.kind = "numeric"
        stats.mean, stats.std = numbers.mean, numbers.std_dev
        stats.min, stats.max, stats.zeros = numbers.min, numbers.max, int(numbers.num_zeros)
        standard = [h for h in numbers.histograms
                    if h.type == statistics_pb2.Histogram.STANDARD]
        if standard:
            stats.buckets = [(f"{b.low_value:.4g}–{b.high_value:.4g}", b.sample_count)
                             for b in standard[0].buckets]
    elif feature.HasField("string_stats"):
        strings = feature.string_stats
        stats.kind = "string"
        stats.unique = int(strings.unique)
        stats.top_values = [(v.value, v.frequency) for v in strings.top_values[:TOP_VALUES]]
        ranked = strings.rank_histogram.buckets[:TOP_VALUES]
        stats.buckets = ([(b.label, b.sample_count) for b in ranked] if ranked
                         else list(stats.top_values))
    return stats


def load_split(statistics_uri: str, split: str) -> statistics_pb2.DatasetFeatureStatistics:
    path = Path(statistics_uri) / f"Split-{split}" / STATS_FILE
    proto = tfdv.load_stats_binary(str(path))
    return proto.datasets[0] if proto.datasets else statistics_pb2.DatasetFeatureStatistics()


def feature_statistics(statistics: ArtifactRecord) -> dict[str, list[FeatureStatistics]]:
    """{split: [features sorted by name]} for every split the artifact recorded."""
    result: dict[str, list[FeatureStatistics]] = {}
    for split in statistics.split_names():
        if not (Path(statistics.uri) / f"Split-{split}" / STATS_FILE).exists():
            continue
        dataset = load_split(statistics.uri, split)
        result[split] = sorted((_feature(f) for f in dataset.features), key=lambda f: f.name)
    return result


def examples_per_split(statistics: ArtifactRecord) -> dict[str, int]:
    return {split: int(load_split(statistics.uri, split).num_examples)
            for split in statistics.split_names()
            if (Path(statistics.uri) / f"Split-{split}" / STATS_FILE).exists()}
