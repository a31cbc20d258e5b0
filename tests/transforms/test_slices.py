"""Error analysis by metadata: slice metrics on a hand-built example."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from transforms.slices import ALL, NULL, metrics, slice_metrics, worst


def example() -> pa.Table:
    # web: 4 rows, all right. partner: 4 rows, 2 wrong (one false positive, one false negative).
    # one row with no source. Threshold 0.5.
    return pa.table({
        "label": [1, 0, 1, 0, 1, 0, 1, 0, 1],
        "probability": [0.9, 0.1, 0.8, 0.2, 0.3, 0.7, 0.6, 0.4, 0.9],
        "source": ["web", "web", "web", "web", "partner", "partner", "partner", "partner", None],
        "split": ["dev"] * 9,
    })


def by_slice(table: pa.Table) -> dict[tuple[str, str], dict]:
    return {(r["slice_column"], r["slice_value"]): r for r in table.to_pylist()}


def test_metrics_per_slice_on_a_hand_built_example():
    found = by_slice(slice_metrics(example(), label="label", probability="probability", slice_columns=["source"],
                                   split_column="split", min_rows=1))
    overall = found[(ALL, ALL)]
    assert overall["rows"] == 9 and overall["positives"] == 5
    assert overall["accuracy"] == pytest.approx(7 / 9)
    partner = found[("source", "partner")]
    assert (partner["rows"], partner["accuracy"], partner["precision"], partner["recall"]) == (4, 0.5, 0.5, 0.5)
    # partner AUC: positives 0.3, 0.6 vs negatives 0.7, 0.4 -> pairs ranked right: (0.6 > 0.4) of 4 = 0.25
    assert partner["roc_auc"] == pytest.approx(0.25)
    assert partner["error_gap"] == pytest.approx(0.5 - 2 / 9)
    web = found[("source", "web")]
    assert (web["accuracy"], web["roc_auc"], web["error_gap"]) == (1.0, 1.0, pytest.approx(-2 / 9))
    missing = found[("source", NULL)]
    assert missing["rows"] == 1 and missing["roc_auc"] is None  # one class: no AUC, not a crash


def test_worst_slices_come_first_and_small_slices_last():
    table = slice_metrics(example(), label="label", probability="probability", slice_columns=["source"],
                          split_column="split", min_rows=2)
    values = [r["slice_value"] for r in table.to_pylist()]
    assert values == [ALL, "partner", "web", NULL]
    assert [r["slice_value"] for r in worst(table, "dev")] == ["partner", "web"]


def test_metrics_match_scikit_learn_directly():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    p = np.clip(y * 0.3 + rng.random(500) * 0.7, 0, 1)
    from sklearn.metrics import roc_auc_score

    assert metrics(y, p)["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert metrics(y, p, threshold=0.6)["accuracy"] == pytest.approx(np.mean((p >= 0.6) == y))


def test_a_missing_column_is_named():
    with pytest.raises(ValueError, match="'region'"):
        slice_metrics(example(), label="label", probability="probability", slice_columns=["region"])
