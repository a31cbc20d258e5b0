"""Benchmark of the lineage store: ingest rate and query latency on a synthetic log shaped like ours.

    python -m bench.lineage_store --runs 100000            # full-shaped events (schema, provider events)
    python -m bench.lineage_store --runs 1000000 --lean    # our job events only, no schema facet

The log: ``pipelines`` copies of our DAG (datasets prefixed ``p<k>.``) over ``dates`` days,
each day a spam-filter task (trained on the first day, then content-addressed skips), ingest,
de-spam, clean, preprocess over a 3-day window (a diamond into transform_fn and features) and
train; 5 % of the days are backfilled once (new versions that supersede the first ones). With
``lean=False`` every job run also carries the Airflow provider's task START/COMPLETE and every
output a schema facet, as in the real log (about 5 kB per event).

Measured: ingest rate (events/s) of a fresh store, the cost of a no-op re-ingest (every query
does one), and p50/p95 latency of ``impact`` and ``upstream`` on random versions, plus one wide
impact (a labels version that feeds every day of one pipeline) and one backfill plan.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.lineage_synth import EventFactory, ds, ver
from lineage import backfill, queries
from lineage.store import LineageStore, run_inputs, run_outputs, schema

RUNS_PER_DAY = 6  # spam filter (skip), ingest, despam, clean, preprocess, train
BACKFILL_SHARE = 0.05


@dataclass
class SynthLog:
    """What ``synth_log`` wrote."""

    path: str
    runs: int
    events: int
    bytes: int
    pipelines: int
    dates: int


def _version(counter: list[int]) -> str:
    counter[0] += 1
    return f"{counter[0] * 2654435761 % (1 << 64):016x}"  # spread like a hash, deterministic


def synth_log(path: str | os.PathLike[str], runs: int, *, dates: int = 365, lean: bool = False,
              seed: int = 0) -> SynthLog:
    """Write a JSONL log of about ``runs`` job runs (see the module docstring)."""
    rng = random.Random(seed)
    per_pipeline = dates * RUNS_PER_DAY + int(dates * BACKFILL_SHARE) * 4
    pipelines = max(1, round(runs / per_pipeline))
    counter = [0]
    written_runs = written_events = 0
    start = date(2024, 1, 1)
    f = EventFactory(schema=not lean)
    extra = {"provider_events": not lean}
    with open(path, "w", encoding="utf-8") as fh:

        def emit(events: list[dict[str, Any]]) -> None:
            nonlocal written_runs, written_events
            written_runs += 1
            written_events += len(events)
            fh.writelines(json.dumps(e, separators=(",", ":")) + "\n" for e in events)

        for p in range(pipelines):
            name = f"p{p}."
            label = ver(f"{name}reference.spam_labels", _version(counter), "v1")
            model = ver(f"{name}models.spam_filter", _version(counter))
            cleans: list[Any] = []
            for d in range(dates):
                day = (start + timedelta(days=d)).isoformat()
                emit(f.run("user_pipeline.training.spam_filter", "train_spam_filter", day, [label], [model],
                           skipped=d > 0, **extra))
                raw = [ds(f"{name}raw.users_{s}", day, _version(counter)) for s in ("web", "mobile", "partner")]
                ingested = ds(f"{name}staging.users_ingested", day, _version(counter))
                dead = ds(f"{name}staging.ingest_dead_letter", day, _version(counter))
                emit(f.run("beam_jobs.ingest", "ingest", day, raw, [ingested, dead], **extra))
                rounds = 2 if rng.random() < BACKFILL_SHARE else 1
                for _ in range(rounds):  # a backfilled day: the second round supersedes the first
                    despammed = ds(f"{name}staging.users_despammed", day, _version(counter))
                    quarantine = ds(f"{name}staging.spam_quarantine", day, _version(counter))
                    emit(f.run("beam_jobs.despam", "despam", day, [ingested, model], [despammed, quarantine], **extra))
                    clean = ds(f"{name}curated.users_clean", day, _version(counter))
                    emit(f.run("beam_jobs.clean", "clean", day, [despammed], [clean], **extra))
                    window = [*cleans[-2:], clean]
                    outcomes = ds(f"{name}raw.job_outcomes", day, f"o{d}")
                    features = ds(f"{name}features.users_transformed", day, _version(counter))
                    transform = ver(f"{name}models.transform_fn", _version(counter))
                    emit(f.run("beam_jobs.preprocess", "preprocess", day, [*window, outcomes], [features, transform],
                               **extra))
                    emit(f.run("user_pipeline.training.train", "train", day, [features, transform],
                               [ver(f"{name}models.job_seeker", _version(counter))], **extra))
                cleans.append(clean)
    return SynthLog(str(path), written_runs, written_events, os.path.getsize(path), pipelines, dates)


def _targets(store: LineageStore, suffixes: tuple[str, ...], n: int, table: sa.Table = run_outputs) -> list[tuple]:
    """Random (dataset, version) pairs of datasets ending in one of ``suffixes``."""
    with store.connect() as conn:
        query = (sa.select(table.c.dataset, table.c.version)
                 .where(sa.or_(*(table.c.dataset.like(f"%{s}") for s in suffixes)))
                 .order_by(sa.func.random()).limit(n))
        return [tuple(row) for row in conn.execute(query)]


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50_ms": round(1000 * statistics.median(ordered), 2),
            "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 2),
            "max_ms": round(1000 * ordered[-1], 2), "n": len(ordered)}


def bench_store(runs: int = 100_000, *, lean: bool = False, queries_n: int = 200, workdir: str | None = None,
                store_url: str | None = None, seed: int = 0, reuse_log: bool = False) -> dict[str, Any]:
    """Synthesise a log of ``runs`` runs (or reuse the one in ``workdir``), ingest it into a fresh
    store, time queries; returns the figures."""
    folder = Path(workdir or tempfile.mkdtemp(prefix="bench_store_"))
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    log_path = folder / "events.jsonl"
    if reuse_log and log_path.exists():
        log = SynthLog(str(log_path), runs, 0, log_path.stat().st_size, 0, 0)
    else:
        log = synth_log(log_path, runs, lean=lean, seed=seed)
    synth_s = time.perf_counter() - started
    db = folder / "lineage.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    store = LineageStore(store_url or f"sqlite:///{db}")

    started, cpu = time.perf_counter(), time.process_time()
    report = store.ingest_file(log.path)
    ingest_s, ingest_cpu = time.perf_counter() - started, time.process_time() - cpu
    started = time.perf_counter()
    store.ingest_file(log.path)
    noop_s = time.perf_counter() - started

    impact_times, sizes, upstream_times = [], [], []
    for dataset, version in _targets(store, ("staging.users_ingested", "curated.users_clean"), queries_n):
        t = time.perf_counter()
        graph = queries.impact(store, dataset, version)
        impact_times.append(time.perf_counter() - t)
        sizes.append(len(graph.artifacts))
    for dataset, version in _targets(store, ("models.job_seeker",), queries_n):
        t = time.perf_counter()
        queries.upstream(store, dataset, version)
        upstream_times.append(time.perf_counter() - t)
    dataset, version = _targets(store, ("reference.spam_labels",), 1, run_inputs)[0]
    t = time.perf_counter()
    wide = queries.impact(store, dataset, version)
    wide_s = time.perf_counter() - t
    dataset, version = _targets(store, ("curated.users_clean",), 1)[0]
    t = time.perf_counter()
    plan = backfill.plan_bad_version(store, dataset, version)
    plan_s = time.perf_counter() - t
    counts = store.counts()
    with store.connect() as conn:  # our job runs, not the Airflow provider's task runs
        job_runs = conn.execute(sa.select(sa.func.count()).select_from(schema.runs).where(
            ~schema.runs.c.job_name.like("user_pipeline%"))).scalar_one()
    return {
        "runs": job_runs, "events": report.events_new, "log_mb": round(log.bytes / 1e6, 1), "lean": lean,
        "synth_s": round(synth_s, 1),
        # Wall clock and CPU time: on a shared machine the CPU figure is the steadier one.
        "ingest_s": round(ingest_s, 1), "ingest_events_per_s": round(report.events_new / ingest_s),
        "ingest_events_per_cpu_s": round(report.events_new / ingest_cpu),
        "ingest_mb_per_s": round(log.bytes / 1e6 / ingest_s, 1),
        "store_mb": round(sum(os.path.getsize(p) for p in folder.glob("lineage.db*")) / 1e6, 1),
        "noop_reingest_ms": round(1000 * noop_s, 1), "rows": counts,
        "impact": _percentiles(impact_times) | {"median_artifacts": statistics.median(sizes)},
        "upstream": _percentiles(upstream_times),
        "wide_impact": {"ms": round(1000 * wide_s, 1), "artifacts": len(wide.artifacts), "runs": len(wide.runs)},
        "plan": {"ms": round(1000 * plan_s, 1), "tasks": len(plan.task_set())},
        "workdir": str(folder),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--lean", action="store_true", help="our job events only, no schema facets")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--workdir", help="where the log and the store go (default: a new temporary folder)")
    parser.add_argument("--store", help="SQLAlchemy URL (default: SQLite in the workdir)")
    parser.add_argument("--reuse-log", action="store_true", help="ingest the log already in --workdir")
    args = parser.parse_args(argv)
    result = bench_store(args.runs, lean=args.lean, queries_n=args.queries, workdir=args.workdir,
                         store_url=args.store, reuse_log=args.reuse_log)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

