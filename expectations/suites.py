"""The expectation suites, as code: one per gated dataset (docs/architecture.md#gates).

A suite is a function that adds checks to a ``CheckList`` given the partition it will validate
(``SuiteContext``: the config, the partition's manifest and the previous committed partition's).
Thresholds come from ``gates:`` in the config; severities are set here and can be overridden per
check in ``gates.overrides``. Adding a suite for a new dataset is a few lines (``users_merged``
below: the user-table families, one row per canonical id, a plausible merge share).

Families every suite covers where they apply: schema and types, required columns not null, id
uniqueness, value ranges, allowed sets, formats, row count against the previous committed
partition, distributions of key columns, label balance, and (features) no id in two splits.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from expectations.checks import CheckList, gx
from expectations.results import CRITICAL, INFO, WARNING
from lineage.catalog import Manifest
from transforms import features
from transforms.clean import COUNT_COLUMNS, COUNTRY_CODES, EMAIL_PATTERN, MAX_TENURE_MONTHS
from transforms.schema import (
    CLEAN_USERS,
    EMPLOYMENT_STATUSES,
    ID_MAP,
    ID_PAIR_FIELDS,
    ID_PAIRS,
    JOB_OUTCOMES,
    PARTITION,
    PROVENANCE,
    SIGNUP_CHANNELS,
    SOURCES,
    SPAM_LABELS,
    STAGED_USERS,
    USERS_MERGED,
    USERS_TRANSFORMED,
    columns_with,
    declared_schema,
    row_key,
)
from user_pipeline.config import Bounds, GatesConfig, PipelineConfig

E164_PATTERN = r"^\+[0-9]{8,15}$"
# Ids are namespaced by source ("web:W0000123", see transforms.schema).
# No whitespace after the prefix, as a character class: pandas runs a pattern with "\\S" through
# Python's re row by row, and a plain class on Arrow's regex engine (6x faster at 1M rows).
SOURCE_RECORD_ID_PATTERN = r"^(?:" + "|".join(SOURCES) + r"):[^ \t\r\n]+$"
ISO_DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# Columns of a user record that may be missing (every source has gaps); the rest are required.
OPTIONAL_USER_COLUMNS = (
    "first_name", "last_name", "email", "phone", "date_of_birth", "country", "postcode", "signup_date",
    "signup_channel", "employment_status", "tenure_months", "job_page_views_7d", "applications_30d",
    "resume_updated_days_ago", "last_login_days_ago", "profile_text",
)
LEAKED_ID = "source_record_id_in_both_splits"  # derived column of the features suite
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SuiteContext:
    """What a suite needs to know about the partition it validates."""

    cfg: PipelineConfig
    dataset: str
    value: str                    # the partition value: a date (ds) or a version id
    manifest: Manifest            # the committed manifest of that partition
    previous: Manifest | None     # the previous committed partition of the same dataset, if any

    @property
    def gates(self) -> GatesConfig:
        return self.cfg.gates

    @property
    def day(self) -> pd.Timestamp:
        """The partition date as a timestamp (the upper bound of dates in daily data)."""
        return pd.Timestamp(date.fromisoformat(self.value))


SuiteBuilder = Callable[[SuiteContext, CheckList], None]
SUITES: dict[str, SuiteBuilder] = {}


def suite(dataset: str) -> Callable[[SuiteBuilder], SuiteBuilder]:
    """Register the suite of ``dataset``."""

    def register(fn: SuiteBuilder) -> SuiteBuilder:
        SUITES[dataset] = fn
        return fn

    return register


def id_column(dataset: str) -> str | None:
    """The column failed checks name example rows by: the first of the dataset's declared key."""
    schema = declared_schema(dataset)
    key = row_key(schema) if schema is not None else []
    return key[0] if key else None


def build_checks(ctx: SuiteContext) -> CheckList:
    """The checks of the suite of ``ctx.dataset`` for this partition, config overrides applied."""
    if ctx.dataset not in SUITES:
        raise KeyError(f"no expectation suite for {ctx.dataset!r}; suites exist for {sorted(SUITES)}")
    overrides = ctx.gates.overrides.get(ctx.dataset, {})
    checks = CheckList(ctx.dataset, overrides)
    SUITES[ctx.dataset](ctx, checks)
    disabled = {name for name, override in overrides.items() if not override.enabled}
    unknown = set(overrides) - {check.name for check in checks.checks} - disabled
    if unknown:  # most likely a typo in the config: say so rather than silently ignore it
        log.warning("gates.overrides.%s names no check of this suite: %s; checks are: %s", ctx.dataset,
                    sorted(unknown), ", ".join(check.name for check in checks.checks))
    return checks


