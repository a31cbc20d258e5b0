"""The tables of the lineage store, and the bound on parameters per ``IN`` list that statements
over them respect.

Tables: ``events`` (every distinct event, raw), ``runs`` (one row per run: job, state, times,
parent and Airflow DAG run), ``run_inputs`` / ``run_outputs`` (the dataset versions a run read /
committed), ``unversioned_inputs`` (datasets a run read without naming a version),
``ingest_files`` (offsets), ``ingest_issues`` (lines set aside), ``store_meta`` (the schema version).

A dataset is an OpenLineage (namespace, name) pair, both kept as the event wrote them
(``s3://bucket`` and ``raw/events/2026``, ``postgres://db:5432`` and ``shop.public.orders``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_VERSION = "3"
# Bound parameters per IN list (SQLite allows 32766 per statement; PostgreSQL 65535).
IN_CHUNK = 900

metadata = MetaData()

events = Table(
    "events", metadata,
    # Keyed by (runId, SHA-256 of the canonical event JSON), the hash covering eventType,
    # eventTime and everything else. The run id first: run ids are time-ordered (UUIDv7), so
    # inserts land at the end of the index instead of at random places in it (a random hash first
    # made ingest a third slower at 10^6 runs), and one run's events sit together.
    Column("run_id", String, primary_key=True),
    Column("event_key", String(64), primary_key=True),
    Column("event_type", String, nullable=False),
    Column("event_time", String, nullable=False),  # UTC, "YYYY-MM-DDTHH:MM:SS.ffffffZ": sorts as text
    Column("job_namespace", String),
    Column("job_name", String, nullable=False),
    Column("source_file", Text),
    Column("source_line", Integer),
    Column("raw", Text, nullable=False),  # the event as written: unknown facets are kept
    Index("ix_events_time", "event_time"),
)

runs = Table(
    "runs", metadata,
    Column("run_id", String, primary_key=True),
    Column("job_namespace", String),
    Column("job_name", String, nullable=False),
    # Type of the latest terminal event (COMPLETE / FAIL / ABORT), else of the latest event.
    Column("state", String, nullable=False),
    Column("terminal", Boolean, nullable=False),  # False: no terminal event (yet): incomplete
    Column("start_time", String, nullable=False),  # earliest event
    Column("end_time", String),  # the terminal event
    Column("last_event_time", String, nullable=False),
    Column("event_count", Integer, nullable=False),
    # The parent facet as the spec has it: parent.run.runId, parent.job.{namespace,name}, and its root.
    Column("parent_run_id", String),
    Column("parent_job_namespace", String),
    Column("parent_job_name", String),
    Column("root_run_id", String),
    Column("root_job_namespace", String),
    Column("root_job_name", String),
    # The Airflow task run: from an Airflow facet of the run itself (our ``airflowDagRun``, the
    # provider's ``airflow`` / ``airflowDagRun``), else taken over from its parent run when that is an
    # Airflow task run (a Spark job launched by a task); ``airflow_from`` says which ("facet" /
    # "parent"), NULL without any.
    Column("dag_id", String),
    Column("dag_run_id", String),
    Column("task_id", String),
    Column("logical_date", String),
    Column("try_number", Integer),
    Column("airflow_from", String),
    Column("nominal_time", String),
    Column("error_message", Text),
    Column("skipped", Boolean, nullable=False),  # a content-addressed skip re-emitted its outputs
    Index("ix_runs_job", "job_name"),
    Index("ix_runs_parent", "parent_run_id"),
    Index("ix_runs_dag", "dag_id", "logical_date", "task_id"),
)

# A dataset version ("node") is (namespace, dataset, partition, version): the same content version
# can occur in two partitions (two identical days), and the partition says which slot a version fills.
run_inputs = Table(
    "run_inputs", metadata,
    Column("run_id", String, primary_key=True),
    Column("namespace", String, primary_key=True),
    Column("dataset", String, primary_key=True),
    Column("partition", String, primary_key=True),  # "ds=2026-01-01", "version=v1", "" if none
    Column("version", String, primary_key=True),  # never "": see unversioned_inputs
    # False: the event named this version. True: the event named none, and this is the version of
    # the dataset that was current when the run started (see unversioned_inputs).
    Column("inferred", Boolean, nullable=False),
    Column("first_seen", String, nullable=False),  # eventTime of the first event naming it
    Index("ix_run_inputs_node", "dataset", "namespace", "version", "partition"),
)

# A dataset a run read without a version facet (dbt, most Spark sources): linked, as inferred
# run_inputs rows, to the version current in each slot (in its partition if it named one) when the
# run started; ``read_time`` is that start (the run's earliest event). Never a version of its own.
unversioned_inputs = Table(
    "unversioned_inputs", metadata,
    Column("run_id", String, primary_key=True),
    Column("namespace", String, primary_key=True),
    Column("dataset", String, primary_key=True),
    Column("partition", String, primary_key=True),
    Column("read_time", String, nullable=False),
    Column("first_seen", String, nullable=False),
    Index("ix_unversioned_inputs_dataset", "dataset", "namespace", "read_time"),
)

run_outputs = Table(
    "run_outputs", metadata,
    Column("run_id", String, primary_key=True),
    Column("namespace", String, primary_key=True),
    Column("dataset", String, primary_key=True),
    Column("partition", String, primary_key=True),
    Column("version", String, primary_key=True),
    # True: the event named no version; ``version`` is the synthetic one of the run that wrote it
    # (``lineage.store.interpret.synthetic_version``).
    Column("synthetic", Boolean, nullable=False),
    # What a later output of the same dataset replaces: the partition for ds= datasets; for
    # version= datasets (models, reference data) every version is its own partition, so the
    # slot is the logical date of the producing run ("" for runs outside a schedule).
    Column("slot", String, nullable=False),
    Column("row_count", BigInteger),
    Column("skipped", Boolean, nullable=False),
    Column("committed_at", String, nullable=False),  # eventTime of the COMPLETE event
    Index("ix_run_outputs_node", "dataset", "namespace", "version", "partition"),
    Index("ix_run_outputs_slot", "dataset", "namespace", "slot", "committed_at"),
)

ingest_files = Table(
    "ingest_files", metadata,
    Column("path", String, primary_key=True),
    Column("byte_offset", BigInteger, nullable=False),
    Column("line_count", BigInteger, nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("updated_at", String, nullable=False),
)

ingest_issues = Table(
    "ingest_issues", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("path", String, nullable=False),
    Column("line", BigInteger, nullable=False),
    Column("kind", String, nullable=False),  # malformed | unsupported | unstorable
    Column("detail", Text, nullable=False),
    Column("event_key", String(64)),
    UniqueConstraint("path", "line", "kind", name="uq_ingest_issues_line"),
)

store_meta = Table(
    "store_meta", metadata,
    Column("key", String, primary_key=True),
    Column("value", String, nullable=False),
)


def chunks(items: Sequence[Any], size: int = IN_CHUNK) -> Iterator[Sequence[Any]]:
    """``items`` in slices of at most ``size``: one ``IN (...)`` list each, so no statement
    exceeds the database's limit on bound parameters."""
    for start in range(0, len(items), size):
        yield items[start:start + size]
