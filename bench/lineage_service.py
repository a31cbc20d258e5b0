"""Benchmark of ``lineage serve``: ingest over HTTP (single events and batches) and read latency.

    python -m bench.lineage_service [--runs 100000] [--store postgresql+psycopg://...]
    python -m bench.lineage_service --runs 1000000 [--single 20000] [--batched 100000]

Synthesises a log shaped like ours (``bench.lineage_store.synth_log``, lean events: a START and a
COMPLETE per run), then splits it in two, in log order:

* seeded: all but the last ``--single`` + ``--batched`` events go into a fresh store (SQLite in a
  temporary folder unless ``--store``) through the store's own batch ingest
  (``LineageStore.ingest_file``, as ``bench_store`` does), before the service starts; timed, not
  over HTTP. At 10^6 runs (about 2 million events) posting everything would take hours, so the
  HTTP figures are taken on a store that already holds (nearly) the whole history.
* posted: the service is started in its own process on that store; 8 producer threads
  (keep-alive connections, raw HTTP/1.1 unless ``--client http.client``) post the next
  ``--single`` events (default 20,000) one request each (what OpenLineage's http transport does);
  then 2 threads post the last ``--batched`` events (default 100,000) in batches of 1,000 to
  ``/api/v1/lineage/batch``. Each phase reports events/s acknowledged and events/s until the
  store held them all (``GET /api/v1/health?wait=true``), and events per CPU second of the
  service with its indexer process.

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

from bench.lineage_store import SynthLog, _percentiles, _targets, synth_log
from lineage.store import LineageStore, metadata


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _post_all(url: str, path: str, bodies: list[Any], threads: int, client: str = "raw") -> float:
    """Seconds to post ``bodies`` from ``threads`` producers, each with its own keep-alive connection.

    ``client="raw"``: HTTP/1.1 written and read on the socket, requests pre-encoded. On 2 cores the
    producers share the CPU with the service; the standard library's http.client cost about 0.45
    ms of client CPU per request and httpx 0.5 ms (measured), more than the service's own work
    per event, so with them the figure is mostly the client's. ``client="http.client"`` is there
    to compare."""
    address = httpx.URL(url)
    payloads = [orjson.dumps(body) for body in bodies]
    send = _send_raw if client == "raw" else _send_http_client
    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda share: send(address.host, address.port, path, share),
                      [payloads[i::threads] for i in range(threads)]))
    return time.perf_counter() - started


def _send_http_client(host: str, port: int, path: str, payloads: list[bytes]) -> None:
    conn = http.client.HTTPConnection(host, port, timeout=120)
    try:
        for payload in payloads:
            conn.request("POST", path, body=payload, headers={"content-type": "application/json"})
            response = conn.getresponse()
            answer = response.read()
            if response.status != 201:
                raise RuntimeError(f"{path}: {response.status} {answer[:300]!r}")
    finally:
        conn.close()


def post_raw(host: str, port: int, path: str, payloads: list[bytes]) -> int:
    """Post each payload on one keep-alive connection; returns how many were answered 201 before
    the first other answer or the connection's end (a load test's producer)."""
    head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n".encode()
    done = 0
    with socket.create_connection((host, port), timeout=120) as sock:
        buffer = b""
        for payload in payloads:
            sock.sendall(b"%sContent-Length: %d\r\n\r\n%s" % (head, len(payload), payload))
            while b"\r\n\r\n" not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    return done
                buffer += chunk
            headers, _, rest = buffer.partition(b"\r\n\r\n")
            length = int(headers.lower().split(b"content-length:", 1)[1].split(b"\r\n", 1)[0])
            while len(rest) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    return done
                rest += chunk
            buffer = rest[length:]
            if not headers.startswith(b"HTTP/1.1 201"):
                return done
            done += 1
    return done


def _send_raw(host: str, port: int, path: str, payloads: list[bytes]) -> None:
    done = post_raw(host, port, path, payloads)
    if done != len(payloads):
        raise RuntimeError(f"{path}: {len(payloads) - done} of {len(payloads)} posts not acknowledged")


def _cpu_s(process: psutil.Process) -> float:
    """CPU seconds of the service and its indexer process."""
    total = 0.0
    for each in [process, *process.children(recursive=True)]:
        times = each.cpu_times()
        total += times.user + times.system
    return total


def _post_and_store(base: str, path: str, bodies: list[Any], threads: int, service: psutil.Process,
                    client: str = "raw") -> dict[str, Any]:
    """Post, then wait until the store holds it all: events/s acknowledged and stored, and per CPU
    second of the service with its indexer."""
    cpu_before = _cpu_s(service)
    started = time.perf_counter()
    acknowledged = _post_all(base, path, bodies, threads, client)
    health = httpx.get(f"{base}/api/v1/health", params={"wait": "true"}, timeout=600)
    health.raise_for_status()
    stored = time.perf_counter() - started
    cpu = _cpu_s(service) - cpu_before
    events = sum(len(b) for b in bodies) if path.endswith("batch") else len(bodies)
    return {"events": events, "producers": threads, "client": client,
            "acknowledged_s": round(acknowledged, 2), "events_per_s": round(events / acknowledged),
            "stored_s": round(stored, 2), "stored_events_per_s": round(events / stored),
            "events_per_service_cpu_s": round(events / cpu) if cpu else None}


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
                  batched_n: int = 100_000, client: str = "raw") -> dict[str, Any]:
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
        single_report = _post_and_store(base, "/api/v1/lineage", single, 8, service, client) if single else {}
        batches = [rest[i:i + 1000] for i in range(0, len(rest), 1000)]
        batch_report = _post_and_store(base, "/api/v1/lineage/batch", batches, 2, service) if batches else {}
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
        # events_per_s: acknowledged; stored_events_per_s: until the store held them all (reads see
        # them); events_per_service_cpu_s: per CPU second of the service and its indexer process.
        "single": single_report, "batch": {"batch_size": 1000, **batch_report},
        "impact_http": _percentiles(reads["impact"]), "upstream_http": _percentiles(reads["upstream"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--store", help="SQLAlchemy URL of a scratch database (its lineage tables are dropped)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--single", type=int, default=20_000, help="events posted one request each (8 threads)")
    parser.add_argument("--batched", type=int, default=100_000, help="events posted in batches of 1,000 (2 threads)")
    parser.add_argument("--client", choices=("raw", "http.client"), default="raw",
                        help="the single-event producers' HTTP client (see _post_all)")
    args = parser.parse_args(argv)
    print(json.dumps(bench_service(args.runs, args.store, args.queries, args.single, args.batched, args.client),
                     indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
