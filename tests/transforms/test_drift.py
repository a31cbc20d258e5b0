import numpy as np
import pyarrow as pa
import pytest

from transforms import drift as d
from transforms import statistics as s
from transforms.schema import FEATURE, IDENTIFIER, declare
from user_pipeline.config import DriftConfig, FeatureDrift

CATS = ["a", "b", "c", "d", "e"]
P = np.array([0.4, 0.3, 0.15, 0.1, 0.05])


def _np_linf(p, q):
    return np.abs(p / p.sum() - q / q.sum()).max()


def _np_js(p, q):
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a, b):
        mask = a > 0
        return np.sum(a[mask] * np.log2(a[mask] / b[mask]))

    return (kl(p, m) + kl(q, m)) / 2


def _hist(edges, counts):
    h = s.Histogram()
    for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True):
        h.buckets.add(low_value=lo, high_value=hi, sample_count=n)
    return h


def test_linf_matches_numpy_on_known_distributions():
    a = {"x": 50.0, "y": 30.0, "z": 20.0}
    b = {"x": 40.0, "y": 40.0, "w": 20.0}
    keys = sorted(set(a) | set(b))
    expected = _np_linf(np.array([a.get(k, 0) for k in keys]), np.array([b.get(k, 0) for k in keys]))
    key, value = d.linf_distance(a, b)
    assert value == pytest.approx(expected) == pytest.approx(0.2)
    assert key in {"z", "w"}


def test_js_matches_numpy_on_known_distributions():
    p, q = np.array([10.0, 20, 30, 40]), np.array([40.0, 30, 20, 10])
    edges = [0, 1, 2, 3, 4]
    assert d.js_divergence(_hist(edges, p), _hist(edges, q)) == pytest.approx(_np_js(p, q))
    # disjoint supports: JS in bits is exactly 1
    assert d.js_divergence_counts(np.array([1.0, 0]), np.array([0, 1.0])) == pytest.approx(1.0)
    assert d.js_divergence(_hist(edges, p), _hist(edges, p)) == 0


def test_js_aligns_histograms_with_different_bounds_like_tfdv():
    # [0,2) with 10 and [1,3) with 10: union bounds 0,1,2,3 -> (5,5,0) vs (0,5,5)
    a, b = _hist([0, 2], [10]), _hist([1, 3], [10])
    p, q = d.align_histograms(a, b)
    assert p.tolist() == [5, 5, 0] and q.tolist() == [0, 5, 5]
    assert d.js_divergence(a, b) == pytest.approx(_np_js(p, q))


def test_psi_matches_its_formula():
    p, q = np.array([50.0, 30, 20]), np.array([30.0, 30, 40])
    pp, qq = p / p.sum(), q / q.sum()
    assert d.psi(p, q) == pytest.approx(np.sum((pp - qq) * np.log(pp / qq)))
    assert d.psi(p, p) == 0


def _cat_stats(rng, n, probs):
    return s.dataset_statistics(pa.table({"c": rng.choice(CATS, n, p=probs).tolist()}), name="t")


def test_categorical_shift_of_five_points_is_flagged_and_resamples_are_not():
    rng = np.random.default_rng(7)
    n, cfg = 10_000, DriftConfig()
    reference = _cat_stats(rng, n, P)
    shifted = P + np.array([-0.05, 0.05, 0, 0, 0])
    [drift] = d.compare(_cat_stats(rng, n, shifted), reference, cfg)
    assert drift.metric == "linf" and drift.fired and drift.detail in {"a", "b"}
    alarms = sum(d.compare(_cat_stats(rng, n, P), reference, cfg)[0].fired for _ in range(100))
    assert alarms <= 1


def test_numeric_shift_is_flagged_on_shared_bins_and_resamples_are_not():
    rng = np.random.default_rng(3)
    n, cfg = 2_000, DriftConfig()

    def sample(mean):
        t = pa.table({"x": rng.normal(mean, 10, n)})
        return t, s.dataset_statistics(t, name="t")

    ref_t, ref_s = sample(40)
    cur_t, cur_s = sample(44)
    [drift] = d.compare(cur_s, ref_s, cfg, tables=(cur_t, ref_t))
    assert drift.metric == "js" and drift.fired and drift.psi > 0.1
    alarms = 0
    for _ in range(100):
        cur_t, cur_s = sample(40)
        alarms += d.compare(cur_s, ref_s, cfg, tables=(cur_t, ref_t))[0].fired
    assert alarms <= 1


def test_shared_bins_count_every_value_once():
    cur, ref = np.array([-5.0, 0, 1, 2, 3, 50]), np.arange(10.0)
    p, q = d.shared_bin_counts(cur, ref, 4)
    assert p.sum() == cur.size and q.sum() == ref.size


def test_thresholds_severity_and_switching_off_come_from_config_and_roles_decide_what_is_compared():
    rng = np.random.default_rng(0)
    a, b = _cat_stats(rng, 1000, P), _cat_stats(rng, 1000, [0.2, 0.2, 0.2, 0.2, 0.2])
    cfg = DriftConfig(features={"c": FeatureDrift(threshold=0.5, severity="failure")})
    [drift] = d.compare(a, b, cfg)
    assert drift.threshold == 0.5 and not drift.fired and drift.severity == "failure"
    [drift] = d.compare(a, b, DriftConfig(severity="failure"))
    assert d.failures([drift]) == [drift] and d.warnings([drift]) == []
    assert d.compare(a, b, DriftConfig(features={"c": FeatureDrift(enabled=False)})) == []
    as_id = declare([("c", pa.string(), IDENTIFIER)])
    assert d.compare(a, b, DriftConfig(), schema=as_id) == []
    assert [x.feature for x in d.compare(a, b, DriftConfig(), schema=declare([("c", pa.string(), FEATURE)]))] == ["c"]
    # A column the schema declares no role for is compared: nothing is taken for an id by its name.
    assert [x.feature for x in d.compare(a, b, DriftConfig(), schema=pa.schema([("c", pa.string())]))] == ["c"]


def test_kind_mismatch_is_a_clear_error():
    a = s.dataset_statistics(pa.table({"c": ["x", "y"]}), name="a")
    b = s.dataset_statistics(pa.table({"c": [1, 2]}), name="b")
    with pytest.raises(ValueError, match="numeric on one side"):
        d.compare(a, b, DriftConfig())
