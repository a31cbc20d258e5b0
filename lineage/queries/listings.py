"""Listings over the store: the versions of a dataset, the store as it stood at a time
(``snapshot``), the consistency report (``check``), and one run in detail (``run_details``)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from lineage.queries.currency import current_of_slots, status_of
from lineage.queries.lookup import as_of_time, find_dataset, load_runs, node_match, time_ok
from lineage.queries.model import LineageLookupError, Node, Run, VersionInfo
from lineage.store import TERMINAL_STATES, LineageStore, events, ingest_issues, run_inputs, run_outputs, runs
from lineage.store.schema import unversioned_inputs


def versions(store: LineageStore, dataset: str, *, as_of: str | None = None,
             namespace: str | None = None) -> list[VersionInfo]:
    """Every version of a dataset per partition: producing runs, times, readers, current or not.
    ``dataset``: a name, or ``NAMESPACE/NAME`` (``lineage.queries.lookup.find_dataset``). Reads
    without a version are not versions: they count as readers of the version they were linked to."""
    as_of = as_of_time(as_of)
    with store.connect() as conn:
        namespace, dataset = find_dataset(conn, dataset, namespace)
        produced: dict[Node, list[Any]] = defaultdict(list)
        query = sa.select(run_outputs, runs.c.job_name, runs.c.logical_date).join(
            runs, runs.c.run_id == run_outputs.c.run_id).where(
            run_outputs.c.dataset == dataset, run_outputs.c.namespace == namespace, time_ok(run_outputs, as_of))
        for row in conn.execute(query).mappings():
            produced[Node.of(row)].append(row)
        read: dict[Node, tuple[str, int, int]] = {}
        inferred = sa.func.sum(sa.case((run_inputs.c.inferred, 1), else_=0))
        query = sa.select(run_inputs.c.partition, run_inputs.c.version, sa.func.min(run_inputs.c.first_seen),
                          sa.func.count(), inferred).where(
            run_inputs.c.dataset == dataset, run_inputs.c.namespace == namespace,
            time_ok(run_inputs, as_of)).group_by(run_inputs.c.partition, run_inputs.c.version)
        for partition, version, first, count, by_time in conn.execute(query):
            read[Node(dataset, partition, version, namespace)] = (first, count, int(by_time or 0))
        nodes = sorted(set(produced) | set(read))
        status = status_of(conn, nodes, as_of)
    result = []
    for node in nodes:
        rows = sorted(produced.get(node, []), key=lambda r: (r["committed_at"], r["run_id"]))
        first_read, readers, inferred_readers = read.get(node, (None, 0, 0))
        result.append(VersionInfo(
            dataset=dataset, partition=node.partition, version=node.version,
            current=status[node]["status"] == "current", external=status[node]["external"],
            producers=[r["run_id"] for r in rows], jobs=sorted({r["job_name"] for r in rows}),
            first_committed=rows[0]["committed_at"] if rows else None,
            last_committed=rows[-1]["committed_at"] if rows else None,
            first_read=first_read, readers=readers,
            row_count=next((r["row_count"] for r in reversed(rows) if r["row_count"] is not None), None),
            skipped_only=bool(rows) and all(r["skipped"] for r in rows),
            logical_dates=sorted({r["logical_date"] for r in rows if r["logical_date"]}),
            namespace=namespace, synthetic=status[node]["synthetic"], inferred_readers=inferred_readers,
        ))
    result.sort(key=lambda v: (v.partition, v.first_committed or v.first_read or "", v.version))
    return result


@dataclass
class Snapshot:
    """The store as it stood at a time (``as-of``)."""

    as_of: str
    events: int
    runs_by_state: dict[str, int]
    running: list[Run]  # started by then, no terminal event by then
    datasets: list[dict[str, Any]]  # dataset, partitions/slots committed, versions committed
    current: list[dict[str, Any]]  # dataset, slot, partition, version, committed_at, run_id (if asked)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def snapshot(store: LineageStore, time: str, *, dataset: str | None = None, limit_running: int = 200,
             namespace: str | None = None) -> Snapshot:
    """What the store knew at ``time``: runs and their states then, and per dataset the versions
    committed by then; with ``dataset``, the version current then in each of its slots."""
    when = as_of_time(time)
    assert when is not None
    with store.connect() as conn:
        if dataset is not None:
            namespace, dataset = find_dataset(conn, dataset, namespace)
        total = conn.execute(
            sa.select(sa.func.count()).select_from(events).where(events.c.event_time <= when)).scalar_one()
        # A run's state then: its latest terminal event by then, else RUNNING.
        ended = (sa.select(events.c.run_id, sa.func.max(events.c.event_time).label("t")).where(
            events.c.event_type.in_(TERMINAL_STATES), events.c.event_time <= when).group_by(events.c.run_id).subquery())
        started = sa.select(runs.c.run_id).where(runs.c.start_time <= when).subquery()
        by_state: dict[str, int] = defaultdict(int)
        query = (sa.select(events.c.event_type, sa.func.count()).select_from(
            ended.join(events, sa.and_(events.c.run_id == ended.c.run_id, events.c.event_time == ended.c.t))).where(
            events.c.event_type.in_(TERMINAL_STATES)).group_by(events.c.event_type))
        for kind, count in conn.execute(query):
            by_state[kind] += count
        n_started = conn.execute(sa.select(sa.func.count()).select_from(started)).scalar_one()
        n_ended = conn.execute(sa.select(sa.func.count()).select_from(ended)).scalar_one()
        by_state["RUNNING"] = n_started - n_ended
        running_ids = conn.execute(
            sa.select(runs.c.run_id).where(runs.c.start_time <= when, runs.c.run_id.not_in(sa.select(ended.c.run_id)))
            .order_by(runs.c.start_time).limit(limit_running)).scalars().all()
        running = list(load_runs(conn, running_ids, when).values())
        datasets = [
            {"namespace": ns, "dataset": name, "slots": slots, "versions": count}
            for name, ns, slots, count in conn.execute(
                sa.select(run_outputs.c.dataset, run_outputs.c.namespace,
                          sa.func.count(sa.distinct(run_outputs.c.slot)),
                          sa.func.count(sa.distinct(run_outputs.c.version)))
                .where(run_outputs.c.committed_at <= when)
                .group_by(run_outputs.c.dataset, run_outputs.c.namespace)
                .order_by(run_outputs.c.dataset, run_outputs.c.namespace))
        ]
        current = []
        if dataset is not None:
            slots = conn.execute(sa.select(run_outputs.c.slot).distinct().where(
                run_outputs.c.dataset == dataset, run_outputs.c.namespace == namespace,
                run_outputs.c.committed_at <= when)).scalars().all()
            for (ns, name, slot), (node, committed_at, run_id) in sorted(
                    current_of_slots(conn, [(namespace, dataset, s) for s in slots], when).items()):
                current.append({"namespace": ns, "dataset": name, "slot": slot, "partition": node.partition,
                                "version": node.version, "committed_at": committed_at, "run_id": run_id})
    return Snapshot(when, total, dict(sorted(by_state.items())), running, datasets, current)


@dataclass
class CheckReport:
    """What ``check`` found (as of ``as_of``, if given). External inputs are facts, not errors;
    nor are reads without a version (linked by time) and outputs without one (a synthetic version
    per run): ``unversioned`` lists them."""

    incomplete_runs: list[dict[str, Any]]
    failed_runs: list[dict[str, Any]]
    conflicting_runs: list[dict[str, Any]]
    malformed_lines: list[dict[str, Any]]
    external_inputs: list[dict[str, Any]]
    unversioned: list[dict[str, Any]]
    as_of: str | None = None

    @property
    def problems(self) -> int:
        """Findings that are errors of the lineage itself (not failed pipeline runs)."""
        return len(self.conflicting_runs) + len(self.malformed_lines)

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"problems": self.problems}


def check(store: LineageStore, *, as_of: str | None = None, limit: int = 1000) -> CheckReport:
    """Runs without a terminal event, FAIL events, conflicting events, lines set aside, inputs no
    recorded run produced (external inputs), datasets read or written without a version.

    OpenLineage's run semantics decide what a conflict is. The events of a run id accumulate and
    its latest terminal event is its state, so a run id with several START / terminal events (an
    Airflow task cleared or retried under the same id, each attempt a START and a COMPLETE or
    FAIL) is a run with several attempts, not a problem. A conflict is two different terminal
    events of one run at the same eventTime: which one is the run's state cannot be told. The
    same event delivered twice (to ``lineage serve`` and to the JSONL log) is one event.

    ``as_of``: the lineage as it stood then, from the events with eventTime up to then (runs
    started by then, their state then); the lines set aside have no time and are all listed."""
    when = as_of_time(as_of)
    with store.connect() as conn:
        in_time = events.c.event_time <= when if when else sa.true()
        run_cols = (runs.c.run_id, runs.c.job_name, runs.c.state, runs.c.start_time, runs.c.last_event_time,
                    runs.c.dag_id, runs.c.task_id, runs.c.logical_date)
        if when:
            ended = sa.select(events.c.run_id).where(events.c.event_type.in_(TERMINAL_STATES), in_time)
            unfinished = sa.and_(runs.c.start_time <= when, runs.c.run_id.not_in(ended))
        else:
            unfinished = runs.c.terminal.is_(False)
        incomplete = [dict(r) for r in conn.execute(
            sa.select(*run_cols).where(unfinished).order_by(runs.c.start_time).limit(limit)).mappings()]
        if when:  # the state a run had then: the latest of its events by then
            states = load_runs(conn, [r["run_id"] for r in incomplete], when)
            for row in incomplete:
                row["state"] = states[row["run_id"]].state
        failed = [dict(r) for r in conn.execute(
            sa.select(events.c.run_id, events.c.event_type, events.c.event_time, runs.c.job_name,
                      runs.c.state.label("final_state"), runs.c.dag_id, runs.c.task_id, runs.c.logical_date,
                      runs.c.error_message)
            .join(runs, runs.c.run_id == events.c.run_id)
            .where(events.c.event_type.in_(("FAIL", "ABORT")), in_time).order_by(events.c.event_time)
            .limit(limit)).mappings()]
        # Two different terminal events (keys differ: the events table holds each event once) of
        # one run at one eventTime.
        tied = (sa.select(events.c.run_id, events.c.event_time)
                .where(events.c.event_type.in_(TERMINAL_STATES), in_time)
                .group_by(events.c.run_id, events.c.event_time).having(sa.func.count() > 1).limit(limit).subquery())
        conflicts: dict[str, dict[str, Any]] = {}
        for row in conn.execute(sa.select(events.c.run_id, events.c.job_name, events.c.event_type, events.c.event_time,
                                          events.c.event_key, events.c.source_file, events.c.source_line)
                                .join(tied, sa.and_(events.c.run_id == tied.c.run_id,
                                                    events.c.event_time == tied.c.event_time))
                                .where(events.c.event_type.in_(TERMINAL_STATES))
                                .order_by(events.c.run_id, events.c.event_time, events.c.event_key)).mappings():
            entry = conflicts.setdefault(row["run_id"], {"run_id": row["run_id"], "job": row["job_name"], "events": []})
            entry["events"].append({"type": row["event_type"], "time": row["event_time"], "key": row["event_key"],
                                    "at": f"{row['source_file']}:{row['source_line']}"})
        issues = [dict(r) for r in conn.execute(
            sa.select(ingest_issues.c.path, ingest_issues.c.line, ingest_issues.c.kind, ingest_issues.c.detail)
            .order_by(ingest_issues.c.path, ingest_issues.c.line).limit(limit)).mappings()]
        produced = sa.select(run_outputs.c.run_id).where(node_match(run_outputs, run_inputs),
                                                         time_ok(run_outputs, when))
        external = [dict(r) for r in conn.execute(
            sa.select(run_inputs.c.namespace, run_inputs.c.dataset, run_inputs.c.partition, run_inputs.c.version,
                      sa.func.count().label("readers"), sa.func.min(run_inputs.c.first_seen).label("first_read"))
            .where(~sa.exists(produced), time_ok(run_inputs, when))
            .group_by(run_inputs.c.namespace, run_inputs.c.dataset, run_inputs.c.partition, run_inputs.c.version)
            .order_by(run_inputs.c.dataset, run_inputs.c.namespace, run_inputs.c.partition, run_inputs.c.version)
            .limit(limit)).mappings()]
        unversioned = []
        linked = sa.select(run_inputs.c.run_id).where(
            run_inputs.c.run_id == unversioned_inputs.c.run_id,
            run_inputs.c.namespace == unversioned_inputs.c.namespace,
            run_inputs.c.dataset == unversioned_inputs.c.dataset, run_inputs.c.inferred.is_(True),
            time_ok(run_inputs, when))
        unversioned += [{"namespace": ns, "dataset": d, "side": "input", "runs": n, "unlinked": n - int(k or 0)}
                        for ns, d, n, k in conn.execute(
            sa.select(unversioned_inputs.c.namespace, unversioned_inputs.c.dataset, sa.func.count(),
                      sa.func.sum(sa.case((sa.exists(linked), 1), else_=0)))
            .where(time_ok(unversioned_inputs, when))
            .group_by(unversioned_inputs.c.namespace, unversioned_inputs.c.dataset))]
        unversioned += [{"namespace": ns, "dataset": d, "side": "output", "runs": n, "unlinked": 0}
                        for ns, d, n in conn.execute(
            sa.select(run_outputs.c.namespace, run_outputs.c.dataset, sa.func.count())
            .where(run_outputs.c.synthetic.is_(True), time_ok(run_outputs, when))
            .group_by(run_outputs.c.namespace, run_outputs.c.dataset))]
    return CheckReport(
        incomplete_runs=incomplete, failed_runs=failed, conflicting_runs=list(conflicts.values()),
        malformed_lines=issues, external_inputs=external,
        unversioned=sorted(unversioned, key=lambda u: (u["dataset"], u["namespace"], u["side"])), as_of=when,
    )


@dataclass
class RunDetails:
    """One run, the artifacts it read and wrote (run_inputs / run_outputs rows), and the gate
    results (``dataQualityAssertions``) its events carried on its inputs: (input dataset, assertion)."""

    run: Run
    inputs: list[Any]
    outputs: list[Any]
    assertions: list[tuple[Any, dict[str, Any]]]


def run_details(store: LineageStore, run_id: str) -> RunDetails:
    """A run with its inputs, outputs and gate results; LineageLookupError for an unknown run id."""
    with store.connect() as conn:
        loaded = load_runs(conn, [run_id])
        if run_id not in loaded:
            raise LineageLookupError(f"no run {run_id!r}")
        run = loaded[run_id]
        ins = conn.execute(sa.select(run_inputs).where(run_inputs.c.run_id == run_id)).mappings().all()
        outs = conn.execute(sa.select(run_outputs).where(run_outputs.c.run_id == run_id)).mappings().all()
        raws = conn.execute(sa.select(events.c.raw).where(events.c.run_id == run_id)).scalars().all()
    assertions = []
    for raw in raws:
        for dataset in orjson.loads(raw).get("inputs") or []:
            facet = ((dataset.get("inputFacets") or {}).get("dataQualityAssertions") or {})
            for a in facet.get("assertions") or []:
                assertions.append((dataset.get("name"), a))
    return RunDetails(run, list(ins), list(outs), assertions)
