"""Validation of a spam labels table: columns, label values, ids, one text per message (nothing is dropped)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

CLASSES = ("ham", "spam")
REQUIRED_COLUMNS = ("message_id", "text", "label", "labeler_id")
SPEC_VERSION = "spec_version"  # optional: the label spec version a row was labelled under


class LabelError(ValueError):
    """A labels (or reviews) table that cannot be used as it is; the message says why."""


def format_examples(values, limit: int = 5) -> str:
    """The first ``limit`` values for an error message, and how many more there are."""
    values = list(values)
    more = f" (+{len(values) - limit} more)" if len(values) > limit else ""
    return ", ".join(map(repr, values[:limit])) + more


def normalise_labels(labels: pd.Series, what: str = "label") -> pd.Series:
    """Trimmed, lower-cased labels; a clear error listing every value that is not a class."""
    clean = labels.astype("string").str.strip().str.lower()
    bad = clean.isna() | ~clean.isin(CLASSES)
    if bad.any():
        counts = labels[bad.to_numpy()].astype("string").fillna("<null>").value_counts()
        raise LabelError(
            f"{int(bad.sum())} {what} value(s) are not one of {list(CLASSES)}: "
            + ", ".join(f"{v!r} x{n}" for v, n in counts.items())
        )
    return clean.astype(object)


def validate_labels(table: pa.Table | pd.DataFrame) -> pd.DataFrame:
    """Check a ``reference.spam_labels`` table (see the module docstring) and return
    ``message_id, text, label, labeler_id`` as plain strings, sorted by message and labeler (and
    ``spec_version`` when the table has it; a missing one is the empty string: labelled under no spec)."""
    frame = table.to_pandas() if isinstance(table, pa.Table) else table.copy()
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise LabelError(f"labels lack column(s) {missing}; found {list(frame.columns)}")
    frame = frame[[*REQUIRED_COLUMNS, *([SPEC_VERSION] if SPEC_VERSION in frame.columns else [])]].copy()
    if SPEC_VERSION in frame.columns:
        frame[SPEC_VERSION] = frame[SPEC_VERSION].astype("string").fillna("").astype(object)
    for column in ("message_id", "labeler_id"):
        null = frame[column].isna() | (frame[column].astype("string").str.strip() == "")
        if null.any():
            rows = format_examples(np.flatnonzero(null))
            raise LabelError(f"{int(null.sum())} label row(s) have no {column} (rows {rows})")
        frame[column] = frame[column].astype(str)
    frame["label"] = normalise_labels(frame["label"])
    frame["text"] = frame["text"].astype("string").fillna("").astype(object)
    duplicated = frame.duplicated(["message_id", "labeler_id"], keep=False)
    if duplicated.any():
        pairs = frame.loc[duplicated, ["message_id", "labeler_id"]].drop_duplicates()
        raise LabelError(f"{len(pairs)} (message_id, labeler_id) pair(s) occur more than once: "
                         + format_examples(map(tuple, pairs.to_numpy())))
    texts = frame.groupby("message_id")["text"].nunique()
    if (texts > 1).any():
        raise LabelError(f"{int((texts > 1).sum())} message_id(s) carry different texts: "
                         + format_examples(texts.index[texts > 1]))
    return frame.sort_values(["message_id", "labeler_id"], kind="stable").reset_index(drop=True)


# -- counts and agreement measures -------------------------------------------------------------
