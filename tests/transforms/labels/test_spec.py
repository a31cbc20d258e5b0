import numpy as np
import pandas as pd
import pytest

from transforms.labels import LabelError
from transforms.labels.spec import NO_ITEM, compare_rounds, spec_coverage, validate_spec

SPEC = pd.DataFrame([
    ("ham.rule.1", "ham", "rule", "a friend's message is ham", r"\bmum\b", None),
    ("ham.rule.2", "ham", "rule", "a known shop's offer is ham", r"\boffer\b", None),
    ("spam.edge_case.1", "spam", "edge_case", "promotional but legitimate", r"\b(?:offer|free)\b", "ham.rule.2"),
    ("spam.edge_case.2", "spam", "edge_case", "chain letters", r"\bforward\b", None),
], columns=["item_id", "label", "kind", "text", "pattern", "settled_by"])


def test_spec_coverage_attributes_each_disagreement_to_the_first_edge_case_then_rule():
    found = pd.DataFrame({"message_id": ["m1", "m2", "m3", "m4", "m5"],
                          "text": ["free offer today", "forward this", "call mum", "hello", "FREE pizza"],
                          "labels": ["a=ham;b=spam"] * 5})
    coverage = validate_spec(SPEC).pipe(spec_coverage, found).set_index("item_id")
    # m1 and m5 match the edge case before the rule (and patterns are case-sensitive as written: m5 does not).
    assert coverage["disagreements"].to_dict() == {"ham.rule.1": 1, "ham.rule.2": 0, "spam.edge_case.1": 1,
                                                   "spam.edge_case.2": 1, NO_ITEM: 2}
    assert coverage["settled"].to_dict() == {"ham.rule.1": True, "ham.rule.2": True, "spam.edge_case.1": True,
                                             "spam.edge_case.2": False, NO_ITEM: False}


@pytest.mark.parametrize("change, message", [
    ({"label": "maybe"}, r"label not one of \['ham', 'spam'\]: 'maybe'"),
    ({"kind": "hint"}, r"kind not one of"),
    ({"pattern": "(unclosed"}, r"ham.rule.1: pattern is not a regex"),
    ({"item_id": "ham.rule.2"}, r"duplicated item_id: 'ham.rule.2'"),
])
def test_validate_spec_rejects_bad_items(change, message):
    bad = SPEC.copy()
    for column, value in change.items():
        bad.loc[0, column] = value
    with pytest.raises(LabelError, match=message):
        validate_spec(bad)


def test_validate_spec_rejects_an_edge_case_settled_by_no_rule_of_the_spec():
    bad = SPEC.copy()
    bad.loc[3, "settled_by"] = "ham.rule.9"
    with pytest.raises(LabelError, match=r"settled_by must name a rule.*'spam.edge_case.2'"):
        validate_spec(bad)


def test_compare_rounds_sets_the_figures_side_by_side():
    frame = compare_rounds({"observed_agreement": 0.9, "disagreements under x": 30},
                           {"observed_agreement": 0.95, "disagreements under y": 2}).set_index("metric")
    assert frame.loc["observed_agreement", "change"] == pytest.approx(0.05)
    assert frame.loc["disagreements under x", "before"] == 30 and np.isnan(frame.loc["disagreements under x", "after"])
    assert np.isnan(frame.loc["disagreements under y", "change"])
