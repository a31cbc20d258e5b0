"""Every suite passes on good generated data, and suites are built the way the config says."""

from __future__ import annotations

import great_expectations as gx
import pyarrow as pa
import pytest

from expectations.gate import previous_partition, validate_partition
from expectations.results import CRITICAL, WARNING
from expectations.suites import SUITES, SuiteContext, build_checks, gx_suite
from lineage.catalog import Catalog
from tests.expectations.helpers import DAYS, check, commit, failed_names, read
from user_pipeline.config import load_config

GATED = {
    "staging.users_ingested": DAYS[1],
    "staging.users_despammed": DAYS[1],
    "staging.id_map": DAYS[1],
    "staging.users_merged": DAYS[1],
    "curated.users_clean": DAYS[1],
    "features.users_transformed": DAYS[1],
    "raw.job_outcomes": DAYS[1],
    "reference.spam_labels": "v1",
    "reference.id_pairs": "v1",
}


def test_there_is_a_suite_for_every_gated_dataset():
    assert set(SUITES) == set(GATED)


@pytest.mark.parametrize("dataset", sorted(GATED))
def test_suite_passes_on_good_generated_data(gated_cfg, dataset):
    result = validate_partition(gated_cfg, dataset, GATED[dataset])
    assert result.success, result.summary()
    assert not result.warnings, result.summary()
    assert result.row_count > 0 and len(result.checks) >= 10


def test_daily_suites_compare_row_counts_with_the_previous_partition(gated_cfg):
    result = validate_partition(gated_cfg, "curated.users_clean", DAYS[1])
    against = check(result, "table.row_count_vs_previous")
    assert against.success and against.params["previous_partition"] == f"ds={DAYS[0]}"
    # The first day has nothing to compare with: only "not empty" applies.
    first = validate_partition(gated_cfg, "curated.users_clean", DAYS[0])
    assert "table.row_count_vs_previous" not in {c.name for c in first.checks}
    assert check(first, "table.not_empty").success


def _checks(cfg, dataset="curated.users_clean", value=DAYS[1]):
    catalog = Catalog(cfg)
    ctx = SuiteContext(cfg, dataset, value, catalog.require(dataset, value),
                       previous_partition(catalog, dataset, value))
    return build_checks(ctx)


def test_checks_have_unique_names_and_a_severity(gated_cfg):
    for dataset, value in GATED.items():
        checks = _checks(gated_cfg, dataset, value).checks
        names = [c.name for c in checks]
        assert len(names) == len(set(names)), dataset
        assert {c.severity for c in checks} <= {CRITICAL, WARNING, "info"}
        assert all(c.expectation.meta["check"] == c.name for c in checks)


def test_the_suite_is_one_gx_expectation_suite(gated_cfg):
    checks = _checks(gated_cfg)
    suite = gx_suite(checks)
    assert isinstance(suite, gx.ExpectationSuite) and suite.name == "curated.users_clean"
    assert len(suite.expectations) == len(checks.checks)


def test_config_overrides_change_severity_thresholds_or_disable_a_check(gated_cfg):
    cfg = load_config(gates={
        "means": {"age_years": {"min": 25, "max": 65}},
        "overrides": {"curated.users_clean": {
            "email.format": {"severity": "warning"},
            "employment_status.present": {"mostly": 0.9},
            "age_years.mean": {"min_value": 30, "max_value": 50},
            "phone.format": {"enabled": False},
        }},
    })
    by_name = {c.name: c for c in _checks(cfg).checks}
    assert by_name["email.format"].severity == WARNING
    assert by_name["employment_status.present"].expectation.mostly == 0.9
    mean = by_name["age_years.mean"].expectation
    assert (mean.min_value, mean.max_value) == (30, 50)
    assert "phone.format" not in by_name
    assert by_name["source_record_id.unique"].severity == CRITICAL


def test_reference_data_compares_with_the_version_committed_before(gated_cfg):
    labels = read(gated_cfg, "reference.spam_labels", "v1")
    commit(gated_cfg, "reference.spam_labels", "v10", labels.slice(0, labels.num_rows // 10))
    result = validate_partition(gated_cfg, "reference.spam_labels", "v10")
    against = check(result, "table.row_count_vs_previous")
    assert not against.success and against.params["previous_partition"] == "version=v1"


def test_an_override_naming_no_check_is_reported(gated_cfg, caplog):
    cfg = load_config(gates={"overrides": {"curated.users_clean": {"emial.format": {"severity": "warning"}}}})
    _checks(cfg)
    assert "emial.format" in caplog.text and "names no check" in caplog.text


def test_despammed_fails_when_the_model_quarantines_too_many_users(gated_cfg):
    users = read(gated_cfg, "staging.users_despammed", DAYS[1])
    kept = users.slice(0, users.num_rows // 2)
    commit(gated_cfg, "staging.users_despammed", DAYS[1], kept,
           extra={"rows_read": users.num_rows, "quarantined": users.num_rows - kept.num_rows})
    result = validate_partition(gated_cfg, "staging.users_despammed", DAYS[1])
    assert not result.success
    assert "table.row_count_vs_rows_read" in failed_names(result)


def test_users_merged_fails_when_the_matcher_merges_too_many_records(gated_cfg):
    users = read(gated_cfg, "staging.users_merged", DAYS[1])
    # Half the records folded into the other half: a broken matcher, not a wave of duplicates.
    kept = users.slice(0, users.num_rows // 2)
    commit(gated_cfg, "staging.users_merged", DAYS[1], kept, extra={"rows_read": users.num_rows})
    result = validate_partition(gated_cfg, "staging.users_merged", DAYS[1])
    assert not result.success
    assert "table.row_count_vs_rows_read" in failed_names(result)


def test_merged_and_clean_users_refuse_a_canonical_id_twice(gated_cfg):
    for dataset in ("staging.users_merged", "curated.users_clean"):
        users = read(gated_cfg, dataset, DAYS[1])
        ids = users.column("canonical_id").to_pylist()
        ids[1] = ids[0]
        column = users.schema.get_field_index("canonical_id")
        commit(gated_cfg, dataset, DAYS[1], users.set_column(column, "canonical_id", pa.array(ids, pa.string())),
               extra={"rows_read": users.num_rows})
        result = validate_partition(gated_cfg, dataset, DAYS[1])
        assert failed_names(result) == {"canonical_id.unique"}, (dataset, result.summary())


def test_id_map_fails_when_a_record_went_missing(gated_cfg):
    mapped = read(gated_cfg, "staging.id_map", DAYS[1])
    commit(gated_cfg, "staging.id_map", DAYS[1], mapped.slice(1), extra={"rows_read": mapped.num_rows})
    result = validate_partition(gated_cfg, "staging.id_map", DAYS[1])
    assert failed_names(result) == {"table.row_count_vs_rows_read"}
