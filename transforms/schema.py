"""The typed schemas every step agrees on (the contract between steps).

Raw sources arrive in three formats with their own column names (see ``transforms.ingest``);
ingest maps each onto ``STAGED_USERS``; ID-merge turns records into canonical users
(``USERS_MERGED``); clean produces ``CLEAN_USERS``.
"""

from __future__ import annotations

import pyarrow as pa

SOURCES = ("web", "mobile", "partner")

# One row per source record: ids are namespaced by source ("web:W0000123").
STAGED_USERS = pa.schema(
    [
        ("source_record_id", pa.string()),
        ("source", pa.string()),
        ("first_name", pa.string()),
        ("last_name", pa.string()),
        ("email", pa.string()),
        ("phone", pa.string()),
        ("date_of_birth", pa.date32()),
        ("country", pa.string()),
        ("postcode", pa.string()),
        ("signup_date", pa.date32()),
        # To the second where the source sends it (web, mobile; partners send a date): the
        # signup_burst spam signal counts signups per minute and channel. Milliseconds: Parquet has
        # no seconds unit, so "s" would come back as "ms" and no longer match the schema.
        ("signup_ts", pa.timestamp("ms", tz="UTC")),
        ("signup_channel", pa.string()),
        ("employment_status", pa.string()),
        ("tenure_months", pa.int64()),
        ("job_page_views_7d", pa.int64()),
        ("applications_30d", pa.int64()),
        ("resume_updated_days_ago", pa.int64()),
        ("last_login_days_ago", pa.int64()),
        ("profile_text", pa.string()),
        ("ds", pa.string()),
        ("ingest_run_id", pa.string()),
    ]
)

# Rows a step could not accept, with the reason: nothing is dropped silently (DESIGN §3).
DEAD_LETTER = pa.schema(
    [
        ("source", pa.string()),
        ("source_file", pa.string()),
        ("line_number", pa.int64()),
        ("raw", pa.string()),
        ("reason", pa.string()),
        ("ds", pa.string()),
        ("run_id", pa.string()),
    ]
)


JOB_OUTCOMES = pa.schema(
    [
        ("source_record_id", pa.string()),
        ("looking_for_job", pa.int64()),
        ("observed_date", pa.date32()),
    ]
)

EMPLOYMENT_STATUSES = ("employed", "unemployed", "student", "self_employed", "retired")
SIGNUP_CHANNELS = ("organic", "search", "social", "referral", "partner")

# ID-merge (beam_jobs.id_merge): every de-spammed record -> its canonical user id, with the score
# of the link that put it in its cluster (null: alone, or the cluster's first member).
ID_MAP = pa.schema(
    [
        ("source_record_id", pa.string()),
        ("source", pa.string()),
        ("canonical_id", pa.string()),
        ("match_score", pa.float64()),
        ("cluster_size", pa.int64()),
        ("ds", pa.string()),
        ("id_merge_run_id", pa.string()),
    ]
)

# One row per canonical user seen that day, fields chosen by the survivorship rules
# (transforms.id_merge.survivors); source_record_id is that of the most recent record.
USERS_MERGED = pa.schema(
    [pa.field("canonical_id", pa.string())]
    + list(STAGED_USERS)
    + [pa.field("merged_records", pa.int64()), pa.field("id_merge_run_id", pa.string())]
)

# After cleaning (clean reads USERS_MERGED: one row per canonical user): normalised values,
# derived ages, and the rules that fired per row (metadata for error analysis).
CLEAN_USERS = pa.schema(
    [f for f in USERS_MERGED if f.name not in ("ingest_run_id", "id_merge_run_id")]
    + [
        pa.field("age_years", pa.int64()),
        pa.field("account_age_days", pa.int64()),
        pa.field("clean_flags", pa.string()),
        pa.field("ingest_run_id", pa.string()),
        pa.field("id_merge_run_id", pa.string()),
        pa.field("clean_run_id", pa.string()),
    ]
)
