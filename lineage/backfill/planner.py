"""Backfill planning after an upstream fix (docs/architecture.md#purpose, #lineage): what to recompute, in what order.

    plan = plan_bad_version(store, "reference.spam_labels", "v1")     # a version known to be bad
    plan = plan_fixed(store, "raw.users_web", catalog=Catalog(cfg))   # versions older than current
    plan = plan_fixed(store, "reference.id_pairs", version="v2")      # what the good v2 replaced
    for dag_id, dag_run_id, logical_date, task_ids in plan.airflow_steps(): ...  # clear / re-run these

From the impact graph of the bad versions (``lineage.queries.impact_of``) the plan takes the
artifacts that are still **current** — superseded ones were already re-derived — and the runs
that committed them in the slot where they are current, plus the runs that wrote nothing but
read one of those artifacts (gates, reports: they checked the bad version and must check the new
one; the per-date run report records what it reads for this reason). Each run maps to the
Airflow task that launched it (``airflowDagRun``: dag id, **DAG run id**, task id): a DAG run is
identified by its run id, never by a date, because on Airflow 3 manual and asset-triggered runs
have no logical date (the lineage then carries the date the run was queued for, ``run_after``,
which orders and labels the step but does not name the run). A run outside Airflow (no DAG run)
becomes a manual step naming its job. Runs that FAILED on an affected input and were not re-run
successfully since are included too: their task has nothing current, but still has to run.

Order: task A precedes task B when B read (directly, or through runs not in the plan) a version A
wrote. Steps group the tasks of one DAG run; a step starts with the earliest (logical) date whose
tasks have all their predecessors done, and takes every task of that DAG run that becomes ready,
so models retrained under one date come before the dates that used them. Executing the steps in
order and planning again gives an empty plan: nothing derived from the bad versions is current
any more (a bad version re-derived unchanged by its re-run is repaired, see
``lineage.queries.currency.derived_runs``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa

from lineage.queries import (
    DEFAULT_DEPTH,
    Artifact,
    Edge,
    LineageGraph,
    Node,
    Run,
    VersionInfo,
    ambiguous_label,
    find_dataset,
    impact_of,
    label_candidates,
    load_runs,
    replaces,
    resolve,
    rows_for_runs,
    versions,
)
from lineage.store import LineageStore, run_inputs, run_outputs, runs

# (dag_id, DAG run id, task_id): one task instance. dag_id None: a manual job, (None, its date, job).
TaskKey = tuple[str | None, str | None, str]


@dataclass
class PlannedTask:
    """One Airflow task of one DAG run to re-run (or, with no dag_id, a job to run by hand)."""

    dag_id: str | None
    logical_date: str | None  # the run's logical date, else the date it was queued for (run_after)
    task_id: str  # the job name for a manual step
    reason: str  # derived | produced-bad-version | checked (wrote nothing, read a recomputed version) | failed
    dag_run_id: str | None = None  # the DAG run it belongs to (None: the lineage does not name one)
    runs: list[str] = field(default_factory=list)  # the recorded runs it redoes
    replaces: list[str] = field(default_factory=list)  # current artifacts it recomputes
    after: list[str] = field(default_factory=list)  # planned tasks it must follow (their labels)

    @property
    def key(self) -> TaskKey:
        return (self.dag_id, self.dag_run_id or self.logical_date, self.task_id)

    @property
    def label(self) -> str:
        return f"{self.dag_id or 'manual'}/{self.dag_run_id or self.logical_date or '-'}/{self.task_id}"


@dataclass
class PlanStep:
    """Tasks of one DAG run, in dependency order."""

    dag_id: str | None
    logical_date: str | None  # as in PlannedTask: shown and ordered by, not an identity
    tasks: list[PlannedTask]
    dag_run_id: str | None = None

    @property
    def task_ids(self) -> list[str]:
        return [t.task_id for t in self.tasks]


@dataclass
class BackfillPlan:
    """The complete plan, before anything runs."""

    mode: str  # bad-version | fixed
    seeds: list[Node]
    steps: list[PlanStep]
    to_recompute: list[Artifact]  # affected and still current
    superseded: list[Artifact]  # affected but already re-derived
    warnings: list[str]
    truncated: bool  # the impact was cut at the depth limit: the plan may be incomplete

    @property
    def empty(self) -> bool:
        return not self.steps

    def airflow_steps(self) -> list[tuple[str, str | None, str, list[str]]]:
        """The executable part: ordered (dag_id, dag_run_id, logical_date, [task_ids]); manual
        steps left out (see ``manual_steps``; they are ordered among these in ``steps``)."""
        return [(s.dag_id, s.dag_run_id, s.logical_date or "", s.task_ids) for s in self.steps if s.dag_id is not None]

    def manual_steps(self) -> list[PlannedTask]:
        """Runs outside Airflow to redo by hand (their job names), in order."""
        return [t for s in self.steps if s.dag_id is None for t in s.tasks]

    def task_set(self) -> set[TaskKey]:
        return {t.key for s in self.steps for t in s.tasks}

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode, "empty": self.empty, "truncated": self.truncated, "warnings": self.warnings,
            "seeds": [asdict(s) for s in self.seeds],
            "steps": [{"dag_id": s.dag_id, "dag_run_id": s.dag_run_id, "logical_date": s.logical_date,
                       "task_ids": s.task_ids,
                       "tasks": [asdict(t) for t in s.tasks]} for s in self.steps],
            "airflow_steps": [list(step) for step in self.airflow_steps()],
            "to_recompute": [asdict(a) for a in self.to_recompute],
            "superseded": [asdict(a) for a in self.superseded],
        }


def plan_bad_version(store: LineageStore, dataset: str, version: str, *, partition: str | None = None,
                     depth: int = DEFAULT_DEPTH) -> BackfillPlan:
    """Plan the recomputation of everything still current that was derived from ``dataset@version``
    (and of that version itself, if a recorded task produced it and it is still current)."""
    seeds = resolve(store, dataset, version, partition=partition)
    return plan_for(store, seeds, mode="bad-version", depth=depth, redo_seeds=True)


def plan_fixed(store: LineageStore, dataset: str, *, version: str | None = None, catalog: Any = None,
               depth: int = DEFAULT_DEPTH) -> BackfillPlan:
    """Plan after ``dataset`` was fixed: everything still current derived from a bad version of it.

    Without ``version``, the bad versions are every version older than the current one of its
    partition (``stale_versions``). With ``version`` (``DATASET@VERSION`` on the command line: a
    content version or the label of its partition, ``v2``, ``ds=2026-01-02``), that version is
    the fixed, good one, and the bad ones are those it replaced (``replaced_versions``)."""
    warnings: list[str] = []
    if version is None:
        seeds = stale_versions(store, dataset, catalog=catalog)
        if not seeds:
            warnings.append(f"{dataset}: no version older than the current one")
    else:
        fixed, seeds, warnings = replaced_versions(store, dataset, version, catalog=catalog)
        if not seeds:
            warnings.append(f"{', '.join(str(n) for n in fixed)} replaced no version the lineage knows: nothing "
                            f"to plan from (give the bad version instead: lineage backfill {dataset}@BAD_VERSION)")
    if not seeds:
        return BackfillPlan("fixed", [], [], [], [], warnings, False)
    plan = plan_for(store, seeds, mode="fixed", depth=depth, redo_seeds=False)
    plan.warnings[:0] = warnings
    return plan


def stale_versions(store: LineageStore, dataset: str, *, catalog: Any = None) -> list[Node]:
    """Versions of ``dataset`` no longer current: re-derived since (lineage), or, with a
    ``lineage.catalog.Catalog``, different from the committed manifest of their partition (a
    fixed raw drop the pipeline has not read yet is only known to the catalog). For ``version=``
    reference data no run produced, the most recently committed version is the current one."""
    found = versions(store, dataset)
    stale = {(v.partition, v.version) for v in found if not v.current}
    key = _partition_key(catalog, dataset)
    if key == "ds":
        committed: dict[str, str | None] = {}
        for info in found:
            if info.partition not in committed:
                manifest = catalog.manifest(dataset, info.partition.split("=", 1)[1])
                committed[info.partition] = manifest.version if manifest is not None else None
            now = committed[info.partition]
            if now is not None and info.version != now:
                stale.add((info.partition, info.version))
    elif key == "version" and all(v.external for v in found):
        manifests = [m for m in (catalog.manifest(dataset, value) for value in catalog.committed(dataset)) if m]
        if manifests:
            newest = max(manifests, key=lambda m: m.committed_at)
            stale |= {(v.partition, v.version) for v in found
                      if (v.partition, v.version) != (newest.partition, newest.version)}
    namespace = found[0].namespace if found else ""
    return sorted(Node(found[0].dataset if found else dataset, p, v, namespace) for p, v in stale)


def replaced_versions(store: LineageStore, dataset: str, version: str, *,
                      catalog: Any = None) -> tuple[list[Node], list[Node], list[str]]:
    """The fixed version(s) ``dataset@version`` names, the versions they replaced (the bad ones,
    which ``plan_fixed`` plans from), and warnings.

    ``version`` names the fixed, good version: a content version (or a unique prefix of one), or
    the label of its partition (``v2``, ``version=v2``, ``ds=2026-01-02``), which names the version
    committed in that partition: the manifest's with a ``lineage.catalog.Catalog`` (a drop fixed
    by hand may be known to the catalog alone), else the only version the lineage knows there, or
    the current one of several. A label whose partition has several and none current, or that is
    also the prefix of a content version, is an error listing the candidates
    (``lineage.queries.lookup.ambiguous_label``).

    What a version replaced, transitively: the versions of its own partition that came before it
    (a drop fixed in place), and the versions it was committed to replace: the inputs of the same
    dataset that the run committing it replaced (``lineage.queries.currency.replaces``: for
    ``version=`` data, a run that read ``version=v1`` and committed ``version=v2``, which is what
    ``user_pipeline.fix`` records) and, with a catalog, its manifest's ``extra.replaces``. Only
    versions the lineage knows are returned: nothing recorded read the others."""
    with store.connect() as conn:
        namespace, name = find_dataset(conn, dataset)
    found = versions(store, name, namespace=namespace)
    key = _partition_key(catalog, name)
    with store.connect() as conn:
        fixed = _fixed_nodes(conn, store, name, namespace, version, found, catalog, key)
        seen, todo = set(fixed), list(fixed)
        while todo:
            node = todo.pop()
            for old in (_in_partition(node, found, before=True) | _replaced_by_run(conn, node)
                        | _replaced_by_manifest(catalog, key, node)):
                if old not in seen:
                    seen.add(old)
                    todo.append(old)
    known = {(v.partition, v.version) for v in found}
    bad = sorted(n for n in seen - set(fixed) if (n.partition, n.version) in known)
    warnings = []
    for node in fixed:
        newer = ", ".join(sorted(n.version for n in _in_partition(node, found, before=False)))
        if newer:
            warnings.append(f"{node} is not the latest version of its partition ({newer} came after it): "
                            "planning from the versions before it only")
    return fixed, bad, warnings


def _partition_key(catalog: Any, dataset: str) -> str | None:
    """The dataset's partition key in the catalog (``ds``, ``version``); None without a catalog or
    for a dataset it does not hold (lineage alone decides then)."""
    if catalog is None:
        return None
    try:
        return catalog.partition_key(dataset)
    except KeyError:
        return None


def _fixed_nodes(conn: Any, store: LineageStore, dataset: str, namespace: str, version: str,
                 found: list[VersionInfo], catalog: Any, key: str | None) -> list[Node]:
    """The artifacts ``dataset@version`` names as the fixed one (see ``replaced_versions``)."""
    exact = [Node(dataset, v.partition, v.version, namespace) for v in found if v.version == version]
    if exact:
        return exact
    candidates, prefixed = label_candidates(conn, dataset, version, namespace=namespace)
    committed = _committed(catalog, key, dataset, version)
    if not candidates and committed is None:
        return resolve(store, dataset, version, namespace=namespace)  # a prefix, or the error listing the latest
    if prefixed is not None:
        raise ambiguous_label(dataset, version, candidates, prefixed)
    partitions = {n.partition for n in candidates} | ({committed[0]} if committed is not None else set())
    current = {(v.partition, v.version) for v in found if v.current}
    fixed = []
    for partition in sorted(partitions):
        if committed is not None and committed[0] == partition:
            fixed.append(Node(dataset, partition, committed[1].version, namespace))
            continue
        here = [n for n in candidates if n.partition == partition]
        # One version: the one named (a version= partition, which never changes). Several (a drop
        # fixed in place): the current one.
        now = here if len(here) == 1 else [n for n in here if (n.partition, n.version) in current]
        if len(now) != 1:
            raise ambiguous_label(dataset, version, here, hint="none of them is the current version of its "
                                  "partition: give the fixed one's content version (or check with the catalog)")
        fixed += now
    return fixed


def _committed(catalog: Any, key: str | None, dataset: str, label: str) -> tuple[str, Any] | None:
    """(partition, committed manifest) of the partition ``label`` names (``v2``, ``version=v2``,
    ``2026-01-02``, ``ds=2026-01-02``), if the catalog holds one."""
    if key is None:
        return None
    value = label.split("=", 1)[1] if label.startswith(f"{key}=") else label if "=" not in label else None
    manifest = catalog.manifest(dataset, value) if value else None
    return (f"{key}={value}", manifest) if manifest is not None else None


def _first_seen(info: VersionInfo) -> str:
    """When the lineage first saw a version: its first commit or its first read."""
    return min(t for t in (info.first_committed, info.first_read) if t)


def _in_partition(node: Node, found: list[VersionInfo], before: bool) -> set[Node]:
    """The other versions of the node's partition the lineage saw before (or after) it. A node
    the lineage never saw (a fix known to the catalog alone) came after all of them. ``version=``
    partitions hold one version each (versions are immutable)."""
    mine = next((v for v in found if (v.partition, v.version) == (node.partition, node.version)), None)
    others = [v for v in found if v.partition == node.partition and v.version != node.version]
    if mine is None:
        chosen = others if before else []
    else:
        chosen = [v for v in others if (_first_seen(v) < _first_seen(mine)) == before]
    return {Node(node.dataset, v.partition, v.version, node.namespace) for v in chosen}


def _replaced_by_run(conn: Any, node: Node) -> set[Node]:
    """The versions of the same dataset that the runs committing ``node`` read and replaced."""
    writers = sa.select(run_outputs.c.run_id).where(
        run_outputs.c.dataset == node.dataset, run_outputs.c.namespace == node.namespace,
        run_outputs.c.partition == node.partition, run_outputs.c.version == node.version)
    rows = conn.execute(sa.select(run_inputs).where(
        run_inputs.c.run_id.in_(writers), run_inputs.c.dataset == node.dataset,
        run_inputs.c.namespace == node.namespace)).mappings()
    return {Node.of(row) for row in rows if replaces(Node.of(row), node)}


def _replaced_by_manifest(catalog: Any, key: str | None, node: Node) -> set[Node]:
    """What the committed manifest of ``node`` says it replaces (``extra.replaces`` of a fix)."""
    committed = _committed(catalog, key, node.dataset, node.partition)
    if committed is None or committed[1].version != node.version:
        return set()
    replaced = (getattr(committed[1], "extra", None) or {}).get("replaces") or {}
    if not replaced.get("partition") or not replaced.get("version"):
        return set()
    return {Node(node.dataset, replaced["partition"], replaced["version"], node.namespace)}


def plan_for(store: LineageStore, seeds: list[Node], *, mode: str, depth: int = DEFAULT_DEPTH,
             redo_seeds: bool = False) -> BackfillPlan:
    """The plan for a set of bad artifacts (see the module docstring)."""
    graph = impact_of(store, seeds, depth=depth)
    by_key = {a.key: a for a in graph.artifacts}
    runs_by_id = {r.run_id: r for r in graph.runs}
    warnings: list[str] = []
    with store.connect() as conn:
        # Which slot each affected run committed each artifact in: a version is "current" per slot.
        written = rows_for_runs(conn, run_outputs, runs_by_id, None)
        seed_producers: list[Any] = []
        if redo_seeds:
            seed_rows = [a for a in graph.artifacts if a.seed and a.producers]
            ids = {p for a in seed_rows for p in a.producers}
            seed_producers = rows_for_runs(conn, run_outputs, ids, None)
            runs_by_id.update({k: v for k, v in load_runs(conn, ids).items() if k not in runs_by_id})
        redo: dict[TaskKey, PlannedTask] = {}
        for row, reason in [(r, "derived") for r in written] + [(r, "produced-bad-version") for r in seed_producers]:
            artifact = by_key.get(Node.of(row).key)
            if artifact is None or row["slot"] not in artifact.current_slots:
                continue
            if reason == "produced-bad-version" and not artifact.seed:
                continue
            run = runs_by_id[row["run_id"]]
            task = redo.setdefault(_task_key(run), _new_task(run, reason))
            if row["run_id"] not in task.runs:
                task.runs.append(row["run_id"])
            label = str(artifact.node)
            if label not in task.replaces:
                task.replaces.append(label)
        _add_checks(conn, graph, written, redo)
        _add_failed(conn, graph, redo, warnings)
    unnamed = sorted(t.label for t in redo.values() if t.dag_id is not None and t.dag_run_id is None)
    if unnamed:
        warnings.append(f"the lineage names no DAG run id for {', '.join(unnamed)}: Airflow cannot re-run "
                        "them by run id (lineage from a producer whose Airflow facets name no DAG run)")
    for run in graph.runs:
        if not run.terminal:
            warnings.append(f"run {run.run_id} ({run.job}, {run.logical_date or 'no date'}) read an affected "
                            "version and has no terminal event: still running, or died without a word")
    if graph.truncated:
        warnings.append(f"the impact was cut at depth {depth}: raise --depth, the plan may be incomplete")
    # The producers of a bad version come before its readers (graph.edges has only the reads).
    edges = graph.edges + [Edge(f"r:{row['run_id']}", Node.of(row).key, "wrote") for row in seed_producers]
    steps = _order(edges, runs_by_id, redo, warnings)
    affected = graph.affected()
    return BackfillPlan(
        mode=mode, seeds=graph.seeds, steps=steps,
        to_recompute=[a for a in graph.artifacts if a.status == "current" and not a.external
                      and (not a.seed or redo_seeds)],
        superseded=[a for a in affected if a.status == "superseded"],
        warnings=warnings, truncated=graph.truncated,
    )


def _task_key(run: Run) -> TaskKey:
    """The task instance a run belongs to: its DAG run by id (see the module docstring); lineage
    that names no DAG run id (another producer's) falls back to the run's logical date."""
    if run.dag_id and run.task_id:
        return (run.dag_id, run.dag_run_id or run.logical_date, run.task_id)
    return (None, run.logical_date, run.job)


def _new_task(run: Run, reason: str) -> PlannedTask:
    dag_id, _, task_id = _task_key(run)
    return PlannedTask(dag_id, run.logical_date, task_id, reason, dag_run_id=run.dag_run_id if dag_id else None)


def _add_checks(conn: Any, graph: LineageGraph, written: list[Any], redo: dict[TaskKey, PlannedTask]) -> None:
    """Tasks that wrote nothing but read a version about to be recomputed, or a bad version itself:
    gates (expectations.gate), reports, exports. They checked or used the bad version and must see
    the new one (the gate of the fixed spam labels runs before the spam filter retrains on them),
    unless their task already ran again since."""
    writers = {row["run_id"] for row in written}
    to_redo = {a.key for a in graph.artifacts if a.status == "current" and not a.external and not a.seed}
    seeds = {a.key for a in graph.artifacts if a.seed}
    reads: dict[str, list[str]] = defaultdict(list)
    for edge in graph.edges:
        if edge.kind == "read" and (edge.source in to_redo or edge.source in seeds):
            reads[edge.target[2:]].append(edge.source)
    for run in graph.runs:
        if run.state != "COMPLETE" or run.run_id in writers or not reads.get(run.run_id):
            continue
        if all(key in seeds for key in reads[run.run_id]) and _ran_again(conn, run):
            continue
        task = redo.setdefault(_task_key(run), _new_task(run, "checked"))
        if run.run_id not in task.runs:
            task.runs.append(run.run_id)


def _ran_again(conn: Any, run: Run) -> bool:
    """Whether the Airflow task of ``run`` completed again later (a re-run after the fix)."""
    if run.dag_id is None or run.task_id is None:
        return False
    same_dag_run = (runs.c.dag_run_id == run.dag_run_id if run.dag_run_id
                    else runs.c.logical_date == run.logical_date)
    later = sa.select(runs.c.run_id).where(
        runs.c.dag_id == run.dag_id, runs.c.task_id == run.task_id, same_dag_run,
        runs.c.job_name == run.job, runs.c.state == "COMPLETE", runs.c.start_time > run.start_time)
    return conn.execute(later.limit(1)).first() is not None


def _add_failed(conn: Any, graph: LineageGraph, redo: dict[TaskKey, PlannedTask], warnings: list[str]) -> None:
    """Tasks whose run FAILED on an affected input and that have not succeeded since."""
    for run in graph.runs:
        if run.state not in ("FAIL", "ABORT"):
            continue
        key = _task_key(run)
        if key in redo:
            continue
        if run.dag_id is None or run.task_id is None:
            warnings.append(f"run {run.run_id} ({run.job}) failed on an affected input outside Airflow")
            continue
        if not _ran_again(conn, run):
            task = redo.setdefault(key, _new_task(run, "failed"))
            task.runs.append(run.run_id)


def _order(edges: list[Edge], runs_by_id: dict[str, Run], redo: dict[TaskKey, PlannedTask],
           warnings: list[str]) -> list[PlanStep]:
    """Planned tasks grouped into DAG-run steps in dependency order (see the module docstring)."""
    if not redo:
        return []
    # Task-level edges from the run graph: writer task -> reader task. A version committed by
    # several runs (skips re-emit it under later dates) counts only the writers that had
    # committed before the reader started: D2's de-spam follows D2's model task, not D3's.
    writers: dict[str, list[Run]] = defaultdict(list)
    readers: dict[str, list[Run]] = defaultdict(list)
    for edge in edges:
        if edge.kind == "wrote" and edge.source[2:] in runs_by_id:
            writers[edge.target].append(runs_by_id[edge.source[2:]])
        elif edge.kind == "read" and edge.target[2:] in runs_by_id:
            readers[edge.source].append(runs_by_id[edge.target[2:]])
    preds: dict[TaskKey, set[TaskKey]] = defaultdict(set)
    for artifact, ws in writers.items():
        for reader in readers.get(artifact, ()):
            before = [w for w in ws if (w.end_time or w.start_time) <= reader.start_time] or ws
            preds[_task_key(reader)] |= {_task_key(w) for w in before} - {_task_key(reader)}
    # Predecessors in the plan, looking through tasks that are not in it.
    memo: dict[TaskKey, set[TaskKey]] = {}

    def planned_before(task: TaskKey, visiting: frozenset[TaskKey] = frozenset()) -> set[TaskKey]:
        if task in memo:
            return memo[task]
        found: set[TaskKey] = set()
        for pred in preds.get(task, ()):
            if pred in visiting:
                continue
            if pred in redo:
                found.add(pred)
            else:
                found |= planned_before(pred, visiting | {task})
        memo[task] = found
        return found

    deps = {key: planned_before(key) - {key} for key in redo}
    for key, task in redo.items():
        task.after = sorted(redo[d].label for d in deps[key])
    first_seen = {key: min((runs_by_id[r].start_time for r in task.runs), default="") for key, task in redo.items()}

    def sort_key(key: TaskKey) -> tuple[str, str, str, str, str]:
        return (redo[key].logical_date or "", key[0] or "", first_seen[key], key[1] or "", key[2])

    remaining = set(redo)
    done: set[TaskKey] = set()
    steps: list[PlanStep] = []
    while remaining:
        ready = sorted((k for k in remaining if deps[k] <= done), key=sort_key)
        if not ready:
            # A cycle between tasks (two runs of one task on both sides of another): run the
            # earliest anyway, and say so.
            stuck = min(remaining, key=sort_key)
            warnings.append(f"dependency cycle through {redo[stuck].label}: ordered by date")
            ready = [stuck]
        group = (ready[0][0], ready[0][1])
        taken: list[TaskKey] = []
        while True:
            more = sorted((k for k in remaining if (k[0], k[1]) == group and (deps[k] <= done or k == ready[0])),
                          key=sort_key)
            if not more:
                break
            for key in more:
                remaining.discard(key)
                done.add(key)
                taken.append(key)
        first = redo[taken[0]]
        steps.append(PlanStep(group[0], first.logical_date, [redo[k] for k in taken], first.dag_run_id))
    return steps
