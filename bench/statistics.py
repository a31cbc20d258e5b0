"""Benchmark: statistics and drift over 1M rows x 30 columns (issue 6; target: under 30 s here).

    python -m bench.statistics [--rows 1000000] [--columns 30] [--repeats 3]

Synthetic current and reference tables (not timed): a third each of float, integer and string
columns (strings with 5 to 1,000 categories). Timed, per repeat: the statistics of both tables
(``transforms.statistics``) and the drift of every column (``transforms.drift.compare`` on shared
bins), what ``beam_jobs.statistics`` computes for one partition against a reference of the same
size. Reports the median and each repeat's time, and the peak memory: Arrow's pool (where the
column data lives) and the process's peak RSS over the data-generation baseline.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import numpy as np
import pyarrow as pa

from transforms.drift import compare
from transforms.statistics import dataset_statistics
from user_pipeline.config import DriftConfig


def synthetic(rows: int, columns: int, seed: int, shift: float = 0.0) -> pa.Table:
    """A table of ``columns`` columns: float, int and categorical in turn, 1% nulls in the floats."""
    rng = np.random.default_rng(seed)
    data = {}
    for i in range(columns):
        kind = i % 3
        if kind == 0:
            values = rng.normal(50 + shift, 10, rows)
            data[f"f{i}"] = pa.array(values, mask=rng.random(rows) < 0.01)
        elif kind == 1:
            data[f"i{i}"] = pa.array(rng.poisson(3 + i % 7, rows).astype("int64"))
        else:
            cardinality = [5, 50, 1000][(i // 3) % 3]
            vocab = np.array([f"v{j}" for j in range(cardinality)])
            data[f"s{i}"] = pa.array(vocab[rng.zipf(1.5, rows) % cardinality])
    return pa.table(data)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    current = synthetic(args.rows, args.columns, seed=1, shift=0.5)
    reference = synthetic(args.rows, args.columns, seed=2)
    pool = pa.default_memory_pool()
    base_rss, base_pool = _rss_mb(), pool.bytes_allocated()
    cfg, times = DriftConfig(), []
    for _ in range(args.repeats):
        started = time.perf_counter()
        cur_stats = dataset_statistics(current, name="current")
        ref_stats = dataset_statistics(reference, name="reference")
        drifts = compare(cur_stats, ref_stats, cfg, tables=(current, reference))
        times.append(time.perf_counter() - started)
    fired = sum(d.fired for d in drifts)
    print(f"statistics + drift, {args.rows:,} rows x {args.columns} columns (current and reference): "
          f"median {statistics.median(times):.2f} s over {args.repeats} runs "
          f"({', '.join(f'{t:.2f}' for t in times)}); {len(drifts)} features compared, {fired} drifted")
    print(f"peak memory: Arrow pool {(pool.max_memory() - base_pool) / 2**20:.0f} MiB above the data, "
          f"process peak RSS {_rss_mb():.0f} MiB ({_rss_mb() - base_rss:.0f} MiB above the "
          f"{base_rss:.0f} MiB after generating the data)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
