"""Confident learning (Northcutt et al. 2021) and the ranked review candidates of label noise."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from transforms.labels.validate import CLASSES
from transforms.schema import REVIEWS


# -- confident learning ------------------------------------------------------------------------
@dataclass
class ConfidentLearning:
    """Result of ``confident_learning`` (indices refer to the input rows)."""

    thresholds: np.ndarray          # per class: mean p_j over rows labelled j (above 1 for an absent class)
    confident_joint: np.ndarray     # [given label, confident class] counts (each diagonal cell at least 1)
    suggested: np.ndarray           # confident class per row (-1: confident in none)
    self_confidence: np.ndarray     # p of the given label
    issues: np.ndarray              # row indices off the diagonal, lowest self-confidence first


def confident_learning(given: np.ndarray, probabilities: np.ndarray) -> ConfidentLearning:
    """Confident learning on integer labels ``given`` and out-of-fold ``probabilities``
    ([n, k], rows sum to 1), by cleanlab (``cleanlab.count.compute_confident_joint``, not
    calibrated: the counts themselves); see the module docstring. cleanlab counts a row as
    confidently of class ``j`` at ``p_j >= t_j - 1e-6`` and keeps every diagonal cell at least 1."""
    from cleanlab.count import compute_confident_joint, get_confident_thresholds

    given = np.asarray(given, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n, k = probabilities.shape
    if len(given) != n:
        raise ValueError("given labels and probabilities differ in length")
    self_confidence = probabilities[np.arange(n), given]
    if n == 0:
        return ConfidentLearning(np.full(k, np.inf), np.zeros((k, k), dtype=np.int64),
                                 np.zeros(0, dtype=np.int64), self_confidence, np.zeros(0, dtype=np.int64))
    thresholds = get_confident_thresholds(given, probabilities)
    joint, off = compute_confident_joint(given, probabilities, calibrate=False,
                                         return_indices_of_off_diagonals=True)
    # The class cleanlab counted each row under: the most probable of those above their threshold.
    above = probabilities >= thresholds[None, :] - 1e-6
    suggested = np.where(above.any(axis=1), np.where(above, probabilities, -np.inf).argmax(axis=1), -1)
    off = np.asarray(off, dtype=np.int64)
    order = off[np.lexsort((off, self_confidence[off]))]  # lowest self-confidence, then row order
    return ConfidentLearning(thresholds, np.asarray(joint, dtype=np.int64), suggested, self_confidence, order)


def text_groups(texts: pd.Series) -> np.ndarray:
    """Group id per text, equal for texts that are the same after trimming and lower-casing,
    so cross-validation never scores a message with a model that saw its duplicate."""
    key = texts.astype("string").fillna("").str.strip().str.lower()
    return pd.factorize(key)[0]


def review_candidates(labels: pd.DataFrame, resolved: pd.DataFrame, spam_probability: np.ndarray) -> pa.Table:
    """Label rows confident learning flags, ranked (``REVIEWS``). ``spam_probability`` is the
    out-of-fold P(spam) of each message of ``resolved`` (same order); every label row of a
    message gets its message's probability."""
    p = pd.Series(np.asarray(spam_probability, dtype=np.float64), index=resolved["message_id"].to_numpy())
    rows = labels.reset_index(drop=True)
    p_spam = p.loc[rows["message_id"]].to_numpy()
    probabilities = np.column_stack([1 - p_spam, p_spam])
    given = (rows["label"] == "spam").to_numpy(dtype=np.int64)
    found = confident_learning(given, probabilities)
    idx = found.issues
    meta = resolved.set_index("message_id")
    flagged = rows.iloc[idx]
    return pa.table({
        "rank": np.arange(1, len(idx) + 1, dtype=np.int64),
        "message_id": flagged["message_id"].tolist(),
        "labeler_id": flagged["labeler_id"].tolist(),
        "text": flagged["text"].tolist(),
        "given_label": flagged["label"].tolist(),
        "suggested_label": [CLASSES[j] for j in found.suggested[idx]],
        "self_confidence": found.self_confidence[idx],
        "suggested_probability": probabilities[idx, found.suggested[idx]],
        "resolved_label": meta.loc[flagged["message_id"], "label"].tolist(),
        "n_labels": meta.loc[flagged["message_id"], "n_labels"].to_numpy(dtype=np.int64),
        "corrected_label": pa.nulls(len(idx), pa.string()),
    }, schema=REVIEWS)


# -- corrections -------------------------------------------------------------------------------