def gx_suite(checks: CheckList) -> Any:
    """The checks as one GX ExpectationSuite named after the dataset (copies: for export and inspection)."""
    out = gx().ExpectationSuite(name=checks.dataset)
    for check in checks.checks:
        out.add_expectation(check.expectation.copy(update={"id": None}, deep=True))
    return out


# -- families shared by several suites --------------------------------------------------------


def row_count_checks(ctx: SuiteContext, checks: CheckList) -> None:
    """Never empty; not far fewer rows than the previous committed partition; warn on a jump up."""
    limits = ctx.gates.row_count
    checks.row_count("not_empty", limits.min_rows, None, CRITICAL)
    previous = ctx.previous
    if previous is None or not previous.row_count:
        return
    about = {"previous_partition": previous.partition, "previous_version": previous.version,
             "previous_rows": previous.row_count}
    checks.row_count(
        "row_count_vs_previous", math.ceil(limits.min_ratio * previous.row_count), None, CRITICAL,
        note=f"{limits.min_ratio:g} x {previous.row_count} rows of {previous.partition}", params=about,
    )
    checks.row_count(
        "row_count_growth", None, math.floor(limits.max_ratio * previous.row_count), WARNING,
        note=f"{limits.max_ratio:g} x {previous.row_count} rows of {previous.partition}", params=about,
    )


def _bounds(bounds: Bounds) -> tuple[float | None, float | None]:
    return bounds.min, bounds.max


def user_table_checks(ctx: SuiteContext, checks: CheckList, schema: pa.Schema) -> None:
    """What holds for every table of user records, staged or clean."""
    checks.schema(schema)
    row_count_checks(ctx, checks)
    checks.not_null(["source_record_id", "source", *columns_with(schema, PARTITION), *columns_with(schema, PROVENANCE)])
    checks.unique("source_record_id")
    checks.matches("source_record_id", SOURCE_RECORD_ID_PATTERN)
    checks.in_set("source", SOURCES)
    checks.in_set("ds", [ctx.value], name="is_partition")
    checks.contains("source", SOURCES, severity=WARNING)
    for column in OPTIONAL_USER_COLUMNS:
        checks.present(column, ctx.gates.null_tolerance.mostly(column))


def key_checks(checks: CheckList, schema: pa.Schema) -> None:
    """The declared key names one row: its columns are unique (together)."""
    key = row_key(schema)
    if len(key) == 1:
        checks.unique(key[0])
    else:
        checks.unique_together(key)


def removed_share_check(ctx: SuiteContext, checks: CheckList, read: str, share: float, removed: str, *,
                        at_most_read: bool = False, **params) -> None:
    """Rows kept against what the step read (its manifest's ``extra[read]``): at most ``share`` of
    them removed (critical); with ``at_most_read``, never more rows than were read. A step that
    removes far more than usual is broken, not facing a wave of bad input."""
    rows = ctx.manifest.extra.get(read)
    if not rows:
        return
    checks.row_count(f"row_count_vs_{read}", math.ceil((1 - share) * rows), rows if at_most_read else None,
                     CRITICAL, note=f"at most {share:.0%} of {rows} {removed}", params={read: rows, **params})


# -- the suites ---------------------------------------------------------------------------


@suite("staging.users_ingested")
def users_ingested(ctx: SuiteContext, checks: CheckList) -> None:
    """Typed records as ingested: values are not cleaned yet, so ranges are only recorded here."""
    user_table_checks(ctx, checks, STAGED_USERS)
    # A file ingest could not read (a column missing, another format) is dead-lettered whole.
    removed_share_check(ctx, checks, "lines_read", ctx.gates.max_dead_letter_share, "lines read dead-lettered")
    # Out-of-range values are expected here (cleaning nulls and flags them): recorded, to watch the share.
    for column in COUNT_COLUMNS:
        checks.between(column, 0, None, severity=INFO)
    checks.between("signup_date", None, ctx.day, severity=INFO, name="not_after_ds")


