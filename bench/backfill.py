"""Benchmark: backfill amplification after the spam-label fix, against Airflow's own clear.

    python -m bench.backfill [--days 3] [--users-per-day 2000] [--data-root /tmp/bench-backfill]

Runs the pipeline for ``--days`` dates with labels v1, then the backfill story
(``user_pipeline.runner.demo_backfill``: fix to v2, ``lineage backfill --fixed reference.spam_labels``), and
counts tasks:

- **minimal**: the planned tasks that had to run, because at least one input version they read
  in the backfill differs from what their previous run read (anything else would reproduce its
  previous result);
- **executed**: tasks that recomputed (not a content-addressed skip) to repair: in the backfill,
  plus the spam_filter run the fix's asset event triggered before it (that run already retrained
  on v2, so the backfill's spam_filter tasks skip);
- **Airflow clear**: what "clear downstream for the date range" re-runs with Airflow alone (no
  lineage, no content-addressed skip): the spam_filter DAG from its labels gate down, and every
  date's ``user_pipeline`` from de-spam down (the first task that reads the spam filter); and the
  cruder "clear the whole date range".

Amplification = executed / minimal (target 1.0). Figures are from one run on this machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from lineage.store import LineageStore, normalise_time, run_inputs, runs
from user_pipeline.config import load_config

console = Console(width=140)


def _inputs(conn, run_id: str) -> set[tuple[str, str, str]]:
    query = sa.select(run_inputs.c.dataset, run_inputs.c.partition, run_inputs.c.version).where(
        run_inputs.c.run_id == run_id)
    return {tuple(row) for row in conn.execute(query)}


def _previous_inputs(conn, task: dict, before: str) -> set[tuple[str, str, str]] | None:
    """Inputs of the last completed job run of the same task before the backfill started."""
    query = sa.select(runs.c.run_id).where(
        runs.c.dag_id == task["dag_id"], runs.c.task_id == task["task_id"],
        runs.c.logical_date == task["logical_date"], runs.c.state == "COMPLETE",
        runs.c.job_name != f"{task['dag_id']}.{task['task_id']}", runs.c.start_time < before,
    ).order_by(runs.c.start_time.desc()).limit(1)
    found = conn.execute(query).first()
    return _inputs(conn, found[0]) if found else None


def _airflow_clear(days: int) -> tuple[int, int]:
    """Tasks re-run by Airflow's clear-with-downstream from the first spam-dependent task, and by
    clearing whole DAG runs, counted from the DAG definitions."""
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from airflow.dag_processing.dagbag import DagBag

    from user_pipeline.config import REPO_ROOT

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    spam, daily = bag.dags["spam_filter"], bag.dags["user_pipeline"]
    from_gate = spam.partial_subset(["gate_spam_labels"], include_downstream=True, include_upstream=False)
    from_despam = daily.partial_subset(["despam"], include_downstream=True, include_upstream=False)
    return len(from_gate.task_ids) + days * len(from_despam.task_ids), len(spam.task_ids) + days * len(daily.task_ids)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--users-per-day", type=int, default=2000)
    parser.add_argument("--data-root", help="default: a fresh temporary folder")
    args = parser.parse_args(argv)

    root = args.data_root or tempfile.mkdtemp(prefix="bench-backfill-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINEAGE", "AIRFLOW"))}
    env["PIPELINE_DATA_ROOT"] = root
    console.print(f"data root {root}: {args.days} dates x {args.users_per_day} users, labels v1")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "user_pipeline.runner.local", "--days", str(args.days),
                           "--users-per-day", str(args.users_per_day)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        console.print(done.stdout[-3000:], done.stderr[-3000:])
        return 1
    pipeline_seconds = time.perf_counter() - start
    pipeline_done = normalise_time(datetime.now(UTC).isoformat())
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "user_pipeline.runner.demo_backfill", "--days", str(args.days),
                           "--skip-pipeline"],
                          env=env, capture_output=True, text=True)
    backfill_seconds = time.perf_counter() - start
    if done.returncode != 0:
        console.print(done.stdout[-3000:], done.stderr[-3000:])
        return 1
    report = json.loads(sorted((Path(root) / "reports" / "backfill").glob("*.json"))[-1].read_text())
    cfg = load_config(Path(root) / "demo" / "pipeline.v2.yaml")
    store = LineageStore.from_config(cfg)
    store.ingest_files(cfg.openlineage_log_paths())
    before = normalise_time(report["started_at"])
    minimal, executed, rows = 0, 0, []
    with store.connect() as conn:
        for task in report["tasks"]:
            now = _inputs(conn, task["job_runs"][-1]) if task["job_runs"] else set()
            then = _previous_inputs(conn, task, before)
            needed = then is None or now != then
            minimal += needed
            executed += task["outcome"] == "executed"
            rows.append((task["dag_id"], task["logical_date"][:10], task["task_id"], task["outcome"],
                         "yes" if needed else "no"))
        # The asset-triggered retraining between the pipeline and the backfill (not the fix itself).
        triggered = conn.execute(sa.select(runs.c.dag_id, runs.c.task_id).where(
            runs.c.start_time > pipeline_done, runs.c.start_time < before, runs.c.state == "COMPLETE",
            runs.c.skipped.is_(False), runs.c.dag_id == "spam_filter", runs.c.task_id.isnot(None),
            runs.c.job_name.notlike("spam_filter.%"))).all()  # job runs, not the provider's task runs
    executed += len(triggered)
    clear_downstream, clear_all = _airflow_clear(args.days)
    # Airflow alone runs the asset-triggered retraining too, then re-runs everything it clears.
    clear_downstream += len(triggered)
    clear_all += len(triggered)

    table = Table(title="planned tasks")
    for column in ("DAG", "date", "task", "outcome", "inputs changed"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
    summary = Table(title=f"backfill amplification, {args.days} dates x {args.users_per_day} users")
    for column in ("", "tasks", "÷ minimal"):
        summary.add_column(column)
    summary.add_row("minimal affected set", str(minimal), "1.00")
    summary.add_row("planned (lineage)", str(report["planned"]), f"{report['planned'] / minimal:.2f}")
    summary.add_row(f"executed to repair (backfill + {len(triggered)} asset-triggered)", str(executed),
                    f"{executed / minimal:.2f}")
    summary.add_row("Airflow: asset-triggered run + clear downstream of the first affected task", str(clear_downstream),
                    f"{clear_downstream / minimal:.2f}")
    summary.add_row("Airflow: asset-triggered run + clear the whole date range", str(clear_all),
                    f"{clear_all / minimal:.2f}")
    console.print(summary)
    console.print(f"pipeline {pipeline_seconds:.0f} s for {args.days} dates; fix + impact + plan + backfill + "
                  f"check {backfill_seconds:.0f} s; complete: {report['complete']}")
    return 0 if report["complete"] else 1


if __name__ == "__main__":
    sys.exit(main())
