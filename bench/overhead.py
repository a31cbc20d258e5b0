"""Benchmark: where the time of one small date goes — the jobs' work or each task's overhead.

    python -m bench.overhead [--users 2000] [--repeat 3] [--data-root /tmp/overhead]

Generates one date of ``--users`` users, runs the embedded runner on it (the model DAGs first, as
``make demo`` does), and reads the run's own lineage: for every Airflow task of the daily DAG,
the task's wall time (the provider's START -> COMPLETE), the job's own work (the START ->
COMPLETE of the job run whose parent is that task) and the difference, the overhead, split into
before the job's START (task start, interpreter, imports, planning) and after its COMPLETE
(process exit, task end). Then, per job module, what a process pays before it does anything:
the interpreter alone, and importing the module (median of ``--repeat`` fresh processes), with
the heavy libraries among its imports (``-X importtime``). A second run of the same date (every
step skips) shows the overhead alone. All figures come from one run on one machine: compare
ratios and medians within a run, not across machines. Heavy libraries a job imports only when it
computes count as its work in the lineage; their import cost is printed last.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import use_data_root
from user_pipeline.config import load_config
from user_pipeline.steps.registry import DAILY, steps

console = Console(width=150)
DS = "2026-01-01"
# Libraries that cost a task seconds to import (the rest is well under one).
HEAVY = ("tensorflow", "tensorflow_transform", "tf_keras", "great_expectations", "apache_beam", "sklearn",
         "scipy", "matplotlib", "pandas", "pyarrow", "openlineage", "airflow")

# Libraries jobs import lazily (only when they compute), and the jobs that do.
LAZY = {
    "great_expectations": "expectations.gate (when it validates)",
    "tensorflow_transform.beam": "beam_jobs.preprocess",
    "tf_keras": "user_pipeline.training.train",
    "tensorflow": "user_pipeline.training.evaluate (serving model), skew",
}


def _runs(log: Path, since: datetime | None = None) -> dict[str, dict]:
    """Every run in the JSONL log (events from ``since`` on): job name, event times by type, parent
    run id. The provider's task run ids are derived from the date and try, so a second run of the
    same date re-uses them: hence ``since``."""
    runs: dict[str, dict] = {}
    for line in log.read_text().splitlines():
        if not line.strip():
            continue
        event = json.loads(line)
        at = datetime.fromisoformat(event["eventTime"].replace("Z", "+00:00"))
        if since and at < since:
            continue
        run = runs.setdefault(event["run"]["runId"], {"job": event["job"]["name"]})
        run.setdefault(event["eventType"], at)
        parent = (event["run"].get("facets") or {}).get("parent")
        if parent:
            run["parent"] = parent["run"]["runId"]
    return runs


def task_times(log: Path, dag_id: str, since: datetime | None = None) -> list[dict]:
    """Per task of ``dag_id`` (in start order): task wall, job work, overhead before/after the job."""
    runs = _runs(log, since)
    children = defaultdict(list)
    for run in runs.values():
        if "parent" in run:
            children[run["parent"]].append(run)
    rows = []
    tasks = {step.name for step in steps(DAILY)}
    for run_id, run in runs.items():
        dag, _, task = run["job"].partition(".")
        end = run.get("COMPLETE") or run.get("FAIL")
        if dag != dag_id or task not in tasks or "START" not in run or end is None:
            continue
        job = next((c for c in children[run_id] if "START" in c and (c.get("COMPLETE") or c.get("FAIL"))), None)
        row = {"task": task, "start": run["START"], "wall": (end - run["START"]).total_seconds(),
               "job": None, "work": None, "overhead": None, "before": None, "after": None}
        if job:
            job_end = job.get("COMPLETE") or job.get("FAIL")
            row.update(job=job["job"], work=(job_end - job["START"]).total_seconds(),
                       before=(job["START"] - run["START"]).total_seconds(),
                       after=(end - job_end).total_seconds())
            row["overhead"] = row["wall"] - row["work"]
        rows.append(row)
    return sorted(rows, key=lambda r: r["start"])


def _wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def import_costs(module: str, env: dict[str, str], repeat: int) -> tuple[float, dict[str, float]]:
    """Median wall seconds of a fresh process importing ``module``; seconds of the heavy libraries
    among its imports (cumulative, from ``-X importtime``)."""
    median = statistics.median(_wall([sys.executable, "-c", f"import {module}"], env) for _ in range(repeat))
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], env=env,
                          capture_output=True, text=True, check=True)
    heavy = {}
    for line in done.stderr.splitlines():
        found = re.match(r"import time:\s+\d+ \|\s+(\d+) \|\s?( *)(\S+)$", line)
        if found and found.group(3) in HEAVY and found.group(3) not in heavy:
            heavy[found.group(3)] = int(found.group(1)) / 1e6
    return median, heavy


def run_date(env: dict[str, str], dag_id: str) -> float:
    """Run the embedded runner on the generated date; the daily DAG run's seconds."""
    done = subprocess.run([sys.executable, "-m", "user_pipeline.runner.local", "--no-generate", "--days", "1",
                           "--start-date", DS], env=env, capture_output=True, text=True)
    found = re.search(rf"DAG RUN {re.escape(dag_id)} \S+: success in ([0-9.]+)s", done.stdout)
    if done.returncode != 0 or not found:
        console.print(done.stdout[-3000:], done.stderr[-3000:])
        raise SystemExit("the DAG run failed")
    return float(found.group(1))


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def show(title: str, rows: list[dict]) -> None:
    """One table of task times, then the medians and totals."""
    table = Table(title=title)
    for column in ("task", "job", "task wall s", "job work s", "overhead s", "before START", "after COMPLETE"):
        table.add_column(column, justify="left" if column in ("task", "job") else "right")
    for r in rows:
        table.add_row(r["task"], r["job"] or "(no lineage run)", _fmt(r["wall"]), _fmt(r["work"]),
                      _fmt(r["overhead"]), _fmt(r["before"]), _fmt(r["after"]))
    console.print(table)
    measured = [r for r in rows if r["overhead"] is not None]
    if measured:
        console.print(f"  tasks {len(rows)}; median overhead {statistics.median(r['overhead'] for r in measured):.2f}s "
                      f"(before START {statistics.median(r['before'] for r in measured):.2f}s, after COMPLETE "
                      f"{statistics.median(r['after'] for r in measured):.2f}s); sum of task walls "
                      f"{sum(r['wall'] for r in rows):.1f}s, of job work {sum(r['work'] for r in measured):.1f}s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data-root")
    args = parser.parse_args(argv)

    root, env = use_data_root(args.data_root, "user-pipeline-overhead-")
    cfg = load_config()
    from user_pipeline.datagen.generate import generate

    generate(cfg, start_date=DS, days=1, users_per_day=args.users)
    log = Path(cfg.openlineage_log_paths()[0])
    first = run_date(env, cfg.airflow.dag_id)
    show(f"one date, {args.users} users: DAG run {first:.1f}s", task_times(log, cfg.airflow.dag_id))
    since = datetime.now().astimezone()
    again = run_date(env, cfg.airflow.dag_id)
    show(f"the same date again, every step skips: DAG run {again:.1f}s",
         task_times(log, cfg.airflow.dag_id, since=since))

    table = Table(title=f"what a fresh process pays before the job starts (median of {args.repeat})")
    for column in ("module", "import s", "heavy libraries among its imports (s, cumulative)"):
        table.add_column(column)
    interpreter = statistics.median(_wall([sys.executable, "-c", "pass"], env) for _ in range(args.repeat))
    table.add_row("(interpreter alone)", f"{interpreter:.2f}", "")
    for module in sorted({s.job for s in steps(DAILY)}):
        seconds, heavy = import_costs(module, env, args.repeat)
        table.add_row(module, f"{seconds:.2f}", ", ".join(f"{k} {v:.1f}" for k, v in
                                                          sorted(heavy.items(), key=lambda kv: -kv[1]) if v >= 0.3))
    console.print(table)
    # A job imports these where it computes (not when it skips), so in the lineage they count as
    # its work: this is what each costs a fresh process, to read the tables above honestly.
    table = Table(title=f"libraries imported inside a job's work (median of {args.repeat} fresh processes)")
    for column in ("library", "import s", "imported by"):
        table.add_column(column)
    for library, users in LAZY.items():
        seconds = statistics.median(_wall([sys.executable, "-c", f"import {library}"], env)
                                    for _ in range(args.repeat))
        table.add_row(library, f"{seconds:.2f}", users)
    console.print(table)
    console.print(f"data under {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
