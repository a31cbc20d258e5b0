"""Per-column statistics of an Arrow table, in the ecosystem's format (tensorflow_metadata).

TFDV cannot be installed beside our stack (docs/architecture.md#stack-facts), so this computes what its
``GenerateStatistics`` would, with pyarrow.compute and numpy (vectorised, no per-row Python), and
fills the same proto, ``tensorflow_metadata.proto.v0.statistics_pb2.DatasetFeatureStatisticsList``:

- every column: ``num_non_missing``, ``num_missing`` (common_stats), and a ``distinct`` custom stat;
- numeric columns (ints, floats; dates and timestamps as their integer days / ms since the epoch):
  ``num_stats`` with mean, std_dev (population, as TFDV), num_zeros, min, median, max, a
  ``STANDARD`` histogram of equal-width buckets over [min, max] and a ``QUANTILES`` histogram whose
  bucket bounds are the exact quantiles; NaNs are counted in the histograms' ``num_nan`` and left
  out of the other figures;
- other columns (strings, booleans): ``string_stats`` with ``unique``, ``avg_length``,
  ``top_values`` and the same values as a ``rank_histogram`` (what TFDV's drift comparator reads).

Reading a figure back is plain proto access; ``feature`` finds a column's entry by name.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from google.protobuf import json_format
from tensorflow_metadata.proto.v0 import statistics_pb2

Histogram = statistics_pb2.Histogram
FeatureNameStatistics = statistics_pb2.FeatureNameStatistics
DatasetFeatureStatisticsList = statistics_pb2.DatasetFeatureStatisticsList


def is_numeric(data_type: pa.DataType) -> bool:
    """Columns described by ``num_stats`` (and compared with JS divergence); the rest are categorical."""
    return (pa.types.is_integer(data_type) or pa.types.is_floating(data_type)
            or pa.types.is_temporal(data_type) or pa.types.is_decimal(data_type))


def as_numbers(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Dates/timestamps/durations as their integer storage; decimals as float64."""
    t = column.type
    if pa.types.is_date32(t) or pa.types.is_time32(t):
        return pc.cast(column, pa.int32())
    if pa.types.is_temporal(t):
        return pc.cast(column, pa.int64())
    if pa.types.is_decimal(t):
        return pc.cast(column, pa.float64())
    return column


def numeric_statistics(column: pa.ChunkedArray, *, num_quantiles: int = 10,
                       num_buckets: int = 10) -> statistics_pb2.NumericStatistics:
    """``num_stats`` of one numeric column (nulls excluded; NaNs counted, then excluded)."""
    column = as_numbers(column)
    values = column.drop_null()
    num_nan = 0
    if pa.types.is_floating(values.type):
        nan = pc.is_nan(values)
        num_nan = pc.sum(nan).as_py() or 0
        if num_nan:
            values = values.filter(pc.invert(nan))
    stats = statistics_pb2.NumericStatistics()
    _common(stats.common_stats, column)
    if len(values) == 0:
        return stats
    bounds = pc.min_max(values)
    low, high = float(bounds["min"].as_py()), float(bounds["max"].as_py())
    stats.min, stats.max = low, high
    stats.mean = pc.mean(values).as_py()
    stats.std_dev = pc.stddev(values, ddof=0).as_py()
    stats.num_zeros = pc.sum(pc.equal(values, 0)).as_py() or 0
    qs = np.linspace(0.0, 1.0, num_quantiles + 1)
    cuts = np.asarray(pc.quantile(values, q=qs.tolist(), interpolation="linear"), dtype=float)
    stats.median = float(np.asarray(pc.quantile(values, q=0.5, interpolation="linear"))[0])
    per_bucket = len(values) / num_quantiles
    quantiles = stats.histograms.add(type=Histogram.QUANTILES, num_nan=num_nan)
    for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
        quantiles.buckets.add(low_value=lo, high_value=hi, sample_count=per_bucket)
    edges, counts = equal_width_histogram(values.to_numpy(), low, high, num_buckets)
    standard = stats.histograms.add(type=Histogram.STANDARD, num_nan=num_nan)
    for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True):
        standard.buckets.add(low_value=lo, high_value=hi, sample_count=float(n))
    return stats


