"""Broken raw drops from the generator fail the gates with a clear message; the repaired day passes."""

from __future__ import annotations

import pytest

from expectations.gate import validate_partition
from tests.expectations.helpers import DAYS, build_day, failed_names, generate_days

DAY = DAYS[1]

# bad drop -> (dataset, critical checks that must fail)
EXPECTED = {
    # ingest dead-letters the whole web file: far fewer rows than lines read and than yesterday
    "missing_column": ("staging.users_ingested", {"table.row_count_vs_lines_read", "table.row_count_vs_previous"}),
    # no web records at all
    "empty": ("staging.users_ingested", {"table.row_count_vs_previous"}),
    # employment empty in every web row: the column is mostly null
    "null_column": ("curated.users_clean", {"employment_status.present"}),
    # a resend with the same user ids
    "duplicate_ids": ("staging.users_ingested", {"source_record_id.unique"}),
}


def _rebuild(cfg, bad_drop=None):
    generate_days(cfg, DAY, 1, bad_drop=bad_drop)
    build_day(cfg, DAY)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_bad_drop_fails_the_gate_and_the_repaired_day_passes(gated_cfg, kind):
    dataset, must_fail = EXPECTED[kind]
    _rebuild(gated_cfg, kind)
    result = validate_partition(gated_cfg, dataset, DAY)
    assert not result.success
    assert must_fail <= {c.name for c in result.critical_failures}, result.summary()
    summary = result.summary()
    assert summary.startswith(f"GATE FAILED: {dataset} ds={DAY}")
    for name in must_fail:
        assert f"CRITICAL {name}" in summary

    _rebuild(gated_cfg)  # the same day regenerated without the breakage, re-ingested, re-cleaned
    for gated in ("staging.users_ingested", "curated.users_clean", "raw.job_outcomes"):
        repaired = validate_partition(gated_cfg, gated, DAY)
        assert repaired.success, repaired.summary()


def test_bad_drop_empty_also_fails_the_outcomes_and_clean_gates(gated_cfg):
    _rebuild(gated_cfg, "empty")
    assert "table.row_count_vs_previous" in failed_names(validate_partition(gated_cfg, "curated.users_clean", DAY))
    assert "table.row_count_vs_previous" in failed_names(validate_partition(gated_cfg, "raw.job_outcomes", DAY))


def test_shuffled_columns_are_valid_data_and_pass(gated_cfg):
    _rebuild(gated_cfg, "shuffled_columns")
    for dataset in ("staging.users_ingested", "curated.users_clean"):
        result = validate_partition(gated_cfg, dataset, DAY)
        assert result.success, result.summary()
