import numpy as np
import pyarrow as pa
import pytest

from transforms.skew import compare_skew, mismatched_rows
from user_pipeline.config import DriftConfig


def _features(rng, n, ids, age_shift=0.0, idx_p=(0.5, 0.3, 0.2)):
    return pa.table({
        "source_record_id": [f"u{i}" for i in ids],
        "age_z": pa.array(rng.normal(age_shift, 1, n).astype("float32")),
        "country_idx": pa.array(rng.choice([0, 1, 2], n, p=idx_p).astype("int64")),
    })


def test_same_features_from_the_same_transform_show_no_skew():
    rng = np.random.default_rng(0)
    training = _features(rng, 5000, range(5000))
    serving = training.slice(1000, 1000)  # a sample of the same records, computed identically
    found = compare_skew(training, serving, DriftConfig(), features=["age_z", "country_idx"],
                         categorical=["country_idx"], key="source_record_id")
    assert {s.drift.feature: s.drift.metric for s in found} == {"age_z": "js", "country_idx": "linf"}
    assert all(s.joined_rows == 1000 and s.mismatched_rows == 0 for s in found)
    assert not any(s.flagged for s in found)


def test_a_serving_transform_that_differs_is_caught_both_ways():
    rng = np.random.default_rng(1)
    training = _features(rng, 5000, range(5000))
    serving = training.slice(0, 2000)
    # serving scales one feature differently (a skew bug) for every row
    serving = serving.set_column(1, "age_z", pa.array(serving.column("age_z").to_numpy() * 1.5 + 0.3))
    found = {s.drift.feature: s for s in compare_skew(
        training, serving, DriftConfig(), features=["age_z", "country_idx"], categorical=["country_idx"],
        key="source_record_id")}
    assert found["age_z"].drift.fired and found["age_z"].mismatch_share == 1.0
    assert not found["country_idx"].flagged


def test_distribution_skew_without_a_key():
    rng = np.random.default_rng(2)
    training = _features(rng, 10000, range(10000))
    serving = _features(rng, 10000, range(10000, 20000), idx_p=(0.4, 0.4, 0.2))
    found = {s.drift.feature: s for s in compare_skew(training, serving, DriftConfig(),
                                                      features=["age_z", "country_idx"], categorical=["country_idx"])}
    assert found["country_idx"].drift.value == pytest.approx(0.1, abs=0.03) and found["country_idx"].flagged
    assert found["country_idx"].joined_rows == 0


def test_mismatch_counts_nulls_on_one_side_and_values():
    training = pa.table({"k": ["a", "b", "c", "d"], "x": [1.0, None, 3.0, 4.0], "c": ["p", "q", None, "s"]})
    serving = pa.table({"k": ["a", "b", "c", "e"], "x": [1.0, 2.0, 3.0000001, 9.0], "c": ["p", "q", "r", "s"]})
    joined, counts = mismatched_rows(training, serving, "k", ["x", "c"])
    assert joined == 3 and counts == {"x": 1, "c": 1}
    with pytest.raises(ValueError, match="unique"):
        mismatched_rows(training, pa.table({"k": ["a", "a"], "x": [1.0, 1.0], "c": ["p", "p"]}), "k", ["x"])
    with pytest.raises(KeyError, match="missing"):
        compare_skew(training, serving, DriftConfig(), features=["nope"])
