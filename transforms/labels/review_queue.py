"""The review queue of a labels version, and reviewers' decisions turned into label corrections.

A message is queued for one or more reasons:

- ``noise``: confident learning flags one of its label rows (``review_candidates``);
- ``disagreement``: its labelers gave different labels;
- ``low_posterior``: the labelers' model (Dawid–Skene, ``transforms.labels.labelers``) gives the
  label the message resolves to a posterior below ``min_posterior``: the labels it has, weighed by
  how reliable each of its labelers is, do not settle it (e.g. one label from an error-prone
  labeler, or a split the better labelers lose);
- ``low_confidence``: the model's P(spam) is within ``margin`` of 0.5.

The queue is one row per message, noise candidates first (by their best rank), then
disagreements, then low posteriors, then the model's doubts, each group in the order of the
model's doubt (P(spam) nearest 0.5 first), then message id. Pure pandas, no I/O: the review page
(``user_pipeline.labels.review``) reads the data and serves the queue.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from transforms.labels.validate import LabelError, normalise_labels

REASONS = ("noise", "disagreement", "low_posterior", "low_confidence")
MARGIN = 0.15         # low_confidence: P(spam) within this of 0.5
MIN_POSTERIOR = 0.9   # low_posterior: the resolved label's posterior below this


def review_queue(labels: pd.DataFrame, candidates: pd.DataFrame, probability: pd.Series,
                 margin: float = MARGIN, limit: int | None = None, posterior: pd.Series | None = None,
                 min_posterior: float = MIN_POSTERIOR) -> pd.DataFrame:
    """The queue of messages to review (module docstring).

    ``labels``: validated label rows (``message_id``, ``text``, ``label``, ``labeler_id``);
    ``candidates``: ranked noise candidates (``transforms.schema.REVIEWS`` columns, may be empty);
    ``probability``: P(spam) per message id; ``posterior``: the labelers' model's posterior of the
    label each message resolves to, per message id (``LabelerModel.messages.confidence``; None: no
    ``low_posterior`` reason). Returns ``message_id, text, labels`` (labeler -> label, a dict),
    ``probability``, ``posterior`` (NaN without one), ``reasons`` (a tuple of ``REASONS``),
    ``suggested_label`` (the noise candidate's, else None), ``rank`` (noise rank, else None), one
    row per queued message."""
    if not 0 <= margin <= 0.5:
        raise ValueError(f"margin must be within [0, 0.5], got {margin}")
    if not 0 <= min_posterior <= 1:
        raise ValueError(f"min_posterior must be within [0, 1], got {min_posterior}")
    missing = sorted(set(labels["message_id"]) - set(probability.index))
    if missing:
        raise LabelError(f"no model probability for {len(missing)} message(s), e.g. {missing[:3]}")
    per_message = labels.groupby("message_id", sort=True)
    given = per_message.apply(lambda g: dict(zip(g["labeler_id"], g["label"], strict=True)), include_groups=False)
    texts = per_message["text"].first()
    p = probability.loc[given.index].astype(float)

    noise_rank = (candidates.groupby("message_id")["rank"].min() if len(candidates)
                  else pd.Series(dtype=np.int64))
    suggested = (candidates.sort_values("rank").drop_duplicates("message_id").set_index("message_id")
                 ["suggested_label"] if len(candidates) else pd.Series(dtype=object))
    disagree = per_message["label"].nunique() > 1
    doubtful = (p - 0.5).abs() <= margin
    if posterior is not None:
        missing = sorted(set(given.index) - set(posterior.index))
        if missing:
            raise LabelError(f"no labeler-model posterior for {len(missing)} message(s), e.g. {missing[:3]}")
        resolved = posterior.loc[given.index].astype(float)
    else:
        resolved = pd.Series(np.nan, index=given.index)
    unsettled = resolved < min_posterior  # NaN (no model) is never below

    rows = []
    for message_id in given.index:
        hits = (message_id in noise_rank.index, bool(disagree[message_id]), bool(unsettled[message_id]),
                bool(doubtful[message_id]))
        reasons = tuple(r for r, hit in zip(REASONS, hits, strict=True) if hit)
        if not reasons:
            continue
        rank = int(noise_rank[message_id]) if message_id in noise_rank.index else None
        rows.append({"message_id": message_id, "text": texts[message_id], "labels": given[message_id],
                     "probability": float(p[message_id]), "posterior": float(resolved[message_id]),
                     "reasons": reasons,
                     "suggested_label": suggested.get(message_id), "rank": rank})
    columns = ["message_id", "text", "labels", "probability", "posterior", "reasons", "suggested_label", "rank"]
    queue = pd.DataFrame(rows, columns=columns)
    if queue.empty:
        return queue
    group = queue["reasons"].map(lambda r: REASONS.index(r[0]))
    order = pd.DataFrame({"group": group, "rank": queue["rank"].fillna(np.inf).astype(float),
                          "doubt": (queue["probability"] - 0.5).abs(), "id": queue["message_id"]})
    queue = queue.loc[order.sort_values(["group", "rank", "doubt", "id"], kind="stable").index]
    # None, not NaN, where a message is not a noise candidate.
    queue["suggested_label"] = queue["suggested_label"].astype(object).where(queue["suggested_label"].notna(), None)
    queue["rank"] = queue["rank"].astype("Int64")
    return queue.head(limit).reset_index(drop=True) if limit is not None else queue.reset_index(drop=True)


def latest_decisions(decisions: pd.DataFrame) -> pd.DataFrame:
    """The last decision per message (``reviewed_at``, then the order given): a reviewer may
    change a decision before it is committed; earlier ones stay in the dataset as history."""
    if decisions.empty:
        return decisions.reset_index(drop=True)
    ordered = decisions.reset_index(drop=True).reset_index(names="_order")
    ordered = ordered.sort_values(["reviewed_at", "_order"], kind="stable")
    return ordered.drop_duplicates("message_id", keep="last").drop(columns="_order").sort_values(
        "message_id").reset_index(drop=True)


def decisions_to_reviews(decisions: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Review-page decisions (one label per message: ``message_id, label, reviewer, reviewed_at,
    note``) as the reviews ``reviewed_corrections`` takes: one row per label row of each decided
    message (``message_id, labeler_id, corrected_label, reviewer, note``). The latest decision
    per message counts; a decided message that has no label row is an error."""
    latest = latest_decisions(decisions)
    if latest.empty:
        return pd.DataFrame(columns=["message_id", "labeler_id", "corrected_label", "reviewer", "note"])
    unknown = sorted(set(latest["message_id"]) - set(labels["message_id"]))
    if unknown:
        raise LabelError(f"{len(unknown)} reviewed message(s) are not in this labels version, e.g. {unknown[:3]}")
    chosen = latest.assign(corrected_label=normalise_labels(latest["label"], "reviewed label"))
    rows = labels[["message_id", "labeler_id"]].merge(
        chosen[["message_id", "corrected_label", "reviewer", "note"]], on="message_id", how="inner")
    return rows.sort_values(["message_id", "labeler_id"]).reset_index(drop=True)
