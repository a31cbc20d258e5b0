"""Benchmark: where the time of one small date goes — the jobs' work or each task's overhead.

    python -m bench.overhead [--users 2000] [--repeat 3] [--data-root /tmp/overhead]

Generates one date of ``--users`` users on two data roots and runs the embedded runner on each
(the model DAGs first, as ``make demo`` does): once with each task's process started when the task
starts (``--cold``, as under a scheduler), once with the next tasks' processes started ahead while
a task runs (the default: user_pipeline.runner.warm), and checks both committed the same versions.
For each run it reads the run's own lineage: for every Airflow task of the daily DAG,
the task's wall time (the provider's START -> COMPLETE), the job's own work (the START ->
COMPLETE of the job run whose parent is that task) and the difference, the overhead, split into
before the job's START (task start, interpreter, imports, planning) and after its COMPLETE
(process exit, task end). Then, per job module, what a process pays before it does anything:
the interpreter alone, and importing the module (median of ``--repeat`` fresh processes), with
the heavy libraries among its imports (``-X importtime``). A second run of the same date on each
root (every step skips) shows the overhead alone. All figures come from one run on one machine: compare
ratios and medians within a run, not across machines. Heavy libraries a job imports only when it
computes count as its work in the lineage; what each step preloads, and its import cost, is
printed last.
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


def run_date(env: dict[str, str], dag_id: str, *flags: str) -> float:
    """Run the embedded runner on the generated date; the daily DAG run's seconds."""
    done = subprocess.run([sys.executable, "-m", "user_pipeline.runner.local", "--no-generate", "--days", "1",
                           "--start-date", DS, *flags], env=env, capture_output=True, text=True)
    found = re.search(rf"DAG RUN {re.escape(dag_id)} \S+: success in ([0-9.]+)s", done.stdout)
    if done.returncode != 0 or not found:
        console.print(done.stdout[-3000:], done.stderr[-3000:])
        raise SystemExit("the DAG run failed")
    return float(found.group(1))


def _versions(root: Path) -> dict[tuple[str, str], str]:
    """Every committed (dataset, partition) under ``root`` and its content version."""
    from lineage.catalog import Catalog

    catalog = Catalog(load_config(data_root=str(root)))
    return {(d, value): catalog.require(d, value).version for d in catalog.cfg.datasets
            for value in catalog.committed(d)}


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

    base, _ = use_data_root(args.data_root, "user-pipeline-overhead-")
    # The same generated date on two data roots: each task's process started when the task starts
    # (--cold, as under a scheduler), then started ahead while the task before runs (the default).
    walls = {}
    for mode, flags in (("cold", ("--cold",)), ("warm", ())):
        root, env = use_data_root(str(base / mode), "")
        cfg = load_config()
        from user_pipeline.datagen.generate import generate

        generate(cfg, start_date=DS, days=1, users_per_day=args.users)
        log = Path(cfg.openlineage_log_paths()[0])
        walls[mode] = run_date(env, cfg.airflow.dag_id, *flags)
        show(f"one date, {args.users} users, processes started {'ahead' if mode == 'warm' else 'per task'} "
             f"({mode}): DAG run {walls[mode]:.1f}s", task_times(log, cfg.airflow.dag_id))
    versions = {mode: _versions(base / mode) for mode in walls}
    console.print(f"one date: cold {walls['cold']:.1f}s, warm {walls['warm']:.1f}s "
                  f"(warm/cold {walls['warm'] / walls['cold']:.2f}); the same {len(versions['warm'])} versions "
                  f"committed: {versions['cold'] == versions['warm']}")
    for mode, flags in (("cold", ("--cold",)), ("warm", ())):
        root, env = use_data_root(str(base / mode), "")
        cfg = load_config()
        since = datetime.now().astimezone()
        again = run_date(env, cfg.airflow.dag_id, *flags)
        show(f"the same date again ({mode}), every step skips: DAG run {again:.1f}s",
             task_times(Path(cfg.openlineage_log_paths()[0]), cfg.airflow.dag_id, since=since))

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
    # its work: what each costs a fresh process (the steps' preload, user_pipeline.steps.registry).
    table = Table(title=f"what the daily steps preload (median of {args.repeat} fresh processes)")
    for column in ("preload", "import s", "steps"):
        table.add_column(column)
    preloads: dict[str, list[str]] = defaultdict(list)
    for step in steps(DAILY):
        for entry in step.preload:
            preloads[entry].append(step.name)
    for entry, names in preloads.items():
        module, _, function = entry.partition(":")
        code = f"import {module}" + (f"; {module}.{function}()" if function else "")
        seconds = statistics.median(_wall([sys.executable, "-c", code], env) for _ in range(args.repeat))
        table.add_row(entry, f"{seconds:.2f}", ", ".join(names))
    console.print(table)
    console.print(f"data under {base}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
