import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.metrics import cohen_kappa_score

from transforms.labels import (
    LabelError,
    agreement_report,
    apply_corrections,
    cohen_kappa,
    confident_learning,
    fleiss_kappa,
    krippendorff_alpha_nominal,
    labeler_stats,
    observed_agreement,
    resolve_labels,
    reviewed_corrections,
    share_z_test,
    specific_agreement,
    top_k_corrections,
    validate_labels,
)
from transforms.schema import CORRECTIONS

# Four messages, two labels each: ham/ham, ham/ham, ham/spam, spam/spam.
TWO_RATER_COUNTS = np.array([[2, 0], [2, 0], [1, 1], [0, 2]])


def labels_frame(rows):
    return pd.DataFrame(rows, columns=["message_id", "text", "label", "labeler_id"])


# -- agreement measures against hand-computed values --------------------------------------------
def test_cohen_kappa_hand_computed():
    # 10 items: both spam 3, both ham 5, one disagreement each way.
    # p_o = 0.8; each rater says spam 4/10: p_e = 0.4*0.4 + 0.6*0.6 = 0.52; kappa = 0.28/0.48.
    a = ["spam"] * 3 + ["ham"] * 5 + ["spam", "ham"]
    b = ["spam"] * 3 + ["ham"] * 5 + ["ham", "spam"]
    assert cohen_kappa(a, b) == pytest.approx(0.28 / 0.48)
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    assert cohen_kappa(a, a) == 1.0
    assert cohen_kappa(["ham"] * 3, ["ham"] * 3) == 1.0  # no variation, full agreement


def test_observed_and_specific_agreement_hand_computed():
    # Ordered agreeing pairs: 2 + 2 + 0 + 2 = 6 of 8.
    assert observed_agreement(TWO_RATER_COUNTS) == pytest.approx(0.75)
    # ham: sum n(n-1) = 2+2 = 4 over sum n(m-1) = 2+2+1 = 5; spam: 2 / 3 (= 2a / (2a + b + c), a=1, b+c=1).
    np.testing.assert_allclose(specific_agreement(TWO_RATER_COUNTS), [0.8, 2 / 3])


