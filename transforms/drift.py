"""Drift and skew figures between two sets of statistics, with TFDV's definitions.

- Categorical features: **L-infinity distance** between the two normalised value-frequency
  vectors (TFDV ``LInftyDistance``: each side's top-value counts divided by their own total, the
  largest absolute difference over the union of values; the value where it occurs is reported).
- Numeric features: **Jensen-Shannon divergence**. From statistics alone (``js_divergence``): of
  the two ``STANDARD`` histograms, aligned as
  TFDV aligns them (``anomalies/metrics.cc``): point (zero-width) and infinite buckets are set
  aside, the finite buckets are re-bucketed onto the union of both sides' boundaries assuming a
  uniform spread inside each bucket, point masses and infinite mass are added back as extra
  buckets, NaNs as buckets that never match; then ``JS = (KL(P||M) + KL(Q||M)) / 2`` with
  **base-2 logarithms** (so JS is in [0, 1]), capped at 1 as TFDV does. That alignment is biased:
  two samples of one normal distribution differ in min/max, so their equal-width buckets do not
  line up and the uniform-spread assumption alone gave JS ~0.017 at any size (measured, 100
  resamples, n = 2,000 and 10,000), about the usual 0.02 threshold. So when the data is at hand
  (``compare(..., tables=...)``, what the job does) both sides are counted on **shared bins**: the
  reference's deciles (equal-mass buckets), the outer edges stretched to both sides' extremes;
  same JS formula, no re-bucketing, no bias.
- Both kinds also get a **population stability index**, ``PSI = sum (p - q) ln(p / q)`` over the
  same buckets/values (natural log, the convention behind the usual 0.1 / 0.25 rules of thumb),
  an empty side standing in as ``epsilon``. Categorical PSI adds an "other" bucket for values
  outside the top values so both sides sum to their row counts.

Which columns are compared follows from their roles (``transforms.schema``): ``compared_columns``.
Thresholds and severities come from ``user_pipeline.config.DriftConfig`` (``drift:`` in the pipeline YAML).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa

from transforms.schema import FREE_TEXT, IDENTIFIER, PARTITION, PERSONAL, PROVENANCE, TIMESTAMP, role_of
from transforms.statistics import (
    DatasetFeatureStatisticsList,
    FeatureNameStatistics,
    Histogram,
    as_numbers,
    category_counts,
    common,
    feature_names,
    histogram,
)
from transforms.statistics import feature as feature_stats
from user_pipeline.config import DriftConfig

OTHER = "__other__"
# Roles whose distribution says nothing about drift: ids and personal data are (nearly) one value
# per row, so is free text; timestamps and the partition move with the date by construction; run
# ids change with every run.
NOT_COMPARED = frozenset({IDENTIFIER, PERSONAL, FREE_TEXT, TIMESTAMP, PARTITION, PROVENANCE})


def compared_columns(schema: pa.Schema) -> list[str]:
    """The columns drift compares, in schema order: all but those whose role is in ``NOT_COMPARED``
    (a column without a declared role is compared: nothing is presumed an id by its name)."""
    return [field.name for field in schema if role_of(field) not in NOT_COMPARED]


@dataclass(frozen=True)
class FeatureDrift:
    """The comparison of one feature between the current data and a reference."""

    feature: str
    kind: str  # "categorical" | "numeric"
    metric: str  # "linf" | "js"
    value: float
    threshold: float
    psi: float
    severity: str  # "warning" | "failure": what a value above the threshold means
    fired: bool
    detail: str = ""  # the value with the largest difference (L-infinity)

    def to_json(self) -> dict:
        return asdict(self)


def linf_distance(counts_a: dict[str, float], counts_b: dict[str, float]) -> tuple[str, float]:
    """TFDV's L-infinity distance: (value, max |p_a(value) - p_b(value)|) of the normalised counts."""
    total_a, total_b = sum(counts_a.values()), sum(counts_b.values())
    if total_a <= 0 or total_b <= 0:
        raise ValueError("L-infinity distance needs counts on both sides")
    best, worst = "", 0.0
    for key in sorted(set(counts_a) | set(counts_b)):
        diff = abs(counts_a.get(key, 0.0) / total_a - counts_b.get(key, 0.0) / total_b)
        if diff >= worst:
            best, worst = key, diff
    return best, worst


