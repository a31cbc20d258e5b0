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


def test_a_low_posterior_is_a_reason_of_its_own_after_disagreements():
    posterior = pd.Series({"m1": 0.6, "m2": 0.99, "m3": 0.95, "m4": 0.7, "m5": 0.97})
    queue = review_queue(LABELS, CANDIDATES, P, margin=0.1, posterior=posterior, min_posterior=0.9)
    assert queue["message_id"].tolist() == ["m5", "m1", "m4", "m3"]
    assert queue["reasons"].tolist() == [("noise",), ("disagreement", "low_posterior"), ("low_posterior",),
                                         ("low_confidence",)]
    assert queue.loc[2, "posterior"] == 0.7
    assert review_queue(LABELS, CANDIDATES, P, margin=0.1)["posterior"].isna().all()  # no model, no reason
    with pytest.raises(LabelError, match="no labeler-model posterior for 1 message"):
        review_queue(LABELS, CANDIDATES, P, posterior=posterior.drop("m2"))
    with pytest.raises(ValueError, match="min_posterior"):
        review_queue(LABELS, CANDIDATES, P, posterior=posterior, min_posterior=1.5)


def test_dawid_skene_queues_the_lone_label_of_an_unreliable_labeler():
    """On a table where labeler ``c`` disagrees with the two others on a third of shared messages,
    a message only ``c`` labelled is unsettled, one only ``a`` labelled is not."""
    from transforms.labels.labelers import dawid_skene

    rows = []
    for i in range(30):
        truth = "spam" if i % 2 else "ham"
        wrong = "ham" if truth == "spam" else "spam"
        rows += [(f"s{i}", "a", truth), (f"s{i}", "b", truth), (f"s{i}", "c", wrong if i % 3 == 0 else truth)]
    rows += [("only_c", "c", "spam"), ("only_a", "a", "spam")]
    labels = pd.DataFrame(rows, columns=["message_id", "labeler_id", "label"]).assign(text="t")
    model = dawid_skene(labels)
    posterior = model.messages.set_index("message_id")["confidence"]
    probability = pd.Series(0.99, index=posterior.index)  # the spam filter is sure of every message
    queue = review_queue(labels, labels.iloc[0:0].assign(rank=0, suggested_label=""), probability,
                         margin=0.1, posterior=posterior, min_posterior=0.9)
    low = queue[queue["reasons"].map(lambda r: "low_posterior" in r)]
    assert "only_c" in set(low["message_id"]) and "only_a" not in set(queue["message_id"])
    assert posterior["only_c"] < 0.9 <= posterior["only_a"]


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
