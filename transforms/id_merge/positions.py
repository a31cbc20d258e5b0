"""ID-merge record positions: the rows one merge runs over, each record named by a position.

Today's records and the anchors (prior canonical users as records) are gathered once; a record's
position is that of the first row with its record id. Blocking, scoring and clustering name records
by position, never by their id strings.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import pyarrow as pa

from transforms.id_merge.ids import ANCHOR_PREFIX
from transforms.id_merge.normalise import FIELDS
from transforms.schema import STAGED_USERS

RID = "source_record_id"


def everyone(today: pd.DataFrame, anchors: pd.DataFrame) -> pd.DataFrame:
    """Today's records then the anchors (prior canonical users as records, record id
    ``ANCHOR_PREFIX + canonical_id``): the rows a merge runs over. A record's position is that of
    the first row with its record id (``record_ids``), in this order: blocking, scoring and
    clustering all name records by that position, never by their id strings."""
    anchor_rows = anchors.drop(columns=["canonical_id", "merged_records", "id_merge_run_id"], errors="ignore")
    anchor_rows = anchor_rows.assign(**{RID: (ANCHOR_PREFIX + anchors["canonical_id"].astype(str)).to_numpy()})
    rows = pd.concat([today, anchor_rows], ignore_index=True) if len(anchor_rows) else today.copy()
    rows[RID] = rows[RID].astype(str)
    return rows


def record_ids(rows: pd.DataFrame) -> pd.Index:
    """The distinct record ids of ``everyone`` rows in first-seen order: position -> record id."""
    return pd.Index(pd.unique(rows[RID].to_numpy(dtype=object)))


def comparison_records(today: pa.Table, anchors: pd.DataFrame) -> pd.DataFrame:
    """The identifying fields (``transforms.id_merge.FIELDS``) of every record to merge, one row
    per record position (``everyone``; a repeated record id keeps its first row), not normalised."""
    names = [c for c in (RID, *FIELDS) if c in today.column_names]
    rows = everyone(today.select(names).to_pandas(), anchors[[c for c in (*FIELDS, "canonical_id")
                                                               if c in anchors.columns]])
    return rows.drop_duplicates(RID).drop(columns=[RID]).reset_index(drop=True)


def split_batches(records: pd.DataFrame, size: int) -> Iterable[tuple[int, pd.DataFrame]]:
    """``(position of the first row, rows)`` per ``size`` rows: the units normalised in parallel."""
    for start in range(0, len(records), size):
        yield start, records.iloc[start:start + size]


def staged_table(tables: Iterable[pa.Table]) -> pa.Table:
    """Today's record batches as one ``STAGED_USERS`` table (empty when there are none)."""
    tables = [t.select(STAGED_USERS.names).cast(STAGED_USERS) for t in tables]
    return pa.concat_tables(tables) if tables else STAGED_USERS.empty_table()
