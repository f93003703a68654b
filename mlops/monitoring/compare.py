"""Per-feature drift distances with TFDV's comparators, recorded for every feature.

How: drift thresholds are written into a copy of the serving model's schema (L-infinity for
categorical features, Jensen-Shannon divergence for numeric ones, per-feature overrides from
``drift.thresholds``), then ``tfdv.validate_statistics(new, schema, previous_statistics=baseline)``
decides. TFDV puts a measurement for every feature that has a comparator into
``anomalies.drift_skew_info``, over threshold or not, and that is what the report records.

Why the new side's histogram is re-bucketed first: TFDV's Jensen-Shannon comparator merges the
two standard histograms' boundaries and assumes values are spread evenly inside each bucket.
Two samples of one distribution rarely share min and max (one outlier moves every edge), and
that assumption then invents divergence (0.14 on an unchanged heavy-tailed column) while a
genuine shift of an hour-of-day column stays near 0.03. So the new data's fine quantiles
histogram is re-expressed on the baseline's own bucket edges -- with TFDV's own overlap rule,
``quantiles_util._overlap``, the rule StatisticsGen used to build the baseline's buckets --
plus an underflow/overflow bucket for values outside the baseline's range. Both sides then share
edges exactly, and the comparator measures the data, not the bucketing.

Which edges: the baseline's *equal-mass* (quantiles) buckets, not its equal-width standard
histogram. On real data one outlier stretches equal-width buckets so far that nearly every row
lands in the first one (the taxi sample's fares: 11,956 of 11,966 rows in [0, 70) because one
fare is 700), and then a +30% shift of every fare measured 0.001. On quantile edges each bucket
holds a tenth of the baseline, so a shift of the bulk moves mass between buckets: 0.08 for the
same shift. Zero-width quantile buckets (point masses, e.g. trips of 0 miles) are merged into
their neighbour so every bucket has a width, as the comparator's uniform-spread rule needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

import tensorflow_data_validation as tfdv
from tensorflow_data_validation.utils import quantiles_util
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from pipelines.config import PlatformConfig

L_INFINITY = "infinity_norm"
JENSEN_SHANNON = "jensen_shannon_divergence"
_DRIFT_REASONS = {
    anomalies_pb2.AnomalyInfo.COMPARATOR_L_INFTY_HIGH,
    anomalies_pb2.AnomalyInfo.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH,
}
_MEASUREMENT_NAMES = {
    anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: L_INFINITY,
    anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE: JENSEN_SHANNON,
}
_TOP_VALUES_SHOWN = 20


class SchemaBreakingError(ValueError):
    """The new data violates the serving schema (wrong type, unknown value, missing feature)."""


@dataclass
class FeatureDrift:
    """One feature's verdict plus both distributions, for the report's overlay plot."""

    name: str
    kind: str  # "categorical" | "numeric"
    comparator: str
    threshold: float
    distance: float
    drifted: bool
    baseline: dict[str, list] = field(default_factory=dict)
    current: dict[str, list] = field(default_factory=dict)
    skew_distance: float | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def _feature_stats(statistics: statistics_pb2.DatasetFeatureStatisticsList
                   ) -> dict[str, statistics_pb2.FeatureNameStatistics]:
    dataset = statistics.datasets[0]
    return {(f.path.step[0] if f.path.step else f.name): f for f in dataset.features}


def _is_categorical(feature: statistics_pb2.FeatureNameStatistics) -> bool:
    return feature.WhichOneof("stats") == "string_stats"


def threshold_for(config: PlatformConfig, name: str, categorical: bool) -> tuple[str, float]:
    drift = config.drift
    comparator = drift.categorical.comparator if categorical else drift.numeric.comparator
    default = drift.categorical.threshold if categorical else drift.numeric.threshold
    return comparator, float(drift.thresholds.get(name, default))


def schema_with_comparators(
    schema: schema_pb2.Schema,
    baseline: statistics_pb2.DatasetFeatureStatisticsList,
    config: PlatformConfig,
    features: list[str],
    *,
    skew: bool = False,
) -> schema_pb2.Schema:
    """A copy of the schema with drift (and optionally skew) comparators on ``features``."""
    copy = schema_pb2.Schema()
    copy.CopyFrom(schema)
    stats = _feature_stats(baseline)
    by_name = {f.name: f for f in copy.feature}
    for name in features:
        if name not in by_name or name not in stats:
            continue
        comparator, threshold = threshold_for(config, name, _is_categorical(stats[name]))
        for target in ([by_name[name].drift_comparator]
                       + ([by_name[name].skew_comparator] if skew else [])):
            getattr(target, comparator).threshold = threshold
        # Presence differs by encoding only: ExampleGen stores an empty CSV cell as an empty
        # feature, TFDV's CSV decoder as a missing one. Not drift, not a broken file.
        by_name[name].ClearField("presence")
    return copy


def with_equal_mass_buckets(
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """A copy of ``statistics`` whose numeric standard histograms are their quantile buckets."""
    copy = statistics_pb2.DatasetFeatureStatisticsList()
    copy.CopyFrom(statistics)
    for feature in copy.datasets[0].features:
        if feature.WhichOneof("stats") != "num_stats":
            continue
        buckets = equal_mass_buckets(feature.num_stats)
        if buckets is None:
            continue
        for histogram in feature.num_stats.histograms:
            if histogram.type == statistics_pb2.Histogram.STANDARD:
                histogram.CopyFrom(buckets)
    return copy


def equal_mass_buckets(num_stats: statistics_pb2.NumericStatistics
                       ) -> statistics_pb2.Histogram | None:
    """The quantiles histogram as a standard one, zero-width buckets merged into a neighbour;
    None when there are no quantiles or the feature is constant (keep the standard one)."""
    quantiles = _histogram_of(num_stats, statistics_pb2.Histogram.QUANTILES)
    if quantiles is None:
        return None
    merged = statistics_pb2.Histogram(type=statistics_pb2.Histogram.STANDARD)
    # A point mass at v joins the bucket that ends at v: TFDV's overlap rule (which counts the
    # new data) treats buckets as (low, high], the first one as [low, high].
    for bucket in quantiles.buckets:
        last = merged.buckets[-1] if merged.buckets else None
        if last is not None and (last.high_value <= last.low_value
                                 or bucket.high_value <= last.high_value):
            last.high_value = max(last.high_value, bucket.high_value)
            last.sample_count += bucket.sample_count
        else:
            low = last.high_value if last is not None else bucket.low_value
            merged.buckets.add(low_value=low, high_value=bucket.high_value,
                               sample_count=bucket.sample_count)
    if not merged.buckets or any(b.high_value <= b.low_value for b in merged.buckets):
        return None
    return merged


def align_histograms(
    baseline: statistics_pb2.DatasetFeatureStatisticsList,
    current: statistics_pb2.DatasetFeatureStatisticsList,
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """A copy of ``current`` whose numeric standard histograms use the baseline's bucket edges."""
    aligned = statistics_pb2.DatasetFeatureStatisticsList()
    aligned.CopyFrom(current)
    base = _feature_stats(baseline)
    for feature in aligned.datasets[0].features:
        name = feature.path.step[0] if feature.path.step else feature.name
        if feature.WhichOneof("stats") != "num_stats" or name not in base:
            continue
        reference = _standard_histogram(base[name].num_stats)
        quantiles = _histogram_of(feature.num_stats, statistics_pb2.Histogram.QUANTILES)
        if reference is None or quantiles is None:
            continue
        rebucketed = rebucket(quantiles, reference, feature.num_stats.min, feature.num_stats.max)
        for histogram in feature.num_stats.histograms:
            if histogram.type == statistics_pb2.Histogram.STANDARD:
                histogram.CopyFrom(rebucketed)
    return aligned


