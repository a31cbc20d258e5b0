"""The same seed gives the same bytes; a day does not depend on the range it was generated in."""

from __future__ import annotations

import pyarrow.parquet as pq

from tests.user_pipeline.datagen.conftest import run_generate
from user_pipeline.datagen.generate import RAW_DATASETS

RAW = tuple(RAW_DATASETS.values())
DAILY = (*RAW, "raw.job_outcomes")


def _versions(gen, datasets, dates):
    return {(d, ds): gen.written[d][ds].version for d in datasets for ds in dates}


def test_same_seed_gives_identical_files_and_versions(tmp_path, three_days):
    again = run_generate(tmp_path)
    dates = sorted(three_days.written["raw.users_web"])
    assert dates == ["2026-01-01", "2026-01-02", "2026-01-03"]
    for dataset in RAW:
        for ds in dates:
            assert again.raw(dataset, ds) == three_days.raw(dataset, ds), (dataset, ds)
    assert _versions(again, DAILY, dates) == _versions(three_days, DAILY, dates)
    for dataset in ("reference.spam_labels", "reference.id_pairs"):
        assert again.written[dataset]["v1"].version == three_days.written[dataset]["v1"].version
    for ds in dates:
        assert again.truth(ds).equals(three_days.truth(ds))


def test_a_different_seed_gives_different_data(tmp_path, three_days):
    other = run_generate(tmp_path, days=1, seed=99)
    for dataset in RAW:
        assert other.raw(dataset, "2026-01-01") != three_days.raw(dataset, "2026-01-01")
    assert other.written["reference.id_pairs"]["v1"].version != three_days.written["reference.id_pairs"]["v1"].version


def test_a_day_generated_alone_equals_that_day_of_a_range(tmp_path, three_days):
    alone = run_generate(tmp_path, days=1, start="2026-01-02")
    assert sorted(alone.written["raw.users_web"]) == ["2026-01-02"]
    for dataset in RAW:
        assert alone.raw(dataset, "2026-01-02") == three_days.raw(dataset, "2026-01-02")
    assert _versions(alone, DAILY, ["2026-01-02"]) == _versions(three_days, DAILY, ["2026-01-02"])
    assert alone.truth("2026-01-02").equals(three_days.truth("2026-01-02"))


def test_rerun_keeps_unchanged_reference_data_and_overwrites_days(tmp_path):
    first = run_generate(tmp_path, days=1)
    second = run_generate(tmp_path, days=1)
    for dataset in ("reference.spam_labels", "reference.id_pairs"):
        # Same code and settings: the committed version is kept, not rewritten by a new run.
        assert second.written[dataset]["v1"].producer == first.written[dataset]["v1"].producer
    web = second.written["raw.users_web"]["2026-01-01"]
    assert web.producer != first.written["raw.users_web"]["2026-01-01"].producer
    assert web.version == first.written["raw.users_web"]["2026-01-01"].version
    assert second.catalog.committed("raw.users_web") == ["2026-01-01"]
    # Only the committed run's folder is left in the partition.
    part = second.catalog.partition_uri("raw.users_web", "2026-01-01")
    assert [p.split("/")[-1] for p in second.catalog.fs.ls(part) if "run=" in p] == [f"run={web.producer['run_id']}"]


def test_ground_truth_and_holdout_files_are_written(three_days):
    files = three_days.written["ground_truth"]
    assert {"spam_holdout", "spam_labels_gold", "2026-01-01"} <= set(files)
    holdout = pq.read_table(files["spam_holdout"])
    assert holdout.column_names == ["message_id", "text", "label"]
