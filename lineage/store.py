"""The lineage store: OpenLineage run events in an embedded SQL database (DESIGN §4).

    store = LineageStore.from_config(cfg)        # lineage.store_url, SQLite by default
    store.ingest_file("/data/lineage/events.jsonl")
    store.ingest_events([event, ...])            # dicts or openlineage-python RunEvents

The JSONL log stays the source of truth; the store is a derived, rebuildable index of it.
SQLAlchemy Core only, and only SQL that SQLite and PostgreSQL both run (recursive CTEs live in
``lineage.queries``), so the same store runs on a server by changing the URL.

Ingest is
- idempotent: an event is keyed by (runId, SHA-256 of its canonical JSON), the hash covering
  eventType, eventTime and the rest; an event already stored changes nothing;
- order-independent: a run's row, inputs and outputs are rebuilt from all of its stored events
  whenever one arrives, so COMPLETE before START gives the same rows as START then COMPLETE;
- incremental: per file the byte offset consumed so far, the line count and a fingerprint of the
  consumed prefix are stored; the next ingest reads only what was appended. A file shorter than
  its offset, or whose prefix fingerprint changed (rotated, rewritten), is read again from the
  start (events already stored stay stored);
- forgiving: a malformed line is recorded (file, line, reason) in ``ingest_issues`` and skipped;
  a last line without its newline is left for the next ingest (the writer may be mid-append).
  The raw event JSON is kept, so facets this module does not know are not lost.

Tables: ``events`` (every distinct event, raw), ``runs`` (one row per run: job, state, times,
parent and Airflow DAG run), ``run_inputs`` / ``run_outputs`` (the dataset versions a run read /
committed), ``ingest_files`` (offsets), ``ingest_issues`` (malformed lines, duplicates).
"""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import re
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
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
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger("lineage.store")

SCHEMA_VERSION = "2"
TERMINAL_STATES = ("COMPLETE", "FAIL", "ABORT")
# Order of event types at the same eventTime: a terminal event ends the run whatever the order
# the events were written or ingested in.
_TYPE_RANK = {"START": 0, "RUNNING": 1, "OTHER": 1, "COMPLETE": 2, "ABORT": 2, "FAIL": 2}
_UTC_MICROS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00")
# Bytes of the head and of the tail of the consumed prefix that make up its fingerprint.
FINGERPRINT_BYTES = 64 * 1024
# Lines per transaction: big enough to amortise the commit, small enough to bound memory.
BATCH_LINES = 5000
# Bound parameters per IN list (SQLite allows 32766 per statement; PostgreSQL 65535).
_IN_CHUNK = 900

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
    Column("parent_run_id", String),
    Column("parent_job_name", String),
    Column("root_run_id", String),
    Column("root_job_name", String),
    Column("dag_id", String),
    Column("dag_run_id", String),
    Column("task_id", String),
    Column("logical_date", String),
    Column("try_number", Integer),
    Column("nominal_time", String),
    Column("error_message", Text),
    Column("skipped", Boolean, nullable=False),  # a content-addressed skip re-emitted its outputs
    Index("ix_runs_job", "job_name"),
    Index("ix_runs_parent", "parent_run_id"),
    Index("ix_runs_dag", "dag_id", "logical_date", "task_id"),
)

# A dataset version ("node") is (dataset, partition, version): the same content version can occur
# in two partitions (two identical days), and the partition says which slot a version fills.
run_inputs = Table(
    "run_inputs", metadata,
    Column("run_id", String, primary_key=True),
    Column("dataset", String, primary_key=True),
    Column("partition", String, primary_key=True),  # "ds=2026-01-01", "version=v1", "" if none
    Column("version", String, primary_key=True),  # "" if the event named no version
    Column("namespace", String),
    Column("first_seen", String, nullable=False),  # eventTime of the first event naming it
    Index("ix_run_inputs_node", "dataset", "version", "partition"),
)

run_outputs = Table(
    "run_outputs", metadata,
    Column("run_id", String, primary_key=True),
    Column("dataset", String, primary_key=True),
    Column("partition", String, primary_key=True),
    Column("version", String, primary_key=True),
    Column("namespace", String),
    # What a later output of the same dataset replaces: the partition for ds= datasets; for
    # version= datasets (models, reference data) every version is its own partition, so the
    # slot is the logical date of the producing run ("" for runs outside a schedule).
    Column("slot", String, nullable=False),
    Column("row_count", BigInteger),
    Column("skipped", Boolean, nullable=False),
    Column("committed_at", String, nullable=False),  # eventTime of the COMPLETE event
    Index("ix_run_outputs_node", "dataset", "version", "partition"),
    Index("ix_run_outputs_slot", "dataset", "slot", "committed_at"),
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
    Column("kind", String, nullable=False),  # malformed | unsupported | duplicate
    Column("detail", Text, nullable=False),
    Column("event_key", String(64)),
    UniqueConstraint("path", "line", "kind", name="uq_ingest_issues_line"),
)

