import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.metrics import cohen_kappa_score

from transforms.labels import (
    agreement_report,
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha_nominal,
    labeler_stats,
    observed_agreement,
    share_z_test,
    specific_agreement,
    validate_labels,
)

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
    assert krippendorff_alpha_nominal(np.array([[3, 0], [2, 0]])) == 1.0  # one category only: no disagreement
    assert np.isnan(krippendorff_alpha_nominal(np.array([[1, 0], [0, 1]])))  # no item has two ratings


def test_share_z_test_hand_computed():
    # 30/100 vs 20/100: pooled 0.25, se = sqrt(0.25*0.75*0.02) = 0.061237; z = 0.1/0.061237 = 1.633.
    z, p = share_z_test(30, 100, 20, 100)
    assert z == pytest.approx(1.63299, abs=1e-4)
    assert p == pytest.approx(0.10247, abs=1e-4)




# -- per labeler and the report ----------------------------------------------------------------
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
    assert set(table.column("section").to_pylist()) == {"overall", "class", "labeler", "pair", "confusion", "posterior",
                                                        "disagreement"}
    disagreements = table.filter(pa.compute.equal(table.column("section"), "disagreement"))
    assert disagreements.num_rows == report.overall["messages_in_disagreement"] == len(report.disagreements)
