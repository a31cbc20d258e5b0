"""ID-merge canonical ids: stable across re-runs and days.

A cluster inherits the previous id of its members (the previous map), otherwise it gets a hash of
its smallest member id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from transforms.schema import USERS_MERGED

ANCHOR_PREFIX = "canonical:"  # record id of a prior canonical user taking part in today's merge


def new_canonical_id(member_ids: Sequence[str]) -> str:
    """A new canonical id: a hash of the smallest member id (deterministic across re-runs)."""
    return "u-" + hashlib.sha256(min(member_ids).encode("utf-8")).hexdigest()[:16]


def assign_ids(record_ids: Sequence[str], labels: np.ndarray, previous: dict[str, str]) -> np.ndarray:
    """Canonical id per record: a cluster keeps the previous id most of its members held
    (``previous``: record id -> canonical id, from yesterday's map or prior anchors); a previous
    id is given to one cluster only (the one with most members holding it, then smallest member),
    so a split cluster keeps its id on its larger part and the rest get new ids."""
    rids = np.asarray(record_ids, dtype=object)
    clusters, cluster_of = np.unique(np.asarray(labels, dtype=np.int64), return_inverse=True)
    # The smallest member id of each cluster, from the record ids' sorted ranks (no per-cluster loop).
    rank, sorted_ids = pd.factorize(rids, sort=True)
    smallest = np.full(len(clusters), len(sorted_ids), dtype=np.int64)
    np.minimum.at(smallest, cluster_of, rank)
    first = np.asarray(sorted_ids, dtype=object)[smallest]
    prev = pd.Series(rids, dtype=object).map(previous).to_numpy(dtype=object) if previous else None
    taken: dict[int, str] = {}
    if prev is not None:
        held = ~pd.isna(prev)
        votes = (pd.DataFrame({"cluster": cluster_of[held], "prev": prev[held]})
                 .groupby(["cluster", "prev"]).size().rename("n").reset_index())
        votes["first"] = first[votes["cluster"].to_numpy()]
        votes = votes.sort_values(["n", "first", "prev"], ascending=[False, True, True], kind="stable")
        used: set[str] = set()
        for cluster_no, prev_id in zip(votes["cluster"], votes["prev"], strict=True):
            if cluster_no in taken or prev_id in used:
                continue
            taken[cluster_no] = prev_id
            used.add(prev_id)
    ids = np.array([taken.get(k) or new_canonical_id([smallest_id]) for k, smallest_id in enumerate(first)],
                   dtype=object)
    return ids[cluster_of]


def as_singletons(records: pa.Table, *, run_id: str) -> pa.Table:
    """``STAGED_USERS`` records as ``USERS_MERGED`` rows, each its own canonical user, with the id
    ID-merge gives a record it links to nothing: for step tests and benchmarks that start after
    ID-merge without running it."""
    ids = records.column("source_record_id").to_pylist()
    columns = {
        "canonical_id": pa.array([new_canonical_id([rid]) for rid in ids], pa.string()),
        **{name: records.column(name) for name in records.column_names if name in USERS_MERGED.names},
        "merged_records": pa.array(np.ones(records.num_rows, dtype=np.int64)),
        "id_merge_run_id": pa.array([run_id] * records.num_rows, pa.string()),
    }
    return pa.table(columns).select(USERS_MERGED.names).cast(USERS_MERGED)
