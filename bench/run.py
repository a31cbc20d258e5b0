"""Benchmark: 100k users for one day, each step's job vs plain pandas, and the whole DAG.

    python -m bench.run [--users 100000] [--repeat 3] [--data-root /tmp/bench]

Prints, per step: median wall time of the job (its own process, as the DAG runs it) and of the
same work in plain pandas in this process, rows/s, the job's peak RSS, and the ratio; then the
wall time of a whole ``dag.test`` run on the same data. All figures are from one run on one
machine; repeat the command to see the noise.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import use_data_root
from lineage.catalog import Catalog
from user_pipeline.config import load_config
from user_pipeline.steps import registry

console = Console(width=140)
DS = "2026-01-01"


def _run_child(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.read().decode()[-3000:]}")
    return elapsed, usage.ru_maxrss / 1024


def _time(fn, repeat: int) -> tuple[float, int]:
    times, rows = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        rows = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data-root")
    args = parser.parse_args(argv)

    root, env = use_data_root(args.data_root, "user-pipeline-bench-")
    cfg = load_config()
    # The training span is one day here: every step sees the same 100k users.
    from user_pipeline.datagen.generate import generate

    start = time.perf_counter()
    generate(cfg, start_date=DS, days=1, users_per_day=args.users)
    console.print(f"generated {args.users} users for {DS} in {time.perf_counter() - start:.1f}s under {root}")

    start = time.perf_counter()
    dag = subprocess.run([sys.executable, "-m", "user_pipeline.runner.local", "--no-generate", "--days", "1",
                          "--start-date", DS], env=env, capture_output=True, text=True)
    dag_total = time.perf_counter() - start
    found = re.search(rf"DAG RUN {re.escape(cfg.airflow.dag_id)} \S+: success in ([0-9.]+)s", dag.stdout)
    if dag.returncode != 0 or not found:
        console.print(dag.stdout[-3000:], dag.stderr[-3000:])
        raise SystemExit("the DAG run failed")
    dag_seconds = float(found.group(1))

    from bench import pandas_baseline
    from transforms import features

    scratch = Path(tempfile.mkdtemp(prefix="pandas-baseline-"))
    catalog = Catalog(cfg)
    timed = ("ingest", "despam", "id_merge", "clean", "preprocess", "train")
    modules = {name: registry.step(name).job for name in timed}
    # Rows in: the lines of the raw drops for ingest, else the rows of the step's first input.
    rows_in = {name: catalog.require(registry.step(name).reads[0], DS).row_count for name in timed[1:]}
    rows_in["ingest"] = catalog.require(registry.step("ingest").main_output, DS).extra["lines_read"]
    # ID-merge has no plain-pandas twin: its baselines are recordlinkage and Splink on FEBRL
    # (bench.id_merge_side_by_side) and its scale bench (bench.id_merge_scale).
    baselines = {
        "ingest": lambda: pandas_baseline.ingest(cfg, DS, scratch),
        "despam": lambda: pandas_baseline.despam(cfg, DS, scratch),
        "clean": lambda: pandas_baseline.clean(cfg, DS, scratch),
        "preprocess": lambda: pandas_baseline.preprocess(
            cfg, DS, scratch, list(features.NUMERIC_FEATURES), list(features.CATEGORICAL_FEATURES)),
        "train": lambda: pandas_baseline.train(scratch),
    }
    results = []
    for step, module in modules.items():
        runs = [_run_child([sys.executable, "-m", module, f"--ds={DS}", "--force"], env) for _ in range(args.repeat)]
        job_s = statistics.median(r[0] for r in runs)
        peak = max(r[1] for r in runs)
        pandas_s = _time(baselines[step], args.repeat)[0] if step in baselines else None
        results.append({"step": step, "rows_in": rows_in[step], "job_s": job_s, "pandas_s": pandas_s,
                        "job_rows_per_s": rows_in[step] / job_s, "peak_rss_mib": peak,
                        "ratio": job_s / pandas_s if pandas_s else None})

    # Each gate against the step whose output it validates (target: gate < 20% of that step).
    step_seconds = {r["step"]: r["job_s"] for r in results}
    guarded = {g.dataset: registry.writer_of(g.dataset).name for g in registry.steps(registry.DAILY)
               if g.job == "expectations.gate" and g.dataset in {d for s in timed for d in registry.step(s).writes}}
    gates = []
    for dataset, step in guarded.items():
        # --force: the DAG run validated this version already; a gate would reuse that result.
        runs = [_run_child([sys.executable, "-m", "expectations.gate", f"--dataset={dataset}", f"--ds={DS}", "--force"],
                           env)
                for _ in range(args.repeat)]
        gate_s = statistics.median(r[0] for r in runs)
        gates.append({"dataset": dataset, "step": step, "gate_s": gate_s, "step_s": step_seconds[step],
                      "share": gate_s / step_seconds[step], "peak_rss_mib": max(r[1] for r in runs)})

    table = Table(title=f"{args.users} users, {DS}, median of {args.repeat}")
    for column in ("step", "rows in", "job s", "rows/s", "peak RSS MiB", "pandas s", "job / pandas"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(r["step"], str(r["rows_in"]), f"{r['job_s']:.1f}", f"{r['job_rows_per_s']:,.0f}",
                      f"{r['peak_rss_mib']:,.0f}", f"{r['pandas_s']:.1f}" if r["pandas_s"] else "-",
                      f"{r['ratio']:.1f}x" if r["ratio"] else "-")
    console.print(table)
    gate_table = Table(title="gates (a fresh process each, as the DAG runs them) vs the step they guard")
    for column in ("dataset", "gate s", "step", "step s", "gate / step", "peak RSS MiB"):
        gate_table.add_column(column, justify="right")
    for g in gates:
        gate_table.add_row(g["dataset"], f"{g['gate_s']:.1f}", g["step"], f"{g['step_s']:.1f}",
                           f"{g['share']:.0%}", f"{g['peak_rss_mib']:,.0f}")
    console.print(gate_table)
    console.print(f"whole DAG (dag.test, one date): {dag_seconds:.1f}s (target < 180s); "
                  f"{dag_total:.1f}s with Airflow start-up, DB migration and the spam_filter and id_matcher DAGs")
    (root / "bench_results.json").write_text(
        json.dumps({"steps": results, "gates": gates, "dag_s": dag_seconds, "dag_total_s": dag_total}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