store_meta = Table(
    "store_meta", metadata,
    Column("key", String, primary_key=True),
    Column("value", String, nullable=False),
)


class LineageUsageError(ValueError):
    """A bad argument or setting (a store URL that cannot work, a time that is not a time)."""


class MalformedEvent(ValueError):
    """A line or object that is not a usable OpenLineage RunEvent."""


@dataclass(frozen=True)
class Issue:
    """A line that was not ingested as an event, and why."""

    path: str
    line: int
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}: {self.detail}"


@dataclass
class IngestReport:
    """What one ingest of one source did."""

    path: str
    lines: int = 0  # lines consumed in this ingest
    events_new: int = 0  # events stored for the first time
    events_known: int = 0  # already stored (a re-read, or the same event logged twice)
    duplicates: int = 0  # of those, the same event at another place in the logs
    bytes_read: int = 0
    issues: list[Issue] = field(default_factory=list)  # malformed / unsupported lines
    restarted: str = ""  # why the file was read again from the start, if it was
    pending_tail: bool = False  # an unterminated last line was left for the next ingest
    runs_updated: int = 0

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "issues"}
        data["issues"] = [issue.__dict__ for issue in self.issues]
        return data


@dataclass(frozen=True)
class ParsedEvent:
    """The parts of a RunEvent the store indexes, plus the raw text it keeps."""

    key: str
    run_id: str
    event_type: str
    event_time: str
    job_namespace: str | None
    job_name: str
    raw: str
    body: dict[str, Any]


