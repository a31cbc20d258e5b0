"""The listing commands of ``lineage``: ``versions``, ``as-of`` and ``check``, as tables or JSON."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from lineage import queries
from lineage.cli.output import print_json
from lineage.spool import DeadLetterCount, spool_folder
from lineage.store import LineageStore, LineageUsageError


def versions_command(store: LineageStore, cfg: Any, args: argparse.Namespace, console: Console) -> int:
    """Every version of a dataset per partition, current or superseded."""
    found = queries.versions(store, args.dataset, as_of=args.as_of, namespace=args.namespace)
    if args.json:
        print_json(console, [v.__dict__ for v in found])
        return 0
    name = f"{found[0].namespace}/{found[0].dataset}" if found else args.dataset
    table = Table(title=f"versions of {name}" + (f" as of {args.as_of}" if args.as_of else ""))
    for column in ("partition", "version", "current", "produced by", "logical dates", "committed (first .. last)",
                   "rows", "readers"):
        table.add_column(column)
    for v in found:
        made = "external input" if v.external else f"{', '.join(v.jobs)} ×{len(v.producers)}" + (
            " (skips only)" if v.skipped_only else "")
        when = f"{v.first_committed or v.first_read or '-'}"
        if v.last_committed and v.last_committed != v.first_committed:
            when += f" .. {v.last_committed}"
        readers = str(v.readers) + (f" ({v.inferred_readers} by time)" if v.inferred_readers else "")
        table.add_row(v.partition, v.version, "yes" if v.current else "superseded", made,
                      ", ".join(d[:10] for d in v.logical_dates) or "-", when,
                      "-" if v.row_count is None else str(v.row_count), readers,
                      style="" if v.current else "dim")
    console.print(table)
    return 0


def as_of_command(store: LineageStore, cfg: Any, args: argparse.Namespace, console: Console) -> int:
    """The store as it stood at a time."""
    if args.as_of:
        raise LineageUsageError("as-of takes its time as TIME, not --as-of")
    if args.namespace is not None and args.dataset is None:
        raise LineageUsageError("--namespace names the namespace of --dataset: give --dataset too")
    snap = queries.snapshot(store, args.time, dataset=args.dataset, namespace=args.namespace)
    if args.json:
        print_json(console, snap.to_json())
        return 0
    states = ", ".join(f"{k} {v}" for k, v in snap.runs_by_state.items())
    console.print(f"as of {snap.as_of}: {snap.events} events; runs: {states or 'none'}")
    table = Table(title="datasets committed by then")
    for column in ("dataset", "slots", "versions"):
        table.add_column(column)
    for d in snap.datasets:
        table.add_row(d["dataset"], str(d["slots"]), str(d["versions"]))
    console.print(table)
    if snap.running:
        table = Table(title="running then (started, no terminal event yet)")
        for column in ("job", "DAG", "task", "logical date", "started", "run id"):
            table.add_column(column)
        for r in snap.running:
            table.add_row(r.job, r.dag_id or "-", r.task_id or "-", r.logical_date or "-", r.start_time, r.run_id)
        console.print(table)
    if args.dataset:
        table = Table(title=f"{args.dataset}: current version per slot then")
        for column in ("slot", "partition", "version", "committed", "run id"):
            table.add_column(column)
        for c in snap.current:
            table.add_row(c["slot"] or "-", c["partition"], c["version"], c["committed_at"], c["run_id"])
        console.print(table)
    return 0


def check_command(store: LineageStore, cfg: Any, args: argparse.Namespace, console: Console) -> int:
    """The consistency of the recorded lineage; exit 1 with --strict if it has problems."""
    report = queries.check(store, as_of=args.as_of)
    code = 1 if args.strict and report.problems else 0
    dead_letters = _dead_letters(cfg)
    if args.json:
        print_json(console, report.to_json() | ({"dead_letters": dead_letters} if dead_letters else {}))
        return code

    def section(title: str, rows: list[dict[str, Any]], columns: list[str], style: str = "") -> None:
        if not rows:
            console.print(f"{title}: none", style="green")
            return
        table = Table(title=f"{title}: {len(rows)}", title_style=style)
        for column in columns:
            table.add_column(column)
        for row in rows[:200]:
            table.add_row(*(str(row.get(c, "")) for c in columns))
        console.print(table)

    section("runs without a terminal event", report.incomplete_runs,
            ["run_id", "job_name", "state", "start_time", "dag_id", "task_id", "logical_date"], "yellow")
    section("FAIL / ABORT events", report.failed_runs,
            ["run_id", "job_name", "event_time", "final_state", "logical_date", "error_message"], "yellow")
    if report.as_of:
        console.print(f"as of {report.as_of} (events up to then; lines set aside are listed whatever their time)")
    section("conflicting terminal events (two at one eventTime)", [
        {"run_id": c["run_id"], "job": c["job"], "events": "; ".join(f"{e['type']} {e['time']} at {e['at']}"
                                                                      for e in c["events"])}
        for c in report.conflicting_runs], ["run_id", "job", "events"], "red")
    section("lines set aside (malformed, unsupported, unstorable)", report.malformed_lines,
            ["path", "line", "kind", "detail"], "red")
    by_dataset: dict[str, int] = {}
    for row in report.external_inputs:
        by_dataset[row["dataset"]] = by_dataset.get(row["dataset"], 0) + 1
    section("external inputs (never produced by a recorded run, e.g. raw drops; not errors)",
            [{"dataset": d, "versions": n} for d, n in sorted(by_dataset.items())], ["dataset", "versions"])
    if report.unversioned:
        section("datasets without a version facet (reads linked to the version current then; outputs "
                "versioned by their run; 'unlinked': nothing recorded was current)", report.unversioned,
                ["namespace", "dataset", "side", "runs", "unlinked"], "yellow")
    if dead_letters and dead_letters["events"]:
        console.print(f"events the service acknowledged but set aside: {dead_letters['events']} "
                      f"(with their reasons in {dead_letters['path']})", style="red")
    console.print(f"{report.problems} problem(s) in the lineage itself")
    return code


def _dead_letters(cfg: Any) -> dict[str, Any] | None:
    """The service's dead-letter file (lineage/spool.py) and its count of events, if there is a
    config to find it by. Its events are also among the malformed lines of the store they were for."""
    if cfg is None:
        return None
    try:
        counter = DeadLetterCount(spool_folder(cfg))
    except LineageUsageError:  # a spool that is not local: no service on this machine to ask
        return None
    return {"path": str(counter.path), "events": counter.value}

