"""One label per message: the majority; a tie goes to the more reliable labeler (no gold labels)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.labels.agreement import label_counts, labeler_reliability
from transforms.labels.validate import CLASSES


def resolve_labels(labels: pd.DataFrame) -> pd.DataFrame:
    """One label per message by the rule of the module docstring: ``message_id, text, label,
    n_labels, resolution`` (``single``, ``unanimous``, ``majority`` or ``tie:<labeler>``)."""
    reliability = labeler_reliability(labels)
    ids, counts = label_counts(labels)
    frame = pd.DataFrame(counts, columns=list(CLASSES))
    frame.insert(0, "message_id", ids)
    n = counts.sum(axis=1)
    winner = np.asarray(CLASSES, dtype=object)[counts.argmax(axis=1)]
    tie = counts.max(axis=1) * 2 == n  # two classes: a tie is an even split
    resolution = np.where(n == 1, "single", np.where(counts.max(axis=1) == n, "unanimous", "majority")).astype(object)
    if tie.any():
        ranked = labels.assign(score=labels["labeler_id"].map(reliability))
        # Most reliable first; the labeler id breaks equal reliabilities deterministically.
        ranked = ranked.sort_values(["score", "labeler_id"], ascending=[False, True], kind="stable")
        top = ranked.drop_duplicates("message_id").set_index("message_id")
        tied_ids = ids[tie]
        winner[tie] = top.loc[tied_ids, "label"].to_numpy()
        resolution[tie] = ("tie:" + top.loc[tied_ids, "labeler_id"]).to_numpy()
    texts = labels.drop_duplicates("message_id").set_index("message_id")["text"]
    return pd.DataFrame({"message_id": ids, "text": texts.loc[ids].to_numpy(), "label": winner,
                         "n_labels": n.astype(np.int64), "resolution": resolution})
