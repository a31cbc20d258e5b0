import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from transforms import statistics as s


@pytest.fixture
def table():
    rng = np.random.default_rng(1)
    x = rng.normal(5, 2, 1000)
    x[[3, 7]] = np.nan
    return pa.table({
        "x": pa.array(x, mask=np.arange(1000) % 100 == 0),
        "n": pa.array(rng.integers(0, 5, 1000)),
        "c": pa.array(rng.choice(["a", "b", "c", "d"], 1000, p=[0.5, 0.3, 0.15, 0.05]).tolist(),
                      mask=np.arange(1000) % 50 == 1),
        "d": pa.array([dt.date(2026, 1, 1) + dt.timedelta(days=int(i % 7)) for i in range(1000)]),
    })


def test_numeric_figures_equal_direct_numpy(table):
    stats = s.dataset_statistics(table, name="t", num_quantiles=4, num_buckets=5)
    x = s.feature(stats, "x")
    present = np.asarray(table.column("x").drop_null().to_numpy(), float)
    finite = present[~np.isnan(present)]
    assert x.type == s.FeatureNameStatistics.FLOAT
    assert s.common(x).num_missing == 10 and s.common(x).num_non_missing == 990
    assert x.num_stats.mean == pytest.approx(finite.mean())
    assert x.num_stats.std_dev == pytest.approx(finite.std())
    assert x.num_stats.min == finite.min() and x.num_stats.max == finite.max()
    assert x.num_stats.median == pytest.approx(np.median(finite))
    quantiles = s.histogram(x, s.Histogram.QUANTILES)
    cuts = [quantiles.buckets[0].low_value] + [b.high_value for b in quantiles.buckets]
    assert cuts == pytest.approx(np.quantile(finite, [0, 0.25, 0.5, 0.75, 1]))
    standard = s.histogram(x)
    assert standard.num_nan == 2
    assert [b.sample_count for b in standard.buckets] == np.histogram(finite, bins=5)[0].tolist()
    assert s.custom_stat(x, "distinct") == len(set(finite.tolist())) + 1  # Arrow: NaN is one value


def test_integer_and_date_columns_are_numeric(table):
    stats = s.dataset_statistics(table, name="t")
    n = s.feature(stats, "n")
    assert n.type == s.FeatureNameStatistics.INT
    assert n.num_stats.num_zeros == int((table.column("n").to_numpy() == 0).sum())
    assert s.custom_stat(n, "distinct") == 5
    d = s.feature(stats, "d")
    assert d.num_stats.min == (dt.date(2026, 1, 1) - dt.date(1970, 1, 1)).days


def test_categorical_top_values_and_rank_histogram(table):
    stats = s.dataset_statistics(table, name="t", top_k=3)
    c = s.feature(stats, "c")
    values = [v for v in table.column("c").to_pylist() if v is not None]
    expected = sorted(((v, values.count(v)) for v in set(values)), key=lambda kv: (-kv[1], kv[0]))
    assert [(t.value, t.frequency) for t in c.string_stats.top_values] == expected[:3]
    assert s.category_counts(c) == dict(expected[:3])
    assert c.string_stats.unique == 4
    assert s.common(c).num_missing == 20
    assert c.string_stats.avg_length == pytest.approx(1.0)


def test_round_trips_through_json_and_binary(table):
    stats = s.dataset_statistics(table, name="t")
    assert s.from_json(s.to_json(stats)) == stats
    assert s.from_bytes(stats.SerializeToString()) == stats
    assert s.feature_names(stats) == table.column_names


def test_bad_input_gets_a_clear_error(table):
    with pytest.raises(KeyError, match="nope"):
        s.dataset_statistics(table, name="t", columns=["nope"])
    with pytest.raises(ValueError):
        s.dataset_statistics(table, name="t", num_buckets=0)


def test_empty_and_constant_columns():
    table = pa.table({"e": pa.array([None, None], pa.float64()), "k": [3, 3]})
    stats = s.dataset_statistics(table, name="t")
    assert s.common(s.feature(stats, "e")).num_missing == 2
    k = s.histogram(s.feature(stats, "k"))
    assert [(b.low_value, b.high_value, b.sample_count) for b in k.buckets] == [(3, 3, 2)]
