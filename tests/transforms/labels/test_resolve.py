import pandas as pd

from transforms.labels import (
    resolve_labels,
    validate_labels,
)


def labels_frame(rows):
    return pd.DataFrame(rows, columns=["message_id", "text", "label", "labeler_id"])


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
