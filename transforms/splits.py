"""Balanced, stable train/dev/test splits (pure, vectorised; docs/architecture.md#stack-facts).

An id's split is decided once, the first time the id is seen with a label, and kept in the
assignment table (``features.split_assignments``, one partition per date, each holding every
assignment made up to that date). Later runs reuse it, so an id never changes split: not on a
re-run, not on another day, not when new users arrive. That is what rules out leakage between the
models of different days, which a rank cut over each day's window (the previous scheme) could not.

New ids are assigned per stratum (the label at assignment, plus the ``stratify_by`` columns, e.g.
the source). Each split's quota of the new ids is what brings that stratum's counts closest to the
target fractions of (assigned before + new): exactly, to within one row per split, unless earlier
assignments already exceed a target (they are never moved). Which new ids fill which quota is
decided by a salted blake2b hash of the id (never Python's ``hash()``, which differs per process):
ids are ranked by hash and cut, so the same inputs always give the same assignment.

Tolerance, stated: within a stratum every split is within one row of its target share, so the
label rate of a split with ``n`` rows differs from the overall rate by at most
``rate_tolerance(n, strata)`` = (strata + 1) / n (e.g. 3 points for a 100-row split and two
labels), where a pure hash threshold leaves it to chance (about ±9 points at n=100, 2 sigma).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.features import ID_COLUMN, LABEL, SPLIT_COLUMN
from transforms.schema import SPLIT_ASSIGNMENTS

TRAIN, DEV, TEST = "train", "dev", "test"
SPLITS = (TRAIN, DEV, TEST)
STRATUM = "stratum"


class SplitError(ValueError):
    """Inputs a split cannot be made from (bad fractions, ids without an assignment)."""


def check_fractions(fractions: Mapping[str, float]) -> dict[str, float]:
    """The fractions in ``SPLITS`` order, or SplitError unless they are the three splits, >= 0, sum 1."""
    if set(fractions) != set(SPLITS):
        raise SplitError(f"split fractions must name exactly {list(SPLITS)}, got {sorted(fractions)}")
    if any(value < 0 for value in fractions.values()) or abs(sum(fractions.values()) - 1.0) > 1e-9:
        raise SplitError(f"split fractions must be >= 0 and sum to 1, got {dict(fractions)}")
    return {name: float(fractions[name]) for name in SPLITS}


def split_hashes(ids: pa.Array | pa.ChunkedArray, salt: str) -> np.ndarray:
    """A stable unsigned 64-bit hash of each id, salted (blake2b keyed; never Python's hash())."""
    key = salt.encode()
    return np.fromiter(
        (int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8, key=key).digest(), "big")
         for value in ids.to_pylist()),
        dtype=np.uint64, count=len(ids),
    )


def strata(table: pa.Table, stratify_by: Sequence[str]) -> pa.Array:
    """The stratum of each row: its label and the ``stratify_by`` values ("(null)" for a null)."""
    parts = []
    for name in (LABEL, *stratify_by):
        if name not in table.column_names:
            raise SplitError(f"cannot stratify by {name!r}: the table has no such column")
        values = pc.fill_null(pc.cast(table.column(name), pa.string()), "(null)")
        parts.append(pc.binary_join_element_wise(f"{name}=", values, ""))
    return pc.binary_join_element_wise(*parts, "|") if len(parts) > 1 else parts[0]


def quotas(existing: Mapping[str, int], new: int, fractions: Mapping[str, float]) -> dict[str, int]:
    """How many of ``new`` ids each split gets so the stratum's counts come closest to the targets.

    Targets are ``fraction * (assigned before + new)``; a split already above target gets none
    (assignments are never moved); the rest is shared by deficit with largest remainders, ties in
    ``SPLITS`` order, so the quotas always sum to ``new``.
    """
    total = sum(existing.get(name, 0) for name in SPLITS) + new
    deficit = {name: max(0.0, fractions[name] * total - existing.get(name, 0)) for name in SPLITS}
    owed = sum(deficit.values())
    if new == 0:
        return dict.fromkeys(SPLITS, 0)
    if owed <= 0:  # only when every fraction is met exactly: fall back to the fractions
        deficit, owed = dict(fractions), 1.0
    share = {name: new * deficit[name] / owed for name in SPLITS}
    given = {name: int(np.floor(share[name])) for name in SPLITS}
    by_remainder = sorted(SPLITS, key=lambda name: (-(share[name] - given[name]), SPLITS.index(name)))
    for name in by_remainder[: new - sum(given.values())]:
        given[name] += 1
    return given


