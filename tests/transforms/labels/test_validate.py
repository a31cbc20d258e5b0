import pandas as pd
import pyarrow as pa
import pytest

from transforms.labels import (
    LabelError,
    validate_labels,
)


def labels_frame(rows):
    return pd.DataFrame(rows, columns=["message_id", "text", "label", "labeler_id"])


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
