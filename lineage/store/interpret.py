"""What an OpenLineage RunEvent means to the lineage store, as pure functions (no database).

``parse_event`` checks the fields the store needs and computes the event's key: SHA-256 of its
canonical JSON, the hash covering eventType, eventTime and the rest, so an event re-serialised with
other whitespace or key order, or delivered again by another route (the service and the JSONL log
of a composite transport), is the same event. ``summarise_run`` turns all the events of one run
into its rows (``RunRows``); being a function of the set of events, it is what makes ingest
order-independent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from lineage.store.errors import MalformedEvent
from lineage.store.validation import INT64_MAX, INT64_MIN, InvalidEvent, parse_time, validate_event

TERMINAL_STATES = ("COMPLETE", "FAIL", "ABORT")
# Order of event types at the same eventTime: a terminal event ends the run whatever the order
# the events were written or ingested in.
_TYPE_RANK = {"START": 0, "RUNNING": 1, "OTHER": 1, "COMPLETE": 2, "ABORT": 2, "FAIL": 2}
# try_number is an INTEGER column (32 bits on PostgreSQL).
_INT32_MAX = (1 << 31) - 1


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


def normalise_time(value: str) -> str:
    """An ISO-8601 timestamp as UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (sorts as text on any DB).

    A value without a zone is taken as UTC; a bare date as its midnight. The year is always four
    digits (``0999-...``: strftime would write ``999``, which sorts after ``2026``); ValueError
    outside 0001-01-01..9999-12-31 UTC."""
    parsed = parse_time(value)
    return (f"{parsed.year:04d}-{parsed.month:02d}-{parsed.day:02d}T{parsed.hour:02d}:{parsed.minute:02d}:"
            f"{parsed.second:02d}.{parsed.microsecond:06d}Z")


def _date_value(value: Any) -> str | None:
    """A logical date / nominal time as UTC ISO with offset (Airflow's spelling), or None."""
    if not value or not isinstance(value, str):
        return None
    try:
        return parse_time(value).isoformat()
    except ValueError:  # not from a validated event: kept as written
        return value


def load_json(text: str | bytes) -> Any:
    """One JSON document (an event line) parsed.

    orjson (already in the pinned set, via Airflow) parses about twice as fast as json; the
    standard library takes what orjson refuses (integers beyond 64 bits, lone surrogates), so the
    validator can name the field instead of the line being "invalid JSON". Nesting too deep for
    either parser is a JSONDecodeError too, never a RecursionError."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        try:
            return json.loads(text)
        except RecursionError:
            raise json.JSONDecodeError("nested too deep", text if isinstance(text, str) else "", 0) from None


def canonical_json(body: dict[str, Any]) -> bytes:
    """An event as canonical JSON: keys sorted, no whitespace, UTF-8 (the form the key hashes).
    A validated event always has one (``lineage.store.validation``)."""
    try:
        return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:
        raise MalformedEvent(f"cannot be written as canonical JSON: {exc}") from None


def event_key(body: dict[str, Any]) -> str:
    """The identity of an event: SHA-256 of its canonical JSON, so the same event re-serialised
    with other whitespace or key order is still the same event."""
    return hashlib.sha256(canonical_json(body)).hexdigest()


def parse_event(body: Any, raw: str | None = None) -> ParsedEvent:
    """Validate the event fully (``lineage.store.validation``) and compute its key; raise
    MalformedEvent (an InvalidEvent naming the field) otherwise."""
    validate_event(body)
    run, job = body["run"], body["job"]
    try:
        time = normalise_time(body["eventTime"])
    except ValueError as exc:  # validated: unreachable unless the two disagree
        raise InvalidEvent("eventTime", str(exc)) from None
    event_type = (body.get("eventType") or "OTHER").upper()
    canonical = canonical_json(body)
    if raw is None:
        raw = canonical.decode("utf-8")
    return ParsedEvent(hashlib.sha256(canonical).hexdigest(), run["runId"], event_type, time,
                       _text(job.get("namespace")), job["name"], raw, body)


def _facet(container: Any, name: str) -> dict[str, Any]:
    facets = container.get("facets") if isinstance(container, dict) else None
    value = facets.get(name) if isinstance(facets, dict) else None
    return value if isinstance(value, dict) else {}


# The version an output without a version facet is stored under: one per run that wrote it (a
# run's COMPLETE commits what it wrote; a later run writes something else). What Marquez does too
# (it derives a dataset version from the run); the prefix says it is not a content version.
SYNTHETIC_PREFIX = "run:"


def synthetic_version(run_id: str) -> str:
    """The version of an output its event gave no version facet: ``run:<runId>`` of the writer."""
    return f"{SYNTHETIC_PREFIX}{run_id}"


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
    """DAG id, DAG run id, task id, logical date, try number from Airflow's own facets: our
    ``airflowDagRun`` (camelCase, lineage.naming), or the Airflow provider's ``airflow`` (task
    runs: dag, dagRun, task, taskInstance) / ``airflowDagRun`` (DAG runs: dag, dagRun), which nest
    snake_case objects. Nothing else names an Airflow task: a job name with a dot is just a name."""
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


class RunRows(NamedTuple):
    """The rows of one run: ``runs``, ``run_inputs`` (versions named by its events),
    ``run_outputs`` and ``unversioned_inputs``."""

    run: dict[str, Any]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    unversioned: list[dict[str, Any]]


def summarise_run(run_id: str, parsed: Sequence[ParsedEvent]) -> RunRows:
    """The rows of one run, from all its events.

    A pure function of the set of events (sorted here by time, type, key), which is what makes
    ingest order-independent. OpenLineage's run semantics: the events of a run id accumulate, and
    its state is that of its latest terminal event, so a run id re-used by a cleared or retried
    Airflow task (START, COMPLETE, START, FAIL, ...) ends in the state of its last attempt. Later
    events win for run facets; only COMPLETE events commit outputs. A dataset named both with and
    without a version by the run's events is the versioned read (producers often add the version
    facet to the COMPLETE event only).
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
        "parent_run_id": None, "parent_job_namespace": None, "parent_job_name": None,
        "root_run_id": None, "root_job_namespace": None, "root_job_name": None,
        "dag_id": None, "dag_run_id": None, "task_id": None, "logical_date": None, "try_number": None,
        "airflow_from": None, "nominal_time": None, "error_message": None, "skipped": False,
    }
    for event in ordered:
        facets = _facet_map(event.body.get("run"))
        parent = facets.get("parent") if isinstance(facets.get("parent"), dict) else {}
        if parent:
            for column, path in _PARENT_FIELDS.items():
                row[column] = _dig(parent, *path) or row[column]
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
    # Every text column gets text or NULL, whatever a facet held (the validator types these
    # fields; this keeps an event stored before it from failing a rebuild of its run).
    for column in (*_PARENT_FIELDS, "dag_id", "dag_run_id", "task_id", "logical_date", "nominal_time"):
        if row[column] is not None and not isinstance(row[column], str):
            row[column] = None
    if row["dag_id"]:
        row["airflow_from"] = "facet"
    row["logical_date"] = _date_value(row["logical_date"]) or (
        _date_value(row["nominal_time"]) if row["dag_id"] else None)
    row["nominal_time"] = _date_value(row["nominal_time"])
    try:
        row["try_number"] = int(row["try_number"]) if row["try_number"] is not None else None
    except (TypeError, ValueError):
        row["try_number"] = None
    if row["try_number"] is not None and not 0 <= row["try_number"] <= _INT32_MAX:
        row["try_number"] = None
    run_date = row["logical_date"] or row["nominal_time"]

    inputs: dict[tuple[str, str, str, str], dict] = {}
    unversioned: dict[tuple[str, str, str], dict] = {}
    outputs: dict[tuple[str, str, str, str], dict] = {}
    for event in ordered:
        for dataset in event.body.get("inputs") or []:
            if not isinstance(dataset, dict):
                continue
            name, partition, version, _ = dataset_node(dataset)
            namespace = _text(dataset.get("namespace")) or ""
            if not name:
                continue
            if not version:
                unversioned.setdefault((namespace, name, partition), {
                    "run_id": run_id, "namespace": namespace, "dataset": name, "partition": partition,
                    "read_time": row["start_time"], "first_seen": event.event_time})
            elif (namespace, name, partition, version) not in inputs:
                inputs[(namespace, name, partition, version)] = {
                    "run_id": run_id, "namespace": namespace, "dataset": name, "partition": partition,
                    "version": version, "inferred": False, "first_seen": event.event_time,
                }
        if event.event_type != "COMPLETE":
            continue  # only a COMPLETE event commits outputs
        for dataset in event.body.get("outputs") or []:
            if not isinstance(dataset, dict):
                continue
            name, partition, version, key = dataset_node(dataset)
            namespace = _text(dataset.get("namespace")) or ""
            if not name:
                continue
            manifest = _facet(dataset, "manifest")
            row_count = _dig(dataset, "outputFacets", "outputStatistics", "rowCount")
            skipped = bool(manifest.get("skipped"))
            row["skipped"] = row["skipped"] or skipped
            found = outputs.setdefault((namespace, name, partition, version), {
                "run_id": run_id, "namespace": namespace, "dataset": name, "partition": partition,
                "version": version or synthetic_version(run_id), "synthetic": not version,
                "slot": output_slot(partition, key, run_date), "row_count": None, "skipped": skipped,
                "committed_at": event.event_time,
            })
            if type(row_count) is int and INT64_MIN <= row_count <= INT64_MAX:
                found["row_count"] = row_count
    versioned_reads = {(ns, name, partition) for ns, name, partition, _ in inputs}
    versioned_reads |= {(ns, name, "") for ns, name, _, _ in inputs}
    versioned_writes = {(ns, name, partition) for (ns, name, partition, version) in outputs if version}
    versioned_writes |= {(ns, name, "") for (ns, name, _, version) in outputs if version}
    return RunRows(
        row, list(inputs.values()), [o for (ns, name, partition, version), o in outputs.items()
                                     if version or (ns, name, partition) not in versioned_writes],
        [u for key, u in unversioned.items() if key not in versioned_reads])


# runs column -> path in the parent facet (OpenLineage's ParentRunFacet).
_PARENT_FIELDS = {
    "parent_run_id": ("run", "runId"), "parent_job_namespace": ("job", "namespace"), "parent_job_name": ("job", "name"),
    "root_run_id": ("root", "run", "runId"), "root_job_namespace": ("root", "job", "namespace"),
    "root_job_name": ("root", "job", "name"),
}


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

