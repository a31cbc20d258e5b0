"""ID-merge comparison: one row of similarity features (``FEATURES``) per record pair.

Vectorised over the pair arrays with ``rapidfuzz.process.cpdist``: ``prepare`` codes each
record's values once, and each distinct pair of values is scored once. A comparison with a missing
side is NaN (not 0): "unknown" is not "different", and the matcher routes NaN explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from rapidfuzz import fuzz, process
from rapidfuzz.distance import JaroWinkler, Levenshtein

from transforms.id_merge.arrays import sorted_unique
from transforms.id_merge.normalise import FIELDS, normalise

FEATURES = (
    "first_jw", "last_jw", "names_swapped_jw", "name_token_set", "first_lev",
    "last_lev", "email_exact", "email_local_jw", "phone_exact", "phone_tail_match",
    "dob_exact", "dob_parts", "postcode_exact", "postcode_jw", "address_token_set",
    "city_jw", "national_id_exact", "national_id_lev", "n_missing",
)


# The normalised columns ``compare`` reads, in groups that share one code space (a feature compares
# first name against last name for swapped names).
_COMPARED = (("first_name", "last_name"), ("email",), ("email_local",), ("phone",), ("phone_tail",),
             ("date_of_birth",), ("postcode",), ("address",), ("city",), ("national_id",))
COMPARED_COLUMNS = tuple(name for group in _COMPARED for name in group)  # what ``prepare`` reads


@dataclass
class PreparedRecords:
    """What ``compare`` needs of each record, computed once per record instead of once per pair
    (a record takes part in many pairs): per column a code per record (-1 = missing) and the
    distinct values the codes index; columns compared with each other share their codes. Besides
    ``_COMPARED``: ``full_name`` (first and last joined), ``dob_year`` and ``dob_month``/``dob_day``
    (month and day share codes: a swapped day and month agree)."""

    codes: dict[str, np.ndarray]
    values: dict[str, np.ndarray]


def prepare(norm: pd.DataFrame) -> PreparedRecords:
    """``PreparedRecords`` of a ``normalise`` frame (row positions are kept). Derived columns are
    computed from the distinct values only."""
    n = len(norm)
    codes: dict[str, np.ndarray] = {}
    values: dict[str, np.ndarray] = {}

    def factorize(names: Sequence[str], arrays: Sequence[np.ndarray]) -> None:
        joint, distinct = pd.factorize(np.concatenate(arrays), use_na_sentinel=True)
        for k, name in enumerate(names):
            codes[name] = joint[k * n:(k + 1) * n].astype(np.int64)
            values[name] = np.asarray(distinct, dtype=object)

    def column(name: str) -> np.ndarray:
        return norm[name].to_numpy(dtype=object) if name in norm else np.full(n, None, dtype=object)

    for group in _COMPARED:
        factorize(group, [column(name) for name in group])

    first, last, names = codes["first_name"], codes["last_name"], values["first_name"]
    combos, combo_of = np.unique(((first + 1) << 32) | (last + 1), return_inverse=True)
    full = [" ".join(names[c] for c in (a, b) if c >= 0 and names[c]) or None
            for a, b in zip((combos >> 32) - 1, (combos & 0xFFFFFFFF) - 1, strict=True)]
    full_codes, full_values = pd.factorize(np.array(full, dtype=object), use_na_sentinel=True)
    codes["full_name"] = full_codes[combo_of.reshape(-1)].astype(np.int64)
    values["full_name"] = np.asarray(full_values, dtype=object)

    dob, dates = codes["date_of_birth"], pd.Series(values["date_of_birth"], dtype=object).str
    year_codes, year_values = pd.factorize(dates[0:4].to_numpy(dtype=object), use_na_sentinel=True)
    day_month, day_month_values = pd.factorize(
        np.concatenate([dates[5:7].to_numpy(dtype=object), dates[8:10].to_numpy(dtype=object)]), use_na_sentinel=True)
    k = len(values["date_of_birth"])
    for name, part_codes, part_values in (("dob_year", year_codes, year_values),
                                          ("dob_month", day_month[:k], day_month_values),
                                          ("dob_day", day_month[k:], day_month_values)):
        codes[name] = np.where(dob >= 0, np.append(part_codes, -1)[dob], -1).astype(np.int64)
        values[name] = np.asarray(part_values, dtype=object)
    return PreparedRecords(codes, values)


def compare_prepared(prepared: PreparedRecords, pairs: np.ndarray) -> pd.DataFrame:
    """The ``FEATURES`` of each pair of record positions of ``prepared``. NaN = at least one side
    missing."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    li, ri = pairs[:, 0], pairs[:, 1]

    def sides(a: str, b: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ca, cb = prepared.codes[a][li], prepared.codes[b][ri]
        return ca, cb, (ca >= 0) & (cb >= 0)

    def similar(scorer, a: str, b: str | None = None, scale: float = 1.0) -> np.ndarray:
        ca, cb, present = sides(a, b or a)
        # Each distinct pair of values is scored once: names repeat across many pairs.
        distinct, inverse = np.unique((ca[present] << 32) | cb[present], return_inverse=True)
        score = process.cpdist(prepared.values[a][distinct >> 32].tolist(),
                               prepared.values[b or a][distinct & 0xFFFFFFFF].tolist(),
                               scorer=scorer, dtype=np.float32, workers=1).astype(np.float64) / scale
        out = np.full(len(li), np.nan)
        out[present] = score[inverse.reshape(-1)]
        return out

    def exact(a: str, b: str | None = None) -> np.ndarray:
        ca, cb, present = sides(a, b or a)
        return np.where(present, (ca == cb).astype(np.float64), np.nan)

    jw = JaroWinkler.normalized_similarity
    lev = Levenshtein.normalized_similarity
    # Share of year/month/day that agree, with day and month swapped counted as agreeing.
    year = exact("dob_year")
    straight = (year + exact("dob_month") + exact("dob_day")) / 3
    swapped = (year + exact("dob_month", "dob_day") + exact("dob_day", "dob_month")) / 3
    out = {
        "first_jw": similar(jw, "first_name"),
        "last_jw": similar(jw, "last_name"),
        # First and last name swapped between sources (a common entry error).
        "names_swapped_jw": np.fmin(similar(jw, "first_name", "last_name"), similar(jw, "last_name", "first_name")),
        "name_token_set": similar(fuzz.token_set_ratio, "full_name", scale=100.0),
        "first_lev": similar(lev, "first_name"),
        "last_lev": similar(lev, "last_name"),
        "email_exact": exact("email"),
        "email_local_jw": similar(jw, "email_local"),
        "phone_exact": exact("phone"),
        "phone_tail_match": exact("phone_tail"),
        "dob_exact": exact("date_of_birth"),
        "dob_parts": np.where(np.isnan(exact("date_of_birth")), np.nan, np.fmax(straight, swapped)),
        "postcode_exact": exact("postcode"),
        "postcode_jw": similar(jw, "postcode"),
        "address_token_set": similar(fuzz.token_set_ratio, "address", scale=100.0),
        "city_jw": similar(jw, "city"),
        "national_id_exact": exact("national_id"),
        "national_id_lev": similar(lev, "national_id"),
    }
    frame = pd.DataFrame(out)
    frame["n_missing"] = frame.isna().sum(axis=1).astype(np.float64)
    return frame[list(FEATURES)]


def compare(norm: pd.DataFrame, pairs: np.ndarray, norm_right: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ``FEATURES`` of each pair (rows of ``pairs`` index ``norm``; the second column indexes
    ``norm_right`` when given). NaN = at least one side missing. Only the records the pairs name
    are prepared; to score many batches against one frame, ``prepare`` it once and use
    ``compare_prepared``."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if norm_right is None:
        rows = sorted_unique(pairs)
        return compare_prepared(prepare(norm.iloc[rows]), np.searchsorted(rows, pairs))
    left_rows, right_rows = sorted_unique(pairs[:, 0]), sorted_unique(pairs[:, 1])
    both = pd.concat([norm.iloc[left_rows], norm_right.iloc[right_rows]], ignore_index=True)
    local = np.stack([np.searchsorted(left_rows, pairs[:, 0]),
                      len(left_rows) + np.searchsorted(right_rows, pairs[:, 1])], axis=1)
    return compare_prepared(prepare(both), local)


def pair_side_frames(pairs: pd.DataFrame, fields: Sequence[str] = FIELDS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a labelled-pairs table (``left_<field>``, ``right_<field>``) into two record frames."""
    left = pd.DataFrame({f: pairs.get(f"left_{f}") for f in fields})
    right = pd.DataFrame({f: pairs.get(f"right_{f}") for f in fields})
    return left, right


def pair_features(pairs: pd.DataFrame) -> pd.DataFrame:
    """``FEATURES`` of a labelled-pairs table (one row per pair, in order)."""
    left, right = pair_side_frames(pairs)
    index = np.arange(len(pairs), dtype=np.int64)
    return compare(normalise(left), np.stack([index, index], axis=1), normalise(right))


def compared_table(norm: pd.DataFrame) -> pa.Table:
    """The columns ``prepare`` reads (``COMPARED_COLUMNS``) of a ``normalise`` frame as an Arrow
    table of strings, in row order."""
    schema = pa.schema([(name, pa.string()) for name in COMPARED_COLUMNS])  # an all-null batch stays string
    return pa.Table.from_pandas(norm[schema.names], schema=schema, preserve_index=False)


def prepare_tables(tables: Sequence[pa.Table]) -> PreparedRecords:
    """``PreparedRecords`` of ``compared_table`` batches concatenated in the order given (record
    positions follow that order); no batch gives no records."""
    if not tables:
        return prepare(normalise(pd.DataFrame()))
    return prepare(pa.concat_tables(tables).to_pandas())
