"""ID-merge survivorship: one row per canonical user from the records merged into it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def survivors(records: pd.DataFrame, canonical_ids: np.ndarray, *, fields: Sequence[str],
              recency: str, source_priority: Sequence[str]) -> pd.DataFrame:
    """One row per canonical id. Survivorship: per field, the most recent non-null value
    (``recency`` column, later wins); ties go to the source earlier in ``source_priority``, then
    the smallest ``source_record_id``. ``merged_records`` counts the records merged."""
    canonical_ids = np.asarray(canonical_ids, dtype=object)
    group, _ = pd.factorize(canonical_ids)
    alone = np.bincount(group)[group] == 1
    # A canonical id with one record survives as that record: only the merged ones need the rules.
    frame = records.loc[~alone].copy()
    frame["canonical_id"] = canonical_ids[~alone]
    rank = {s: i for i, s in enumerate(source_priority)}
    frame["_priority"] = frame["source"].map(rank).fillna(len(rank)) if "source" in frame else 0
    frame = frame.sort_values(["canonical_id", recency, "_priority", "source_record_id"],
                              ascending=[True, False, True, True], na_position="last", kind="stable")
    grouped = frame.groupby("canonical_id", sort=True)
    # GroupBy.first takes the first non-null value of each column: the survivorship rule.
    merged = grouped[list(fields)].first()
    merged["merged_records"] = grouped.size().astype(np.int64)
    single = records.loc[alone, list(fields)].set_axis(pd.Index(canonical_ids[alone], name="canonical_id"))
    single["merged_records"] = np.int64(1)
    out = pd.concat([merged, single]) if len(merged) else single
    return out.sort_index(kind="stable").reset_index()
