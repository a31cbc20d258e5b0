"""Faults around ``lineage serve`` (loopback only): the service SIGKILLed mid-load keeps every event
it acknowledged and an intact store; with the service down a producer's composite transport still
writes the JSONL log, and ingesting that log later completes the store."""

from __future__ import annotations

import json
import os
import signal
import threading
import time

import httpx
import psutil
import sqlalchemy as sa

from bench.lineage_synth import EventFactory, ds
from lineage.store import LineageStore, events
from tests.lineage.test_service import _free_port, start_service


def _events(n_runs: int) -> list[dict]:
    factory = EventFactory()
    out = []
    for i in range(n_runs):
        out += factory.run("beam_jobs.clean", "clean", "2026-01-01", [ds("staging.users_despammed", "2026-01-01",
                                                                          f"s{i}")],
                           [ds("curated.users_clean", "2026-01-01", f"c{i}")])
    return out


def _stored_keys(store: LineageStore) -> set[tuple[str, str]]:
    with store.connect() as conn:
        return {tuple(r) for r in conn.execute(sa.select(events.c.run_id, events.c.event_type))}


def test_a_sigkill_mid_load_loses_no_acknowledged_event_and_leaves_the_store_intact(tmp_path):
    url = f"sqlite:///{tmp_path / 'lineage.db'}"
    port = _free_port()
    proc = start_service(url, port, tmp_path)
    produced = _events(3000)
    acked: list[dict] = []
    lock = threading.Lock()

    def send(share: list[dict]) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for event in share:
                try:
                    if client.post("/api/v1/lineage", json=event).status_code == 201:
                        with lock:
                            acked.append(event)
                except httpx.HTTPError:
                    return  # the service is gone

    threads = [threading.Thread(target=send, args=(produced[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    while len(acked) < 500:
        time.sleep(0.02)
    indexer = psutil.Process(proc.pid).children()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    # The indexer notices its service is gone and stops: no orphan keeps writing to the store.
    _, alive = psutil.wait_procs(indexer, timeout=10)
    assert indexer and not alive
    for t in threads:
        t.join()
    assert 500 <= len(acked) < len(produced)

    store = LineageStore(url)
    with store.connect() as conn:
        assert conn.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
    # Acknowledged means in the spool: the restarted service stores what its indexer had not.
    proc = start_service(url, port, tmp_path)
    health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", params={"wait": "true"}, timeout=120).json()
    assert health["behind_bytes"] == 0
    stored = _stored_keys(store)
    assert {(e["run"]["runId"], e["eventType"]) for e in acked} <= stored

    # The producers resend everything (they cannot know what got through): all of it, once.
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for start in range(0, len(produced), 1000):
                assert client.post("/api/v1/lineage/batch", json=produced[start:start + 1000]).status_code == 201
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert len(_stored_keys(store)) == len(produced)


def test_with_the_service_down_the_composite_transport_keeps_the_log_and_ingest_completes_the_store(tmp_path):
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

    log = tmp_path / "events.jsonl"
    client = OpenLineageClient(config={"transport": {
        "type": "composite", "continue_on_failure": True, "continue_on_success": True,
        "transports": [
            {"type": "http", "url": f"http://127.0.0.1:{_free_port()}", "timeout": 1,
             "retry": {"total": 0}},
            {"type": "file", "log_file_path": str(log), "append": True},
        ]}})
    runs = [str(e["run"]["runId"]) for e in _events(3)[::2]]
    for run_id in runs:
        client.emit(RunEvent(eventType=RunState.START, eventTime="2026-01-01T00:00:00Z", run=Run(runId=run_id),
                             job=Job(namespace="user_pipeline", name="beam_jobs.clean"), producer="test"))
    assert len(log.read_text().splitlines()) == len(runs)
    store = LineageStore(f"sqlite:///{tmp_path / 'lineage.db'}")
    store.ingest_file(log)
    assert {r for r, _ in _stored_keys(store)} == set(runs)
    assert all(json.loads(line)["run"]["runId"] in runs for line in log.read_text().splitlines())
