from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from transforms.labels import LabelError
from transforms.labels.review_queue import decisions_to_reviews, latest_decisions, review_queue

LABELS = pd.DataFrame({
    "message_id": ["m1", "m1", "m2", "m2", "m3", "m4", "m5"],
    "labeler_id": ["a", "b", "a", "b", "a", "b", "a"],
    "text": ["win cash", "win cash", "lunch?", "lunch?", "sale now", "hi mum", "free prize"],
    "label": ["spam", "ham", "ham", "ham", "spam", "ham", "ham"],
})
P = pd.Series({"m1": 0.9, "m2": 0.05, "m3": 0.55, "m4": 0.1, "m5": 0.97})
CANDIDATES = pd.DataFrame({"rank": [1], "message_id": ["m5"], "labeler_id": ["a"], "given_label": ["ham"],
                           "suggested_label": ["spam"]})


def test_queue_holds_noise_then_disagreements_then_doubt_one_row_per_message():
    queue = review_queue(LABELS, CANDIDATES, P, margin=0.1)
    assert queue["message_id"].tolist() == ["m5", "m1", "m3"]
    assert queue["reasons"].tolist() == [("noise",), ("disagreement",), ("low_confidence",)]
    assert queue.loc[0, "suggested_label"] == "spam" and queue.loc[0, "rank"] == 1
    assert queue.loc[1, "labels"] == {"a": "spam", "b": "ham"}
    assert queue["probability"].tolist() == [0.97, 0.9, 0.55]
    assert queue.loc[2, "text"] == "sale now"


def test_queue_names_every_reason_of_a_message_and_honours_the_limit():
    candidates = pd.concat([CANDIDATES, CANDIDATES.assign(rank=2, message_id="m1", labeler_id="b")])
    queue = review_queue(LABELS, candidates, P.replace({0.9: 0.45}), margin=0.1, limit=2)
    assert queue["message_id"].tolist() == ["m5", "m1"]
    assert queue.loc[1, "reasons"] == ("noise", "disagreement", "low_confidence")


def test_queue_without_candidates_and_without_doubt_is_the_disagreements():
    queue = review_queue(LABELS, CANDIDATES.iloc[0:0], P, margin=0.0)
    assert queue["message_id"].tolist() == ["m1"]


def test_queue_refuses_messages_without_a_probability_and_a_bad_margin():
    with pytest.raises(LabelError, match="no model probability for 1 message"):
        review_queue(LABELS, CANDIDATES, P.drop("m4"))
    with pytest.raises(ValueError, match="margin"):
        review_queue(LABELS, CANDIDATES, P, margin=0.6)


def decisions(*rows):
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    return pd.DataFrame([{"message_id": m, "label": lab, "reviewer": r, "reviewed_at": t0 + timedelta(minutes=i),
                          "note": None} for i, (m, lab, r) in enumerate(rows)])


def test_the_latest_decision_per_message_counts():
    found = latest_decisions(decisions(("m1", "ham", "ann"), ("m5", "spam", "ann"), ("m1", "spam", "bob")))
    assert found[["message_id", "label", "reviewer"]].values.tolist() == [["m1", "spam", "bob"], ["m5", "spam", "ann"]]


def test_decisions_become_one_review_per_label_row_of_the_message():
    reviews = decisions_to_reviews(decisions(("m1", "Spam ", "ann"), ("m5", "spam", "bob")), LABELS)
    assert reviews[["message_id", "labeler_id", "corrected_label", "reviewer"]].values.tolist() == [
        ["m1", "a", "spam", "ann"], ["m1", "b", "spam", "ann"], ["m5", "a", "spam", "bob"]]


def test_decisions_on_unknown_messages_or_labels_are_refused():
    with pytest.raises(LabelError, match="not in this labels version"):
        decisions_to_reviews(decisions(("m9", "spam", "ann")), LABELS)
    with pytest.raises(LabelError, match="not one of"):
        decisions_to_reviews(decisions(("m1", "maybe", "ann")), LABELS)
