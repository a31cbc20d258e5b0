"""``lineage``: ingest OpenLineage logs and ask version-aware questions (DESIGN §1 job 3, §4).

    lineage ingest [FILE ...] [--from-start]           the configured log by default
    lineage upstream ARTIFACT[@VERSION]                where it came from (latest version if none)
    lineage downstream DATASET[@VERSION]               what was derived from it (all versions if none)
    lineage impact DATASET@VERSION [--html out.html]   what read that version, transitively; current or superseded
    lineage versions DATASET                           every version per partition, current or not
    lineage as-of TIME [--dataset D]                   the store as it stood then
    lineage check [--strict]                           incomplete/failed runs, conflicts, duplicates, external inputs
    lineage serve [--host H] [--port P]                the HTTP service: producers post events, people browse
    lineage backfill DATASET@BAD_VERSION [--dry-run]   plan, then recompute through Airflow (or: --fixed DATASET)

Every query first ingests the configured log (``--no-ingest`` skips it); ``--as-of TIME``
answers from the events up to then; ``--depth`` bounds traversals (default 20). Output is a
table, ``--json`` for machines, ``--format dot|mermaid`` for pictures. Exit codes: 0 done,
1 ``check --strict`` found problems or a backfill did not complete, 2 unknown
dataset/version or bad usage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from lineage import backfill, graph_render, queries
from lineage.queries import DEFAULT_DEPTH, LineageGraph, LineageLookupError
from lineage.store import IngestReport, LineageStore, LineageUsageError


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="pipeline config (default: $PIPELINE_CONFIG or conf/pipeline.yaml)")
    common.add_argument("--store", help="SQLAlchemy URL of the store (default: lineage.store_url of the config)")
    common.add_argument("--json", action="store_true", help="print JSON instead of tables")
    query = argparse.ArgumentParser(add_help=False)
    query.add_argument("--no-ingest", action="store_true", help="do not ingest the configured log first")
    query.add_argument("--as-of", help="only events with eventTime <= this ISO time (UTC if no zone)")
    graph = argparse.ArgumentParser(add_help=False)
    graph.add_argument("--depth", type=int, default=DEFAULT_DEPTH, help="maximum run hops (default %(default)s)")
    graph.add_argument("--partition", help="only this partition of the dataset, e.g. ds=2026-01-01")
    graph.add_argument("--format", choices=["table", "json", "dot", "mermaid"], default="table")
    graph.add_argument("--html", metavar="FILE", help="also write the graph as a self-contained HTML page")

    parser = argparse.ArgumentParser(prog="lineage", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ingest", parents=[common], help="ingest JSONL files of OpenLineage events")
    p.add_argument("files", nargs="*", help="JSONL files (default: the configured log)")
    p.add_argument("--from-start", action="store_true", help="read whole files again (idempotent)")
    p = sub.add_parser("upstream", parents=[common, query, graph], help="provenance of an artifact version")
    p.add_argument("artifact", metavar="ARTIFACT[@VERSION]")
    p = sub.add_parser("downstream", parents=[common, query, graph], help="what was derived from a dataset (version)")
    p.add_argument("artifact", metavar="DATASET[@VERSION]")
    p = sub.add_parser("impact", parents=[common, query, graph], help="what a (bad) version affected")
    p.add_argument("artifact", metavar="DATASET@VERSION")
    p = sub.add_parser("versions", parents=[common, query], help="every version of a dataset per partition")
    p.add_argument("dataset")
    p = sub.add_parser("as-of", parents=[common, query], help="the store as it stood at a time")
    p.add_argument("time")
    p.add_argument("--dataset", help="also list the version of each of its slots current then")
    p = sub.add_parser("check", parents=[common, query], help="consistency of the recorded lineage")
    p.add_argument("--strict", action="store_true", help="exit 1 on conflicts, duplicates or malformed lines")
    p = sub.add_parser("backfill", parents=[common, query], help="plan the recomputation after an upstream fix")
    p.add_argument("artifact", nargs="?", metavar="DATASET@BAD_VERSION")
    p.add_argument("--fixed", metavar="DATASET", help="plan from every version of DATASET older than its current one")
    p.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    p.add_argument("--airflow-url", help="run through a running Airflow's REST API (default: embedded dag.test)")
    p.add_argument("--airflow-user", help="with --airflow-url: user for a token (password: $AIRFLOW_API_PASSWORD; "
                   "or give a token in $AIRFLOW_API_TOKEN)")
    p.add_argument("--depth", type=int, default=DEFAULT_DEPTH)
    p.add_argument("--partition", help="only this partition of the bad dataset")
    p.add_argument("--no-catalog", action="store_true",
                   help="with --fixed: ignore the committed manifests, use lineage alone")
    p = sub.add_parser("serve", parents=[common], help="HTTP service: OpenLineage endpoint, queries, web pages")
    p.add_argument("--host", help="default: lineage.serve.host of the config (127.0.0.1)")
    p.add_argument("--port", type=int, help="default: lineage.serve.port of the config")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lineage`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    # markup=False: partitions print as "[ds=...]", which rich would take for markup tags.
    console = Console(width=None if sys.stdout.isatty() else 160, markup=False)
    err = Console(stderr=True, width=None if sys.stderr.isatty() else 160, markup=False)
    try:
        cfg = _config(args)
        store = LineageStore(args.store) if args.store else LineageStore.from_config(cfg)
        if args.command == "ingest":
            return _ingest(store, cfg, args, console)
        if args.command == "serve":
            from lineage.service import serve

            if cfg is None:
                raise LineageUsageError("lineage serve needs the pipeline config (--config)")
            serve(cfg, store, args.host, args.port)
            return 0
        if not getattr(args, "no_ingest", False) and cfg is not None:
            for report in store.ingest_files(cfg.openlineage_log_paths()):
                _note_ingest(report, err)
        return _COMMANDS[args.command](store, cfg, args, console)
    except LineageLookupError as exc:
        err.print(f"lineage: {exc.args[0]}", style="red")
        return 2
    except LineageUsageError as exc:  # a bad --as-of, a store URL that cannot work
        err.print(f"lineage: {exc}", style="red")
        return 2


def _config(args: argparse.Namespace) -> Any:
    from user_pipeline.config import load_config

    try:
        return load_config(args.config)
    except FileNotFoundError:
        if args.store:  # a store given by URL needs no pipeline config (no log to ingest)
            return None
        raise


def _print_json(console: Console, data: Any) -> None:
    # Plain print: rich would wrap and highlight; machines want the bytes as they are.
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


# -- ingest ----------------------------------------------------------------------------------------
def _note_ingest(report: IngestReport, err: Console) -> None:
    if report.restarted:
        err.print(f"{report.path}: read again from the start: {report.restarted}", style="yellow")
    for issue in report.issues[:20]:
        err.print(str(issue), style="yellow")
    if len(report.issues) > 20:
        err.print(f"... and {len(report.issues) - 20} more (lineage check)", style="yellow")


def _ingest(store: LineageStore, cfg: Any, args: argparse.Namespace, console: Console) -> int:
    files = args.files or (cfg.openlineage_log_paths() if cfg is not None else [])
    if not files:
        raise LineageUsageError("no file given and no file transport configured")
    missing = [f for f in files if not Path(f).exists()]
    reports = [store.ingest_file(f, from_start=args.from_start) for f in files]
    if args.json:
        _print_json(console, {"files": [r.to_json() for r in reports], "missing": missing, "store": store.counts()})
        return 0
    table = Table(title="ingest")
    for column in ("file", "lines", "new events", "already stored", "duplicates", "malformed", "note"):
        table.add_column(column)
    for r in reports:
        note = "missing" if r.path in {os.path.abspath(m) for m in missing} else r.restarted
        note += " (unterminated last line left for later)" if r.pending_tail else ""
        table.add_row(r.path, str(r.lines), str(r.events_new), str(r.events_known), str(r.duplicates),
                      str(len(r.issues)), note)
    console.print(table)
    for r in reports:
        for issue in r.issues:
            console.print(str(issue), style="yellow")
    counts = store.counts()
    console.print(f"store: {counts['events']} events, {counts['runs']} runs, {counts['run_inputs']} inputs, "
                  f"{counts['run_outputs']} outputs")
    return 0


# -- graph queries -----------------------------------------------------------------------------------
def _graph_command(kind: str):
    def run(store: LineageStore, cfg: Any, args: argparse.Namespace, console: Console) -> int:
        dataset, version = queries.parse_artifact(args.artifact)
        common = {"partition": args.partition, "depth": args.depth, "as_of": args.as_of}
        if kind == "impact":
            if version is None:
                raise LineageLookupError(f"impact needs a version: {dataset}@VERSION (see: lineage versions {dataset})")
            graph = queries.impact(store, dataset, version, **common)
        elif kind == "upstream":
            graph = queries.upstream(store, dataset, version, **common)
        else:
            graph = queries.downstream(store, dataset, version, **common)
        if args.html:
            Path(args.html).write_text(graph_render.to_html(graph), encoding="utf-8")
        fmt = "json" if args.json else args.format
        if fmt == "json":
            _print_json(console, graph.to_json())
        elif fmt == "dot":
            sys.stdout.write(graph_render.to_dot(graph))
        elif fmt == "mermaid":
            sys.stdout.write(graph_render.to_mermaid(graph))
        else:
            _print_graph(graph, console)
            if args.html:
                console.print(f"wrote {args.html}")
        return 0

    return run


def _print_graph(graph: LineageGraph, console: Console) -> None:
    affected = graph.affected()
    current = [a for a in affected if a.status == "current" and not a.external]
    superseded = [a for a in affected if a.status == "superseded"]
    seeds = ", ".join(str(s) for s in graph.seeds[:5]) + (f" (+{len(graph.seeds) - 5})" if len(graph.seeds) > 5 else "")
    when = f" as of {graph.as_of}" if graph.as_of else ""
    console.print(f"{graph.query} of {seeds}{when}: {len(affected)} artifacts "
                  f"({len(current)} current, {len(superseded)} superseded), {len(graph.runs)} runs")
    if graph.truncated:
        console.print(f"cut at depth {graph.depth}: more lies beyond (--depth)", style="yellow")
    producers = {r.run_id: r for r in graph.runs}
    table = Table(title="artifacts")
    for column in ("depth", "dataset", "partition", "version", "status", "produced by", "replaced by"):
        table.add_column(column)
    for a in graph.artifacts:
        status = ("seed, " if a.seed else "") + ("external" if a.external else a.status)
        style = "yellow" if a.status == "current" and not a.seed and not a.external else (
            "dim" if a.status == "superseded" else "")
        made = [producers[p] for p in a.producers if p in producers]
        by = ", ".join(f"{r.job} {(r.logical_date or '')[:10]}" for r in made[:2]) or (
            f"{len(a.producers)} run(s)" if a.producers else "-")
        table.add_row(str(a.depth), a.dataset, a.partition, a.version, status, by, ", ".join(a.replaced_by),
                      style=style)
    console.print(table)
    table = Table(title="runs")
    for column in ("depth", "job", "state", "DAG", "task", "logical date", "DAG run", "run id"):
        table.add_column(column)
    for r in graph.runs:
        state = r.state + (" (skipped)" if r.skipped else "") + ("" if r.terminal else " (no terminal event)")
        table.add_row(str(r.depth), r.job, state, r.dag_id or "-", r.task_id or "-", r.logical_date or "-",
                      r.dag_run_id or "-", r.run_id, style="red" if r.state in ("FAIL", "ABORT") else "")
    console.print(table)


# -- versions, as-of, check --------------------------------------------------------------------------
def _versions(store: LineageStore, cfg: Any, args: argparse.Namespace, console: Console) -> int:
    found = queries.versions(store, args.dataset, as_of=args.as_of)
    if args.json:
        _print_json(console, [v.__dict__ for v in found])
        return 0
    table = Table(title=f"versions of {args.dataset}" + (f" as of {args.as_of}" if args.as_of else ""))
    for column in ("partition", "version", "current", "produced by", "logical dates", "committed (first .. last)",
                   "rows", "readers"):
        table.add_column(column)
    for v in found:
        made = "external input" if v.external else f"{', '.join(v.jobs)} ×{len(v.producers)}" + (
            " (skips only)" if v.skipped_only else "")
        when = f"{v.first_committed or v.first_read or '-'}"
        if v.last_committed and v.last_committed != v.first_committed:
            when += f" .. {v.last_committed}"
        table.add_row(v.partition, v.version, "yes" if v.current else "superseded", made,
                      ", ".join(d[:10] for d in v.logical_dates) or "-", when,
                      "-" if v.row_count is None else str(v.row_count), str(v.readers),
                      style="" if v.current else "dim")
    console.print(table)
    return 0


def _as_of(store: LineageStore, cfg: Any, args: argparse.Namespace, console: Console) -> int:
    snap = queries.snapshot(store, args.time, dataset=args.dataset)
    if args.json:
        _print_json(console, snap.to_json())
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


def _check(store: LineageStore, cfg: Any, args: argparse.Namespace, console: Console) -> int:
    report = queries.check(store)
    code = 1 if args.strict and report.problems else 0
    if args.json:
        _print_json(console, report.to_json())
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
    section("conflicting terminal events", [
        {"run_id": c["run_id"], "job": c["job"], "events": "; ".join(f"{e['type']} {e['time']} at {e['at']}"
                                                                      for e in c["events"])}
        for c in report.conflicting_runs], ["run_id", "job", "events"], "red")
    section("duplicate events", report.duplicate_events, ["path", "line", "detail"], "red")
    section("malformed lines", report.malformed_lines, ["path", "line", "kind", "detail"], "red")
    by_dataset: dict[str, int] = {}
    for row in report.external_inputs:
        by_dataset[row["dataset"]] = by_dataset.get(row["dataset"], 0) + 1
    section("external inputs (never produced by a recorded run, e.g. raw drops; not errors)",
            [{"dataset": d, "versions": n} for d, n in sorted(by_dataset.items())], ["dataset", "versions"])
    if report.unversioned:
        section("datasets without a version facet (not version-tracked)", report.unversioned,
                ["dataset", "side", "runs"], "yellow")
    console.print(f"{report.problems} problem(s) in the lineage itself")
    return code


# -- backfill ------------------------------------------------------------------------------------------
def _backfill(store: LineageStore, cfg: Any, args: argparse.Namespace, console: Console) -> int:
    if bool(args.artifact) == bool(args.fixed):
        raise LineageLookupError("give DATASET@BAD_VERSION or --fixed DATASET (one of them)")
    if args.fixed:
        catalog = None
        if cfg is not None and not args.no_catalog:
            from lineage.catalog import Catalog

            catalog = Catalog(cfg)
        plan = backfill.plan_fixed(store, args.fixed, catalog=catalog, depth=args.depth)
    else:
        dataset, version = queries.parse_artifact(args.artifact)
        if version is None:
            raise LineageLookupError(f"give the bad version: {dataset}@VERSION, or --fixed {dataset}")
        plan = backfill.plan_bad_version(store, dataset, version, partition=args.partition, depth=args.depth)
    if args.json:
        _print_json(console, plan.to_json())
    else:
        _print_plan(plan, console)
    if args.dry_run or plan.empty:
        return 0
    if cfg is None:
        raise LineageUsageError("executing a backfill needs the pipeline config (--config)")
    from user_pipeline.runner import backfill as execution

    if args.airflow_url:
        runner = execution.AirflowApiRunner(args.airflow_url, os.environ.get("AIRFLOW_API_TOKEN"),
                                            args.airflow_user, os.environ.get("AIRFLOW_API_PASSWORD"))
    else:
        runner = execution.EmbeddedRunner(cfg)
    report = execution.execute(plan, cfg, store, runner, progress=lambda line: console.print(line, style="bold"))
    path = execution.write_report(cfg, report)
    if args.json:
        _print_json(console, report.to_json())
    else:
        _print_report(report, console, path)
    return 0 if report.complete else 1


def _print_report(report: Any, console: Console, path: Path | None) -> None:
    table = Table(title=f"backfill report ({report.mode})")
    for column in ("DAG", "logical date", "task", "outcome", "why"):
        table.add_column(column)
    for t in report.tasks:
        table.add_row(t.dag_id or "manual", t.logical_date or "-", t.task_id, t.outcome, t.reason)
    console.print(table)
    counts = ", ".join(f"{report.count(k)} {k}" for k in ("executed", "skipped", "failed", "not-run", "manual")
                       if report.count(k))
    console.print(f"planned {len(report.tasks)} = {counts}", highlight=False)
    if report.stopped:
        console.print(f"stopped: {report.stopped}", style="red")
    if report.still_current:
        console.print(f"still current and derived from the bad versions: {', '.join(report.still_current)}",
                      style="red")
    else:
        console.print("check: the impact of the bad versions holds no current artifact", style="green")
    if path is not None:
        console.print(f"report: {path}")


def _print_plan(plan: backfill.BackfillPlan, console: Console) -> None:
    seeds = ", ".join(str(s) for s in plan.seeds[:5]) + (f" (+{len(plan.seeds) - 5})" if len(plan.seeds) > 5 else "")
    console.print(f"backfill plan ({plan.mode}) from {seeds or 'nothing'}: "
                  f"{len(plan.to_recompute)} current artifacts to recompute, {len(plan.superseded)} already "
                  f"superseded, {sum(len(s.tasks) for s in plan.steps)} tasks in {len(plan.steps)} DAG runs",
                  highlight=False)
    for warning in plan.warnings:
        console.print(warning, style="yellow")
    if plan.empty:
        console.print("nothing to recompute: nothing derived from these versions is current", style="green")
        return
    table = Table(title="steps, in order")
    for column in ("#", "DAG", "logical date", "tasks (in order)", "replaces"):
        table.add_column(column)
    for number, step in enumerate(plan.steps, start=1):
        tasks = " → ".join(t.task_id + (" (failed before)" if t.reason == "failed" else "") for t in step.tasks)
        replaces = sum(len(t.replaces) for t in step.tasks)
        table.add_row(str(number), step.dag_id or "manual (outside Airflow)", step.logical_date or "-", tasks,
                      str(replaces))
    console.print(table)


_COMMANDS = {
    "upstream": _graph_command("upstream"),
    "downstream": _graph_command("downstream"),
    "impact": _graph_command("impact"),
    "versions": _versions,
    "as-of": _as_of,
    "check": _check,
    "backfill": _backfill,
}


if __name__ == "__main__":
    sys.exit(main())
