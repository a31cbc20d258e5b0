"""Column roles are declared with the schemas, and content versions read them."""

from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest

from lineage.versioning import table_version
from transforms import features
from transforms.schema import (
    CLEAN_USERS,
    DATASET_SCHEMAS,
    FEATURE,
    FREE_TEXT,
    IDENTIFIER,
    JOB_OUTCOMES,
    LABEL,
    PROVENANCE,
    ROLES,
    STAGED_USERS,
    columns_with,
    declare,
    role_of,
    row_key,
    with_roles,
)
from user_pipeline.config import load_config

# Content versions of ``sample_table(schema)`` per dataset, computed before roles were declared
# (main at b224f74, when provenance was the hand list run_id, ingest_run_id, clean_run_id). Only the
# datasets with an id_merge_run_id column changed: that column is provenance now (issue 16).
VERSIONS_BEFORE_ROLES = {
    "curated.users_clean": "d4cc5be88cc08e0f",
    "evaluation.job_seeker_slices": "597de666d831729d",
    "features.split_assignments": "94387da29f2908e0",
    "features.users_transformed": "cf81a8df200657e3",
    "raw.job_outcomes": "970b04150070cbcf",
    "reference.id_pairs": "09da50c1b00dc3e0",
    "reference.spam_label_agreement": "18ef33026183b04e",
    "reference.spam_label_corrections": "95d28f1a542ab362",
    "reference.spam_label_reviews": "8e0bd4605dfe7853",
    "reference.spam_labels": "3493ced19c890a4c",
    "staging.id_map": "1b3e6a0696375ed4",
    "staging.ingest_dead_letter": "fb5460246d508e42",
    "staging.spam_quarantine": "2840094005359505",
    "staging.users_despammed": "bbaeb77b41c630f9",
    "staging.users_ingested": "bbaeb77b41c630f9",
    "staging.users_merged": "9b3e4fbf6deb440a",
}
# And the dead letter: the path of the raw file a line came from names the drop's committing run
# (provenance, like the run ids), so identical drops gave different dead-letter versions.
CHANGED_BY_PROVENANCE = {"staging.id_map", "staging.users_merged", "curated.users_clean",
                         "staging.ingest_dead_letter"}


def sample_value(data_type: pa.DataType, name: str, i: int):
    """A value of the type that differs per row, per column and per ``i``."""
    if pa.types.is_string(data_type):
        return f"{name}-{i}"
    if pa.types.is_boolean(data_type):
        return i % 2 == 0
    if pa.types.is_integer(data_type):
        return i
    if pa.types.is_floating(data_type):
        return i + 0.5
    if pa.types.is_date(data_type):
        return date(2026, 1, 1) + timedelta(days=i)
    if pa.types.is_timestamp(data_type):
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i)
    raise TypeError(f"no sample value for {data_type}")


def sample_table(schema: pa.Schema, rows: int = 4, offset: int = 0) -> pa.Table:
    """Rows of made-up values of the schema's types (row i holds i + offset)."""
    return pa.table({f.name: pa.array([sample_value(f.type, f.name, i + offset) for i in range(rows)], f.type)
                     for f in schema}, schema=schema)


def with_column(table: pa.Table, name: str, values: list) -> pa.Table:
    """``table`` with the values of column ``name`` replaced."""
    field = table.schema.field(name)
    return table.set_column(table.schema.get_field_index(name), field, pa.array(values, field.type))


def test_every_committed_table_of_the_config_has_a_declared_schema_with_a_role_per_column():
    cfg = load_config()
    opaque = {d for d in cfg.datasets if d.startswith(("raw.users_", "models.", "stats."))}
    assert set(DATASET_SCHEMAS) == set(cfg.datasets) - opaque
    for dataset, schema in DATASET_SCHEMAS.items():
        assert all(role_of(field) in ROLES for field in schema), dataset
        assert all(role_of(schema.field(name)) == IDENTIFIER for name in row_key(schema)), dataset


def test_the_model_reads_features_free_text_and_a_label_nothing_else():
    roles = {f.name: role_of(f) for f in CLEAN_USERS}
    assert {roles[name] for name in features.RAW_FEATURES} == {FEATURE, FREE_TEXT}
    assert role_of(JOB_OUTCOMES.field(features.LABEL)) == LABEL


def test_declare_refuses_an_unknown_role_and_a_key_that_is_not_an_identifier():
    with pytest.raises(ValueError, match="has role 'id'"):
        declare([("a", pa.string(), "id")])
    with pytest.raises(ValueError, match="not an identifier"):
        declare([("a", pa.string(), FEATURE)], key=["a"])
    with pytest.raises(ValueError, match="has role None"):
        declare([pa.field("a", pa.string())])


@pytest.mark.parametrize("dataset", sorted(DATASET_SCHEMAS))
def test_only_provenance_columns_leave_the_content_version_unchanged(dataset):
    schema = DATASET_SCHEMAS[dataset]
    table = sample_table(schema)
    version = table_version(table, dataset)
    provenance = columns_with(schema, PROVENANCE)
    rerun = table
    for name in provenance:
        rerun = with_column(rerun, name, [f"another-run-{i}" for i in range(table.num_rows)])
    assert table_version(rerun, dataset) == version
    for name in (n for n in schema.names if n not in provenance):
        first_row_changed = [sample_value(schema.field(name).type, name, 7), *table[name].to_pylist()[1:]]
        changed = with_column(table, name, first_row_changed)
        assert table_version(changed, dataset) != version, f"{dataset}.{name} is content"


@pytest.mark.parametrize("dataset", sorted(VERSIONS_BEFORE_ROLES))
def test_content_versions_are_those_from_before_roles_except_where_provenance_was_hashed(dataset):
    version = table_version(sample_table(DATASET_SCHEMAS[dataset]), dataset)
    if dataset in CHANGED_BY_PROVENANCE:
        assert version != VERSIONS_BEFORE_ROLES[dataset]
    else:
        assert version == VERSIONS_BEFORE_ROLES[dataset]


def test_a_table_that_lost_its_roles_takes_them_from_its_dataset_and_an_undeclared_one_is_all_content():
    table = sample_table(CLEAN_USERS)
    plain = pa.table(table.to_pydict(), schema=pa.schema([(f.name, f.type) for f in CLEAN_USERS]))
    assert role_of(plain.schema.field("clean_run_id")) is None
    assert [role_of(f) for f in with_roles(plain.schema, "curated.users_clean")] == [role_of(f) for f in CLEAN_USERS]
    assert table_version(plain, "curated.users_clean") == table_version(table)
    rerun = with_column(plain, "clean_run_id", ["another run"] * plain.num_rows)
    assert table_version(rerun, "curated.users_clean") == table_version(plain, "curated.users_clean")
    # Without a declaration nothing is taken for provenance because of its name: every column counts.
    assert table_version(rerun) != table_version(plain)


def test_roles_travel_with_the_schema_through_composition():
    assert role_of(CLEAN_USERS.field("profile_text")) == role_of(STAGED_USERS.field("profile_text")) == FREE_TEXT
    assert row_key(CLEAN_USERS) == ["canonical_id"] and row_key(STAGED_USERS) == ["source_record_id"]
