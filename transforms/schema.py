"""The typed schemas every step agrees on (the contract between steps), each column with its role.

Raw sources arrive in three formats with their own column names (see ``transforms.ingest``);
ingest maps each onto ``STAGED_USERS``; ID-merge turns records into canonical users
(``USERS_MERGED``); clean produces ``CLEAN_USERS``. ``DATASET_SCHEMAS`` names the schema of every
committed tabular dataset.

Every column declares its role here and nowhere else (docs/datasets-and-versions.md). The role is
stored in the field's metadata (``role``), so it travels with the schema into the Parquet files;
the identifier columns that are unique together (the row key) are stored in the schema's metadata
(``key``). Whoever needs to know what a column is reads its role: content versions leave
provenance out (``lineage.versioning``), statistics describe content columns and drift compares
features, labels and metadata only (``transforms.drift``), gates name failed rows by the key and
require the partition and provenance columns (``expectations.suites``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import pyarrow as pa

from transforms import features

# -- roles ----------------------------------------------------------------------------------------
IDENTIFIER = "identifier"  # names the row's subject: a record, a canonical user, a message, a pair
PERSONAL = "personal"      # what a person typed about themselves (names, contact, postcode, birth date):
                           # ID-merge compares it, no model reads it, and it is as varied as an id
FEATURE = "feature"        # a property of the row's subject: what statistics and drift are about
LABEL = "label"            # a target: observed (an outcome) or given by a person (an annotation)
FREE_TEXT = "free_text"    # unstructured text: every value is its own category
TIMESTAMP = "timestamp"    # when something happened: its distribution moves with the date by nature
METADATA = "metadata"      # what a step recorded about how it produced or judged the row (rule flags,
                           # scores, counts, reasons, the split): content, compared for drift like a feature
PARTITION = "partition"    # the partition value (ds): the same on every row of a partition
PROVENANCE = "provenance"  # which run wrote the row: not content, so not part of the content version
ROLES = (IDENTIFIER, PERSONAL, FEATURE, LABEL, FREE_TEXT, TIMESTAMP, METADATA, PARTITION, PROVENANCE)

ROLE_METADATA = b"role"
KEY_METADATA = b"key"

Column = pa.Field | tuple[str, pa.DataType, str]


def declare(columns: Iterable[Column], *, key: Sequence[str] = ()) -> pa.Schema:
    """A schema whose every column has a role: ``(name, type, role)`` tuples, or fields that carry one.

    ``key``: the identifier columns that are unique together, in the order rows are named by.
    """
    fields = []
    for column in columns:
        field = column if isinstance(column, pa.Field) else pa.field(column[0], column[1],
                                                                     metadata={ROLE_METADATA: column[2]})
        if role_of(field) not in ROLES:
            raise ValueError(f"column {field.name!r} has role {role_of(field)!r}; roles are {ROLES}")
        fields.append(field)
    schema = pa.schema(fields)
    for name in key:
        if role_of(schema.field(name)) != IDENTIFIER:
            raise ValueError(f"key column {name!r} is not an identifier")
    return schema.with_metadata({KEY_METADATA: json.dumps(list(key))}) if key else schema


def role_of(field: pa.Field) -> str | None:
    """The declared role of a column, or None when its schema declares none."""
    value = (field.metadata or {}).get(ROLE_METADATA)
    return value.decode() if value is not None else None


def columns_with(schema: pa.Schema, *roles: str) -> list[str]:
    """The columns of ``schema`` whose role is one of ``roles``, in schema order."""
    return [field.name for field in schema if role_of(field) in roles]


def content_columns(schema: pa.Schema) -> list[str]:
    """Every column but provenance, in schema order (a column without a role counts as content)."""
    return [field.name for field in schema if role_of(field) != PROVENANCE]


def row_key(schema: pa.Schema) -> list[str]:
    """The identifier columns that are unique together (empty when the schema declares no key)."""
    value = (schema.metadata or {}).get(KEY_METADATA)
    return json.loads(value) if value else []


def declared_schema(dataset: str) -> pa.Schema | None:
    """The declared schema of a committed tabular dataset (None: opaque files, or not declared)."""
    return DATASET_SCHEMAS.get(dataset)


def with_roles(schema: pa.Schema, dataset: str | None) -> pa.Schema:
    """``schema`` with the role of every column it does not declare taken from the declared schema
    of ``dataset`` (by name): a table rebuilt through pandas or from a dict loses field metadata.
    Columns the dataset does not declare either stay without a role."""
    declared = declared_schema(dataset) if dataset else None
    if declared is None:
        return schema
    fields = []
    for field in schema:
        if role_of(field) is None and field.name in declared.names:
            field = field.with_metadata({**(field.metadata or {}), ROLE_METADATA: role_of(declared.field(field.name))})
        fields.append(field)
    return pa.schema(fields, metadata=schema.metadata)


# -- users --------------------------------------------------------------------------------------
SOURCES = ("web", "mobile", "partner")

# One row per source record: ids are namespaced by source ("web:W0000123").
STAGED_USERS = declare([
    ("source_record_id", pa.string(), IDENTIFIER),
    ("source", pa.string(), FEATURE),
    ("first_name", pa.string(), PERSONAL),
    ("last_name", pa.string(), PERSONAL),
    ("email", pa.string(), PERSONAL),
    ("phone", pa.string(), PERSONAL),
    ("date_of_birth", pa.date32(), PERSONAL),
    ("country", pa.string(), FEATURE),
    ("postcode", pa.string(), PERSONAL),
    ("signup_date", pa.date32(), TIMESTAMP),
    # To the second where the source sends it (web, mobile; partners send a date): the
    # signup_burst spam signal counts signups per minute and channel. Milliseconds: Parquet has
    # no seconds unit, so "s" would come back as "ms" and no longer match the schema.
    ("signup_ts", pa.timestamp("ms", tz="UTC"), TIMESTAMP),
    ("signup_channel", pa.string(), FEATURE),
    ("employment_status", pa.string(), FEATURE),
    ("tenure_months", pa.int64(), FEATURE),
    ("job_page_views_7d", pa.int64(), FEATURE),
    ("applications_30d", pa.int64(), FEATURE),
    ("resume_updated_days_ago", pa.int64(), FEATURE),
    ("last_login_days_ago", pa.int64(), FEATURE),
    ("profile_text", pa.string(), FREE_TEXT),
    ("ds", pa.string(), PARTITION),
    ("ingest_run_id", pa.string(), PROVENANCE),
], key=["source_record_id"])

# Rows a step could not accept, with the reason: nothing is dropped silently (docs/datasets-and-versions.md).
DEAD_LETTER = declare([
    ("source", pa.string(), METADATA),
    # The committed raw file a line came from: its path names the drop's committing run, so it is
    # provenance (the drop's content version is an input of the run); found in the demo, where
    # re-generating identical drops changed every dead letter's version.
    ("source_file", pa.string(), PROVENANCE),
    ("line_number", pa.int64(), IDENTIFIER),
    ("raw", pa.string(), FREE_TEXT),
    ("reason", pa.string(), METADATA),
    ("ds", pa.string(), PARTITION),
    ("run_id", pa.string(), PROVENANCE),
])

JOB_OUTCOMES = declare([
    ("source_record_id", pa.string(), IDENTIFIER),
    ("looking_for_job", pa.int64(), LABEL),
    ("observed_date", pa.date32(), TIMESTAMP),
], key=["source_record_id"])

EMPLOYMENT_STATUSES = ("employed", "unemployed", "student", "self_employed", "retired")
SIGNUP_CHANNELS = ("organic", "search", "social", "referral", "partner")

# De-spam's quarantine: the full staged row plus why it was removed (docs/datasets-and-versions.md: nothing is
# dropped silently).
SPAM_QUARANTINE = declare([
    *STAGED_USERS,
    ("spam_score", pa.float64(), METADATA),
    ("text_score", pa.float64(), METADATA),
    ("spam_signals", pa.string(), METADATA),
    ("spam_reason", pa.string(), METADATA),
    ("spam_model_version", pa.string(), METADATA),
], key=["source_record_id"])

# ID-merge (beam_jobs.id_merge): every de-spammed record -> its canonical user id, with the score
# of the link that put it in its cluster (null: alone, or the cluster's first member).
ID_MAP = declare([
    ("source_record_id", pa.string(), IDENTIFIER),
    ("source", pa.string(), FEATURE),
    ("canonical_id", pa.string(), IDENTIFIER),
    ("match_score", pa.float64(), METADATA),
    ("cluster_size", pa.int64(), METADATA),
    ("ds", pa.string(), PARTITION),
    ("id_merge_run_id", pa.string(), PROVENANCE),
], key=["source_record_id"])

# One row per canonical user seen that day, fields chosen by the survivorship rules
# (transforms.id_merge.survivors); source_record_id is that of the most recent record.
USERS_MERGED = declare([
    ("canonical_id", pa.string(), IDENTIFIER),
    *STAGED_USERS,
    ("merged_records", pa.int64(), METADATA),
    ("id_merge_run_id", pa.string(), PROVENANCE),
], key=["canonical_id"])

# After cleaning (clean reads USERS_MERGED: one row per canonical user): normalised values,
# derived ages, and the rules that fired per row; the run ids of every step come last.
CLEAN_USERS = declare([
    *(f for f in USERS_MERGED if role_of(f) != PROVENANCE),
    ("age_years", pa.int64(), FEATURE),
    ("account_age_days", pa.int64(), FEATURE),
    ("clean_flags", pa.string(), METADATA),
    ("ingest_run_id", pa.string(), PROVENANCE),
    ("id_merge_run_id", pa.string(), PROVENANCE),
    ("clean_run_id", pa.string(), PROVENANCE),
], key=["canonical_id"])

# -- training data ------------------------------------------------------------------------------
# features.users_transformed: id, split, then the TFT outputs (transforms.features) with the label.
USERS_TRANSFORMED = declare([
    (features.ID_COLUMN, pa.string(), IDENTIFIER),
    (features.SPLIT_COLUMN, pa.string(), METADATA),
    *((f.name, f.type, LABEL if f.name == features.LABEL else FEATURE) for f in features.transformed_arrow_schema()),
], key=[features.ID_COLUMN])

# features.split_assignments: an id's split, decided the first time it is seen with a label (transforms.splits).
SPLIT_ASSIGNMENTS = declare([
    (features.ID_COLUMN, pa.string(), IDENTIFIER),
    (features.SPLIT_COLUMN, pa.string(), METADATA),
    ("stratum", pa.string(), METADATA),          # e.g. "looking_for_job=1|source=web": the stratum it was counted in
    (features.LABEL, pa.int64(), LABEL),         # the label when assigned (a later change does not move the id)
    ("assigned_ds", pa.string(), TIMESTAMP),     # the date of the run that assigned it
], key=[features.ID_COLUMN])

# evaluation.job_seeker_slices: dev/test metrics per metadata slice (transforms.slices).
SLICE_METRICS = declare([
    ("split", pa.string(), IDENTIFIER),
    ("slice_column", pa.string(), IDENTIFIER),
    ("slice_value", pa.string(), IDENTIFIER),
    ("rows", pa.int64(), FEATURE),
    ("positives", pa.int64(), FEATURE),
    ("positive_rate", pa.float64(), FEATURE),
    ("accuracy", pa.float64(), FEATURE),
    ("precision", pa.float64(), FEATURE),
    ("recall", pa.float64(), FEATURE),
    ("roc_auc", pa.float64(), FEATURE),
    ("log_loss", pa.float64(), FEATURE),
    ("error_rate", pa.float64(), FEATURE),
    ("error_gap", pa.float64(), FEATURE),        # error_rate - the error rate of all rows of the split
    ("small", pa.bool_(), FEATURE),              # rows < min_rows: ranked last
], key=["split", "slice_column", "slice_value"])

# -- reference data and label tooling -----------------------------------------------------------
# reference.spam_labels: annotator labels of SMS messages (user_pipeline.datagen.reference).
SPAM_LABELS = declare([
    ("message_id", pa.string(), IDENTIFIER),
    ("text", pa.string(), FREE_TEXT),
    ("label", pa.string(), LABEL),
    ("labeler_id", pa.string(), IDENTIFIER),
    ("is_double_labelled", pa.bool_(), METADATA),
    ("spec_version", pa.string(), METADATA),     # the reference.spam_label_spec version it was labelled under
], key=["message_id", "labeler_id"])

# reference.spam_label_spec: the labeling instructions, one row per item; a revision is a new version.
LABEL_SPEC = declare([
    ("item_id", pa.string(), IDENTIFIER),        # <class>.<kind>.<n>, e.g. ham.rule.2
    ("label", pa.string(), LABEL),               # the class the item is about
    ("kind", pa.string(), METADATA),             # definition | rule | positive_example | negative_example | edge_case
    ("text", pa.string(), FREE_TEXT),
    ("pattern", pa.string(), METADATA),          # regex of the messages a rule or edge case is about (or null)
    ("settled_by", pa.string(), METADATA),       # edge cases: the rule that decides them; null: still open
], key=["item_id"])

# reference.id_pairs: labelled record pairs for the ID matcher, each side's fields as text.
ID_PAIR_FIELDS = ("first_name", "last_name", "email", "phone", "date_of_birth", "postcode")
ID_PAIRS = declare([
    ("pair_id", pa.string(), IDENTIFIER),
    *((f"{side}_{f}", pa.string(), PERSONAL) for side in ("left", "right") for f in ID_PAIR_FIELDS),
    ("is_match", pa.int64(), LABEL),
], key=["pair_id"])

# reference.spam_label_agreement: the agreement report of a labels version (transforms.labels).
AGREEMENT_STATS = declare([
    # overall | class | labeler | pair | confusion | disagreement | posterior (Dawid-Skene, per message)
    ("section", pa.string(), IDENTIFIER),
    ("subject", pa.string(), IDENTIFIER),        # all | <class> | <labeler> | <labeler a>~<labeler b> | <message_id>
    ("metric", pa.string(), IDENTIFIER),
    ("value", pa.float64(), FEATURE),
    ("n", pa.int64(), FEATURE),
    ("below_min_agreement", pa.bool_(), FEATURE),
    ("text", pa.string(), FREE_TEXT),            # disagreements only
    ("labels", pa.string(), LABEL),              # disagreements: labeler=label;...  posterior: its argmax
])

# reference.spam_label_reviews: label rows confident learning flags, ranked (transforms.labels).
REVIEWS = declare([
    ("rank", pa.int64(), METADATA),
    ("message_id", pa.string(), IDENTIFIER),
    ("labeler_id", pa.string(), IDENTIFIER),
    ("text", pa.string(), FREE_TEXT),
    ("given_label", pa.string(), LABEL),
    ("suggested_label", pa.string(), METADATA),
    ("self_confidence", pa.float64(), METADATA),
    ("suggested_probability", pa.float64(), METADATA),
    ("resolved_label", pa.string(), LABEL),
    ("n_labels", pa.int64(), METADATA),
    ("corrected_label", pa.string(), LABEL),     # empty: for the reviewer to fill in
])

# reference.spam_label_corrections: the reviewed corrections behind a new labels version.
CORRECTIONS = declare([
    ("message_id", pa.string(), IDENTIFIER),
    ("labeler_id", pa.string(), IDENTIFIER),
    ("old_label", pa.string(), LABEL),
    ("new_label", pa.string(), LABEL),
    ("decided_by", pa.string(), METADATA),       # review:<file> | accept-top-<k>
    ("reviewer", pa.string(), PERSONAL),
    ("note", pa.string(), FREE_TEXT),
])

# reference.spam_label_decisions: reviewers' decisions on the review page (user_pipeline.labels.review),
# one partition per labels version reviewed, every decision kept (the latest per message counts).
DECISIONS = declare([
    ("message_id", pa.string(), IDENTIFIER),
    ("label", pa.string(), LABEL),               # the label the reviewer chose for the message
    ("reviewer", pa.string(), PERSONAL),
    ("reviewed_at", pa.timestamp("us", tz="UTC"), METADATA),
    ("note", pa.string(), FREE_TEXT),
])

# Every committed tabular dataset (conf/pipeline.yaml ``datasets:``) -> its schema. The other
# datasets are opaque files (raw drops, models, statistics), versioned by their bytes or derivation.
DATASET_SCHEMAS: dict[str, pa.Schema] = {
    "raw.job_outcomes": JOB_OUTCOMES,
    "reference.spam_labels": SPAM_LABELS,
    "reference.spam_label_spec": LABEL_SPEC,
    "reference.id_pairs": ID_PAIRS,
    "reference.spam_label_agreement": AGREEMENT_STATS,
    "reference.spam_label_reviews": REVIEWS,
    "reference.spam_label_corrections": CORRECTIONS,
    "reference.spam_label_decisions": DECISIONS,
    "staging.users_ingested": STAGED_USERS,
    "staging.ingest_dead_letter": DEAD_LETTER,
    "staging.users_despammed": STAGED_USERS,
    "staging.spam_quarantine": SPAM_QUARANTINE,
    "staging.id_map": ID_MAP,
    "staging.users_merged": USERS_MERGED,
    "curated.users_clean": CLEAN_USERS,
    "features.users_transformed": USERS_TRANSFORMED,
    "features.split_assignments": SPLIT_ASSIGNMENTS,
    "evaluation.job_seeker_slices": SLICE_METRICS,
}