# -- helpers ---------------------------------------------------------------------------------
def normalise_time(value: str) -> str:
    """An ISO-8601 timestamp as UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (sorts as text on any DB).

    A value without a zone is taken as UTC; a bare date as its midnight."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"not a timestamp: {value!r}")
    if _UTC_MICROS.fullmatch(value):
        return value[:26] + "Z"  # what openlineage-python writes: already UTC with microseconds
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _date_value(value: Any) -> str | None:
    """A logical date / nominal time as UTC ISO with offset (Airflow's spelling), or None."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).isoformat()


def _loads(text: str | bytes) -> Any:
    # orjson (already in the pinned set, via Airflow) parses about twice as fast as json; the
    # standard library takes what orjson refuses (integers beyond 64 bits).
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def canonical_json(body: dict[str, Any]) -> bytes:
    """An event as canonical JSON: keys sorted, no whitespace, UTF-8 (the form the key hashes)."""
    try:
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # an integer beyond 64 bits
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def event_key(body: dict[str, Any]) -> str:
    """The identity of an event: SHA-256 of its canonical JSON, so the same event re-serialised
    with other whitespace or key order is still the same event."""
    return hashlib.sha256(canonical_json(body)).hexdigest()


def parse_event(body: Any, raw: str | None = None) -> ParsedEvent:
    """Validate the fields the store needs and compute the key; raise MalformedEvent otherwise."""
    if not isinstance(body, dict):
        raise MalformedEvent(f"expected a JSON object, got {type(body).__name__}")
    run, job = body.get("run"), body.get("job")
    if not isinstance(run, dict) or not isinstance(job, dict):
        raise MalformedEvent("not a RunEvent (no run/job object)")
    run_id, name = run.get("runId"), job.get("name")
    if not isinstance(run_id, str) or not run_id:
        raise MalformedEvent("run.runId missing")
    if not isinstance(name, str) or not name:
        raise MalformedEvent("job.name missing")
    try:
        time = normalise_time(body.get("eventTime"))
    except (TypeError, ValueError) as exc:
        raise MalformedEvent(f"bad eventTime {body.get('eventTime')!r}: {exc}") from None
    event_type = str(body.get("eventType") or "OTHER").upper()
    for side in ("inputs", "outputs"):
        if not isinstance(body.get(side) or [], list):
            raise MalformedEvent(f"{side} is not a list")
    canonical = canonical_json(body)
    if raw is None:
        raw = canonical.decode("utf-8")
    return ParsedEvent(hashlib.sha256(canonical).hexdigest(), run_id, event_type, time, _text(job.get("namespace")),
                       name, raw, body)


def _facet(container: Any, name: str) -> dict[str, Any]:
    facets = container.get("facets") if isinstance(container, dict) else None
    value = facets.get(name) if isinstance(facets, dict) else None
    return value if isinstance(value, dict) else {}


def dataset_node(dataset: dict[str, Any]) -> tuple[str, str, str, str]:
    """(name, partition, version, partition key) of an input/output dataset of an event."""
    partition = _facet(dataset, "partition")
    key, value = partition.get("key"), partition.get("value")
    label = f"{key}={value}" if key and value is not None else ""
    version = _facet(dataset, "version").get("datasetVersion") or ""
    return str(dataset.get("name") or ""), label, str(version), str(key or "")


def output_slot(partition: str, partition_key: str, run_date: str | None) -> str:
    """What a later output of the same dataset replaces (see ``run_outputs.slot``)."""
    if partition_key == "version" or (not partition_key and partition.startswith("version=")):
        return f"logical_date={run_date}" if run_date else ""
    return partition


def _airflow_info(facets: dict[str, Any]) -> dict[str, Any]:
    """DAG id, DAG run id, task id, logical date, try number from whichever facet has them:
    our ``airflowDagRun`` (camelCase, lineage.naming), or the Airflow provider's ``airflow``
    (task runs) / ``airflowDagRun`` (DAG runs), which nest snake_case objects."""
    info: dict[str, Any] = {}
    ours = facets.get("airflowDagRun") if isinstance(facets.get("airflowDagRun"), dict) else {}
    if ours.get("dagId"):
        info.update(dag_id=ours.get("dagId"), dag_run_id=ours.get("dagRunId"), task_id=ours.get("taskId") or None,
                    logical_date=ours.get("logicalDate"), try_number=ours.get("tryNumber"))
        return info
    for name in ("airflow", "airflowDagRun"):
        facet = facets.get(name)
        if not isinstance(facet, dict):
            continue
        dag_run = facet.get("dagRun") if isinstance(facet.get("dagRun"), dict) else {}
        dag = facet.get("dag") if isinstance(facet.get("dag"), dict) else {}
        task = facet.get("task") if isinstance(facet.get("task"), dict) else {}
        instance = facet.get("taskInstance") if isinstance(facet.get("taskInstance"), dict) else {}
        dag_id = dag_run.get("dag_id") or dag.get("dag_id")
        if dag_id:
            info.update(dag_id=dag_id, dag_run_id=dag_run.get("run_id"), task_id=task.get("task_id"),
                        logical_date=dag_run.get("logical_date") or dag_run.get("execution_date"),
                        try_number=instance.get("try_number"))
            return info
    return info


def summarise_run(run_id: str, parsed: Sequence[ParsedEvent]) -> tuple[dict, list[dict], list[dict]]:
    """The ``runs`` row and the ``run_inputs`` / ``run_outputs`` rows of one run, from all its events.

    A pure function of the set of events (sorted here by time, type, key), which is what makes
    ingest order-independent. Later events win for run facets; only COMPLETE events commit outputs.
    """
    ordered = sorted(parsed, key=lambda e: (e.event_time, _TYPE_RANK.get(e.event_type, 1), e.key))
    last = ordered[-1]
    terminal = [e for e in ordered if e.event_type in TERMINAL_STATES]
    state_event = terminal[-1] if terminal else last
    row: dict[str, Any] = {
        "run_id": run_id, "job_namespace": last.job_namespace, "job_name": last.job_name,
        "state": state_event.event_type, "terminal": bool(terminal),
        "start_time": ordered[0].event_time, "end_time": state_event.event_time if terminal else None,
        "last_event_time": last.event_time, "event_count": len(ordered),
        "parent_run_id": None, "parent_job_name": None, "root_run_id": None, "root_job_name": None,
        "dag_id": None, "dag_run_id": None, "task_id": None, "logical_date": None, "try_number": None,
        "nominal_time": None, "error_message": None, "skipped": False,
    }
    for event in ordered:
        facets = _facet_map(event.body.get("run"))
        parent = facets.get("parent") if isinstance(facets.get("parent"), dict) else {}
        if parent:
            row["parent_run_id"] = _dig(parent, "run", "runId") or row["parent_run_id"]
            row["parent_job_name"] = _dig(parent, "job", "name") or row["parent_job_name"]
            row["root_run_id"] = _dig(parent, "root", "run", "runId") or row["root_run_id"]
            row["root_job_name"] = _dig(parent, "root", "job", "name") or row["root_job_name"]
        for column, value in _airflow_info(facets).items():
            if value not in (None, ""):
                row[column] = value
        nominal = facets.get("nominalTime") if isinstance(facets.get("nominalTime"), dict) else {}
        if nominal.get("nominalStartTime"):
            row["nominal_time"] = nominal["nominalStartTime"]
        if isinstance(facets.get("contentAddressedSkip"), dict):
            row["skipped"] = True
        error = facets.get("errorMessage") if isinstance(facets.get("errorMessage"), dict) else {}
        if error.get("message"):
            row["error_message"] = str(error["message"])
    if not row["dag_id"] and row["parent_job_name"] and "." in row["parent_job_name"]:
        # A job launched by an Airflow task without our airflowDagRun facet: the provider names
        # task runs "<dag_id>.<task_id>"; the logical date is then the nominal time.
        row["dag_id"], row["task_id"] = row["parent_job_name"].split(".", 1)
    row["logical_date"] = _date_value(row["logical_date"]) or (
        _date_value(row["nominal_time"]) if row["dag_id"] else None)
    row["nominal_time"] = _date_value(row["nominal_time"])
    try:
        row["try_number"] = int(row["try_number"]) if row["try_number"] is not None else None
    except (TypeError, ValueError):
        row["try_number"] = None
    run_date = row["logical_date"] or row["nominal_time"]

    inputs: dict[tuple[str, str, str], dict] = {}
    outputs: dict[tuple[str, str, str], dict] = {}
    for event in ordered:
        for dataset in event.body.get("inputs") or []:
            if not isinstance(dataset, dict):
                continue
            name, partition, version, _ = dataset_node(dataset)
            if name and (name, partition, version) not in inputs:
                inputs[(name, partition, version)] = {
                    "run_id": run_id, "dataset": name, "partition": partition, "version": version,
                    "namespace": _text(dataset.get("namespace")), "first_seen": event.event_time,
                }
        if event.event_type != "COMPLETE":
            continue  # only a COMPLETE event commits outputs
        for dataset in event.body.get("outputs") or []:
            if not isinstance(dataset, dict):
                continue
            name, partition, version, key = dataset_node(dataset)
            if not name:
                continue
            manifest = _facet(dataset, "manifest")
            row_count = _dig(dataset, "outputFacets", "outputStatistics", "rowCount")
            skipped = bool(manifest.get("skipped"))
            row["skipped"] = row["skipped"] or skipped
            found = outputs.setdefault((name, partition, version), {
                "run_id": run_id, "dataset": name, "partition": partition, "version": version,
                "namespace": _text(dataset.get("namespace")), "slot": output_slot(partition, key, run_date),
                "row_count": None, "skipped": skipped, "committed_at": event.event_time,
            })
            if isinstance(row_count, int):
                found["row_count"] = row_count
    return row, list(inputs.values()), list(outputs.values())


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _dig(value: Any, *keys: str) -> Any:
    """``value[k1][k2]...``, or None where a level is missing or not an object (facets written by
    other producers may have any shape; a bad facet must not stop an ingest)."""
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _facet_map(run: Any) -> dict[str, Any]:
    facets = run.get("facets") if isinstance(run, dict) else None
    return facets if isinstance(facets, dict) else {}


_STORED_COLUMNS = ("event_key", "run_id", "event_type", "event_time", "job_namespace", "job_name", "raw",
                   "source_file", "source_line")


class _DriverSQL:
    """The statements of every ingest transaction as the driver's own SQL, built once per store.

    The HTTP service commits many small transactions of a few statements each: SQLAlchemy's work
    per statement (cache key, parameter processing, result set-up) was 30% of the service's CPU
    per event, the database's own work 14% (profiled). These are the same plain INSERT, SELECT and
    DELETE, on the columns of the tables above, run on a cursor of the connection of SQLAlchemy's
    transaction (so they commit or roll back with it); ``_flush`` retries on the driver's
    IntegrityError / OperationalError as on SQLAlchemy's.
    """

    _MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}

    def __init__(self, dialect: sa.engine.Dialect):
        if dialect.paramstyle not in self._MARKS:
            raise LineageUsageError(f"the lineage store needs a driver with positional parameters "
                                    f"({sorted(self._MARKS)}); {dialect.driver} uses {dialect.paramstyle}")
        self.mark, self.quote = self._MARKS[dialect.paramstyle], dialect.identifier_preparer.quote
        self._inserts: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._select_stored = f"SELECT {', '.join(map(self.quote, _STORED_COLUMNS))} FROM {self.quote(events.name)}"

    def insert(self, conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        """Insert dict rows (a missing key is NULL) with one executemany."""
        if table.name not in self._inserts:
            names = tuple(column.name for column in table.columns)
            self._inserts[table.name] = (
                f"INSERT INTO {self.quote(table.name)} ({', '.join(map(self.quote, names))}) "
                f"VALUES ({', '.join([self.mark] * len(names))})", names)
        sql, names = self._inserts[table.name]
        conn.connection.cursor().executemany(sql, [tuple(row.get(name) for name in names) for row in rows])

    def _where_run_in(self, count: int) -> str:
        return f" WHERE {self.quote('run_id')} IN ({', '.join([self.mark] * count)})"

    def stored_events(self, conn: Connection, run_ids: Sequence[str]) -> list[tuple]:
        """(``_STORED_COLUMNS``) of the stored events of these runs, through the run_id index."""
        cursor = conn.connection.cursor()
        cursor.execute(self._select_stored + self._where_run_in(len(run_ids)), tuple(run_ids))
        return cursor.fetchall()

    def delete_runs(self, conn: Connection, run_ids: Sequence[str]) -> None:
        """Delete the ``runs``, ``run_inputs`` and ``run_outputs`` rows of these runs."""
        where, cursor = self._where_run_in(len(run_ids)), conn.connection.cursor()
        for table in (runs, run_inputs, run_outputs):
            cursor.execute(f"DELETE FROM {self.quote(table.name)}" + where, tuple(run_ids))


def _chunks(items: Sequence[Any], size: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _fingerprint(path: str, offset: int) -> str:
    """SHA-256 of the consumed prefix's length, first and last FINGERPRINT_BYTES.

    Hashing the whole prefix on every ingest would make each incremental ingest (and every
    query, which ingests first) cost a full read of the log; head + tail + length catches
    rotation (a new head), truncation (a shorter file or a new tail) and rewrites of the end."""
    digest = hashlib.sha256(str(offset).encode())
    with open(path, "rb") as fh:
        digest.update(fh.read(min(offset, FINGERPRINT_BYTES)))
        tail_start = max(0, offset - FINGERPRINT_BYTES)
        fh.seek(tail_start)
        digest.update(fh.read(offset - tail_start))
    return digest.hexdigest()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def expand_store_url(url: str, data_root: str) -> str:
    """``{data_root}`` expanded; a SQLite file under an object-store root is refused clearly."""
    if "{data_root}" in url and "://" in data_root and url.startswith("sqlite"):
        raise LineageUsageError(
            f"lineage.store_url {url!r} puts a SQLite file under the data root {data_root!r}, which is "
            "not a local path: set lineage.store_url to a local sqlite:///path or a database server"
        )
    return url.replace("{data_root}", data_root)


class LineageStore:
    """An OpenLineage event store behind one SQLAlchemy engine (SQLite file, PostgreSQL, ...)."""

    def __init__(self, url: str | Engine):
        if isinstance(url, Engine):
            self.engine = url
        else:
            if url.startswith("sqlite:///") and ":memory:" not in url:
                Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
            self.engine = sa.create_engine(url)
        self._wal_autocheckpoint = True
        self._sql = _DriverSQL(self.engine.dialect)
        dbapi = self.engine.dialect.dbapi
        self._retry_on = (dbapi.IntegrityError, dbapi.OperationalError)  # raised by _DriverSQL's statements
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect",
                            lambda dbapi, _: _sqlite_pragmas(dbapi, autocheckpoint=self._wal_autocheckpoint))
        metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            found = conn.execute(sa.select(store_meta.c.value).where(store_meta.c.key == "schema_version")).scalar()
            if found is None:
                conn.execute(store_meta.insert().values(key="schema_version", value=SCHEMA_VERSION))
            elif found != SCHEMA_VERSION:
                raise RuntimeError(f"lineage store schema {found}, this code needs {SCHEMA_VERSION}: "
                                   "delete the store and ingest the logs again (they are the source of truth)")

    @classmethod
    def from_config(cls, cfg: Any) -> LineageStore:
        """The store at ``lineage.store_url`` of a pipeline config."""
        return cls(expand_store_url(cfg.lineage.store_url, cfg.data_root))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def connect(self) -> Connection:
        """A connection for queries (``with store.connect() as conn: ...``)."""
        return self.engine.connect()

    def checkpoint_in_background(self, every_s: float = 1.0) -> Checkpointer | None:
        """SQLite: take WAL checkpoints off the commit path, into a thread (None on other databases).

        By default SQLite checkpoints inside the commit that grows the write-ahead log past 1,000
        pages: copying those pages into the database file and syncing it was 85% of the commit
        time of small transactions on a filled store (measured: 1,000 commits of 8 events into a
        store of 180,000 events spent 4.7 s committing with it, 0.7 s without). A
        service committing many small transactions calls this: its connections stop checkpointing,
        and a thread checkpoints every ``every_s`` seconds (PASSIVE: it never blocks the writer,
        and the sqlite3 module releases the GIL while it copies and syncs). Durability is what it
        was: a commit is in the log when it returns; a checkpoint only moves pages to the file.
        """
        if self.dialect != "sqlite":
            return None
        self._wal_autocheckpoint = False
        self.engine.dispose()  # pooled connections were opened with autocheckpoint on
        return Checkpointer(self, every_s)

    def checkpoint(self, mode: str = "PASSIVE") -> tuple[int, int, int] | None:
        """SQLite: ``PRAGMA wal_checkpoint(mode)`` -> (busy, log frames, frames checkpointed)."""
        if self.dialect != "sqlite":
            return None
        if mode not in ("PASSIVE", "FULL", "RESTART", "TRUNCATE"):
            raise LineageUsageError(f"unknown checkpoint mode {mode!r}")
        with self.engine.connect() as conn:
            busy, frames, done = conn.exec_driver_sql(f"PRAGMA wal_checkpoint({mode})").one()
        return busy, frames, done

    def counts(self) -> dict[str, int]:
        """Rows per table (tests, the benchmark, ``lineage ingest``)."""
        with self.engine.connect() as conn:
            return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                    for t in (events, runs, run_inputs, run_outputs, ingest_issues)}

    # -- files -------------------------------------------------------------------------------
    def ingest_files(self, paths: Iterable[str | os.PathLike[str]]) -> list[IngestReport]:
        """Ingest several files (see ``ingest_file``)."""
        return [self.ingest_file(p) for p in paths]

    def file_offset(self, path: str | os.PathLike[str]) -> int:
        """Bytes of the file ingested so far (0 for a file never ingested)."""
        path = os.path.abspath(os.fspath(path))
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(ingest_files.c.byte_offset).where(ingest_files.c.path == path)).scalar()
        return int(found or 0)

    def forget_file(self, path: str | os.PathLike[str]) -> None:
        """Drop a file's offset (the spool deletes a segment once it is stored). Its issues stay:
        they are part of what ``check`` reports."""
        path = os.path.abspath(os.fspath(path))
        with self.engine.begin() as conn:
            conn.execute(ingest_files.delete().where(ingest_files.c.path == path))

    def ingest_file(self, path: str | os.PathLike[str], *, from_start: bool = False) -> IngestReport:
        """Ingest what was appended to a JSONL file of OpenLineage events since the last ingest.

        ``from_start`` reads the whole file again (idempotent: stored events are recognised).
        A missing file is an empty log."""
        with _no_gc():
            return self._ingest_file(path, from_start)

    def _ingest_file(self, path: str | os.PathLike[str], from_start: bool) -> IngestReport:
        path = os.path.abspath(os.fspath(path))
        report = IngestReport(path=path)
        if not os.path.exists(path):
            return report
        size = os.path.getsize(path)
        with self.engine.connect() as conn:
            known = conn.execute(sa.select(ingest_files).where(ingest_files.c.path == path)).mappings().first()
        start, line_no = 0, 0
        if known is not None and not from_start:
            offset = int(known["byte_offset"])
            if size < offset:
                report.restarted = f"file is shorter ({size} bytes) than the {offset} bytes already read"
            elif _fingerprint(path, offset) != known["fingerprint"]:
                report.restarted = "the part already read has changed (rotated or rewritten)"
            else:
                start, line_no = offset, int(known["line_count"])
        elif from_start:
            report.restarted = "asked to read from the start"
        if report.restarted and known is not None:
            with self.engine.begin() as conn:
                # The issues described lines of the old content.
                conn.execute(ingest_issues.delete().where(ingest_issues.c.path == path))
        offset, first_line = start, line_no
        batch: list[tuple[int, ParsedEvent]] = []
        issues: list[Issue] = []
        with open(path, "rb") as fh:
            fh.seek(start)
            for line in fh:
                if not line.endswith(b"\n"):
                    # Unterminated last line: a complete event if it parses, else a write in progress.
                    try:
                        parsed = parse_event(_loads(line), line.decode("utf-8").strip())
                    except (ValueError, UnicodeDecodeError):
                        report.pending_tail = True
                        break
                    line_no += 1
                    offset += len(line)
                    batch.append((line_no, parsed))
                    continue
                line_no += 1
                offset += len(line)
                text = line.strip()
                if not text:
                    continue
                try:
                    decoded = text.decode("utf-8")
                    batch.append((line_no, parse_event(_loads(text), decoded)))
                except UnicodeDecodeError as exc:
                    issues.append(Issue(path, line_no, "malformed", f"not UTF-8: {exc}"))
                except json.JSONDecodeError as exc:
                    issues.append(Issue(path, line_no, "malformed", f"invalid JSON ({exc.msg} at column {exc.colno})"))
                except MalformedEvent as exc:
                    kind = "unsupported" if "not a RunEvent" in str(exc) else "malformed"
                    issues.append(Issue(path, line_no, kind, str(exc)))
                if len(batch) + len(issues) >= BATCH_LINES:
                    self._flush(report, batch, issues, path, offset, line_no)
                    batch, issues = [], []
            self._flush(report, batch, issues, path, offset, line_no)
        report.bytes_read = offset - start
        report.lines = line_no - first_line
        return report

    def ingest_events(self, items: Iterable[Any], source: str = "<memory>") -> IngestReport:
        """Ingest events given as dicts or openlineage-python RunEvent objects (no offsets kept)."""
        from openlineage.client.serde import Serde

        with _no_gc():
            return self._ingest_events(items, source, Serde)

    def _ingest_events(self, items: Iterable[Any], source: str, serde: Any) -> IngestReport:
        report = IngestReport(path=source)
        batch: list[tuple[int, ParsedEvent]] = []
        issues: list[Issue] = []
        for number, item in enumerate(items, start=1):
            body = item if isinstance(item, dict) else json.loads(serde.to_json(item))
            try:
                batch.append((number, parse_event(body)))
            except MalformedEvent as exc:
                issues.append(Issue(source, number, "malformed", str(exc)))
            report.lines += 1
        self._flush(report, batch, issues, source, None, report.lines)
        return report

    # -- one transaction per batch -----------------------------------------------------------
    def _flush(self, report: IngestReport, batch: list[tuple[int, ParsedEvent]], issues: list[Issue],
               path: str, offset: int | None, line_no: int) -> None:
        """Store one batch, its issues and the file offset after it, in one transaction.

        Two ingests of the same file at once both read the same lines; the one that commits
        second finds its events stored (or fails on the key and retries, then finds them)."""
        for attempt in range(3):
            tally = IngestReport(path=path)
            try:
                with self.engine.begin() as conn:
                    new, duplicates, stored = self._store_events(conn, tally, batch, path)
                    tally.runs_updated = self._rebuild_runs(conn, new, stored)
                    found = issues + duplicates
                    if found:
                        self._record_issues(conn, [{"path": i.path, "line": i.line, "kind": i.kind,
                                                    "detail": i.detail, "event_key": None} for i in found])
                    if offset is not None:
                        row = {"byte_offset": offset, "line_count": line_no,
                               "fingerprint": _fingerprint(path, offset), "updated_at": _now()}
                        # Offsets commit with the events they cover: a crash never skips or half-reads a batch.
                        updated = conn.execute(ingest_files.update().where(ingest_files.c.path == path).values(**row))
                        if updated.rowcount == 0:
                            conn.execute(ingest_files.insert().values(path=path, **row))
                break
            except (sa.exc.IntegrityError, sa.exc.OperationalError, *self._retry_on):
                if attempt == 2:
                    raise
        report.events_new += tally.events_new
        report.events_known += tally.events_known
        report.duplicates += tally.duplicates
        report.runs_updated += tally.runs_updated
        report.issues.extend(issues)

    def _store_events(self, conn: Connection, tally: IngestReport, batch: list[tuple[int, ParsedEvent]],
                      path: str) -> tuple[list[ParsedEvent], list[Issue], dict[str, list[tuple]]]:
        """Insert the events not stored yet; the same event seen at another line is a duplicate.

        Also returns the events stored before this batch for the runs it touches (the runs to
        rebuild need them): one read serves both."""
        seen: dict[str, tuple[str | None, int | None]] = {}
        stored: dict[str, list[tuple]] = defaultdict(list)
        for chunk in _chunks(sorted({p.run_id for _, p in batch})):
            # The stored events of these runs (a few each), through the run_id index.
            for key, run_id, event_type, event_time, namespace, job, raw, source_file, source_line in \
                    self._sql.stored_events(conn, chunk):
                seen[key] = (source_file, source_line)
                stored[run_id].append((key, run_id, event_type, event_time, namespace, job, raw))
        new: list[ParsedEvent] = []
        duplicates: list[Issue] = []
        rows = []
        for line, parsed in batch:
            first = seen.get(parsed.key)
            if first is None:
                seen[parsed.key] = (path, line)
                new.append(parsed)
                rows.append({"event_key": parsed.key, "run_id": parsed.run_id, "event_type": parsed.event_type,
                             "event_time": parsed.event_time, "job_namespace": parsed.job_namespace,
                             "job_name": parsed.job_name, "source_file": path, "source_line": line,
                             "raw": parsed.raw})
                continue
            tally.events_known += 1
            if first != (path, line):
                tally.duplicates += 1
                duplicates.append(Issue(path, line, "duplicate",
                                        f"event {parsed.key[:12]} ({parsed.event_type} of run {parsed.run_id}) "
                                        f"already read at {first[0]}:{first[1]}"))
        if rows:
            self._sql.insert(conn, events, rows)
        tally.events_new = len(rows)
        return new, duplicates, stored

    def _rebuild_runs(self, conn: Connection, new: list[ParsedEvent], stored: dict[str, list[tuple]]) -> int:
        """Recompute the runs that got new events from all their events (``stored``: the columns
        of those from earlier batches, by run; a run has a row exactly when it has stored events)."""
        by_run: dict[str, list[ParsedEvent]] = defaultdict(list)
        for parsed in new:
            by_run[parsed.run_id].append(parsed)
        if not by_run:
            return 0
        run_ids = sorted(by_run)
        existing = [run_id for run_id in run_ids if stored.get(run_id)]
        for run_id in existing:
            # Runs with events from earlier batches (START ingested before, or out of order). They
            # were checked and keyed when they arrived: parsed again from their columns, not hashed.
            by_run[run_id] += [ParsedEvent(*columns, _loads(columns[-1])) for columns in stored[run_id]]
        for chunk in _chunks(existing):
            self._sql.delete_runs(conn, chunk)
        run_rows, input_rows, output_rows = [], [], []
        for run_id in run_ids:
            row, ins, outs = summarise_run(run_id, by_run[run_id])
            run_rows.append(row)
            input_rows += ins
            output_rows += outs
        self._sql.insert(conn, runs, run_rows)
        if input_rows:
            self._sql.insert(conn, run_inputs, input_rows)
        if output_rows:
            self._sql.insert(conn, run_outputs, output_rows)
        return len(run_rows)

    def _record_issues(self, conn: Connection, rows: list[dict]) -> None:
        # (path, line, kind) is unique: a line re-read after a restart is not reported twice.
        known = set()
        for chunk in _chunks(sorted({r["path"] for r in rows})):
            known |= {tuple(r) for r in conn.execute(
                sa.select(ingest_issues.c.path, ingest_issues.c.line, ingest_issues.c.kind)
                .where(ingest_issues.c.path.in_(chunk)))}
        fresh, keys = [], set()
        for row in rows:
            key = (row["path"], row["line"], row["kind"])
            if key not in known and key not in keys:
                keys.add(key)
                fresh.append(row)
        if fresh:
            conn.execute(ingest_issues.insert(), fresh)


