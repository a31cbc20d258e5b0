import pandas as pd
import pyarrow as pa
import pytest

from transforms.labels import (
    LabelError,
    apply_corrections,
    reviewed_corrections,
    top_k_corrections,
    validate_labels,
)
from transforms.schema import CORRECTIONS


def labels_frame(rows):
    return pd.DataFrame(rows, columns=["message_id", "text", "label", "labeler_id"])


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
