"""Marquez's lineage graph (``GET /api/v1/lineage?nodeId=...&depth=...``) over the store: jobs and
datasets with their full data, as Marquez answers it.

Node ids are ``dataset:<namespace>:<name>`` and ``job:<namespace>:<name>``. OpenLineage
namespaces hold ``:`` (``s3://bucket``, ``postgres://host:5432``) and names may too, so an id is
split where the store has such a dataset or job (``parse_node_id``); among several, and for
an id the store does not know, where Marquez splits it (``NodeId.parts``: at the first ``:`` not
followed by ``//`` or a digit).

The graph is Marquez's: the jobs within ``depth`` hops of the node, one hop joining two jobs that
share a dataset (either reading or writing it), with every dataset those jobs read or wrote;
edges go from a dataset to each job that read it and from a job to each dataset it wrote. A read
without a version is an edge like any other, also one made before anything of the dataset was
committed, or of a dataset only ever read so (a dbt source). From a
dataset the walk starts at every job that read or wrote it (Marquez starts at one of them). A
job's datasets are those of all its runs (Marquez takes those of its current version only: the
jobs of this pipeline run once per partition, and their history is what lineage is about). A job
with no datasets (an Airflow task) is a graph of its own node.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lineage.queries.lookup import DATASET_TABLES
from lineage.queries.marquez import DatasetKey, dataset_docs, job_docs
from lineage.queries.model import LineageLookupError
from lineage.store import LineageStore, LineageUsageError, run_outputs, runs
from lineage.store.schema import chunks

KINDS = ("dataset", "job")
# Marquez's own split (NodeId.parts): a ':' not followed by '//' (a scheme) or digits (a port).
_MARQUEZ_DELIMITER = re.compile(r":(?!//|\d+)")
# The fields of Marquez's graph node data (its DatasetData and JobData).
DATASET_DATA = ("id", "type", "name", "physicalName", "createdAt", "updatedAt", "namespace", "sourceName", "fields",
                "tags", "lastModifiedAt", "description", "lastLifecycleState")
JOB_DATA = ("id", "type", "name", "simpleName", "parentJobName", "createdAt", "updatedAt", "namespace", "inputs",
            "outputs", "location", "description", "latestRun")


def node_id(kind: str, namespace: str, name: str) -> str:
    """Marquez's node id of a dataset or job."""
    return f"{kind}:{namespace}:{name}"


def _exists(conn: Connection, kind: str, namespace: str, name: str) -> bool:
    if kind == "job":
        tables = [(runs.c.job_namespace, runs.c.job_name)]
    else:
        tables = [(t.c.namespace, t.c.dataset) for t in DATASET_TABLES]
    return any(conn.execute(sa.select(sa.literal(1)).where(n == name, ns == namespace).limit(1)).first()
               for ns, n in tables)


def marquez_split(rest: str) -> tuple[str, str]:
    """``NAMESPACE:NAME`` split as Marquez splits it (see the module docstring)."""
    if rest.count(":") == 1:
        namespace, _, name = rest.partition(":")
        return namespace, name
    found = _MARQUEZ_DELIMITER.search(rest)
    if found is None:
        raise LineageUsageError(f"cannot tell the namespace from the name in {rest!r}")
    return rest[:found.start()], rest[found.end():]


def parse_node_id(conn: Connection, value: str) -> tuple[str, str, str]:
    """(kind, namespace, name) of a node id; LineageUsageError if it is not one."""
    kind, _, rest = value.partition(":")
    if kind not in KINDS or ":" not in rest:
        raise LineageUsageError(f"nodeId must be dataset:NAMESPACE:NAME or job:NAMESPACE:NAME, got {value!r}")
    candidates = [(rest[:i], rest[i + 1:]) for i, c in enumerate(rest) if c == ":" and 0 < i < len(rest) - 1]
    if not candidates:
        raise LineageUsageError(f"nodeId must be dataset:NAMESPACE:NAME or job:NAMESPACE:NAME, got {value!r}")
    stored = [c for c in candidates if _exists(conn, kind, *c)]
    try:
        marquez = marquez_split(rest)
    except LineageUsageError:
        marquez = None
    if len(stored) == 1:
        return kind, *stored[0]
    if marquez is not None and (not stored or marquez in stored):
        return kind, *marquez
    if stored:
        return kind, *stored[0]
    raise LineageUsageError(f"cannot tell the namespace from the name in {value!r}")