def align_histograms(hist_a: Histogram, hist_b: Histogram) -> tuple[np.ndarray, np.ndarray]:
    """Counts of both histograms over shared buckets (TFDV's ``AlignHistograms``)."""
    parts_a, parts_b = _split(hist_a), _split(hist_b)
    bounds = np.union1d(parts_a.bounds, parts_b.bounds)
    counts_a = [_rebucket(parts_a, bounds), []]
    counts_b = [_rebucket(parts_b, bounds), []]
    for point in sorted(set(parts_a.points) | set(parts_b.points)):
        counts_a[1].append(parts_a.points.get(point, 0.0))
        counts_b[1].append(parts_b.points.get(point, 0.0))
    if parts_a.infinite:
        counts_a[1].append(parts_a.infinite)
        counts_b[1].append(0.0)
    if parts_b.infinite:
        counts_a[1].append(0.0)
        counts_b[1].append(parts_b.infinite)
    if hist_a.num_nan or hist_b.num_nan:
        counts_a[1] += [0.0, float(hist_a.num_nan)]
        counts_b[1] += [float(hist_b.num_nan), 0.0]
    return (np.concatenate([counts_a[0], np.asarray(counts_a[1], dtype=float)]),
            np.concatenate([counts_b[0], np.asarray(counts_b[1], dtype=float)]))


@dataclass
class _Parts:
    lows: np.ndarray
    highs: np.ndarray
    counts: np.ndarray
    points: dict[float, float]
    infinite: float

    @property
    def bounds(self) -> np.ndarray:
        return np.union1d(self.lows, self.highs)


def _split(hist: Histogram) -> _Parts:
    lows, highs, counts, points, infinite = [], [], [], {}, 0.0
    for b in hist.buckets:
        if not (np.isfinite(b.low_value) and np.isfinite(b.high_value)):
            infinite += b.sample_count
        elif b.low_value == b.high_value:
            points[b.low_value] = points.get(b.low_value, 0.0) + b.sample_count
        else:
            lows.append(b.low_value)
            highs.append(b.high_value)
            counts.append(b.sample_count)
    return _Parts(np.asarray(lows, float), np.asarray(highs, float), np.asarray(counts, float), points, infinite)


def _rebucket(parts: _Parts, bounds: np.ndarray) -> np.ndarray:
    """Spread each bucket's count over the new buckets it covers, in proportion to the overlap."""
    if len(bounds) < 2:
        return np.zeros(0)
    new_lo, new_hi = bounds[:-1], bounds[1:]
    overlap = (np.minimum(parts.highs[:, None], new_hi[None, :]) - np.maximum(parts.lows[:, None], new_lo[None, :]))
    share = np.clip(overlap, 0, None) / (parts.highs - parts.lows)[:, None]
    return (parts.counts[:, None] * share).sum(axis=0)


def js_divergence_counts(p: np.ndarray, q: np.ndarray) -> float:
    """JS divergence (base 2, capped at 1) of two count vectors over the same buckets."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    if p.sum() <= 0 or q.sum() <= 0:
        raise ValueError("Unable to normalize an empty histogram")
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2
    return min(float((_kl(p, m) + _kl(q, m)) / 2), 1.0)


def _kl(p: np.ndarray, q: np.ndarray) -> float:
    mask = (p > 0) & (q > 0)
    return float(np.sum(p[mask] * np.log2(p[mask] / q[mask])))


def js_divergence(hist_a: Histogram, hist_b: Histogram) -> float:
    """TFDV's Jensen-Shannon divergence of two numeric histograms."""
    return js_divergence_counts(*align_histograms(hist_a, hist_b))


def psi(p: np.ndarray, q: np.ndarray, epsilon: float = 1e-4) -> float:
    """Population stability index of two count vectors over the same buckets (natural log)."""
    p, q = np.asarray(p, float), np.asarray(q, float)
    if p.sum() <= 0 or q.sum() <= 0:
        raise ValueError("PSI needs counts on both sides")
    p, q = np.maximum(p / p.sum(), epsilon), np.maximum(q / q.sum(), epsilon)
    return float(np.sum((p - q) * np.log(p / q)))


def categorical_vectors(current: FeatureNameStatistics,
                        reference: FeatureNameStatistics) -> tuple[np.ndarray, np.ndarray]:
    """Counts over the union of both sides' top values plus the rest (``OTHER``), for PSI."""
    a, b = category_counts(current), category_counts(reference)
    keys = sorted(set(a) | set(b))
    va = [a.get(k, 0.0) for k in keys] + [common(current).num_non_missing - sum(a.values())]
    vb = [b.get(k, 0.0) for k in keys] + [common(reference).num_non_missing - sum(b.values())]
    return np.asarray(va, float), np.asarray(vb, float)


