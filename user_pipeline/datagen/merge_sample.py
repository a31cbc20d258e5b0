"""Generated de-spammed users with their true person ids: ID-merge tests and benchmarks.

The records of ``user_pipeline.datagen.records.day_records`` (duplicates across sources with typos), minus spam
and malformed rows, in the ``STAGED_USERS`` schema; ``person_id`` is the ground truth.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa

from transforms.schema import STAGED_USERS
from user_pipeline.datagen.records import DayParams, day_records


def staged_users(seed: int, day: date, users: int, duplicate_rate: float = 0.15) -> tuple[pa.Table, pd.Series]:
    """One day's well-formed, non-spam records as ``STAGED_USERS`` and their ``person_id`` (same order)."""
    params = DayParams(users_per_day=users, duplicate_rate=duplicate_rate, spam_rate=0.0, malformed_rate=0.0)
    frame = day_records(seed, day, params, ["spam"])
    frame = frame[~frame["is_spam"].to_numpy(dtype=bool) & frame["malformation"].isna().to_numpy()]
    frame = frame.reset_index(drop=True)
    n = len(frame)
    dob = pd.to_datetime(frame["date_of_birth"], errors="coerce")
    ts = pd.to_datetime(frame["signup_ts"], errors="coerce").dt.tz_localize("UTC")
    columns = {
        "source_record_id": frame["source_record_id"].astype(str), "source": frame["source"].astype(str),
        "first_name": frame["first_name"], "last_name": frame["last_name"], "email": frame["email"],
        "phone": frame["phone"], "date_of_birth": dob.dt.date.where(dob.notna(), None),
        "country": frame["country"], "postcode": frame["postcode"],
        "signup_date": ts.dt.date.where(ts.notna(), None), "signup_ts": ts,
        "signup_channel": frame["channel"],
        "ds": [day.isoformat()] * n, "ingest_run_id": ["generated"] * n,
    }
    data = {f.name: columns.get(f.name, pd.Series([None] * n)) for f in STAGED_USERS}
    table = pa.Table.from_pandas(pd.DataFrame(data), schema=STAGED_USERS, preserve_index=False)
    return table, frame["person_id"].astype(str)


def true_pairs(person_ids: pd.Series) -> set[tuple[int, int]]:
    """Every pair of record positions (i < j) that are the same person."""
    out = set()
    for members in pd.Series(np.arange(len(person_ids))).groupby(person_ids.to_numpy()).apply(list):
        out.update((a, b) for k, a in enumerate(members) for b in members[k + 1:])
    return out