def equal_width_histogram(values: np.ndarray, low: float, high: float,
                          num_buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """Edges and counts of ``num_buckets`` equal-width buckets over [low, high] (the last one closed).

    A constant column gets one zero-width bucket (a point mass, as TFDV writes it).
    """
    if low == high:
        return np.array([low, high]), np.array([len(values)])
    counts, edges = np.histogram(values, bins=num_buckets, range=(low, high))
    return edges, counts


def string_statistics(column: pa.ChunkedArray, *, top_k: int = 20) -> statistics_pb2.StringStatistics:
    """``string_stats`` of one categorical column: distinct count, average length, top values."""
    stats = statistics_pb2.StringStatistics()
    _common(stats.common_stats, column)
    values = column.drop_null()
    if len(values) == 0:
        return stats
    if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
        values = pc.cast(values, pa.string())
    counts = pc.value_counts(values)
    stats.unique = len(counts)
    stats.avg_length = float(pc.mean(pc.utf8_length(values)).as_py())
    order = pc.sort_indices(counts, sort_keys=[("counts", "descending"), ("values", "ascending")])
    top = counts.take(order[:top_k])
    for rank, (value, count) in enumerate(zip(top.field("values").to_pylist(), top.field("counts").to_pylist(),
                                              strict=True)):
        stats.top_values.add(value=value, frequency=count)
        stats.rank_histogram.buckets.add(low_rank=rank, high_rank=rank, label=value, sample_count=count)
    return stats


def _common(common: statistics_pb2.CommonStatistics, column: pa.ChunkedArray) -> None:
    # Our columns are scalar: a present value is one value.
    present = len(column) - column.null_count
    common.num_non_missing = present
    common.num_missing = column.null_count
    common.tot_num_values = present
    if present:
        common.min_num_values = common.max_num_values = 1
        common.avg_num_values = 1.0


def feature_statistics(name: str, column: pa.ChunkedArray, *, num_quantiles: int = 10, num_buckets: int = 10,
                       top_k: int = 20) -> FeatureNameStatistics:
    """The statistics of one column, typed as TFDV would type it."""
    feature = FeatureNameStatistics()
    feature.path.step.append(name)
    if is_numeric(column.type):
        feature.type = FeatureNameStatistics.FLOAT if pa.types.is_floating(column.type) else FeatureNameStatistics.INT
        feature.num_stats.CopyFrom(numeric_statistics(column, num_quantiles=num_quantiles, num_buckets=num_buckets))
    else:
        feature.type = FeatureNameStatistics.STRING
        feature.string_stats.CopyFrom(string_statistics(column, top_k=top_k))
    distinct = pc.count_distinct(column, mode="only_valid").as_py()
    feature.custom_stats.add(name="distinct", num=distinct)
    return feature


def dataset_statistics(table: pa.Table, *, name: str, num_quantiles: int = 10, num_buckets: int = 10,
                       top_k: int = 20, columns: list[str] | None = None) -> DatasetFeatureStatisticsList:
    """Statistics of every column of ``table`` (or of ``columns``), as one-dataset statistics list."""
    if num_quantiles < 1 or num_buckets < 1 or top_k < 1:
        raise ValueError("num_quantiles, num_buckets and top_k must be at least 1")
    missing = sorted(set(columns or []) - set(table.column_names))
    if missing:
        raise KeyError(f"columns not in the table: {missing}; it has {table.column_names}")
    result = DatasetFeatureStatisticsList()
    stats = result.datasets.add(name=name, num_examples=table.num_rows)
    for column in columns or table.column_names:
        stats.features.append(feature_statistics(column, table.column(column), num_quantiles=num_quantiles,
                                                 num_buckets=num_buckets, top_k=top_k))
    return result


def feature(stats: DatasetFeatureStatisticsList, name: str) -> FeatureNameStatistics:
    """The entry of column ``name`` in the (first) dataset of ``stats``."""
    for found in stats.datasets[0].features:
        if ".".join(found.path.step) == name or found.name == name:
            return found
    raise KeyError(f"no statistics for feature {name!r}")


def feature_names(stats: DatasetFeatureStatisticsList) -> list[str]:
    """Column names in the order they were described."""
    return [".".join(f.path.step) or f.name for f in stats.datasets[0].features]


def histogram(stats: FeatureNameStatistics, kind: int = Histogram.STANDARD) -> Histogram:
    """The histogram of a numeric feature of the given type (``Histogram.STANDARD`` or ``QUANTILES``)."""
    for found in stats.num_stats.histograms:
        if found.type == kind:
            return found
    return Histogram(type=kind)


def category_counts(stats: FeatureNameStatistics) -> dict[str, float]:
    """Value -> count of a categorical feature (its top values: what TFDV's L-infinity reads)."""
    return {b.label: b.sample_count for b in stats.string_stats.rank_histogram.buckets}


def custom_stat(stats: FeatureNameStatistics, name: str) -> float | None:
    """A numeric custom statistic (``distinct``) or None."""
    for found in stats.custom_stats:
        if found.name == name:
            return found.num
    return None


def common(stats: FeatureNameStatistics) -> statistics_pb2.CommonStatistics:
    """The common statistics (counts) whichever kind the feature is."""
    return stats.num_stats.common_stats if stats.HasField("num_stats") else stats.string_stats.common_stats


def to_json(stats: DatasetFeatureStatisticsList) -> str:
    """The proto's canonical JSON mapping (readable, and what other tools load)."""
    return json_format.MessageToJson(stats, indent=1)


def from_json(text: str | bytes) -> DatasetFeatureStatisticsList:
    """Parse statistics written by ``to_json``."""
    return json_format.Parse(text, DatasetFeatureStatisticsList())


def from_bytes(payload: bytes) -> DatasetFeatureStatisticsList:
    """Parse the binary proto (what TFDV's ``load_stats_binary`` reads)."""
    stats = DatasetFeatureStatisticsList()
    stats.ParseFromString(payload)
    return stats
