import numpy as np
import pandas as pd
import pytest

from transforms.labels import validate_labels
from transforms.labels.labelers import dawid_skene
from user_pipeline.datagen import reference

SEED = 20261125
# The tolerance the estimates must meet on the generated labels (about 5,000 label rows, four
# labelers, 10% of messages labelled twice, 60% of the promotional ones): each labeler's estimated
# accuracy within 0.03 of their true accuracy, the set's expected accuracy within 0.02 of the true
# accuracy of the posterior labels. Measured over ten seeds: at most 0.028 and 0.011.
LABELER_TOLERANCE = 0.03
SET_TOLERANCE = 0.02


def crowd(n_items, labelers, rng):
    """Every labeler labels every item; ``labelers`` maps id -> (P(spam | ham), P(ham | spam))."""
    truth = np.where(rng.random(n_items) < 0.3, "spam", "ham")
    rows = []
    for labeler, (ham_to_spam, spam_to_ham) in labelers.items():
        u = rng.random(n_items)
        flip = np.where(truth == "ham", u < ham_to_spam, u < spam_to_ham)
        said = np.where(flip, np.where(truth == "ham", "spam", "ham"), truth)
        rows += [(f"m{i}", "", said[i], labeler) for i in range(n_items)]
    return pd.DataFrame(rows, columns=["message_id", "text", "label", "labeler_id"]), truth


def test_dawid_skene_recovers_confusion_matrices_of_a_crowd():
    labels, truth = crowd(600, {"a": (0.02, 0.02), "b": (0.05, 0.05), "c": (0.02, 0.02),
                                "d": (0.40, 0.02)}, np.random.default_rng(1))
    model = dawid_skene(labels)
    assert model.converged
    true_accuracy = (labels["label"].to_numpy() == np.tile(truth, 4)).reshape(4, -1).mean(axis=1)
    np.testing.assert_allclose(model.labelers["accuracy"], true_accuracy, atol=0.02)
    assert model.confusion("d")[0, 1] == pytest.approx(0.40, abs=0.05)  # says spam for 40% of the ham
    assert model.labelers.set_index("labeler_id").loc["d", "worst_error"] == "ham->spam"
    assert model.labelers.loc[model.labelers["outlier"], "labeler_id"].tolist() == ["d"]
    # Four labels per item: the posterior label is the truth nearly everywhere, and knows it.
    right = (model.messages.set_index("message_id").loc[[f"m{i}" for i in range(600)], "label"] == truth).mean()
    assert right >= 0.99 and model.expected_accuracy == pytest.approx(right, abs=0.01)


@pytest.mark.parametrize("seed", [SEED, 1, 2])
def test_dawid_skene_recovers_each_labelers_accuracy_on_the_generated_labels(seed):
    labels = validate_labels(reference.spam_labels(seed))
    gold = reference.load_sms().set_index("message_id")["gold_label"]
    model = dawid_skene(labels)
    true = (labels["label"] == gold.loc[labels["message_id"]].to_numpy()).groupby(labels["labeler_id"]).mean()
    estimated = model.labelers.set_index("labeler_id")["accuracy"]
    assert (estimated - true).abs().max() <= LABELER_TOLERANCE
    messages = model.messages.set_index("message_id")
    assert abs(model.expected_accuracy - (messages["label"] == gold.loc[messages.index]).mean()) <= SET_TOLERANCE
    # The biased labeler is the least accurate and the one whose ham->spam rate stands out most.
    assert estimated.idxmin() == reference.BIASED_LABELER
    worst = model.labelers.sort_values("z").iloc[-1]
    assert (worst["labeler_id"], worst["worst_error"], bool(worst["outlier"])) == (reference.BIASED_LABELER,
                                                                                  "ham->spam", True)


def test_dawid_skene_singles_out_only_the_biased_labeler_on_the_pinned_labels():
    model = dawid_skene(validate_labels(reference.spam_labels(SEED)))
    assert model.labelers.loc[model.labelers["outlier"], "labeler_id"].tolist() == [reference.BIASED_LABELER]


def test_dawid_skene_of_no_labels_is_empty():
    model = dawid_skene(pd.DataFrame({"message_id": [], "label": [], "labeler_id": []}))
    assert model.labelers.empty and model.messages.empty and np.isnan(model.expected_accuracy)
