"""Training/serving skew: the features the serving export computes vs the training features.

Two views, as TFDV has them:

- **distribution skew**: per feature, the same figures as drift (``transforms.drift``: L-infinity
  for categorical features, JS divergence on shared bins for numeric ones, PSI), between the
  training features and the serving-computed features of a sample of serving-time records;
- **feature skew**: when both sides carry a key (``source_record_id``), the rows present in both
  are joined and, per feature, the share of rows whose values differ (numbers beyond a tolerance,
  nulls on one side only) is counted; with one shared transform
  (docs/architecture.md#training-and-serving) it should be 0.

A feature is flagged when its distance is above its drift threshold or any joined row differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.drift import FeatureDrift, compare
from transforms.statistics import dataset_statistics
from user_pipeline.config import DriftConfig


@dataclass(frozen=True)
class FeatureSkew:
    """One feature's skew: its distribution distance and, with a key, the rows that differ."""

    drift: FeatureDrift
    joined_rows: int
    mismatched_rows: int

    @property
    def mismatch_share(self) -> float:
        return self.mismatched_rows / self.joined_rows if self.joined_rows else 0.0

    @property
    def flagged(self) -> bool:
        return self.drift.fired or self.mismatched_rows > 0

    def to_json(self) -> dict:
        return {**asdict(self), "mismatch_share": self.mismatch_share, "flagged": self.flagged}


def _as_categories(table: pa.Table, categorical: Sequence[str]) -> pa.Table:
    # Index features are integers but categories: cast so they are compared by L-infinity.
    for name in categorical:
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, pc.cast(table.column(name), pa.string()))
    return table


def mismatched_rows(training: pa.Table, serving: pa.Table, key: str, features: Sequence[str],
                    tolerance: float = 1e-5) -> tuple[int, dict[str, int]]:
    """Rows in both tables (by ``key``) and, per feature, how many of them differ."""
    for side, table in (("training", training), ("serving", serving)):
        if table.column(key).null_count or len(pc.unique(table.column(key))) != table.num_rows:
            raise ValueError(f"{side}: key {key!r} must be present and unique")
    left = training.select([key, *features])
    right = serving.select([key, *features]).rename_columns([key, *(f"{f}__serving" for f in features)])
    joined = left.join(right, key, join_type="inner")
    counts = {}
    for name in features:
        a, b = joined.column(name), joined.column(f"{name}__serving")
        null_differs = pc.xor(pc.is_null(a), pc.is_null(b)).to_numpy(zero_copy_only=False)
        both = pc.and_(pc.is_valid(a), pc.is_valid(b)).to_numpy(zero_copy_only=False)
        if pa.types.is_floating(a.type) or pa.types.is_floating(b.type):
            x = pc.fill_null(pc.cast(a, pa.float64()), 0).to_numpy()
            y = pc.fill_null(pc.cast(b, pa.float64()), 0).to_numpy()
            differs = both & ~np.isclose(x, y, rtol=tolerance, atol=tolerance, equal_nan=True)
        else:
            differs = both & ~pc.fill_null(pc.equal(a, b), True).to_numpy(zero_copy_only=False)
        counts[name] = int(np.sum(null_differs | differs))
    return joined.num_rows, counts


def compare_skew(training: pa.Table, serving: pa.Table, cfg: DriftConfig, *, features: Sequence[str],
                 categorical: Sequence[str] = (), key: str | None = None, tolerance: float = 1e-5,
                 num_buckets: int = 10) -> list[FeatureSkew]:
    """The skew of every feature in ``features`` between training and serving-computed features."""
    missing = [(side, f) for side, t in (("training", training), ("serving", serving))
               for f in features if f not in t.column_names]
    if missing:
        raise KeyError(f"features missing: {missing}")
    train_f = _as_categories(training.select(list(features)), categorical)
    serve_f = _as_categories(serving.select(list(features)), categorical)
    drifts = compare(dataset_statistics(serve_f, name="serving"), dataset_statistics(train_f, name="training"),
                     cfg, tables=(serve_f, train_f), num_buckets=num_buckets)
    joined, counts = (mismatched_rows(training, serving, key, features, tolerance) if key else (0, {}))
    return [FeatureSkew(d, joined, counts.get(d.feature, 0)) for d in drifts]
