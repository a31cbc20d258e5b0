"""Benchmark of the Marquez lineage graph read of ``lineage serve`` (``GET /api/v1/lineage``).

    python -m bench.lineage_marquez --store sqlite:////tmp/store/lineage.db [--repeat 5]

Reads a store built by ``bench.lineage_store`` (``synth_log`` + ``LineageStore.ingest_file``):
``pipelines`` copies of our DAG whose jobs are shared, so a graph of depth 20 spans every
pipeline. Times the route through the whole app in process (FastAPI's TestClient: routing, the
query, JSON encoding; no network) for a dataset, a job and an Airflow task job (no datasets), at
depths 2 and 20: median of ``--repeat`` reads, the node count of the answer and its size.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time

from fastapi.testclient import TestClient

from lineage.service import create_app
from lineage.store import LineageStore

NODES = ("dataset:user_pipeline:p0.curated.users_clean", "job:user_pipeline:beam_jobs.clean",
         "job:user_pipeline:user_pipeline.clean")


def bench_graph(store_url: str, repeat: int = 5) -> dict:
    """Median latency (ms), nodes and bytes of ``/api/v1/lineage`` for each node of ``NODES`` at depths 2 and 20."""
    store = LineageStore(store_url)
    result = {}
    with tempfile.TemporaryDirectory() as spool, \
            TestClient(create_app(store, spool), base_url="http://127.0.0.1") as client:
        for node in NODES:
            for depth in (2, 20):
                times, response = [], None
                for _ in range(repeat):
                    started = time.perf_counter()
                    response = client.get("/api/v1/lineage", params={"nodeId": node, "depth": depth})
                    times.append(time.perf_counter() - started)
                graph = response.json().get("graph", []) if response.status_code == 200 else []
                result[f"{node} depth={depth}"] = {
                    "status": response.status_code, "median_ms": round(1000 * statistics.median(times), 1),
                    "nodes": len(graph), "kb": round(len(response.content) / 1000, 1)}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="SQLAlchemy URL of a store built by bench.lineage_store")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(json.dumps(bench_graph(args.store, args.repeat), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