def _job_io(conn: Connection, jobs: set[DatasetKey]) -> dict[DatasetKey, tuple[set, set]]:
    """job -> (datasets its runs read, with a version or without, datasets its runs committed)."""
    io: dict[DatasetKey, tuple[set, set]] = {j: (set(), set()) for j in jobs}
    names = sorted({name for _, name in jobs})
    for table in DATASET_TABLES:
        side = 1 if table is run_outputs else 0
        for chunk in chunks(names):
            query = (sa.select(runs.c.job_namespace, runs.c.job_name, table.c.namespace, table.c.dataset).distinct()
                     .select_from(runs.join(table, table.c.run_id == runs.c.run_id))
                     .where(runs.c.job_name.in_(chunk)))
            for job_ns, job_name, ns, dataset in conn.execute(query):
                key = (job_ns or "", job_name)
                if key in io:
                    io[key][side].add((ns or "", dataset))
    return io


def _jobs_of(conn: Connection, datasets: set[DatasetKey]) -> set[DatasetKey]:
    """The jobs whose runs read (with a version or without) or committed any of ``datasets``."""
    found = set()
    names = sorted({name for _, name in datasets})
    for table in DATASET_TABLES:
        for chunk in chunks(names):
            query = (sa.select(table.c.namespace, table.c.dataset, runs.c.job_namespace, runs.c.job_name).distinct()
                     .select_from(table.join(runs, runs.c.run_id == table.c.run_id))
                     .where(table.c.dataset.in_(chunk)))
            for ns, dataset, job_ns, job_name in conn.execute(query):
                if (ns or "", dataset) in datasets:
                    found.add((job_ns or "", job_name))
    return found


def lineage_graph(store: LineageStore, node: str, depth: int) -> list[dict[str, Any]]:
    """Marquez's ``LineageGraph.graph`` around ``node`` (see the module docstring), nodes by id.
    LineageUsageError for a malformed id or depth, LineageLookupError for an unknown node."""
    if depth < 0:
        raise LineageUsageError(f"depth must be >= 0, got {depth}")
    with store.connect() as conn:
        kind, namespace, name = parse_node_id(conn, node)
        key = (namespace, name)
        if not _exists(conn, kind, namespace, name):
            raise LineageLookupError(f"no {kind} {name!r} in namespace {namespace!r}")
        frontier = _jobs_of(conn, {key}) if kind == "dataset" else {key}
        io = _job_io(conn, frontier)
        walked: set[DatasetKey] = {key} if kind == "dataset" else set()
        for _ in range(depth):
            shared = {d for j in frontier for side in io[j] for d in side} - walked
            walked |= shared
            frontier = _jobs_of(conn, shared) - set(io)
            if not frontier:
                break
            io |= _job_io(conn, frontier)
        readers: dict[DatasetKey, set[DatasetKey]] = defaultdict(set)
        writers: dict[DatasetKey, set[DatasetKey]] = defaultdict(set)
        for job_key, (ins, outs) in io.items():
            for d in ins:
                readers[d].add(job_key)
            for d in outs:
                writers[d].add(job_key)
        datasets = sorted(set(readers) | set(writers) | ({key} if kind == "dataset" else set()))
        dataset_data = dataset_docs(conn, datasets)
        job_data = job_docs(conn, sorted(io), io=io, latest_runs=1)
    graph = []
    for d in datasets:
        own = node_id("dataset", *d)
        graph.append({
            "id": own, "type": "DATASET", "data": {k: dataset_data[d][k] for k in DATASET_DATA if k in dataset_data[d]},
            "inEdges": [{"origin": node_id("job", *j), "destination": own} for j in sorted(writers[d])],
            "outEdges": [{"origin": own, "destination": node_id("job", *j)} for j in sorted(readers[d])],
        })
    for j, (ins, outs) in io.items():
        own = node_id("job", *j)
        graph.append({
            "id": own, "type": "JOB", "data": {k: job_data[j][k] for k in JOB_DATA if k in job_data[j]},
            "inEdges": [{"origin": node_id("dataset", *d), "destination": own} for d in sorted(ins)],
            "outEdges": [{"origin": own, "destination": node_id("dataset", *d)} for d in sorted(outs)],
        })
    return sorted(graph, key=lambda n: n["id"])
