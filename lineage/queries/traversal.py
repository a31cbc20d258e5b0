"""The graph queries: ``downstream``, ``impact`` and ``upstream``, each one recursive CTE over the
version edges (see the package docstring), bounded by ``depth`` run hops."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from lineage.queries.currency import derived_runs, only_derived_commits_current, status_of
from lineage.queries.lookup import (
    IN_NODES,
    as_of_time,
    latest,
    load_runs,
    node_in,
    node_match,
    resolve,
    rows_for_nodes,
    rows_for_runs,
    time_ok,
)
from lineage.queries.model import DEFAULT_DEPTH, Artifact, Edge, LineageGraph, LineageLookupError, Node
from lineage.store import LineageStore, run_inputs, run_outputs
from lineage.store.schema import chunks

# Seeds per recursive statement: three bound parameters each, under SQLite's 32766.
_SEED_CHUNK = 3000


def _reach(conn: Connection, seeds: Sequence[Node], direction: str, depth: int,
           as_of: str | None) -> dict[Node, int]:
    """Artifacts reachable from the seeds by version edges, with their least depth (recursive CTE).

    down: artifact -> run_inputs (runs that read it) -> run_outputs of those runs.
    up:   artifact -> run_outputs (runs that wrote it) -> run_inputs of those runs.
    """
    via, to = (run_inputs, run_outputs) if direction == "down" else (run_outputs, run_inputs)
    found: dict[Node, int] = {seed: 0 for seed in seeds}
    for chunk in chunks(list(seeds), _SEED_CHUNK):
        start = (sa.select(via.c.dataset, via.c.partition, via.c.version, via.c.namespace,
                           sa.literal_column("0").label("depth"))
                 .where(node_in(via, chunk), time_ok(via, as_of)))
        reach = start.cte("reach", recursive=True)
        hop, nxt = via.alias("hop"), to.alias("nxt")
        step = (
            sa.select(nxt.c.dataset, nxt.c.partition, nxt.c.version, nxt.c.namespace,
                      (reach.c.depth + 1).label("depth"))
            .select_from(reach.join(hop, node_match(hop, reach)).join(nxt, nxt.c.run_id == hop.c.run_id))
            .where(reach.c.depth < depth, time_ok(hop, as_of), time_ok(nxt, as_of))
        )
        # UNION (not UNION ALL) drops repeated (artifact, depth) rows, so a diamond or a cycle
        # costs at most one row per artifact and depth.
        reach = reach.union(step)
        query = sa.select(reach.c.dataset, reach.c.partition, reach.c.version, reach.c.namespace,
                          sa.func.min(reach.c.depth)).group_by(
            reach.c.dataset, reach.c.partition, reach.c.version, reach.c.namespace)
        for dataset, partition, version, namespace, hops in conn.execute(query):
            node = Node(dataset, partition, version, namespace)
            found[node] = min(hops, found.get(node, hops))
    return found


def _without_redundant_skips(writes: list[Any]) -> list[Any]:
    """Producer rows minus content-addressed skips of an artifact whose computing run is known:
    a skip read the same input versions, so provenance loses nothing, and it may have run after
    the artifact being explained was derived."""
    computed = {Node.of(r) for r in writes if not r["skipped"]}
    return [r for r in writes if not r["skipped"] or Node.of(r) not in computed]


def _key(row: Any) -> str:
    return Node.of(row).key


def _graph(store: LineageStore, query: str, seeds: list[Node], direction: str, depth: int,
           as_of: str | None) -> LineageGraph:
    with store.connect() as conn:
        reached = _reach(conn, seeds, direction, depth, as_of)
        inner = [n for n, d in reached.items() if d < depth]  # artifacts whose runs were followed
        if direction == "down":
            reads = rows_for_nodes(conn, run_inputs, inner, as_of)
            run_ids = {r["run_id"] for r in reads}
            writes = rows_for_runs(conn, run_outputs, run_ids, as_of)
        else:
            writes = _without_redundant_skips(rows_for_nodes(conn, run_outputs, inner, as_of))
            run_ids = {r["run_id"] for r in writes}
            reads = rows_for_runs(conn, run_inputs, run_ids, as_of)
        read_edges = {Edge(_key(r), f"r:{r['run_id']}", "read", bool(r["inferred"])) for r in reads}
        write_edges = {Edge(f"r:{r['run_id']}", _key(r), "wrote") for r in writes}
        edges = sorted(read_edges | write_edges, key=lambda e: (e.source, e.target))
        # Every endpoint of an edge is in the result (a run's other inputs, upstream; its other
        # outputs, downstream, are reached anyway).
        nodes = dict(reached)
        for row in list(reads) + list(writes):
            nodes.setdefault(Node.of(row), depth + 1)
        run_depth: dict[str, int] = {}
        for row in reads if direction == "down" else writes:
            hops = reached.get(Node.of(row), depth)
            run_depth[row["run_id"]] = min(hops + 1, run_depth.get(row["run_id"], hops + 1))
        loaded = load_runs(conn, run_ids, as_of)
        inferred = {r["run_id"] for r in reads if r["inferred"]}
        for run_id, run in loaded.items():
            run.depth = run_depth.get(run_id, 0)
            run.inferred_reads = run_id in inferred
        derived: set[str] | None = None
        repairs: set[str] = set()
        if query == "impact":
            derived, repairs = derived_runs(conn, set(seeds), reads, loaded, as_of)
            reads = [r for r in reads if r["run_id"] in derived]
            writes = [r for r in writes if r["run_id"] in derived]
            loaded = {k: v for k, v in loaded.items() if k in derived}
            kept = {Node.of(r) for r in list(reads) + list(writes)}
            nodes = {n: d for n, d in nodes.items() if n in kept or n in set(seeds)}
            edges = [e for e in edges if e.source[2:] in derived or e.target[2:] in derived]
        status = status_of(conn, list(nodes), as_of)
        if derived is not None:
            only_derived_commits_current(conn, status, set(seeds), derived, repairs, as_of)
        truncated = _beyond(conn, [n for n, d in reached.items() if d >= depth], direction, as_of)
    seed_set = set(seeds)
    artifacts = [
        Artifact(node.dataset, node.partition, node.version, depth=min(hops, depth), seed=node in seed_set,
                 namespace=node.namespace, **status[node])
        for node, hops in sorted(nodes.items(), key=lambda item: (item[1], item[0]))
    ]
    ordered_runs = sorted(loaded.values(), key=lambda r: (r.depth, r.logical_date or "", r.job, r.run_id))
    return LineageGraph(query, sorted(seeds), artifacts, ordered_runs, edges, depth, truncated, as_of)


def _beyond(conn: Connection, frontier: Sequence[Node], direction: str, as_of: str | None) -> bool:
    """Whether any run continues from the artifacts at the depth limit (the answer is cut)."""
    table = run_inputs if direction == "down" else run_outputs
    for chunk in chunks(list(frontier), IN_NODES):
        query = sa.select(table.c.run_id).where(node_in(table, chunk), time_ok(table, as_of)).limit(1)
        if conn.execute(query).first():
            return True
    return False


def downstream(store: LineageStore, dataset: str, version: str | None = None, *, partition: str | None = None,
               depth: int = DEFAULT_DEPTH, as_of: str | None = None, namespace: str | None = None) -> LineageGraph:
    """What was derived from ``dataset[@version]`` (every version if none is given), transitively.
    ``dataset``: a name, or ``NAMESPACE/NAME`` (``lineage.queries.lookup.find_dataset``)."""
    as_of = as_of_time(as_of)
    seeds = resolve(store, dataset, version, partition=partition, as_of=as_of, namespace=namespace)
    return _graph(store, "downstream", seeds, "down", depth, as_of)


def impact(store: LineageStore, dataset: str, version: str, *, partition: str | None = None,
           depth: int = DEFAULT_DEPTH, as_of: str | None = None, namespace: str | None = None) -> LineageGraph:
    """The runs that read exactly ``dataset@version`` and what they produced, transitively, each
    artifact marked current (still to recompute) or superseded (re-derived since). A run that
    read the dataset without naming a version read the version current when it started
    (an inferred edge)."""
    if not version:
        raise LineageLookupError(f"impact needs a version: {dataset}@VERSION")
    as_of = as_of_time(as_of)
    seeds = resolve(store, dataset, version, partition=partition, as_of=as_of, namespace=namespace)
    return _graph(store, "impact", seeds, "down", depth, as_of)


def impact_of(store: LineageStore, seeds: Sequence[Node], *, depth: int = DEFAULT_DEPTH,
              as_of: str | None = None) -> LineageGraph:
    """``impact`` of several artifacts at once (the backfill planner's ``--fixed``)."""
    return _graph(store, "impact", sorted(set(seeds)), "down", depth, as_of_time(as_of))


def upstream(store: LineageStore, dataset: str, version: str | None = None, *, partition: str | None = None,
             depth: int = DEFAULT_DEPTH, as_of: str | None = None, namespace: str | None = None) -> LineageGraph:
    """Full provenance of ``dataset@version`` (its latest committed version if none is given):
    every artifact and run it was derived from, with each run's DAG run and logical date."""
    as_of = as_of_time(as_of)
    if version is None:
        seeds = [latest(store, dataset, partition=partition, as_of=as_of, namespace=namespace)]
    else:
        seeds = resolve(store, dataset, version, partition=partition, as_of=as_of, namespace=namespace)
    return _graph(store, "upstream", seeds, "up", depth, as_of)

