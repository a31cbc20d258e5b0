"""Which clean user rows become training rows, and in which split (pure, vectorised).

A training row is a clean user row with a known outcome. The train/eval split is stable and
exact (DESIGN §8): each id gets a salted hash (hashlib, the same in every process); within each
label the rows are ranked by that hash and the lowest ``eval_fraction`` go to eval. A pure
hash threshold would be just as stable but leaves small data unbalanced.

The price of the exact cut: an id's split is fixed for a given set of rows (re-runs, backfills
and the serving parity check see the same split), but it can change when the window's rows
change, because the cut is a rank. Each model is evaluated only on its own window's eval split,
so this never puts a model's training row into its own evaluation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.features import ID_COLUMN, LABEL, SPLIT_COLUMN

SPLIT_HASH = "_split_hash"
TRAIN = "train"
EVAL = "eval"


def training_window(ds: str, window_days: int) -> list[str]:
    """The ``window_days`` dates up to and including ``ds``, oldest first."""
    end = date.fromisoformat(ds)
    return [(end - timedelta(days=back)).isoformat() for back in range(window_days - 1, -1, -1)]


def latest_outcomes(outcomes: pa.Table) -> pa.Table:
    """One outcome per id (``source_record_id``, label): the latest ``observed_date`` wins.

    Outcomes without a label are not outcomes and are left out.
    """
    outcomes = outcomes.filter(pc.is_valid(outcomes.column(LABEL)))
    if outcomes.num_rows == 0:
        return pa.table({ID_COLUMN: pa.array([], pa.string()), LABEL: pa.array([], pa.int64())})
    ordered = outcomes.sort_by([(ID_COLUMN, "ascending"), ("observed_date", "ascending")])
    # Ordered aggregation ("last") needs the single-threaded group-by.
    latest = ordered.group_by(ID_COLUMN, use_threads=False).aggregate([(LABEL, "last")])
    return latest.rename_columns([LABEL if name == f"{LABEL}_last" else name for name in latest.column_names])


def attach_labels(users: pa.Table, outcomes: pa.Table) -> tuple[pa.Table, int]:
    """The users that have an outcome, with the label column; and how many had none.

    ``outcomes`` has one row per id (see :func:`latest_outcomes`). Row order is kept.
    """
    # skip_nulls: a null id matches nothing (it would otherwise match a null outcome id).
    positions = pc.index_in(users.column(ID_COLUMN), value_set=outcomes.column(ID_COLUMN), skip_nulls=True)
    labelled = pc.is_valid(positions)
    labels = pc.take(outcomes.column(LABEL), positions.filter(labelled))
    kept = users.filter(labelled).append_column(LABEL, labels.cast(pa.int64()))
    return kept, users.num_rows - kept.num_rows


def split_hashes(ids: pa.Array | pa.ChunkedArray, salt: str) -> np.ndarray:
    """A stable unsigned 64-bit hash of each id, salted (blake2b keyed; never Python's hash())."""
    key = salt.encode()
    return np.fromiter(
        (
            int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8, key=key).digest(), "big")
            for value in ids.to_pylist()
        ),
        dtype=np.uint64,
        count=len(ids),
    )


def with_split_hash(table: pa.Table, salt: str) -> pa.Table:
    """``table`` with its ids' split hashes in the ``_split_hash`` column."""
    return table.append_column(SPLIT_HASH, pa.array(split_hashes(table.column(ID_COLUMN), salt)))


def eval_cutoffs(labels: np.ndarray, hashes: np.ndarray, eval_fraction: float) -> dict[int, int | None]:
    """Per label, the largest hash that still goes to eval (None: no eval rows for that label).

    The eval share is exact per label: ``round(n * eval_fraction)`` rows of each label.
    """
    cutoffs: dict[int, int | None] = {}
    for label in np.unique(labels):
        ranked = np.sort(hashes[labels == label])
        n_eval = int(round(len(ranked) * eval_fraction))
        cutoffs[int(label)] = int(ranked[n_eval - 1]) if n_eval > 0 else None
    return cutoffs


def assign_split(table: pa.Table, cutoffs: dict[int, int | None]) -> pa.Table:
    """Replace the ``_split_hash`` column by the ``split`` column ("train" / "eval")."""
    labels = table.column(LABEL).to_numpy()
    hashes = table.column(SPLIT_HASH).to_numpy()
    is_eval = np.zeros(len(labels), dtype=bool)
    for label, cutoff in cutoffs.items():
        if cutoff is not None:
            is_eval |= (labels == label) & (hashes <= np.uint64(cutoff))
    split = pa.array(np.where(is_eval, EVAL, TRAIN), pa.string())
    return table.drop_columns([SPLIT_HASH]).append_column(SPLIT_COLUMN, split)


def split_parts(table: pa.Table) -> Iterable[tuple[str, pa.Table]]:
    """The non-empty train and eval parts of a split table."""
    for name in (TRAIN, EVAL):
        part = table.filter(pc.equal(table.column(SPLIT_COLUMN), name))
        if part.num_rows:
            yield name, part
