"""Marquez's view of the store, for Marquez-compatible clients: the job and dataset graph around a
node (all versions folded) and a job's runs."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa

from lineage.queries.lookup import load_runs
from lineage.queries.model import LineageLookupError, Run
from lineage.store import LineageStore, LineageUsageError, run_inputs, run_outputs, runs


def job_runs(store: LineageStore, namespace: str, job: str, *, limit: int, offset: int) -> tuple[int, list[Run]]:
    """(how many runs the job has, its runs newest first from ``offset``, at most ``limit``)."""
    with store.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(runs).where(
            runs.c.job_name == job, runs.c.job_namespace == namespace)).scalar_one()
        ids = conn.execute(sa.select(runs.c.run_id).where(runs.c.job_name == job, runs.c.job_namespace == namespace)
                           .order_by(runs.c.start_time.desc()).limit(limit).offset(offset)).scalars().all()
        loaded = load_runs(conn, ids)
    return total, [loaded[i] for i in ids]


def _split_node_id(conn: Any, node_id: str) -> tuple[str, str, str]:
    """``dataset:NS:NAME`` / ``job:NS:NAME``; namespaces may hold ':' (s3://...), so the known
    namespaces of the store decide where the name starts."""
    kind, _, rest = node_id.partition(":")
    if kind not in ("dataset", "job") or not rest:
        raise LineageUsageError(f"nodeId must be dataset:NAMESPACE:NAME or job:NAMESPACE:NAME, got {node_id!r}")
    if kind == "dataset":
        known = {n for (n,) in conn.execute(sa.select(run_inputs.c.namespace).distinct())} | {
            n for (n,) in conn.execute(sa.select(run_outputs.c.namespace).distinct())}
    else:
        known = {n for (n,) in conn.execute(sa.select(runs.c.job_namespace).distinct())}
    for namespace in sorted((k for k in known if k), key=len, reverse=True):
        if rest.startswith(namespace + ":"):
            return kind, namespace, rest[len(namespace) + 1:]
    namespace, _, name = rest.rpartition(":")
    return kind, namespace, name


def job_dataset_graph(store: LineageStore, node_id: str, depth: int) -> list[dict]:
    """Marquez's lineage graph around a node: jobs and datasets (all versions folded), edges
    job -> dataset it wrote and dataset -> job that read it, ``depth`` hops both ways."""
    with store.connect() as conn:
        kind, namespace, name = _split_node_id(conn, node_id)
        start = f"{kind}:{namespace}:{name}"
        reads = defaultdict(set)   # dataset id -> job ids reading it
        writes = defaultdict(set)  # job id -> dataset ids it wrote
        read_by = defaultdict(set)  # job id -> dataset ids it read
        written_by = defaultdict(set)  # dataset id -> job ids writing it
        seen, frontier = {start}, {start}
        for _ in range(depth + 1):
            datasets = [n.split(":", 2)[2] for n in frontier if n.startswith("dataset:")]
            jobs = [n.split(":", 2)[2] for n in frontier if n.startswith("job:")]
            found: set[str] = set()
            for table, side in ((run_inputs, "in"), (run_outputs, "out")):
                query = sa.select(table.c.dataset, table.c.namespace, runs.c.job_name, runs.c.job_namespace).join(
                    runs, runs.c.run_id == table.c.run_id).distinct()
                conditions = []
                if datasets:
                    conditions.append(table.c.dataset.in_(datasets))
                if jobs:
                    conditions.append(runs.c.job_name.in_(jobs))
                if not conditions:
                    continue
                for dataset, ds_ns, job, job_ns in conn.execute(query.where(sa.or_(*conditions))):
                    d, j = f"dataset:{ds_ns or namespace}:{dataset}", f"job:{job_ns}:{job}"
                    if side == "in":
                        reads[d].add(j)
                        read_by[j].add(d)
                    else:
                        writes[j].add(d)
                        written_by[d].add(j)
                    found |= {d, j}
            frontier = found - seen
            seen |= found
            if not frontier:
                break
        if start not in seen or (len(seen) == 1 and not (reads or writes)):
            raise LineageLookupError(f"no {kind} {name!r} in namespace {namespace!r}")
    graph = []
    for node in sorted(seen):
        node_kind, ns, node_name = node.split(":", 2)
        if node_kind == "dataset":
            in_edges = [{"origin": j, "destination": node} for j in sorted(written_by[node])]
            out_edges = [{"origin": node, "destination": j} for j in sorted(reads[node])]
        else:
            in_edges = [{"origin": d, "destination": node} for d in sorted(read_by[node])]
            out_edges = [{"origin": node, "destination": d} for d in sorted(writes[node])]
        graph.append({"id": node, "type": node_kind.upper(), "data": {"namespace": ns, "name": node_name},
                      "inEdges": in_edges, "outEdges": out_edges})
    return graph
