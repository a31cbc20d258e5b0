"""``lineage backfill``: the plan after an upstream fix, then its execution by the executor the
command was given (``lineage.backfill.BackfillExecutor``), with the report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from lineage import backfill, queries
from lineage.backfill import BackfillExecutor, ExecutionOptions, ExecutionReport, TaskOutcome
from lineage.cli.output import print_json
from lineage.queries import LineageLookupError
from lineage.store import LineageStore, LineageUsageError


def backfill_command(store: LineageStore, cfg: Any, args: argparse.Namespace, console: Console,
                     executor: BackfillExecutor | None) -> int:
    """Plan, print the plan, and unless ``--dry-run`` or the plan is empty, execute it with ``executor``."""
    if bool(args.artifact) == bool(args.fixed):
        raise LineageLookupError("give DATASET@BAD_VERSION or --fixed DATASET[@FIXED_VERSION] (one of them)")
    if args.fixed:
        catalog = None
        if cfg is not None and not args.no_catalog:
            from lineage.catalog import Catalog

            catalog = Catalog(cfg)
        dataset, fixed = queries.parse_artifact(args.fixed)
        plan = backfill.plan_fixed(store, dataset, version=fixed, catalog=catalog, depth=args.depth)
    else:
        dataset, version = queries.parse_artifact(args.artifact)
        if version is None:
            raise LineageLookupError(f"give the bad version: {dataset}@VERSION, or the fixed one: --fixed "
                                     f"{dataset}@VERSION")
        plan = backfill.plan_bad_version(store, dataset, version, partition=args.partition, depth=args.depth)
    if args.json:
        print_json(console, plan.to_json())
    else:
        _print_plan(plan, console)
    if args.dry_run or plan.empty:
        return 0
    if cfg is None:
        raise LineageUsageError("executing a backfill needs the pipeline config (--config)")
    if executor is None:  # main refuses this before planning; a caller of this function may not
        raise LineageUsageError("no executor given: only --dry-run is possible")
    options = ExecutionOptions(airflow_url=args.airflow_url, airflow_user=args.airflow_user)
    report, path = executor(plan, cfg, store, options, lambda line: console.print(line, style="bold"))
    if args.json:
        print_json(console, report.to_json())
    else:
        _print_report(report, console, path)
    return 0 if report.complete else 1


def _print_report(report: ExecutionReport, console: Console, path: Path | None) -> None:
    table = Table(title=f"backfill report ({report.mode})")
    for column in ("DAG", "DAG run", "task", "outcome", "why"):
        table.add_column(column)
    for t in report.tasks:
        table.add_row(t.dag_id or "manual", _dag_run(t), t.task_id, t.outcome, t.reason)
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
    for column in ("#", "DAG", "DAG run", "tasks (in order)", "replaces"):
        table.add_column(column)
    for number, step in enumerate(plan.steps, start=1):
        tasks = " → ".join(t.task_id + (" (failed before)" if t.reason == "failed" else "") for t in step.tasks)
        replaces = sum(len(t.replaces) for t in step.tasks)
        table.add_row(str(number), step.dag_id or "manual (outside Airflow)", _dag_run(step), tasks, str(replaces))
    console.print(table)


def _dag_run(step: backfill.PlanStep | TaskOutcome) -> str:
    """A plan step's or task's DAG run: its id (what Airflow addresses it by), else its date."""
    return step.dag_run_id or step.logical_date or "-"
