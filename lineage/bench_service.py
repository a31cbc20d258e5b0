"""Benchmark of ``lineage serve``: ingest over HTTP (single events and batches) and read latency.

    python -m lineage.bench_service [--runs 100000] [--store postgresql+psycopg://...]
    python -m lineage.bench_service --runs 1000000 [--single 20000] [--batched 100000]

Synthesises a log shaped like ours (``lineage.bench_store.synth_log``, lean events: a START and a
COMPLETE per run), then splits it in two, in log order:

* seeded: all but the last ``--single`` + ``--batched`` events go into a fresh store (SQLite in a
  temporary folder unless ``--store``) through the store's own batch ingest
  (``LineageStore.ingest_file``, as ``bench_store`` does), before the service starts; timed, not
  over HTTP. At 10^6 runs (about 2 million events) posting everything would take hours, so the
  HTTP figures are taken on a store that already holds (nearly) the whole history.
* posted: the service is started in its own process on that store; 8 producer threads
  (keep-alive connections) post the next ``--single`` events (default 20,000) one request each
  (what OpenLineage's http transport does); then 2 threads post the last ``--batched`` events
  (default 100,000) in batches of 1,000 to ``/api/v1/lineage/batch``.

Then ``impact`` and ``upstream`` on ``--queries`` random versions over HTTP (p50/p95, JSON answers
included). The store ends with every event of the log (``stored_events`` = ``events``). Figures of
one run on this machine; the JSON printed is the result.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
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
import psutil
import sqlalchemy as sa

from lineage.bench_store import SynthLog, _percentiles, _targets, synth_log
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


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _split_log(log: SynthLog, seed_path: Path, posted: int) -> list[dict[str, Any]]:
    """Write all but the last ``posted`` events of ``log`` to ``seed_path``; return those last ones."""
    keep = log.events - posted
    tail: list[dict[str, Any]] = []
    with open(log.path, "rb") as src, open(seed_path, "wb") as seed:
        for number, line in enumerate(src):
            if number < keep:
                seed.write(line)
            else:
                tail.append(orjson.loads(line))
    return tail


def _wait_ready(base: str, server: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{base}/api/v1/check", timeout=30).status_code == 200:
                return
        except httpx.HTTPError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def bench_service(runs: int, store_url: str | None, queries_n: int = 200, single_n: int = 20_000,
                  batched_n: int = 100_000) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="bench_service_"))
    started = time.perf_counter()
    log = synth_log(folder / "events.jsonl", runs, lean=True, seed=0)
    synth_s = time.perf_counter() - started
    posted = _split_log(log, folder / "seed.jsonl", min(log.events, single_n + batched_n))
    Path(log.path).unlink()
    single, rest = posted[:single_n], posted[single_n:]

    url_db = store_url or f"sqlite:///{folder / 'lineage.db'}"
    if store_url:
        metadata.drop_all(sa.create_engine(store_url))  # a scratch database: start empty
    store = LineageStore(url_db)
    started, cpu = time.perf_counter(), time.process_time()
    seeded = store.ingest_file(folder / "seed.jsonl")
    seed_s, seed_cpu = time.perf_counter() - started, time.process_time() - cpu
    (folder / "seed.jsonl").unlink()

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINEAGE", "LINEAGE_WRITE"))}
    env["PIPELINE_DATA_ROOT"] = str(folder)
    server = subprocess.Popen([sys.executable, "-m", "lineage.cli", "serve", "--store", url_db, "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(base, server)
        service = psutil.Process(server.pid)
        cpu_before = _cpu_s(service)
        single_s = _post_all(base, "/api/v1/lineage", single, threads=8) if single else 0.0
        single_cpu = _cpu_s(service) - cpu_before
        batches = [rest[i:i + 1000] for i in range(0, len(rest), 1000)]
        cpu_before = _cpu_s(service)
        batch_s = _post_all(base, "/api/v1/lineage/batch", batches, threads=2) if batches else 0.0
        batch_cpu = _cpu_s(service) - cpu_before
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
        store.engine.dispose()
        shutil.rmtree(folder, ignore_errors=True)  # at 10^6 runs the SQLite store is gigabytes
    return {
        "backend": sa.make_url(url_db).get_backend_name(), "driver": sa.make_url(url_db).get_driver_name(),
        "runs": log.runs, "events": log.events, "stored_events": stored, "synth_s": round(synth_s, 1),
        # Wall clock and CPU time of the seeding process: on a shared machine the CPU figure is steadier.
        "seeded": {"events": seeded.events_new, "how": "LineageStore.ingest_file, not HTTP",
                   "seconds": round(seed_s, 1), "events_per_s": round(seeded.events_new / seed_s) if seed_s else None,
                   "events_per_cpu_s": round(seeded.events_new / seed_cpu) if seed_cpu else None},
        # events_per_service_cpu_s: events per CPU second of the service process (all its threads).
        "single": {"events": len(single), "producers": 8, "seconds": round(single_s, 1),
                   "events_per_s": round(len(single) / single_s) if single_s else None,
                   "events_per_service_cpu_s": round(len(single) / single_cpu) if single_cpu else None},
        "batch": {"events": len(rest), "batch_size": 1000, "producers": 2, "seconds": round(batch_s, 1),
                  "events_per_s": round(len(rest) / batch_s) if batch_s else None,
                  "events_per_service_cpu_s": round(len(rest) / batch_cpu) if batch_cpu else None},
        "impact_http": _percentiles(reads["impact"]), "upstream_http": _percentiles(reads["upstream"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--store", help="SQLAlchemy URL of a scratch database (its lineage tables are dropped)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--single", type=int, default=20_000, help="events posted one request each (8 threads)")
    parser.add_argument("--batched", type=int, default=100_000, help="events posted in batches of 1,000 (2 threads)")
    args = parser.parse_args(argv)
    print(json.dumps(bench_service(args.runs, args.store, args.queries, args.single, args.batched), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
