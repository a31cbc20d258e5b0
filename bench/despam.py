"""Benchmark: de-spam scoring throughput on 1M users, the Beam job vs plain pandas/scikit-learn.

    python -m bench.despam [--users 1000000] [--data-root /tmp/bench-despam]

Generates one day, trains the spam filter and ingests it (not timed), then times the de-spam job
in its own process (as the DAG runs it, start-up included) and the same model and rule applied
by ``bench.pandas_baseline.despam`` in this process, one after the other in one run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from bench.run import _run_child
from lineage.catalog import Catalog
from user_pipeline.config import load_config

console = Console(width=120)
DS = "2026-01-01"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--data-root")
    args = parser.parse_args(argv)
    root = Path(args.data_root or tempfile.mkdtemp(prefix="bench-despam-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENLINEAGE")}
    env["PIPELINE_DATA_ROOT"] = os.environ["PIPELINE_DATA_ROOT"] = str(root)
    cfg = load_config()
    from user_pipeline.datagen.generate import generate

    generate(cfg, start_date=DS, days=1, users_per_day=args.users)
    for module in ("user_pipeline.training.spam_filter", "beam_jobs.ingest"):
        subprocess.run([sys.executable, "-m", module, f"--ds={DS}"], env=env, check=True, capture_output=True)
    users = Catalog(cfg).require("staging.users_ingested", DS).row_count

    job_s, peak = _run_child([sys.executable, "-m", "beam_jobs.despam", f"--ds={DS}", "--force"], env)
    from bench import pandas_baseline

    scratch = Path(tempfile.mkdtemp(prefix="despam-pandas-"))
    start = time.perf_counter()
    pandas_baseline.despam(cfg, DS, scratch)
    pandas_s = time.perf_counter() - start
    quarantined = Catalog(cfg).require("staging.spam_quarantine", DS).row_count
    console.print(f"de-spam of {users:,} users ({quarantined:,} quarantined): job {job_s:.1f} s "
                  f"({users / job_s:,.0f} users/s, peak RSS {peak:,.0f} MiB) vs pandas {pandas_s:.1f} s "
                  f"({users / pandas_s:,.0f} users/s): job / pandas {job_s / pandas_s:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