def shared_bin_counts(current: pa.ChunkedArray | np.ndarray, reference: pa.ChunkedArray | np.ndarray,
                      num_buckets: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Counts of both samples on the same bins: the reference's quantiles, outer edges at the extremes.

    Nulls and NaNs are left out (their share is compared by the missing counts, not here).
    """
    a, b = _finite(current), _finite(reference)
    if a.size == 0 or b.size == 0:
        raise ValueError("shared bins need values on both sides")
    inner = np.quantile(b, np.linspace(0, 1, num_buckets + 1)[1:-1])
    edges = np.unique(np.concatenate([[min(a.min(), b.min())], inner, [max(a.max(), b.max())]]))
    if edges.size < 2:  # both sides are the same constant
        return np.array([a.size], float), np.array([b.size], float)
    return (np.histogram(a, bins=edges)[0].astype(float), np.histogram(b, bins=edges)[0].astype(float))


def _finite(values: pa.ChunkedArray | np.ndarray) -> np.ndarray:
    if isinstance(values, pa.ChunkedArray | pa.Array):
        values = as_numbers(values.drop_null() if isinstance(values, pa.ChunkedArray) else values)
        values = values.to_numpy() if isinstance(values, pa.ChunkedArray) else values.to_numpy(zero_copy_only=False)
    values = np.asarray(values, dtype=float)
    return values[np.isfinite(values)]


def compare_feature(name: str, current: FeatureNameStatistics, reference: FeatureNameStatistics,
                    cfg: DriftConfig, columns: tuple[pa.ChunkedArray, pa.ChunkedArray] | None = None,
                    num_buckets: int = 10) -> FeatureDrift | None:
    """The drift of one feature, or None when either side has no values to compare.

    ``columns`` (current, reference): count numeric features on shared bins (see the module doc)
    instead of aligning the stored histograms.
    """
    numeric = current.HasField("num_stats")
    if numeric != reference.HasField("num_stats"):
        raise ValueError(f"{name}: numeric on one side and categorical on the other")
    threshold, severity = cfg.threshold(name, numeric), cfg.severity_of(name)
    if numeric:
        hist_a, hist_b = histogram(current), histogram(reference)
        if not hist_a.buckets or not hist_b.buckets:
            return None
        if columns is not None:
            p, q = shared_bin_counts(columns[0], columns[1], num_buckets)
        else:
            p, q = align_histograms(hist_a, hist_b)
        value, detail, metric, kind = js_divergence_counts(p, q), "", "js", "numeric"
    else:
        a, b = category_counts(current), category_counts(reference)
        if not a or not b:
            return None
        detail, value = linf_distance(a, b)
        p, q = categorical_vectors(current, reference)
        metric, kind = "linf", "categorical"
    return FeatureDrift(name, kind, metric, value, threshold, psi(p, q, cfg.psi_epsilon), severity,
                        fired=value > threshold, detail=detail)


def compare(current: DatasetFeatureStatisticsList, reference: DatasetFeatureStatisticsList,
            cfg: DriftConfig, *, tables: tuple[pa.Table, pa.Table] | None = None,
            num_buckets: int = 10, schema: pa.Schema | None = None) -> list[FeatureDrift]:
    """Drift of every enabled feature the two statistics share, in the current statistics' order.

    ``tables`` (the current and reference data the statistics describe): numeric features are
    compared on shared bins (``num_buckets`` reference quantiles) rather than stored histograms.
    ``schema`` (the data's, with roles): the columns it declares but does not compare
    (``compared_columns``) are left out.
    """
    ref_names = set(feature_names(reference))
    left_out = set(schema.names) - set(compared_columns(schema)) if schema is not None else set()
    found = []
    for name in feature_names(current):
        if name not in ref_names or name in left_out or not cfg.enabled(name):
            continue
        columns = (tables[0].column(name), tables[1].column(name)) if tables is not None else None
        drift = compare_feature(name, feature_stats(current, name), feature_stats(reference, name), cfg,
                                columns, num_buckets)
        if drift is not None:
            found.append(drift)
    return found


def failures(drifts: list[FeatureDrift]) -> list[FeatureDrift]:
    """The drifts above threshold whose severity is ``failure``."""
    return [d for d in drifts if d.fired and d.severity == "failure"]


def warnings(drifts: list[FeatureDrift]) -> list[FeatureDrift]:
    """The drifts above threshold whose severity is ``warning``."""
    return [d for d in drifts if d.fired and d.severity == "warning"]
