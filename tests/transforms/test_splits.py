"""Balanced, stable splits: stratification within the stated tolerance, stability, no leakage."""

from __future__ import annotations

import hashlib

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from transforms import splits
from transforms.features import ID_COLUMN, LABEL, SPLIT_COLUMN

FRACTIONS = {"train": 0.8, "dev": 0.1, "test": 0.1}


def users(n: int, positive_rate: float, seed: int, prefix: str = "u") -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({
        ID_COLUMN: [f"{prefix}{i:07d}" for i in range(n)],
        LABEL: (rng.random(n) < positive_rate).astype(np.int64),
        "source": rng.choice(["web", "mobile", "partner"], n, p=[0.6, 0.3, 0.1]),
    })


def assign(previous, candidates, stratify_by=("source",), ds="2026-01-01", salt="s"):
    return splits.assign(previous, candidates, fractions=FRACTIONS, salt=salt, stratify_by=stratify_by, ds=ds)


def split_of(assignments: pa.Table) -> dict[str, str]:
    return dict(zip(assignments[ID_COLUMN].to_pylist(), assignments[SPLIT_COLUMN].to_pylist(), strict=True))


def test_split_hash_is_salted_blake2b_of_the_id():
    hashes = splits.split_hashes(pa.array(["web:1", "web:2"]), "salt")
    expected = int.from_bytes(hashlib.blake2b(b"web:1", digest_size=8, key=b"salt").digest(), "big")
    assert hashes.dtype == np.uint64 and int(hashes[0]) == expected
    assert not np.array_equal(hashes, splits.split_hashes(pa.array(["web:1", "web:2"]), "other"))


def test_quotas_fill_the_deficits_and_give_a_split_above_its_target_none():
    assert splits.quotas({}, 10, FRACTIONS) == {"train": 8, "dev": 1, "test": 1}
    assert sum(splits.quotas({}, 7, FRACTIONS).values()) == 7
    # dev is already over its target: it gets none, the others make up the total of 20.
    assert splits.quotas({"train": 2, "dev": 5, "test": 0}, 13, FRACTIONS) == {"train": 11, "dev": 0, "test": 2}
    assert splits.quotas({"train": 8, "dev": 1, "test": 1}, 0, FRACTIONS) == {"train": 0, "dev": 0, "test": 0}


@pytest.mark.parametrize("n, rate, seed", [(60, 0.3, 1), (250, 0.08, 2), (1000, 0.35, 3), (20_000, 0.02, 4)])
def test_every_split_keeps_the_label_rate_within_the_stated_tolerance(n, rate, seed):
    table = users(n, rate, seed)
    assigned = assign(None, table)
    report = splits.report(splits.apply(table, assigned), FRACTIONS, ["source"])
    assert report["within_tolerance"], report["splits"]
    for name, part in report["splits"].items():
        assert abs(part["rows"] - FRACTIONS[name] * n) <= report["strata"], (name, part)
    # Within each stratum every split is within one row of its target share.
    strata = splits.strata(table, ["source"]).to_numpy(zero_copy_only=False)
    chosen = splits.apply(table, assigned)[SPLIT_COLUMN].to_numpy(zero_copy_only=False)
    for stratum in np.unique(strata):
        mine = strata == stratum
        for name in splits.SPLITS:
            assert abs((chosen[mine] == name).sum() - FRACTIONS[name] * mine.sum()) < 1 + 1e-9


def test_a_hash_threshold_alone_is_not_as_balanced_on_small_data():
    """Why the quotas: 1,000 users split by a hash threshold alone (what many pipelines do) miss
    the test split's rate by more than our tolerance (3 points for 100 rows and two labels) for
    many salts; ours never do."""
    table = users(1000, 0.3, 5)
    labels = table[LABEL].to_numpy()
    misses = 0
    for salt in range(50):
        u = splits.split_hashes(table[ID_COLUMN], str(salt)) / 2.0**64
        test = u >= 0.9
        ours = splits.report(splits.apply(table, assign(None, table, stratify_by=(), salt=str(salt))), FRACTIONS)
        assert ours["within_tolerance"]
        misses += abs(labels[test].mean() - labels.mean()) > ours["splits"]["test"]["tolerance"]
    assert misses > 10


def test_the_same_inputs_give_the_same_assignment_whatever_the_row_order():
    table = users(500, 0.3, 6)
    shuffled = table.take(np.random.default_rng(0).permutation(table.num_rows))
    assert split_of(assign(None, table)) == split_of(assign(None, shuffled))
    assert assign(None, table).equals(assign(None, table))


def test_ids_keep_their_split_when_new_users_arrive_and_stay_balanced_over_days():
    day1 = users(800, 0.3, 7, prefix="a")
    first = assign(None, day1, ds="2026-01-01")
    day2 = pa.concat_tables([day1.slice(0, 300), users(900, 0.3, 8, prefix="b")])  # 300 seen again
    second = assign(first, day2, ds="2026-01-02")
    before, after = split_of(first), split_of(second)
    assert all(after[i] == split for i, split in before.items())
    assert second.num_rows == 800 + 900 and len(after) == second.num_rows  # one row per id
    assert set(second.filter(pc.equal(second["assigned_ds"], "2026-01-02"))[ID_COLUMN].to_pylist()) == {
        f"b{i:07d}" for i in range(900)}
    everyone = pa.concat_tables([day1, day2.slice(300)])
    report = splits.report(splits.apply(everyone, second), FRACTIONS, ["source"])
    assert report["within_tolerance"], report["splits"]


def test_a_label_change_later_does_not_move_an_id():
    day1 = users(100, 0.5, 9)
    first = assign(None, day1)
    flipped = day1.set_column(1, LABEL, pc.subtract(1, day1[LABEL]))
    assert split_of(assign(first, flipped, ds="2026-01-02")) == split_of(first)


def test_no_id_is_in_two_splits_even_when_it_arrives_twice_in_one_run():
    table = users(50, 0.4, 10)
    twice = pa.concat_tables([table, table.slice(0, 10)])
    assigned = assign(None, twice)
    assert assigned.num_rows == 50
    applied = splits.apply(twice, assigned)
    per_id: dict[str, set] = {}
    for id_, split in zip(applied[ID_COLUMN].to_pylist(), applied[SPLIT_COLUMN].to_pylist(), strict=True):
        per_id.setdefault(id_, set()).add(split)
    assert all(len(s) == 1 for s in per_id.values())


def test_bad_inputs_get_a_clear_error():
    table = users(10, 0.5, 11)
    with pytest.raises(splits.SplitError, match="sum to 1"):
        splits.assign(None, table, fractions={"train": 0.8, "dev": 0.1, "test": 0.2}, salt="s",
                      stratify_by=(), ds="d")
    with pytest.raises(splits.SplitError, match="no such column"):
        assign(None, table, stratify_by=("region",))
    with pytest.raises(splits.SplitError, match="no split assignment"):
        splits.apply(users(3, 0.5, 12, prefix="zz"), assign(None, table))
    nulls = pa.table({ID_COLUMN: pa.array([None, "x"], pa.string()), LABEL: [0, 1], "source": ["web", "web"]})
    with pytest.raises(splits.SplitError, match="no id"):
        assign(None, nulls)


def test_null_stratum_values_are_a_stratum_of_their_own():
    table = pa.table({ID_COLUMN: ["a", "b"], LABEL: [1, 1], "source": pa.array([None, "web"], pa.string())})
    assert splits.strata(table, ["source"]).to_pylist() == ["looking_for_job=1|source=(null)",
                                                            "looking_for_job=1|source=web"]