@suite("staging.users_despammed")
def users_despammed(ctx: SuiteContext, checks: CheckList) -> None:
    """Users kept by de-spam: the staged checks, and a quarantine share that is plausible (a model
    that quarantines half the users is broken, not a spam wave)."""
    user_table_checks(ctx, checks, STAGED_USERS)
    removed_share_check(ctx, checks, "rows_read", ctx.gates.max_quarantine_share, "users quarantined",
                        quarantined=ctx.manifest.extra.get("quarantined"))


def canonical_user_checks(ctx: SuiteContext, checks: CheckList, schema: pa.Schema) -> None:
    """One row per canonical user, made of at least one record and at most a cluster's worth."""
    checks.not_null(["canonical_id", "merged_records"])
    key_checks(checks, schema)
    checks.between("merged_records", 1, ctx.cfg.id_merge.max_cluster_size)


@suite("staging.id_map")
def id_map(ctx: SuiteContext, checks: CheckList) -> None:
    """Every de-spammed record mapped once to a canonical id (nothing vanished in ID-merge)."""
    checks.schema(ID_MAP)
    row_count_checks(ctx, checks)
    checks.not_null(["source_record_id", "source", "canonical_id", "cluster_size",
                     *columns_with(ID_MAP, PARTITION), *columns_with(ID_MAP, PROVENANCE)])
    key_checks(checks, ID_MAP)
    checks.matches("source_record_id", SOURCE_RECORD_ID_PATTERN)
    checks.in_set("source", SOURCES)
    checks.in_set("ds", [ctx.value], name="is_partition")
    checks.between("cluster_size", 1, ctx.cfg.id_merge.max_cluster_size)
    checks.between("match_score", 0, 1)
    rows_read = ctx.manifest.extra.get("rows_read")
    if rows_read is not None:
        checks.row_count("row_count_vs_rows_read", rows_read, rows_read, CRITICAL,
                         note=f"every one of the {rows_read} de-spammed records mapped once",
                         params={"rows_read": rows_read})


@suite("staging.users_merged")
def users_merged(ctx: SuiteContext, checks: CheckList) -> None:
    """Canonical users: the staged checks, one row per canonical id, and a plausible merge share
    (a matcher that merges a third of the records away is broken, not a wave of duplicates)."""
    user_table_checks(ctx, checks, USERS_MERGED)
    canonical_user_checks(ctx, checks, USERS_MERGED)
    removed_share_check(ctx, checks, "rows_read", ctx.gates.max_merged_share, "records merged into another",
                        at_most_read=True, matcher_version=ctx.manifest.extra.get("matcher_version"))


@suite("curated.users_clean")
def users_clean(ctx: SuiteContext, checks: CheckList) -> None:
    """Cleaned canonical users: every rule of ``transforms.clean`` holds after cleaning."""
    clean = ctx.cfg.clean
    user_table_checks(ctx, checks, CLEAN_USERS)
    canonical_user_checks(ctx, checks, CLEAN_USERS)
    for column in ("age_years", "account_age_days"):
        checks.present(column, ctx.gates.null_tolerance.mostly(column))
    checks.matches("email", EMAIL_PATTERN)
    checks.matches("phone", E164_PATTERN)
    checks.in_set("country", sorted(COUNTRY_CODES))
    checks.in_set("employment_status", EMPLOYMENT_STATUSES)
    checks.in_set("signup_channel", SIGNUP_CHANNELS)
    checks.between("age_years", clean.min_age, clean.max_age)
    checks.between("account_age_days", 0, None)
    checks.between("tenure_months", 0, MAX_TENURE_MONTHS)
    for column in COUNT_COLUMNS:
        checks.between(column, 0, clean.max_activity_count)
    checks.between("signup_date", None, ctx.day, name="not_after_ds")
    checks.between("date_of_birth", None, ctx.day, name="not_after_ds")
    for column, bounds in ctx.gates.means.items():
        checks.mean_between(column, *_bounds(bounds))


