"""Reviewed (or top-K) corrections of label rows, applied to make a new labels version."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from transforms.labels.validate import LabelError, format_examples, normalise_labels


def reviewed_corrections(reviews: pd.DataFrame, labels: pd.DataFrame, decided_by: str) -> pd.DataFrame:
    """Reviewer decisions -> corrections (``transforms.schema.CORRECTIONS`` columns). ``reviews`` needs
    ``message_id``, ``labeler_id`` and ``corrected_label``; a blank ``corrected_label`` confirms
    the label as it is (no correction); ``reviewer`` and ``note`` are optional. Errors on unknown
    label values, duplicate keys, and keys that are not label rows of ``labels``."""
    missing = [c for c in ("message_id", "labeler_id", "corrected_label") if c not in reviews.columns]
    if missing:
        raise LabelError(f"reviews lack column(s) {missing}; found {list(reviews.columns)}")
    reviews = reviews.copy()
    for column in ("message_id", "labeler_id"):
        reviews[column] = reviews[column].astype("string").str.strip()
        if reviews[column].isna().any() or (reviews[column] == "").any():
            raise LabelError(f"reviews: {int(reviews[column].isna().sum())} row(s) without {column}")
    decided = reviews["corrected_label"].astype("string").str.strip().replace("", pd.NA).notna()
    reviews = reviews[decided.to_numpy()].copy()
    reviews["corrected_label"] = normalise_labels(reviews["corrected_label"], "corrected_label")
    dup = reviews.duplicated(["message_id", "labeler_id"], keep=False)
    if dup.any():
        keys = reviews.loc[dup, ["message_id", "labeler_id"]].drop_duplicates().to_numpy()
        raise LabelError("reviews decide the same label row more than once: " + format_examples(map(tuple, keys)))
    current = labels.set_index(["message_id", "labeler_id"])["label"]
    keys = pd.MultiIndex.from_frame(reviews[["message_id", "labeler_id"]].astype(str))
    unknown = ~keys.isin(current.index)
    if unknown.any():
        raise LabelError(f"{int(unknown.sum())} reviewed row(s) are not label rows of this version: "
                         + format_examples(keys[unknown]))
    old = current.loc[keys].to_numpy()
    change = old != reviews["corrected_label"].to_numpy()
    optional = {c: (reviews[c].astype("string").astype(object).where(reviews[c].notna(), None).to_numpy()
                    if c in reviews.columns else np.full(len(reviews), None, dtype=object))
                for c in ("reviewer", "note")}
    out = pd.DataFrame({
        "message_id": reviews["message_id"].astype(str).to_numpy(),
        "labeler_id": reviews["labeler_id"].astype(str).to_numpy(),
        "old_label": old, "new_label": reviews["corrected_label"].to_numpy(),
        "decided_by": decided_by, "reviewer": optional["reviewer"], "note": optional["note"],
    })
    return out[change].sort_values(["message_id", "labeler_id"]).reset_index(drop=True)


def top_k_corrections(candidates: pd.DataFrame, k: int) -> pd.DataFrame:
    """Accept the suggested label of the ``k`` best-ranked candidates (no human review)."""
    top = candidates.sort_values("rank").head(k)
    return pd.DataFrame({
        "message_id": top["message_id"].to_numpy(), "labeler_id": top["labeler_id"].to_numpy(),
        "old_label": top["given_label"].to_numpy(), "new_label": top["suggested_label"].to_numpy(),
        "decided_by": f"accept-top-{k}", "reviewer": None, "note": None,
    }).sort_values(["message_id", "labeler_id"]).reset_index(drop=True)


def apply_corrections(labels: pa.Table, corrections: pd.DataFrame) -> pa.Table:
    """The labels table with each corrected row's label replaced; schema and rows unchanged."""
    frame = labels.to_pandas()
    new = corrections.set_index(["message_id", "labeler_id"])["new_label"]
    keys = pd.MultiIndex.from_frame(frame[["message_id", "labeler_id"]].astype(str))
    hit = keys.isin(new.index)
    if int(hit.sum()) != len(new):
        raise LabelError(f"{len(new) - int(hit.sum())} correction(s) match no label row")
    frame.loc[hit, "label"] = new.loc[keys[hit]].to_numpy()
    return pa.Table.from_pandas(frame, schema=labels.schema, preserve_index=False)
