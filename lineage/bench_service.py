"""Benchmark of ``lineage serve``: ingest over HTTP (single events and batches) and read latency.

    python -m lineage.bench_service [--runs 100000] [--store postgresql+psycopg://...]

Synthesises a log shaped like ours (``lineage.bench_store.synth_log``, lean events), starts the
service in its own process on a fresh store (SQLite in a temporary folder unless ``--store``),
then: 8 producer threads (keep-alive connections) post the first 20,000 events one request each (what OpenLineage's http
transport does); 2 threads post the rest in batches of 1,000; then ``impact`` and ``upstream`` on
random versions over HTTP (p50/p95, JSON answers included). Figures of one run on this machine.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import sqlalchemy as sa

from lineage.bench_store import _percentiles, _targets, synth_log
from lineage.store import LineageStore, metadata


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post_all(url: str, path: str, bodies: list[Any], threads: int) -> float:
    """Seconds to post ``bodies`` from ``threads`` producers, each with its own keep-alive connection.

    The load generator is the standard library's http.client on pre-encoded bodies: on 2 cores it
    shares the CPU with the server, and httpx cost about 0.5 ms of client CPU per request
    (measured), a third of what the server needs, which would measure the client."""
    address = httpx.URL(url)
    payloads = [orjson.dumps(body) for body in bodies]

    def send(share: list[bytes]) -> None:
        conn = http.client.HTTPConnection(address.host, address.port, timeout=120)
        try:
            for payload in share:
                conn.request("POST", path, body=payload, headers={"content-type": "application/json"})
                response = conn.getresponse()
                answer = response.read()
                if response.status != 201:
                    raise RuntimeError(f"{path}: {response.status} {answer[:300]!r}")
        finally:
            conn.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, [payloads[i::threads] for i in range(threads)]))
    return time.perf_counter() - started


def bench_service(runs: int, store_url: str | None, queries_n: int = 200) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="bench_service_"))
    log = synth_log(folder / "events.jsonl", runs, lean=True, seed=0)
    produced = [json.loads(line) for line in Path(log.path).read_text().splitlines()]
    url_db = store_url or f"sqlite:///{folder / 'lineage.db'}"
    if store_url:
        metadata.drop_all(sa.create_engine(store_url))  # a scratch database: start empty
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINEAGE", "LINEAGE_WRITE"))}
    env["PIPELINE_DATA_ROOT"] = str(folder)
    server = subprocess.Popen([sys.executable, "-m", "lineage.cli", "serve", "--store", url_db, "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/check", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        single, rest = produced[:20_000], produced[20_000:]
        single_s = _post_all(base, "/api/v1/lineage", single, threads=8)
        batches = [rest[i:i + 1000] for i in range(0, len(rest), 1000)]
        batch_s = _post_all(base, "/api/v1/lineage/batch", batches, threads=2) if batches else 0.0
        store = LineageStore(url_db)
        reads: dict[str, list[float]] = {"impact": [], "upstream": []}
        with httpx.Client(base_url=base, timeout=120) as client:
            for name, datasets in (("impact", ("staging.users_ingested", "curated.users_clean")),
                                   ("upstream", ("models.job_seeker",))):
                for dataset, version in _targets(store, datasets, queries_n):
                    started = time.perf_counter()
                    response = client.get(f"/api/v1/{name}", params={"artifact": f"{dataset}@{version}"})
                    response.raise_for_status()
                    reads[name].append(time.perf_counter() - started)
        stored = store.counts()["events"]
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "backend": sa.make_url(url_db).get_backend_name(), "runs": runs, "events": len(produced),
        "stored_events": stored,
        "single": {"events": len(single), "producers": 8, "seconds": round(single_s, 1),
                   "events_per_s": round(len(single) / single_s)},
        "batch": {"events": len(rest), "batch_size": 1000, "producers": 2, "seconds": round(batch_s, 1),
                  "events_per_s": round(len(rest) / batch_s) if batch_s else None},
        "impact_http": _percentiles(reads["impact"]), "upstream_http": _percentiles(reads["upstream"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--store", help="SQLAlchemy URL of a scratch database (its lineage tables are dropped)")
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args(argv)
    print(json.dumps(bench_service(args.runs, args.store, args.queries), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