def test_fleiss_kappa_hand_computed_and_textbook_example():
    # P_i = 1, 1, 0, 1 -> 0.75; p_ham = 5/8, p_spam = 3/8 -> P_e = 34/64; kappa = (0.75 - 34/64) / (30/64) = 7/15.
    assert fleiss_kappa(TWO_RATER_COUNTS) == pytest.approx(7 / 15)
    # Fleiss (1971) as worked on Wikipedia: 10 subjects, 14 raters, 5 categories -> 0.210.
    table = np.array([[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
                      [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]])
    assert fleiss_kappa(table) == pytest.approx(0.20993, abs=1e-5)
    with pytest.raises(ValueError, match="same number"):
        fleiss_kappa(np.array([[2, 0], [1, 2]]))


def test_krippendorff_alpha_hand_computed_and_reference_example():
    # Coincidences: o_hh = 2+2 = 4, o_hs = o_sh = 1, o_ss = 2; n_h = 5, n_s = 3, n = 8.
    # alpha = 1 - (n-1) * (o_hs + o_sh) / (n_h n_s + n_s n_h) = 1 - 7*2/30 = 8/15.
    assert krippendorff_alpha_nominal(TWO_RATER_COUNTS) == pytest.approx(8 / 15)
    # Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": 4 coders, 12 units with
    # missing values, nominal alpha = 0.743.
    coders = [[1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
              [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
              [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
              [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None]]
    counts = np.zeros((12, 5))
    for coder in coders:
        for unit, value in enumerate(coder):
            if value is not None:
                counts[unit, value - 1] += 1
    assert krippendorff_alpha_nominal(counts) == pytest.approx(0.7434, abs=1e-4)
    assert krippendorff_alpha_nominal(np.array([[2, 0], [0, 2]])) == 1.0


def test_share_z_test_hand_computed():
    # 30/100 vs 20/100: pooled 0.25, se = sqrt(0.25*0.75*0.02) = 0.061237; z = 0.1/0.061237 = 1.633.
    z, p = share_z_test(30, 100, 20, 100)
    assert z == pytest.approx(1.63299, abs=1e-4)
    assert p == pytest.approx(0.10247, abs=1e-4)


# -- validation ---------------------------------------------------------------------------------
def test_validate_labels_normalises_case_and_fills_missing_text():
    frame = validate_labels(labels_frame([("m2", None, " Spam ", "l1"), ("m1", "hi", "HAM", "l1")]))
    assert frame.to_dict("records") == [
        {"message_id": "m1", "text": "hi", "label": "ham", "labeler_id": "l1"},
        {"message_id": "m2", "text": "", "label": "spam", "labeler_id": "l1"},
    ]


@pytest.mark.parametrize("rows, message", [
    ([("m1", "a", "junk", "l1"), ("m2", "b", None, "l1")],
     r"2 label value\(s\) are not one of.*'junk' x1.*'<null>' x1"),
    ([("m1", "a", "ham", "l1"), ("m1", "a", "spam", "l1")], r"occur more than once: \('m1', 'l1'\)"),
    ([("m1", "a", "ham", "l1"), ("m1", "b", "ham", "l2")], r"carry different texts: 'm1'"),
    ([(None, "a", "ham", "l1")], r"have no message_id"),
    ([("m1", "a", "ham", "")], r"have no labeler_id"),
])
def test_validate_labels_rejects_bad_tables_with_clear_errors(rows, message):
    with pytest.raises(LabelError, match=message):
        validate_labels(labels_frame(rows))


def test_validate_labels_names_missing_columns():
    with pytest.raises(LabelError, match=r"lack column\(s\) \['labeler_id'\]"):
        validate_labels(pa.table({"message_id": ["m"], "text": ["t"], "label": ["ham"]}))


def test_validate_labels_keeps_emoji_and_non_latin_texts():
    frame = validate_labels(labels_frame([("m1", "Привет 👋 免费", "ham", "l1")]))
    assert frame["text"].tolist() == ["Привет 👋 免费"]


# -- one label per message ----------------------------------------------------------------------
def test_resolve_labels_majority_single_and_ties_to_the_more_reliable_labeler():
    rows = [("m1", "a", "spam", "l1"), ("m1", "a", "spam", "l2"), ("m1", "a", "ham", "l3"),  # majority
            ("m2", "b", "ham", "l1")]                                                        # single
    # l1 and l2 agree on m3..m5; l3 disagrees with them there: l3 is the least reliable.
    for i in range(3, 6):
        rows += [(f"m{i}", "c", "ham", "l1"), (f"m{i}", "c", "ham", "l2"), (f"m{i}", "c", "spam", "l3")]
    rows += [("m9", "d", "spam", "l3"), ("m9", "d", "ham", "l2")]                           # tie
    resolved = resolve_labels(validate_labels(labels_frame(rows))).set_index("message_id")
    assert resolved.loc["m1", ["label", "resolution"]].tolist() == ["spam", "majority"]
    assert resolved.loc["m2", ["label", "resolution", "n_labels"]].tolist() == ["ham", "single", 1]
    assert resolved.loc["m9", ["label", "resolution"]].tolist() == ["ham", "tie:l2"]


def test_labeler_stats_compare_each_labeler_with_the_others():
    rows = [("m1", "a", "spam", "l1"), ("m1", "a", "ham", "l2"), ("m2", "b", "ham", "l1"), ("m2", "b", "ham", "l2"),
            ("m3", "c", "spam", "l1")]
    stats = labeler_stats(validate_labels(labels_frame(rows))).set_index("labeler_id")
    assert stats.loc["l1", "n_compared"] == 2 and stats.loc["l1", "agreement_with_others"] == 0.5
    assert stats.loc["l1", "spam_where_others_ham"] == 1 and stats.loc["l2", "ham_where_others_spam"] == 1
    assert stats.loc["l1", "labels"] == 3 and stats.loc["l1", "spam_share"] == pytest.approx(2 / 3)


def test_agreement_report_flags_pairs_labelers_and_classes_below_the_minimum():
    rows = []
    for i in range(20):  # l1 and l2 agree on everything; l3 calls every odd-numbered message spam
        label = "spam" if i % 4 == 0 else "ham"
        rows += [(f"a{i}", f"t{i}", label, "l1"), (f"a{i}", f"t{i}", label, "l2")]
        rows += [(f"b{i}", f"u{i}", label, "l1"),
                 (f"b{i}", f"u{i}", "spam" if i % 2 else label, "l3")]
    report = agreement_report(validate_labels(labels_frame(rows)), min_agreement=0.8)
    pairs = report.pairs.set_index(["labeler_a", "labeler_b"])
    assert pairs.loc[("l1", "l2"), "cohen_kappa"] == 1.0
    assert not pairs.loc[("l1", "l2"), "below_min_agreement"]
    assert pairs.loc[("l1", "l3"), "below_min_agreement"]
    assert any("pair l1~l3" in f for f in report.flags)
    assert any("class spam" in f for f in report.flags)
    table = report.to_table()
    assert set(table.column("section").to_pylist()) == {"overall", "class", "labeler", "pair", "confusion",
                                                        "disagreement"}
    disagreements = table.filter(pa.compute.equal(table.column("section"), "disagreement"))
    assert disagreements.num_rows == report.overall["messages_in_disagreement"] == len(report.disagreements)


# -- confident learning -------------------------------------------------------------------------
def test_confident_learning_hand_computed():
    given = np.array([0, 0, 0, 1, 1, 1])
    p_spam = np.array([0.1, 0.2, 0.9, 0.8, 0.7, 0.2])
    found = confident_learning(given, np.column_stack([1 - p_spam, p_spam]))
    # t_ham = mean(0.9, 0.8, 0.1) = 0.6; t_spam = mean(0.8, 0.7, 0.2) = 0.5667.
    np.testing.assert_allclose(found.thresholds, [0.6, (0.8 + 0.7 + 0.2) / 3])
    # Row 2 (ham, p_spam 0.9) is confidently spam; row 5 (spam, p_ham 0.8) confidently ham.
    np.testing.assert_array_equal(found.confident_joint, [[2, 1], [1, 2]])
    assert found.issues.tolist() == [2, 5]  # by self-confidence: 0.1, then 0.2


def test_confident_learning_with_no_example_of_a_class():
    found = confident_learning(np.zeros(3, dtype=int), np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]]))
    assert found.issues.tolist() == []  # no threshold for spam: nothing is confidently spam


# -- corrections --------------------------------------------------------------------------------
LABELS = validate_labels(labels_frame([("m1", "a", "ham", "l1"), ("m2", "b", "spam", "l1"), ("m2", "b", "spam", "l2")]))


def test_reviewed_corrections_keep_changes_only_and_normalise():
    reviews = pd.DataFrame({"message_id": ["m1", "m2", "m2"], "labeler_id": ["l1", "l1", "l2"],
                            "corrected_label": [" SPAM", "", "spam"], "reviewer": ["ann", "ann", "bo"]})
    out = reviewed_corrections(reviews, LABELS, "review:x.csv")
    assert out[["message_id", "labeler_id", "old_label", "new_label", "reviewer"]].values.tolist() == [
        ["m1", "l1", "ham", "spam", "ann"]]


@pytest.mark.parametrize("reviews, message", [
    ({"message_id": ["m1"], "labeler_id": ["l1"], "corrected_label": ["maybe"]}, r"not one of.*'maybe'"),
    ({"message_id": ["m1", "m1"], "labeler_id": ["l1", "l1"], "corrected_label": ["spam", "ham"]},
     "more than once"),
    ({"message_id": ["m7"], "labeler_id": ["l1"], "corrected_label": ["spam"]}, "not label rows"),
    ({"message_id": ["m1"], "labeler_id": ["l1"]}, r"lack column\(s\) \['corrected_label'\]"),
])
def test_reviewed_corrections_reject_bad_reviews(reviews, message):
    with pytest.raises(LabelError, match=message):
        reviewed_corrections(pd.DataFrame(reviews), LABELS, "review:x.csv")


def test_apply_corrections_changes_labels_only():
    table = pa.table({"message_id": ["m1", "m2"], "text": ["a", "b"], "label": ["ham", "spam"],
                      "labeler_id": ["l1", "l1"], "is_double_labelled": [False, False]})
    candidates = pd.DataFrame({"rank": [1], "message_id": ["m2"], "labeler_id": ["l1"], "given_label": ["spam"],
                               "suggested_label": ["ham"]})
    corrections = top_k_corrections(candidates, 5)
    assert list(corrections.columns) == CORRECTIONS.names
    fixed = apply_corrections(table, corrections)
    assert fixed.schema == table.schema
    assert fixed.column("label").to_pylist() == ["ham", "ham"]
    assert fixed.drop_columns(["label"]).equals(table.drop_columns(["label"]))