@contextmanager
def _no_gc() -> Iterator[None]:
    """The cyclic garbage collector off while a batch of parsed events is alive: parsed JSON has
    no cycles, and with thousands of live dicts every collection walks them all (it made parsing
    four times slower, measured)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class Checkpointer:
    """The thread of ``LineageStore.checkpoint_in_background``; ``stop()`` ends it with a last
    checkpoint that also truncates the log."""

    def __init__(self, store: LineageStore, every_s: float):
        self.store, self.every_s = store, every_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lineage-checkpointer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self.every_s):
            self._checkpoint("PASSIVE")

    def _checkpoint(self, mode: str) -> None:
        try:
            self.store.checkpoint(mode)
        except sa.exc.SQLAlchemyError:  # a busy or closing database: the next round catches up
            log.warning("WAL checkpoint (%s) failed", mode, exc_info=True)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=30)
        self._checkpoint("TRUNCATE")


def _sqlite_pragmas(dbapi_connection: Any, *, autocheckpoint: bool = True) -> None:
    # WAL: readers (queries) do not block the writer (ingest) and vice versa; NORMAL sync is
    # durable at checkpoints, enough for an index that can be rebuilt from the log.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # 128 MiB of page cache (default 2 MiB): index inserts at random places of a multi-GB store
    # otherwise read pages from disk again and again. Pages are allocated only when used.
    cursor.execute("PRAGMA cache_size=-131072")
    cursor.execute("PRAGMA temp_store=MEMORY")  # the recursive CTEs' temporary B-trees
    if not autocheckpoint:
        cursor.execute("PRAGMA wal_autocheckpoint=0")  # LineageStore.checkpoint_in_background
    cursor.close()