def assign(previous: pa.Table | None, candidates: pa.Table, *, fractions: Mapping[str, float], salt: str,
           stratify_by: Sequence[str], ds: str) -> pa.Table:
    """Every assignment up to ``ds``: ``previous`` unchanged, plus the candidates it lacks.

    ``candidates`` holds the labelled rows of this run (id, label, the ``stratify_by`` columns);
    an id may occur more than once (its first row's stratum counts). Returns ``SPLIT_ASSIGNMENTS``
    rows, sorted by id.
    """
    fractions = check_fractions(fractions)
    schema = SPLIT_ASSIGNMENTS
    previous = schema.empty_table() if previous is None else previous.select(schema.names).cast(schema)
    if candidates.num_rows and pc.any(pc.is_null(candidates.column(ID_COLUMN))).as_py():
        raise SplitError("a candidate row has no id: it cannot be assigned a split")
    known = pc.is_in(candidates.column(ID_COLUMN), value_set=previous.column(ID_COLUMN))
    fresh = candidates.filter(pc.invert(known))
    if fresh.num_rows:
        first = pc.index_in(fresh.column(ID_COLUMN), value_set=pc.unique(fresh.column(ID_COLUMN)))
        fresh = fresh.take(np.unique(first.to_numpy(), return_index=True)[1])
    fresh_strata = strata(fresh, stratify_by).to_numpy(zero_copy_only=False)
    hashes = split_hashes(fresh.column(ID_COLUMN), salt)
    ids = fresh.column(ID_COLUMN).to_numpy(zero_copy_only=False)
    counts = _counts_by_stratum(previous)
    split = np.empty(len(ids), dtype=object)
    for stratum in np.unique(fresh_strata):
        rows = np.flatnonzero(fresh_strata == stratum)
        # Ties in the hash (astronomically rare) are broken by id, so the order is total.
        ranked = rows[np.lexsort((ids[rows], hashes[rows]))]
        start = 0
        for name, size in quotas(counts.get(stratum, {}), len(rows), fractions).items():
            split[ranked[start:start + size]] = name
            start += size
    added = pa.table({
        ID_COLUMN: pa.array(ids, pa.string()),
        SPLIT_COLUMN: pa.array(split, pa.string()),
        STRATUM: pa.array(fresh_strata, pa.string()),
        LABEL: pc.cast(fresh.column(LABEL), pa.int64()),
        "assigned_ds": pa.array([ds] * len(ids), pa.string()),
    }, schema=SPLIT_ASSIGNMENTS)
    return pa.concat_tables([previous, added]).sort_by(ID_COLUMN)


def _counts_by_stratum(assignments: pa.Table) -> dict[str, dict[str, int]]:
    grouped = assignments.group_by([STRATUM, SPLIT_COLUMN]).aggregate([(ID_COLUMN, "count")])
    counts: dict[str, dict[str, int]] = {}
    for row in grouped.to_pylist():
        counts.setdefault(row[STRATUM], {})[row[SPLIT_COLUMN]] = row[f"{ID_COLUMN}_count"]
    return counts


def apply(table: pa.Table, assignments: pa.Table) -> pa.Table:
    """``table`` with the ``split`` column of each row's id; SplitError if an id has none."""
    position = pc.index_in(table.column(ID_COLUMN), value_set=assignments.column(ID_COLUMN))
    if pc.any(pc.is_null(position)).as_py():
        missing = table.column(ID_COLUMN).filter(pc.is_null(position)).to_pylist()
        raise SplitError(f"{len(missing)} rows have no split assignment, e.g. {missing[:5]}")
    split = pc.take(assignments.column(SPLIT_COLUMN), position)
    if SPLIT_COLUMN in table.column_names:
        table = table.drop_columns([SPLIT_COLUMN])
    return table.append_column(SPLIT_COLUMN, split)


def split_parts(table: pa.Table) -> Iterable[tuple[str, pa.Table]]:
    """The non-empty parts of a split table, in ``SPLITS`` order."""
    for name in SPLITS:
        part = table.filter(pc.equal(table.column(SPLIT_COLUMN), name))
        if part.num_rows:
            yield name, part


def rate_tolerance(rows: int, n_strata: int, slack_rows: int = 1) -> float:
    """The most a split's label rate can differ from the overall rate when every stratum is within
    ``slack_rows`` of its target in every split (see the module doc)."""
    return (n_strata * slack_rows + 1) / rows if rows else 1.0


def report(table: pa.Table, fractions: Mapping[str, float], stratify_by: Sequence[str] = (),
           slack_rows: int = 1) -> dict:
    """Counts and label rates per split (and per split and stratum column) of a split table,
    with the largest deviation of a split's label rate from the overall rate and its tolerance.

    ``slack_rows`` 1 holds for the assignment table itself; a training window is a slice of it
    (ids assigned on different days, labels that arrived later), for which 2 is stated: each of its
    ends is within one row of the targets."""
    fractions = check_fractions(fractions)
    labels = table.column(LABEL).to_numpy(zero_copy_only=False).astype(np.float64)
    split = table.column(SPLIT_COLUMN).to_numpy(zero_copy_only=False)
    n_strata = len(np.unique(strata(table, stratify_by).to_numpy(zero_copy_only=False))) if table.num_rows else 0
    overall = float(labels.mean()) if len(labels) else None
    splits, worst = {}, 0.0
    for name in SPLITS:
        mine = split == name
        rows = int(mine.sum())
        rate = float(labels[mine].mean()) if rows else None
        deviation = abs(rate - overall) if rows and overall is not None else None
        splits[name] = {
            "rows": rows, "share": rows / len(split) if len(split) else None, "target_share": fractions[name],
            "positives": int(labels[mine].sum()), "positive_rate": rate,
            "rate_deviation": deviation, "tolerance": rate_tolerance(rows, n_strata, slack_rows),
            "within_tolerance": deviation is None or deviation <= rate_tolerance(rows, n_strata, slack_rows) + 1e-12,
        }
        worst = max(worst, deviation or 0.0)
    by_column = {}
    for column in stratify_by:
        values = pc.fill_null(pc.cast(table.column(column), pa.string()), "(null)").to_numpy(zero_copy_only=False)
        by_column[column] = {
            str(value): {name: int(((values == value) & (split == name)).sum()) for name in SPLITS}
            for value in np.unique(values)
        }
    return {"rows": int(table.num_rows), "positive_rate": overall, "strata": n_strata, "splits": splits,
            "max_rate_deviation": worst, "within_tolerance": all(s["within_tolerance"] for s in splits.values()),
            "by_column": by_column}
