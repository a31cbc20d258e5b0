"""Each critical family of checks fails the gate on a partition broken in exactly that way."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from expectations.gate import validate_partition
from expectations.results import CRITICAL
from tests.expectations.helpers import DAYS, check, commit, read

DAY = DAYS[1]
CLEAN = "curated.users_clean"
FEATURES = "features.users_transformed"


def _set(table: pa.Table, column: str, values) -> pa.Table:
    field = table.schema.field(column)
    return table.set_column(table.schema.get_field_index(column), field, pa.array(values, field.type))


def _replace_rows(table: pa.Table, column: str, rows: dict[int, object]) -> pa.Table:
    values = table.column(column).to_pylist()
    for i, value in rows.items():
        values[i] = value
    return _set(table, column, values)


def _gate_fails_on(cfg, dataset, table, name, value=DAY):
    """Commit ``table`` as the partition, validate it, and check that critical ``name`` failed."""
    commit(cfg, dataset, value, table)
    result = validate_partition(cfg, dataset, value)
    found = check(result, name)
    assert not found.success, result.summary()
    assert found.severity == CRITICAL
    assert not result.success
    summary = result.summary()
    assert f"CRITICAL {name}" in summary and found.expected in summary
    return result, found


def test_schema_a_column_of_another_type(gated_cfg):
    clean = read(gated_cfg, CLEAN, DAY)
    broken = clean.set_column(clean.schema.get_field_index("age_years"), "age_years",
                              pc.cast(clean.column("age_years"), pa.int32()))
    _, found = _gate_fails_on(gated_cfg, CLEAN, broken, "age_years.type")
    assert found.observed == "int32[pyarrow]" and found.expected == "type int64[pyarrow]"


def test_schema_a_missing_column(gated_cfg):
    _, found = _gate_fails_on(gated_cfg, CLEAN, read(gated_cfg, CLEAN, DAY).drop_columns(["email"]), "table.columns")
    assert "email" in found.expected


def test_not_null_a_required_column_with_a_null(gated_cfg):
    broken = _replace_rows(read(gated_cfg, CLEAN, DAY), "source", {3: None})
    _, found = _gate_fails_on(gated_cfg, CLEAN, broken, "source.not_null")
    assert found.unexpected_count == 1 and len(found.example_ids) == 1


def test_not_null_mostly_an_optional_column_gone_null(gated_cfg):
    clean = read(gated_cfg, CLEAN, DAY)
    half = {i: None for i in range(0, clean.num_rows, 2)}
    _, found = _gate_fails_on(gated_cfg, CLEAN, _replace_rows(clean, "signup_channel", half),
                              "signup_channel.present")
    assert found.unexpected_percent > 45 and "80%" in found.expected


def test_uniqueness_a_repeated_id(gated_cfg):
    clean = read(gated_cfg, CLEAN, DAY)
    repeated = clean.column("source_record_id")[0].as_py()
    _, found = _gate_fails_on(gated_cfg, CLEAN, _replace_rows(clean, "source_record_id", {5: repeated}),
                              "source_record_id.unique")
    assert found.unexpected_count == 2 and repeated in found.examples


def test_range_an_age_outside_the_clean_bounds(gated_cfg):
    broken = _replace_rows(read(gated_cfg, CLEAN, DAY), "age_years", {7: 150})
    _, found = _gate_fails_on(gated_cfg, CLEAN, broken, "age_years.range")
    assert found.examples == [150] and found.expected == "between 16 and 100"


def test_range_a_date_after_the_partition_date(gated_cfg):
    from datetime import date

    broken = _replace_rows(read(gated_cfg, CLEAN, DAY), "signup_date", {2: date(2026, 3, 1)})
    _, found = _gate_fails_on(gated_cfg, CLEAN, broken, "signup_date.not_after_ds")
    assert found.examples == ["2026-03-01"]


def test_range_a_negative_count(gated_cfg):
    broken = _replace_rows(read(gated_cfg, CLEAN, DAY), "applications_30d", {1: -4})
    _gate_fails_on(gated_cfg, CLEAN, broken, "applications_30d.range")


def test_allowed_set_an_unknown_employment_status(gated_cfg):
    broken = _replace_rows(read(gated_cfg, CLEAN, DAY), "employment_status", {4: "astronaut"})
    _, found = _gate_fails_on(gated_cfg, CLEAN, broken, "employment_status.allowed")
    assert found.examples == ["astronaut"]


def test_allowed_set_a_label_outside_0_1(gated_cfg):
    outcomes = read(gated_cfg, "raw.job_outcomes", DAY)
    _gate_fails_on(gated_cfg, "raw.job_outcomes", _replace_rows(outcomes, "looking_for_job", {0: 2}),
                   "looking_for_job.allowed")


def test_allowed_set_a_spam_label_neither_ham_nor_spam(gated_cfg):
    labels = read(gated_cfg, "reference.spam_labels", "v1")
    _gate_fails_on(gated_cfg, "reference.spam_labels", _replace_rows(labels, "label", {0: "maybe"}),
                   "label.allowed", value="v1")


@pytest.mark.parametrize(("column", "bad"), [("email", "Not An Email"), ("phone", "+12")])
def test_format_email_and_phone_after_cleaning(gated_cfg, column, bad):
    broken = _replace_rows(read(gated_cfg, CLEAN, DAY), column, {0: bad})
    _, found = _gate_fails_on(gated_cfg, CLEAN, broken, f"{column}.format")
    assert found.examples == [bad]


def test_row_count_far_fewer_rows_than_the_previous_partition(gated_cfg):
    clean = read(gated_cfg, CLEAN, DAY)
    _, found = _gate_fails_on(gated_cfg, CLEAN, clean.slice(0, clean.num_rows // 10), "table.row_count_vs_previous")
    assert found.params["previous_partition"] == f"ds={DAYS[0]}"


def test_row_count_an_empty_partition(gated_cfg):
    result, _ = _gate_fails_on(gated_cfg, CLEAN, read(gated_cfg, CLEAN, DAY).slice(0, 0), "table.not_empty")
    assert not check(result, "table.row_count_vs_previous").success


def test_distribution_a_mean_age_out_of_bounds(gated_cfg):
    clean = read(gated_cfg, CLEAN, DAY)
    _, found = _gate_fails_on(gated_cfg, CLEAN, _set(clean, "age_years", [90] * clean.num_rows), "age_years.mean")
    assert found.observed == 90 and found.expected == "mean between 25 and 65"


def test_distribution_z_scores_not_centred_on_the_train_split(gated_cfg):
    transformed = read(gated_cfg, FEATURES, DAY)
    shifted = pc.add(transformed.column("age_years_z"), pa.scalar(0.5, pa.float32()))
    broken = transformed.set_column(transformed.schema.get_field_index("age_years_z"), "age_years_z", shifted)
    _, found = _gate_fails_on(gated_cfg, FEATURES, broken, "age_years_z.mean")
    assert abs(found.observed - 0.5) < 1e-3


def test_label_balance_job_outcomes_all_positive(gated_cfg):
    outcomes = read(gated_cfg, "raw.job_outcomes", DAY)
    _gate_fails_on(gated_cfg, "raw.job_outcomes", _set(outcomes, "looking_for_job", [1] * outcomes.num_rows),
                   "looking_for_job.positive_rate")


def test_label_balance_spam_share_of_the_spam_labels(gated_cfg):
    labels = read(gated_cfg, "reference.spam_labels", "v1")
    _, found = _gate_fails_on(gated_cfg, "reference.spam_labels", _set(labels, "label", ["spam"] * labels.num_rows),
                              "label.spam_share", value="v1")
    assert found.observed == 1.0


def test_leakage_an_id_in_both_train_and_dev(gated_cfg):
    transformed = read(gated_cfg, FEATURES, DAY)
    splits = transformed.column("split").to_pylist()
    ids = transformed.column("source_record_id").to_pylist()
    train_row, eval_row = splits.index("train"), splits.index("dev")
    result, found = _gate_fails_on(
        gated_cfg, FEATURES, _replace_rows(transformed, "source_record_id", {eval_row: ids[train_row]}),
        "source_record_id.no_leakage")
    assert found.examples == [ids[train_row]] * 2
    assert found.unexpected_count == 2