def leaked_ids(table: pa.Table) -> pa.Array:
    """The id of every row whose id occurs in more than one split (null elsewhere)."""
    frame = pd.DataFrame({"id": table.column(features.ID_COLUMN).to_numpy(zero_copy_only=False),
                          "split": table.column(features.SPLIT_COLUMN).to_numpy(zero_copy_only=False)})
    splits_per_id = frame.groupby("id", sort=False)["split"].transform("nunique")
    leaked = (splits_per_id > 1).to_numpy()
    return pa.array(np.where(leaked, frame["id"].to_numpy(), None), pa.string())


@suite("features.users_transformed")
def users_transformed(ctx: SuiteContext, checks: CheckList) -> None:
    """Transformed training rows: dense TFT outputs, a clean split, balanced labels, no leakage."""
    schema = USERS_TRANSFORMED
    checks.schema(schema)
    row_count_checks(ctx, checks)
    checks.not_null(schema.names)  # TFT outputs are dense: a null is a bug
    key_checks(checks, schema)
    checks.in_set(features.SPLIT_COLUMN, ["train", "dev", "test"])
    checks.contains(features.SPLIT_COLUMN, ["train", "dev", "test"], severity=WARNING)
    checks.in_set(features.LABEL, [0, 1])
    checks.all_null(features.ID_COLUMN, of=checks.derive(LEAKED_ID, leaked_ids),
                    note="an id in two splits leaks evaluation rows into training")
    checks.mean_between(features.LABEL, *_bounds(ctx.gates.label_rate), name="positive_rate")
    limit = ctx.gates.zscore_mean_abs_max
    for name in features.NUMERIC_FEATURES + (features.TEXT_LENGTH,):
        checks.in_set(features.missing_name(name), [0, 1])
        # z-scores were analysed on the train split: their mean there is 0 by construction.
        checks.mean_between(features.zscore_name(name), -limit, limit, where=(features.SPLIT_COLUMN, "train"))
    for name in features.CATEGORICAL_FEATURES:
        checks.between(features.index_name(name), 0, features.categorical_width(name) - 1)


@suite("raw.job_outcomes")
def job_outcomes(ctx: SuiteContext, checks: CheckList) -> None:
    """Observed labels: one per id, 0/1, observed by the partition date, with a plausible positive rate."""
    checks.schema(JOB_OUTCOMES)
    row_count_checks(ctx, checks)
    checks.not_null(JOB_OUTCOMES.names)
    key_checks(checks, JOB_OUTCOMES)
    checks.matches("source_record_id", SOURCE_RECORD_ID_PATTERN)
    checks.in_set("looking_for_job", [0, 1])
    checks.between("observed_date", None, ctx.day, name="not_after_ds")
    checks.mean_between("looking_for_job", *_bounds(ctx.gates.label_rate), name="positive_rate")


def is_spam(table: pa.Table) -> pa.Array:
    """1.0 where the label is spam, 0.0 where ham (null where no label): its mean is the spam share."""
    return pc.cast(pc.equal(table.column("label"), "spam"), pa.float64())


@suite("reference.spam_labels")
def spam_labels(ctx: SuiteContext, checks: CheckList) -> None:
    """Annotator labels of SMS messages: ham/spam, one label per (message, labeler), a plausible spam share."""
    checks.schema(SPAM_LABELS)
    row_count_checks(ctx, checks)
    checks.not_null(SPAM_LABELS.names)
    key_checks(checks, SPAM_LABELS)
    checks.in_set("label", ["ham", "spam"])
    checks.mean_between("label", *_bounds(ctx.gates.spam_share), name="spam_share",
                        of=checks.derive("label_is_spam", is_spam))


@suite("reference.id_pairs")
def id_pairs(ctx: SuiteContext, checks: CheckList) -> None:
    """Labelled record pairs for the ID matcher: unique pairs, 0/1 labels, a plausible match share."""
    checks.schema(ID_PAIRS)
    row_count_checks(ctx, checks)
    checks.not_null(["pair_id", "is_match"])
    key_checks(checks, ID_PAIRS)
    checks.in_set("is_match", [0, 1])
    checks.mean_between("is_match", *_bounds(ctx.gates.match_share), name="match_share")
    for side in ("left", "right"):
        for field in ID_PAIR_FIELDS:
            checks.present(f"{side}_{field}", ctx.gates.null_tolerance.mostly(f"{side}_{field}"))
        checks.matches(f"{side}_date_of_birth", ISO_DATE_PATTERN, severity=WARNING)
