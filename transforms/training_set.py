"""Which clean user rows become training rows (pure, vectorised): the training window, one row
per person (its latest day), one outcome per id, labels attached. The split they go to is
``transforms.splits``."""

from __future__ import annotations

from datetime import date, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from transforms.features import ID_COLUMN, LABEL


def training_window(ds: str, window_days: int) -> list[str]:
    """The ``window_days`` dates up to and including ``ds``, oldest first."""
    end = date.fromisoformat(ds)
    return [(end - timedelta(days=back)).isoformat() for back in range(window_days - 1, -1, -1)]


PERSON_COLUMN = "canonical_id"  # ID-merge's person id (stable across days)
DAY_COLUMN = "ds"


def latest_days(users: pa.Table) -> pa.Table:
    """``(canonical_id, ds)``: the latest day each person has a row in ``users``.

    A person seen on several days of the window has a row on each (ID-merge writes one per
    canonical user and day); training on all of them would weigh returning people more and could
    put the same person in two splits under two survivor record ids."""
    valid = users.select([PERSON_COLUMN, DAY_COLUMN]).filter(pc.is_valid(users.column(PERSON_COLUMN)))
    latest = valid.group_by(PERSON_COLUMN).aggregate([(DAY_COLUMN, "max")])
    return latest.rename_columns([PERSON_COLUMN, DAY_COLUMN])


def keep_latest(users: pa.Table, latest: pa.Table) -> pa.Table:
    """The rows of ``users`` that are their person's latest day (see :func:`latest_days`); a row
    without a canonical id is kept as it is (nobody to deduplicate it with). Row order is kept."""
    def key(table: pa.Table) -> pa.ChunkedArray:
        return pc.binary_join_element_wise(table.column(PERSON_COLUMN), table.column(DAY_COLUMN), "|")

    wanted = pc.is_in(key(users), value_set=key(latest))
    return users.filter(pc.or_(wanted, pc.is_null(users.column(PERSON_COLUMN))))


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
