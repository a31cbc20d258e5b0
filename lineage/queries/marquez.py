"""Marquez's view of the store: its API v1 model (namespaces, datasets and their versions, jobs
and their versions, runs and their facets, search, the events), as the JSON Marquez answers, for
marquez-python, Marquez's web UI and anything else written against Marquez's OpenAPI spec.
The lineage graph is in ``lineage.queries.marquez_graph``.

How the store maps onto Marquez's model:

- a **namespace** is every job or dataset namespace an event named, its owner ``anonymous`` (what
  Marquez gives namespaces that events create);
- a **dataset** is a ``(namespace, name)`` a run read or wrote, with a version or without one
  (``lineage.queries.lookup.DATASET_TABLES``); its facets and fields are those of its latest write
  (else its latest read), its ``currentVersion`` the version last committed (else the one last
  read by name; none for a dataset only ever read without a version);
- a **dataset version** is one artifact of the dataset, ``(partition, version)`` in that namespace
  (lineage.queries), with a UUID computed from them (``dataset_version_id``: the same artifact has
  the same id in every store); an output without a version facet is a version of its own per
  writing run (the store's ``run:<runId>``), as in Marquez. An input without a version facet is no
  version: the store links it to the versions current when its run started (inferred
  ``run_inputs`` rows), and a run's ``inputDatasetVersions`` names those; read before anything of
  the dataset was committed, it names none. (Marquez makes up a version at such a read, created
  by no run; a version here is always one somebody named or committed.);
- a **job** is a ``(namespace, name)`` of runs; a **job version** a UUID of its namespace, name,
  the datasets its events name as inputs and outputs and its source code location (Marquez's
  recipe, not its digits);
- a **run**: ``state`` COMPLETED, FAILED or ABORTED from its terminal event, else RUNNING once a
  START or RUNNING event came, else NEW; its facets are the run facets of its events merged,
  later events winning, a facet marked ``_deleted`` dropped.

Every facet is answered as an OpenLineage facet: one sent without ``_producer`` / ``_schemaURL``
gets the event's producer and the spec's generic facet schema. A property with no value is left
out (the spec types none of them as nullable) where Marquez writes ``null``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lineage.queries.lookup import DATASET_TABLES, rows_for_runs
from lineage.queries.model import LineageLookupError
from lineage.store import (
    TERMINAL_STATES,
    LineageStore,
    LineageUsageError,
    events,
    normalise_time,
    run_inputs,
    runs,
    unversioned_inputs,
)
from lineage.store import run_outputs as run_outputs_table
from lineage.store.schema import chunks

# The UUIDv5 namespace of the ids this module computes (dataset and job versions).
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/user-pipeline/lineage/marquez-ids")
OWNER = "anonymous"  # Marquez's owner of the namespaces events create
LATEST_RUNS = 10  # runs in a job's ``latestRuns`` (as Marquez)
RUN_STATES = {"COMPLETE": "COMPLETED", "FAIL": "FAILED", "ABORT": "ABORTED"}
_SIDES = {"in": ("inputs", "inputFacets"), "out": ("outputs", "outputFacets")}

DatasetKey = tuple[str, str]  # (namespace, name)


def dataset_version_id(namespace: str, name: str, partition: str, version: str) -> str:
    """The Marquez version id of an artifact: a UUIDv5 of its namespace, name, partition and
    version (an output without a version facet has its run's synthetic version)."""
    parts = ["dataset", namespace, name, partition, version]
    return str(uuid.uuid5(ID_NAMESPACE, orjson.dumps(parts).decode()))


def seen_at(table: sa.Table) -> sa.Column:
    """The time a row of one of ``DATASET_TABLES`` records: a commit's, else the read's first event."""
    return table.c.committed_at if "committed_at" in table.c else table.c.first_seen


def job_version_id(namespace: str, name: str, inputs: Iterable[DatasetKey], outputs: Iterable[DatasetKey],
                   location: str | None) -> str:
    """The Marquez version id of a job: a UUIDv5 of what Marquez versions a job by."""
    parts = ["job", namespace, name, sorted(set(inputs)), sorted(set(outputs)), location or ""]
    return str(uuid.uuid5(ID_NAMESPACE, orjson.dumps(parts).decode()))


def page_bounds(limit: int, offset: int) -> None:
    """LineageUsageError unless ``limit`` and ``offset`` are non-negative (Marquez's @Min(0))."""
    if limit < 0 or offset < 0:
        raise LineageUsageError(f"limit and offset must be >= 0 (got limit={limit}, offset={offset})")


def _compact(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` without its properties that have no value (see the module docstring)."""
    return {k: v for k, v in doc.items() if v is not None}


def _time(value: Any) -> str | None:
    """A producer's timestamp as the store's UTC ISO text, None if it is none."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return normalise_time(value)
    except ValueError:
        return None


# -- events, facets ------------------------------------------------------------------------------
@dataclass
class _Event:
    time: str
    type: str
    body: dict[str, Any]


def _rank(event_type: str) -> int:
    # At the same eventTime a terminal event comes last, whatever order it was sent in.
    return 2 if event_type in TERMINAL_STATES else (0 if event_type == "START" else 1)


def events_of_runs(conn: Connection, run_ids: Iterable[str]) -> dict[str, list[_Event]]:
    """The events of each run, parsed, in time order (terminal events last at a tie)."""
    found: dict[str, list[tuple]] = defaultdict(list)
    for chunk in chunks(sorted(set(run_ids))):
        query = sa.select(events.c.run_id, events.c.event_time, events.c.event_type, events.c.raw).where(
            events.c.run_id.in_(chunk))
        for run_id, time, kind, raw in conn.execute(query):
            found[run_id].append((time, _rank(kind), raw, kind))
    return {run_id: [_Event(t, k, orjson.loads(raw)) for t, _, raw, k in sorted(rows)]
            for run_id, rows in found.items()}


def _as_facet(facet: Any, event: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """``facet`` as an OpenLineage facet (see the module docstring); None if it is not an object."""
    if not isinstance(facet, dict):
        return None
    schema = str(event.get("schemaURL") or "https://openlineage.io/spec/2-0-2/OpenLineage.json").split("#")[0]
    filled = dict(facet)
    filled.setdefault("_producer", str(event.get("producer") or ""))
    filled.setdefault("_schemaURL", f"{schema}#/$defs/{kind}")
    return filled


def merge_facets(pairs: Iterable[tuple[dict[str, Any], Any]], kind: str) -> dict[str, Any]:
    """Facets of several events merged, later ones winning; one marked ``_deleted`` is dropped.
    ``pairs``: (event, its facets object) in time order; ``kind``: the spec's name of the facet
    type (RunFacet, JobFacet, DatasetFacet, InputDatasetFacet, OutputDatasetFacet)."""
    merged: dict[str, Any] = {}
    for event, facets in pairs:
        if not isinstance(facets, dict):
            continue
        for name, facet in facets.items():
            if isinstance(facet, dict) and facet.get("_deleted") is True:
                merged.pop(name, None)
                continue
            value = _as_facet(facet, event, kind)
            if value is not None:
                merged[name] = value
    return merged


def _entries(events_: Sequence[_Event], side: str, key: DatasetKey, *, complete_only: bool) -> list[tuple]:
    """(event, dataset entry) for the dataset ``key`` on ``side`` (in/out) of these events."""
    found = []
    for event in events_:
        if complete_only and event.type != "COMPLETE":
            continue
        for entry in event.body.get(_SIDES[side][0]) or []:
            if isinstance(entry, dict) and (entry.get("namespace"), entry.get("name")) == key:
                found.append((event.body, entry))
    return found


def dataset_facets(events_: Sequence[_Event], side: str, key: DatasetKey) -> tuple[dict, dict]:
    """(dataset facets, input/output facets) of ``key`` in a run's events: for an output those of
    its COMPLETE event (the commit), for an input all of them merged."""
    entries = _entries(events_, side, key, complete_only=side == "out")
    kind = "InputDatasetFacet" if side == "in" else "OutputDatasetFacet"
    return (merge_facets(((e, d.get("facets")) for e, d in entries), "DatasetFacet"),
            merge_facets(((e, d.get(_SIDES[side][1])) for e, d in entries), kind))


def _declared(events_: Sequence[_Event], side: str) -> set[DatasetKey]:
    names = set()
    for event in events_:
        for entry in event.body.get(_SIDES[side][0]) or []:
            if isinstance(entry, dict) and entry.get("namespace") and entry.get("name"):
                names.add((str(entry["namespace"]), str(entry["name"])))
    return names


def _fields(facets: dict[str, Any]) -> list[dict[str, Any]]:
    """Marquez's fields of a dataset, from its ``schema`` facet (top-level fields)."""
    schema = facets.get("schema") or {}
    fields = []
    for f in schema.get("fields") or []:
        if isinstance(f, dict) and f.get("name"):
            # The spec requires a type; OpenLineage's schema facet does not.
            fields.append(_compact({"name": str(f["name"]), "type": str(f.get("type") or "UNKNOWN"), "tags": [],
                                    "description": f.get("description") if isinstance(f.get("description"), str)
                                    else None}))
    return fields


def _description(facets: dict[str, Any]) -> str | None:
    value = (facets.get("documentation") or {}).get("description")
    return value if isinstance(value, str) else None


# -- runs ----------------------------------------------------------------------------------------
@dataclass
class RunView:
    """A run with everything Marquez's ``Run`` shows: its row, events, inputs (``run_inputs``: the
    versions it read, named or inferred), outputs and the datasets it read without a version."""

    row: Any
    events: list[_Event]
    inputs: list[Any] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)
    unversioned: list[Any] = field(default_factory=list)

    @property
    def job(self) -> DatasetKey:
        return (self.row["job_namespace"] or "", self.row["job_name"])

    def state(self) -> str:
        terminal = [e for e in self.events if e.type in TERMINAL_STATES]
        if terminal:
            return RUN_STATES[terminal[-1].type]
        return "RUNNING" if any(e.type in ("START", "RUNNING") for e in self.events) else "NEW"

    def job_facets(self) -> dict[str, Any]:
        return merge_facets(((e.body, (e.body.get("job") or {}).get("facets")) for e in self.events), "JobFacet")

    def run_facets(self) -> dict[str, Any]:
        return merge_facets(((e.body, (e.body.get("run") or {}).get("facets")) for e in self.events), "RunFacet")

    def location(self) -> str | None:
        url = (self.job_facets().get("sourceCodeLocation") or {}).get("url")
        return url if isinstance(url, str) else None

    def job_version(self) -> str:
        namespace, name = self.job
        return job_version_id(namespace, name, _declared(self.events, "in"), _declared(self.events, "out"),
                              self.location())


def load_run_views(conn: Connection, run_ids: Sequence[str]) -> dict[str, RunView]:
    """The runs of ``run_ids`` that exist, with their events, inputs and outputs."""
    ids = sorted(set(run_ids))
    rows: dict[str, Any] = {}
    for chunk in chunks(ids):
        rows.update({r["run_id"]: r for r in conn.execute(sa.select(runs).where(runs.c.run_id.in_(chunk))).mappings()})
    loaded = events_of_runs(conn, rows)
    views = {run_id: RunView(row, loaded.get(run_id, [])) for run_id, row in rows.items()}
    for row in rows_for_runs(conn, run_inputs, views, None):
        views[row["run_id"]].inputs.append(row)
    for row in rows_for_runs(conn, run_outputs_table, views, None):
        views[row["run_id"]].outputs.append(row)
    for row in rows_for_runs(conn, unversioned_inputs, views, None):
        views[row["run_id"]].unversioned.append(row)
    return views


def row_version_id(row: Any) -> str:
    """The dataset version id of a run_inputs or run_outputs row."""
    return dataset_version_id(row["namespace"] or "", row["dataset"], row["partition"], row["version"])


def run_doc(view: RunView) -> dict[str, Any]:
    """Marquez's ``Run`` of a run loaded by ``load_run_views`` (nothing more to read: its inputs are the
    versions the store linked it to)."""
    row = view.row
    namespace, name = view.job
    facets = view.run_facets()
    nominal = facets.get("nominalTime") or {}
    started = next((e.time for e in view.events if e.type in ("START", "RUNNING")), None)
    ended = row["end_time"] if row["terminal"] else None
    duration = None
    if started and ended:
        duration = int((_parse(ended) - _parse(started)).total_seconds() * 1000)
    # The versions it read, named or linked by the store (a read without a version is linked to
    # the versions current when the run started; one made before any commit is linked to none).
    inputs = [{"datasetVersionId": {"namespace": r["namespace"] or "", "name": r["dataset"],
                                    "version": row_version_id(r)},
               "facets": dataset_facets(view.events, "in", (r["namespace"] or "", r["dataset"]))[1]}
              for r in sorted(view.inputs, key=lambda r: (r["namespace"] or "", r["dataset"], r["partition"],
                                                          r["version"]))]
    outputs = [{"datasetVersionId": {"namespace": r["namespace"] or "", "name": r["dataset"],
                                     "version": row_version_id(r)},
                "facets": dataset_facets(view.events, "out", (r["namespace"] or "", r["dataset"]))[1]}
               for r in sorted(view.outputs, key=lambda r: (r["namespace"] or "", r["dataset"], r["partition"]))]
    return _compact({
        "id": row["run_id"], "createdAt": row["start_time"], "updatedAt": row["last_event_time"],
        "nominalStartTime": _time(nominal.get("nominalStartTime")),
        "nominalEndTime": _time(nominal.get("nominalEndTime")),
        "state": view.state(), "startedAt": started, "endedAt": ended, "durationMs": duration, "args": {},
        "jobVersion": {"namespace": namespace, "name": name, "version": view.job_version()},
        "inputDatasetVersions": inputs, "outputDatasetVersions": outputs, "facets": facets,
    })


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def run(store: LineageStore, run_id: str) -> dict[str, Any]:
    """Marquez's ``Run`` of ``run_id``; LineageLookupError if there is none."""
    with store.connect() as conn:
        view = load_run_views(conn, [run_id]).get(run_id)
        if view is None:
            raise LineageLookupError(f"no run {run_id!r}")
        return run_doc(view)


def run_facets(store: LineageStore, run_id: str, kind: str) -> dict[str, Any]:
    """``{"runId", "facets"}``: the run facets (``kind`` "run") or job facets ("job") of a run."""
    if kind not in ("run", "job"):
        raise LineageUsageError(f"type must be run or job, got {kind!r}")
    with store.connect() as conn:
        view = load_run_views(conn, [run_id]).get(run_id)
    if view is None:
        raise LineageLookupError(f"no run {run_id!r}")
    return {"runId": run_id, "facets": view.run_facets() if kind == "run" else view.job_facets()}


# -- namespaces ----------------------------------------------------------------------------------
def _namespace_times(conn: Connection, name: str | None = None) -> dict[str, tuple[str, str]]:
    """namespace -> (first, last) time anything in it was seen."""
    spans: dict[str, list[str]] = defaultdict(list)
    sources = ((runs.c.job_namespace, runs.c.start_time, runs.c.last_event_time),
               *((t.c.namespace, seen_at(t), seen_at(t)) for t in DATASET_TABLES))
    for column, first, last in sources:
        query = sa.select(column, sa.func.min(first), sa.func.max(last)).where(column.is_not(None)).group_by(column)
        if name is not None:
            query = query.where(column == name)
        for namespace, low, high in conn.execute(query):
            spans[namespace] += [low, high]
    return {n: (min(times), max(times)) for n, times in spans.items()}


def _namespace_doc(name: str, span: tuple[str, str]) -> dict[str, Any]:
    return {"name": name, "createdAt": span[0], "updatedAt": span[1], "ownerName": OWNER, "isHidden": False}


def namespaces(store: LineageStore, *, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """Marquez's ``NamespaceList``, by name."""
    page_bounds(limit, offset)
    with store.connect() as conn:
        spans = _namespace_times(conn)
    names = sorted(spans)
    return {"namespaces": [_namespace_doc(n, spans[n]) for n in names[offset:offset + limit]],
            "totalCount": len(names)}


def namespace(store: LineageStore, name: str) -> dict[str, Any]:
    """Marquez's ``Namespace``; LineageLookupError for one no event named."""
    with store.connect() as conn:
        span = _namespace_times(conn, name).get(name)
    if span is None:
        raise LineageLookupError(f"no namespace {name!r}")
    return _namespace_doc(name, span)


def require_namespace(conn: Connection, name: str) -> None:
    """LineageLookupError unless some job or dataset is in namespace ``name``."""
    for column in (runs.c.job_namespace, *(t.c.namespace for t in DATASET_TABLES)):
        if conn.execute(sa.select(sa.literal(1)).where(column == name).limit(1)).first():
            return
    raise LineageLookupError(f"no namespace {name!r}")


# -- datasets ------------------------------------------------------------------------------------
@dataclass
class _DatasetInfo:
    created: str | None = None
    updated: str | None = None
    modified: str | None = None  # last commit
    latest_write: Any = None  # run_outputs row of the last commit
    latest_read: Any = None  # run_inputs row of the last read of a version (named or inferred)
    latest_unversioned: Any = None  # unversioned_inputs row of the last read without a version

    def source(self) -> tuple[str, Any]:
        """(side, row) whose event's facets describe the dataset: its last commit, else its last read."""
        if self.latest_write is not None:
            return "out", self.latest_write
        reads = [r for r in (self.latest_read, self.latest_unversioned) if r is not None]
        return "in", max(reads, key=lambda r: (r["first_seen"], r["run_id"]))

    def see(self, time: str) -> None:
        self.created = time if self.created is None else min(self.created, time)
        self.updated = time if self.updated is None else max(self.updated, time)


_LATEST = {run_outputs_table.name: "latest_write", run_inputs.name: "latest_read",
           unversioned_inputs.name: "latest_unversioned"}


def _tie_order(row: Any) -> tuple[str, str, str]:
    return row["run_id"], row["partition"], row.get("version", "")


def dataset_infos(conn: Connection, keys: Iterable[DatasetKey]) -> dict[DatasetKey, _DatasetInfo]:
    """Times and latest write / reads of each dataset of ``keys`` that a run read (with a version
    or without) or wrote."""
    wanted = set(keys)
    infos: dict[DatasetKey, _DatasetInfo] = {}
    names = sorted({name for _, name in wanted})
    # Aggregated in SQL: a dataset read every day has as many rows as days.
    for table in DATASET_TABLES:
        time, latest = seen_at(table), _LATEST[table.name]
        for chunk in chunks(names):
            spans = (sa.select(table.c.namespace, table.c.dataset, sa.func.min(time).label("first"),
                               sa.func.max(time).label("last")).where(table.c.dataset.in_(chunk))
                     .group_by(table.c.namespace, table.c.dataset).subquery())
            query = sa.select(table, spans.c.first, spans.c.last).join(spans, sa.and_(
                table.c.dataset == spans.c.dataset, table.c.namespace == spans.c.namespace, time == spans.c.last))
            for row in conn.execute(query).mappings():
                key = (row["namespace"] or "", row["dataset"])
                if key not in wanted:
                    continue
                info = infos.setdefault(key, _DatasetInfo())
                info.see(row["first"])
                info.see(row["last"])
                held = getattr(info, latest)
                # Among rows of the same time, the same one every time (the SQL's order is none).
                if held is None or _tie_order(row) > _tie_order(held):
                    setattr(info, latest, row)
                    if latest == "latest_write":
                        info.modified = row["last"]
    return infos


def dataset_docs(conn: Connection, keys: Sequence[DatasetKey]) -> dict[DatasetKey, dict[str, Any]]:
    """Marquez's ``Dataset`` of each of ``keys`` that a run read or wrote."""
    infos = dataset_infos(conn, keys)
    sources = {k: i.source() for k, i in infos.items()}
    loaded = events_of_runs(conn, (row["run_id"] for _, row in sources.values()))
    docs = {}
    for key, info in infos.items():
        side, row = sources[key]
        facets, _ = dataset_facets(loaded.get(row["run_id"], []), side, key)
        # Only ever read without a version: no current version (see the module docstring).
        latest = info.latest_write if info.latest_write is not None else info.latest_read
        current = row_version_id(latest) if latest is not None else None
        docs[key] = _dataset_doc(key, facets, info.created, info.updated, info.modified, current)
    return docs


def _dataset_doc(key: DatasetKey, facets: dict[str, Any], created: str | None, updated: str | None,
                 modified: str | None, current: str | None) -> dict[str, Any]:
    namespace, name = key
    source = (facets.get("dataSource") or {}).get("name")
    return _compact({
        "id": {"namespace": namespace, "name": name}, "type": "DB_TABLE", "name": name, "physicalName": name,
        "createdAt": created, "updatedAt": updated, "namespace": namespace,
        "sourceName": source if isinstance(source, str) and source else namespace,
        "fields": _fields(facets), "tags": [], "lastModifiedAt": modified, "description": _description(facets),
        "facets": facets, "currentVersion": current, "deleted": False,
    })


def _dataset_keys(conn: Connection, namespace: str | None = None, name: str | None = None) -> list[DatasetKey]:
    keys: set[DatasetKey] = set()
    for table in DATASET_TABLES:
        query = sa.select(table.c.namespace, table.c.dataset).distinct()
        if namespace is not None:
            query = query.where(table.c.namespace == namespace)
        if name is not None:
            query = query.where(table.c.dataset == name)
        keys |= {(ns or "", n) for ns, n in conn.execute(query)}
    return sorted(keys, key=lambda k: (k[1], k[0]))


def datasets(store: LineageStore, namespace_name: str, *, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """Marquez's ``DatasetList`` of a namespace, by name; LineageLookupError for an unknown namespace."""
    page_bounds(limit, offset)
    with store.connect() as conn:
        require_namespace(conn, namespace_name)
        keys = _dataset_keys(conn, namespace_name)
        page = keys[offset:offset + limit]
        docs = dataset_docs(conn, page)
    return {"datasets": [docs[k] for k in page], "totalCount": len(keys)}


def dataset(store: LineageStore, namespace_name: str, name: str) -> dict[str, Any]:
    """Marquez's ``Dataset``; LineageLookupError if no run of that namespace read or wrote it."""
    with store.connect() as conn:
        require_namespace(conn, namespace_name)
        doc = dataset_docs(conn, [(namespace_name, name)]).get((namespace_name, name))
        if doc is None:
            raise _unknown_dataset(conn, namespace_name, name)
    return doc


def _unknown_dataset(conn: Connection, namespace_name: str, name: str) -> LineageLookupError:
    elsewhere = sorted({ns for ns, _ in _dataset_keys(conn, name=name)})
    hint = f" (it is in {', '.join(repr(n) for n in elsewhere)})" if elsewhere else ""
    return LineageLookupError(f"no dataset {name!r} in namespace {namespace_name!r}{hint}")


# -- dataset versions ----------------------------------------------------------------------------
@dataclass
class _Version:
    id: str
    partition: str
    version: str
    created: str
    produced: list[Any] = field(default_factory=list)  # run_outputs rows, first commit first
    first_read: Any = None  # run_inputs row naming it (versions no recorded run committed)


def _versions_of(conn: Connection, key: DatasetKey) -> list[_Version]:
    """Every version of a dataset (see the module docstring), newest first."""
    namespace, name = key
    found: dict[str, _Version] = {}
    query = sa.select(run_outputs_table).where(run_outputs_table.c.dataset == name,
                                               run_outputs_table.c.namespace == namespace)
    for row in sorted(conn.execute(query).mappings(), key=lambda r: (r["committed_at"], r["run_id"])):
        vid = row_version_id(row)
        version = found.setdefault(vid, _Version(vid, row["partition"], row["version"], row["committed_at"]))
        version.produced.append(row)
    # Reads naming a version nobody recorded committing (a raw drop). An inferred read names a
    # committed version, and a read without a version is none.
    query = sa.select(run_inputs).where(run_inputs.c.dataset == name, run_inputs.c.namespace == namespace,
                                        run_inputs.c.inferred.is_(False))
    for row in sorted(conn.execute(query).mappings(), key=lambda r: (r["first_seen"], r["run_id"])):
        vid = dataset_version_id(namespace, name, row["partition"], row["version"])
        if vid not in found:
            found[vid] = _Version(vid, row["partition"], row["version"], row["first_seen"], first_read=row)
    return sorted(found.values(), key=lambda v: (v.created, v.id), reverse=True)


def _version_docs(conn: Connection, key: DatasetKey, versions: Sequence[_Version]) -> list[dict[str, Any]]:
    creators = {v.id: (v.produced[0]["run_id"] if v.produced else v.first_read["run_id"]) for v in versions}
    views = load_run_views(conn, creators.values())
    docs = []
    namespace, name = key
    for v in versions:
        view = views.get(creators[v.id])
        side = "out" if v.produced else "in"
        facets = dataset_facets(view.events, side, key)[0] if view else {}
        source = (facets.get("dataSource") or {}).get("name")
        docs.append(_compact({
            # Marquez's id here is (namespace, name); the spec's DatasetVersionId adds the version.
            "id": {"namespace": namespace, "name": name, "version": v.id}, "type": "DB_TABLE", "name": name,
            "physicalName": name, "createdAt": v.created, "version": v.id, "namespace": namespace,
            "sourceName": source if isinstance(source, str) and source else namespace,
            # No tags: the spec types a version's tags as one string, Marquez answers a list.
            "fields": _fields(facets),
            "description": _description(facets) or "",  # required by the spec, even without one
            "createdByRun": run_doc(view) if v.produced and view else None, "facets": facets,
        }))
    return docs


def _require_dataset(conn: Connection, key: DatasetKey) -> None:
    require_namespace(conn, key[0])
    for table in DATASET_TABLES:
        if conn.execute(sa.select(sa.literal(1)).where(table.c.dataset == key[1], table.c.namespace == key[0])
                        .limit(1)).first():
            return
    raise _unknown_dataset(conn, *key)


def dataset_versions(store: LineageStore, namespace_name: str, name: str, *, limit: int = 100,
                     offset: int = 0) -> dict[str, Any]:
    """Marquez's ``DatasetVersionList``, newest first, with ``totalCount``."""
    page_bounds(limit, offset)
    key = (namespace_name, name)
    with store.connect() as conn:
        _require_dataset(conn, key)
        versions = _versions_of(conn, key)
        return {"versions": _version_docs(conn, key, versions[offset:offset + limit]), "totalCount": len(versions)}


def dataset_version(store: LineageStore, namespace_name: str, name: str, version: str) -> dict[str, Any]:
    """Marquez's ``DatasetVersion`` by its id (or by a content version that names one artifact)."""
    key = (namespace_name, name)
    with store.connect() as conn:
        _require_dataset(conn, key)
        versions = _versions_of(conn, key)
        found = [v for v in versions if v.id == version] or [v for v in versions if v.version == version]
        if len(found) > 1:
            ids = ", ".join(f"{v.id} [{v.partition}]" for v in found)
            raise LineageLookupError(f"version {version!r} of {name} is in {len(found)} partitions: ask by id ({ids})")
        if not found:
            raise LineageLookupError(f"no version {version!r} of dataset {name!r} in namespace {namespace_name!r}")
        return _version_docs(conn, key, found)[0]


# -- jobs ----------------------------------------------------------------------------------------
def _job_keys(conn: Connection, namespace: str | None) -> list[DatasetKey]:
    query = sa.select(runs.c.job_namespace, runs.c.job_name).distinct()
    if namespace is not None:
        query = query.where(runs.c.job_namespace == namespace)
    return sorted(((ns or "", n) for ns, n in conn.execute(query)), key=lambda k: (k[1], k[0]))


def _job_run_ids(conn: Connection, key: DatasetKey, limit: int | None = None, offset: int = 0) -> list[str]:
    query = (sa.select(runs.c.run_id).where(runs.c.job_namespace == key[0], runs.c.job_name == key[1])
             .order_by(runs.c.start_time.desc(), runs.c.run_id.desc()).offset(offset))
    if limit is not None:
        query = query.limit(limit)
    return list(conn.execute(query).scalars())


def job_docs(conn: Connection, keys: Sequence[DatasetKey],
             io: dict[DatasetKey, tuple[set[DatasetKey], set[DatasetKey]]] | None = None,
             latest_runs: int = LATEST_RUNS) -> dict[DatasetKey, dict[str, Any]]:
    """Marquez's ``Job`` of each of ``keys`` that has runs. Its inputs and outputs are those of its
    latest run (Marquez's current job version) unless ``io`` gives them (the lineage graph's)."""
    latest: dict[DatasetKey, list[str]] = {}
    spans: dict[DatasetKey, tuple[str, str]] = {}
    for key in keys:  # in SQL: a job that runs every day has as many runs as days
        ids = _job_run_ids(conn, key, max(1, latest_runs))
        if ids:
            latest[key] = ids
            spans[key] = tuple(conn.execute(
                sa.select(sa.func.min(runs.c.start_time), sa.func.max(runs.c.last_event_time))
                .where(runs.c.job_namespace == key[0], runs.c.job_name == key[1])).one())
    views = load_run_views(conn, [i for ids in latest.values() for i in ids])
    docs = {}
    for key, ids in latest.items():
        current = views[ids[0]]
        facets = current.job_facets()
        namespace, name = key
        if io is not None and key in io:
            inputs, outputs = io[key]
        else:
            inputs = {(r["namespace"] or "", r["dataset"]) for r in current.inputs + current.unversioned}
            outputs = {(r["namespace"] or "", r["dataset"]) for r in current.outputs}
        parent = current.row["parent_job_name"]
        simple = name[len(parent) + 1:] if parent and name.startswith(parent + ".") else name
        processing = (facets.get("jobType") or {}).get("processingType")
        run_docs = [run_doc(views[i]) for i in ids[:latest_runs]] if latest_runs else []
        docs[key] = _compact({
            "id": {"namespace": namespace, "name": name}, "type": "STREAM" if processing == "STREAMING" else "BATCH",
            "name": name, "simpleName": simple, "parentJobName": parent,
            "createdAt": spans[key][0], "updatedAt": spans[key][1], "namespace": namespace,
            "inputs": [{"namespace": ns, "name": n} for ns, n in sorted(inputs)],
            "outputs": [{"namespace": ns, "name": n} for ns, n in sorted(outputs)],
            "location": current.location(), "description": _description(facets),
            "latestRun": run_docs[0] if run_docs else run_doc(current), "latestRuns": run_docs or None,
            "facets": facets, "currentVersion": current.job_version(), "tags": [], "labels": [],
        })
    return docs


def _require_job(conn: Connection, key: DatasetKey) -> None:
    require_namespace(conn, key[0])
    if not _job_run_ids(conn, key, 1):
        others = sorted({ns for ns, n in _job_keys(conn, None) if n == key[1]})
        hint = f" (it is in {', '.join(repr(n) for n in others)})" if others else ""
        raise LineageLookupError(f"no job {key[1]!r} in namespace {key[0]!r}{hint}")


def jobs(store: LineageStore, namespace_name: str | None, *, limit: int = 100, offset: int = 0) -> dict[str, Any]:
    """Marquez's ``JobList`` of a namespace (of every namespace: None), by name."""
    page_bounds(limit, offset)
    with store.connect() as conn:
        if namespace_name is not None:
            require_namespace(conn, namespace_name)
        keys = _job_keys(conn, namespace_name)
        page = keys[offset:offset + limit]
        docs = job_docs(conn, page)
    return {"jobs": [docs[k] for k in page], "totalCount": len(keys)}


def job(store: LineageStore, namespace_name: str, name: str) -> dict[str, Any]:
    """Marquez's ``Job``; LineageLookupError for a job without runs in that namespace."""
    key = (namespace_name, name)
    with store.connect() as conn:
        _require_job(conn, key)
        return job_docs(conn, [key])[key]


def job_runs(store: LineageStore, namespace_name: str, name: str, *, limit: int = 100,
             offset: int = 0) -> dict[str, Any]:
    """Marquez's ``RunList`` of a job, newest first, with ``totalCount``."""
    page_bounds(limit, offset)
    key = (namespace_name, name)
    with store.connect() as conn:
        _require_job(conn, key)
        total = conn.execute(sa.select(sa.func.count()).select_from(runs).where(
            runs.c.job_namespace == namespace_name, runs.c.job_name == name)).scalar_one()
        ids = _job_run_ids(conn, key, limit, offset)
        views = load_run_views(conn, ids)
        return {"runs": [run_doc(views[i]) for i in ids], "totalCount": total}


def _job_versions(conn: Connection, key: DatasetKey) -> list[tuple[str, list[RunView]]]:
    """(version id, its runs newest first) of every version of a job, newest first."""
    views = load_run_views(conn, _job_run_ids(conn, key))
    by_version: dict[str, list[RunView]] = defaultdict(list)
    for view in views.values():
        by_version[view.job_version()].append(view)
    ordered = []
    for vid, members in by_version.items():
        members.sort(key=lambda v: (v.row["start_time"], v.row["run_id"]), reverse=True)
        ordered.append((vid, members))
    return sorted(ordered, key=lambda p: (p[1][0].row["start_time"], p[0]), reverse=True)


def _job_version_doc(conn: Connection, key: DatasetKey, vid: str, members: list[RunView]) -> dict[str, Any]:
    latest = members[0]
    namespace, name = key
    return _compact({
        "id": {"namespace": namespace, "name": name, "version": vid}, "name": name, "version": vid,
        "createdAt": min(v.row["start_time"] for v in members), "namespace": namespace,
        "inputs": [{"namespace": ns, "name": n} for ns, n in sorted(_declared(latest.events, "in"))],
        "outputs": [{"namespace": ns, "name": n} for ns, n in sorted(_declared(latest.events, "out"))],
        "location": latest.location(), "latestRun": run_doc(latest), "facets": latest.job_facets(),
    })


def job_versions(store: LineageStore, namespace_name: str, name: str, *, limit: int = 100,
                 offset: int = 0) -> dict[str, Any]:
    """Marquez's ``JobVersionList``, newest first (with ``totalCount``)."""
    page_bounds(limit, offset)
    key = (namespace_name, name)
    with store.connect() as conn:
        _require_job(conn, key)
        versions = _job_versions(conn, key)
        return {"versions": [_job_version_doc(conn, key, vid, members)
                             for vid, members in versions[offset:offset + limit]], "totalCount": len(versions)}


def job_version(store: LineageStore, namespace_name: str, name: str, version: str) -> dict[str, Any]:
    """Marquez's ``JobVersion`` by its id."""
    key = (namespace_name, name)
    with store.connect() as conn:
        _require_job(conn, key)
        for vid, members in _job_versions(conn, key):
            if vid == version:
                return _job_version_doc(conn, key, vid, members)
    raise LineageLookupError(f"no version {version!r} of job {name!r} in namespace {namespace_name!r}")


# -- search, events ------------------------------------------------------------------------------
SEARCH_FILTERS = ("DATASET", "JOB")
SEARCH_SORTS = ("NAME", "UPDATED_AT")


def search(store: LineageStore, q: str, *, filter: str | None = None, sort: str = "NAME", limit: int = 10,
           namespace_name: str | None = None, before: str | None = None, after: str | None = None) -> dict[str, Any]:
    """Marquez's ``SearchResultList``: datasets and jobs whose name matches ``q`` case-insensitively
    (``%`` any characters, ``_`` one, as in SQL LIKE; anywhere in the name), in ``namespace_name``
    if given, last updated before / after the dates (``YYYY-MM-DD``) if given."""
    if not q.strip():
        raise LineageUsageError("q must not be blank")
    kind = filter.upper() if filter else None
    order = sort.upper()
    if kind is not None and kind not in SEARCH_FILTERS:
        raise LineageUsageError(f"filter must be one of {', '.join(SEARCH_FILTERS)}, got {filter!r}")
    if order not in SEARCH_SORTS:
        raise LineageUsageError(f"sort must be one of {', '.join(SEARCH_SORTS)}, got {sort!r}")
    if limit < 0:
        raise LineageUsageError(f"limit must be >= 0, got {limit}")
    bounds = {}
    for label, value in (("before", before), ("after", after)):
        if value is not None:
            try:
                bounds[label] = normalise_time(datetime.strptime(value, "%Y-%m-%d").date().isoformat())
            except ValueError:
                raise LineageUsageError(f"{label} must be a date YYYY-MM-DD, got {value!r}") from None
    pattern = f"%{q.lower()}%"
    found: dict[tuple[str, str, str], str] = {}

    def add(kind_: str, rows: Iterable[tuple[str | None, str, str]]) -> None:
        for ns, name, updated in rows:
            key = (kind_, ns or "", name)
            found[key] = max(found.get(key, updated), updated)

    with store.connect() as conn:
        if kind in (None, "DATASET"):
            for table in DATASET_TABLES:
                query = sa.select(table.c.namespace, table.c.dataset, sa.func.max(seen_at(table))).where(
                    sa.func.lower(table.c.dataset).like(pattern)).group_by(table.c.namespace, table.c.dataset)
                if namespace_name is not None:
                    query = query.where(table.c.namespace == namespace_name)
                add("DATASET", conn.execute(query))
        if kind in (None, "JOB"):
            query = sa.select(runs.c.job_namespace, runs.c.job_name, sa.func.max(runs.c.last_event_time)).where(
                sa.func.lower(runs.c.job_name).like(pattern)).group_by(runs.c.job_namespace, runs.c.job_name)
            if namespace_name is not None:
                query = query.where(runs.c.job_namespace == namespace_name)
            add("JOB", conn.execute(query))
    # As Marquez: updated before the start of ``before``'s day, after the start of ``after``'s.
    results = [{"type": k, "name": name, "updatedAt": updated, "namespace": ns,
                "nodeId": f"{k.lower()}:{ns}:{name}"}
               for (k, ns, name), updated in found.items()
               if ("before" not in bounds or updated < bounds["before"])
               and ("after" not in bounds or updated > bounds["after"])]
    if order == "NAME":
        results.sort(key=lambda r: (r["name"], r["namespace"], r["type"]))
    else:
        results.sort(key=lambda r: (r["updatedAt"], r["name"]), reverse=True)
    results = results[:limit]
    return {"totalCount": len(results), "results": results}


def lineage_events(store: LineageStore, *, before: str | None = None, after: str | None = None,
                   sort_direction: str = "desc", limit: int = 100, offset: int = 0,
                   namespace_name: str | None = None) -> dict[str, Any]:
    """Marquez's ``LineageEventList``: the stored events (as sent) with eventTime from ``after`` on and
    before ``before``, by eventTime (``sort_direction`` asc or desc), of jobs in ``namespace_name``
    if given, with ``totalCount``."""
    page_bounds(limit, offset)
    direction = sort_direction.lower()
    if direction not in ("asc", "desc"):
        raise LineageUsageError(f"sortDirection must be asc or desc, got {sort_direction!r}")
    conditions = []
    for label, value, compare in (("before", before, "lt"), ("after", after, "ge")):
        if value:
            try:
                when = normalise_time(value)
            except ValueError:
                raise LineageUsageError(f"{label} must be an ISO-8601 date-time, got {value!r}") from None
            conditions.append(events.c.event_time < when if compare == "lt" else events.c.event_time >= when)
    if namespace_name is not None:
        conditions.append(events.c.job_namespace == namespace_name)
    where = sa.and_(sa.true(), *conditions)
    order = (events.c.event_time.desc(), events.c.run_id.desc(), events.c.event_key.desc()) if direction == "desc" \
        else (events.c.event_time, events.c.run_id, events.c.event_key)
    with store.connect() as conn:
        if namespace_name is not None:
            require_namespace(conn, namespace_name)
        total = conn.execute(sa.select(sa.func.count()).select_from(events).where(where)).scalar_one()
        raws = conn.execute(sa.select(events.c.raw).where(where).order_by(*order).limit(limit).offset(offset))
        return {"events": [orjson.loads(raw) for (raw,) in raws], "totalCount": total}