def rebucket(quantiles: statistics_pb2.Histogram, reference: statistics_pb2.Histogram,
             new_min: float, new_max: float) -> statistics_pb2.Histogram:
    """Counts of ``quantiles`` on ``reference``'s edges (TFDV's overlap rule), with extra
    buckets for values below / above the reference range."""
    edges = [(b.low_value, b.high_value) for b in reference.buckets]
    low, high = edges[0][0], edges[-1][1]
    intervals: list[tuple[float, float, bool]] = []
    if new_min < low:
        intervals.append((new_min, _below(low), True))
    intervals += [(lo, hi, index == 0) for index, (lo, hi) in enumerate(edges)]
    if new_max > high:
        intervals.append((_above(high), new_max, False))
    result = statistics_pb2.Histogram(type=statistics_pb2.Histogram.STANDARD)
    for lo, hi, first in intervals:
        count = 0.0
        for bucket in quantiles.buckets:
            overlap, _, _ = quantiles_util._overlap(bucket, lo, hi, first)
            count += overlap * bucket.sample_count
        result.buckets.add(low_value=lo, high_value=hi, sample_count=count)
    return result


def _below(value: float) -> float:
    import numpy as np

    return float(np.nextafter(value, -np.inf))


def _above(value: float) -> float:
    import numpy as np

    return float(np.nextafter(value, np.inf))


def _histogram_of(num_stats: statistics_pb2.NumericStatistics, kind: int
                  ) -> statistics_pb2.Histogram | None:
    return next((h for h in num_stats.histograms if h.type == kind and h.buckets), None)


def _standard_histogram(num_stats: statistics_pb2.NumericStatistics
                        ) -> statistics_pb2.Histogram | None:
    return _histogram_of(num_stats, statistics_pb2.Histogram.STANDARD)


def compare(
    baseline: statistics_pb2.DatasetFeatureStatisticsList,
    current: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    config: PlatformConfig,
    features: list[str],
    *,
    source: str = "new data",
) -> list[FeatureDrift]:
    """Every feature's distance, threshold and verdict; SchemaBreakingError on other anomalies."""
    baseline = with_equal_mass_buckets(baseline)
    aligned = align_histograms(baseline, current)
    checked = schema_with_comparators(schema, baseline, config, features,
                                      skew=config.drift.skew_against_serving)
    anomalies = tfdv.validate_statistics(aligned, checked, previous_statistics=baseline)
    _raise_on_schema_anomalies(anomalies, features, source)
    skew = _skew_distances(baseline, aligned, checked) if config.drift.skew_against_serving \
        else {}
    measured = {_path(info.path): info for info in anomalies.drift_skew_info}
    base, new = _feature_stats(baseline), _feature_stats(aligned)
    results: list[FeatureDrift] = []
    for name in features:
        if name not in base:
            continue
        categorical = _is_categorical(base[name])
        comparator, threshold = threshold_for(config, name, categorical)
        info = measured.get(name)
        values = [m.value for m in info.drift_measurements] if info else []
        distance = max(values) if values else 0.0
        drifted = name in anomalies.anomaly_info and any(
            r.type in _DRIFT_REASONS for r in anomalies.anomaly_info[name].reason)
        results.append(FeatureDrift(
            name=name, kind="categorical" if categorical else "numeric",
            comparator=comparator, threshold=threshold, distance=float(distance),
            drifted=drifted, baseline=_distribution(base[name], base[name]),
            current=_distribution(new.get(name), base[name]), skew_distance=skew.get(name),
        ))
    return results


def _skew_distances(baseline: statistics_pb2.DatasetFeatureStatisticsList,
                    serving: statistics_pb2.DatasetFeatureStatisticsList,
                    schema: schema_pb2.Schema) -> dict[str, float]:
    """Training vs serving-environment skew (the new data plays the serving side)."""
    anomalies = tfdv.validate_statistics(baseline, schema, serving_statistics=serving)
    return {
        _path(info.path): max(m.value for m in info.skew_measurements)
        for info in anomalies.drift_skew_info if info.skew_measurements
    }


def _path(path: object) -> str:
    return ".".join(path.step)  # type: ignore[attr-defined]


def _raise_on_schema_anomalies(anomalies: anomalies_pb2.Anomalies, features: list[str],
                               source: str) -> None:
    problems = []
    for name, info in sorted(anomalies.anomaly_info.items()):
        other = [r for r in info.reason if r.type not in _DRIFT_REASONS]
        if other and name in features:
            problems.append(f"feature '{name}': " + "; ".join(
                r.description or r.short_description for r in other))
    if problems:
        raise SchemaBreakingError(
            f"{source}: does not fit the serving model's schema: " + " | ".join(problems)
            + ". Fix the file (or review the schema with `mlops schema freeze`) and land it "
            "again."
        )


def _distribution(feature: statistics_pb2.FeatureNameStatistics | None,
                  reference: statistics_pb2.FeatureNameStatistics) -> dict[str, list]:
    """Normalised distribution for plotting: buckets for numbers, top values for strings."""
    if feature is None:
        return {}
    if _is_categorical(reference):
        ranked = feature.string_stats.rank_histogram.buckets or []
        pairs = [(b.label, b.sample_count) for b in ranked] or [
            (v.value, v.frequency) for v in feature.string_stats.top_values]
        total = sum(c for _, c in pairs) or 1.0
        order = [b.label for b in reference.string_stats.rank_histogram.buckets][
            :_TOP_VALUES_SHOWN] or [label for label, _ in pairs[:_TOP_VALUES_SHOWN]]
        counts = dict(pairs)
        return {"labels": order, "shares": [counts.get(label, 0.0) / total for label in order]}
    histogram = _standard_histogram(feature.num_stats)
    if histogram is None:
        return {}
    total = sum(b.sample_count for b in histogram.buckets) or 1.0
    return {
        "edges": [[b.low_value, b.high_value] for b in histogram.buckets],
        "shares": [b.sample_count / total for b in histogram.buckets],
    }


def summarize(results: list[FeatureDrift]) -> Mapping[str, object]:
    drifted = [r.name for r in results if r.drifted]
    return {"drifted": bool(drifted), "drifted_features": drifted,
            "features_checked": len(results)}
