"""Faults around ``lineage serve`` (loopback only): the service SIGKILLed mid-load keeps every event
it acknowledged and an intact store; with the service down a producer's composite transport still
writes the JSONL log, and ingesting that log later completes the store; poison events get 400 and
stop nothing; a poison event already in the spool is set aside; stops are prompt and leave no
indexer behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson
import psutil
import sqlalchemy as sa

from bench.lineage_synth import EventFactory, ds
from lineage.store import LineageStore, events
from tests.lineage.test_service import _free_port, service_env, start_service
from tests.lineage.test_validation import POISONS, complete_event


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


def _health(port: int) -> dict:
    return httpx.get(f"http://127.0.0.1:{port}/api/v1/health", params={"wait": "true"}, timeout=60).json()


def _stop(proc: subprocess.Popen) -> float:
    """SIGTERM, then the seconds until the service has exited."""
    started = time.monotonic()
    proc.terminate()
    proc.wait(timeout=60)
    return time.monotonic() - started


RAW_POISONS = [  # bodies only HTTP can carry: what the JSON parser itself refuses, or turns into a float
    (b'{"eventTime": NaN}', "malformed JSON"),
    (b"[" * 2000 + b"]" * 2000, "malformed JSON"),
    (b'{"eventTime": "\\ud800"}', "malformed JSON"),
]


def test_each_poison_event_gets_400_naming_the_field_and_later_events_are_stored_and_reads_answer(tmp_path):
    url, port = f"sqlite:///{tmp_path / 'lineage.db'}", _free_port()
    proc = start_service(url, port, tmp_path)
    good = _events(3)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            assert client.post("/api/v1/lineage", json=good[0]).status_code == 201
            for poison in POISONS:
                # json, not orjson: the integers beyond 64 bits have to be written as they are.
                single = client.post("/api/v1/lineage", content=json.dumps(poison.event()),
                                     headers={"content-type": "application/json"})
                assert single.status_code == 400, poison.name
                assert single.json()["detail"].startswith(f"not stored: {poison.field}"), poison.name
                batch = client.post("/api/v1/lineage/batch", content=json.dumps([good[1], poison.event()]),
                                    headers={"content-type": "application/json"})
                assert batch.status_code == 400 and f"[1] {poison.field}" in batch.json()["detail"], poison.name
            big = complete_event()  # an integer beyond 64 bits parses as a float: not an integer
            raw = orjson.dumps(big).replace(b'"rowCount":100', b'"rowCount":18446744073709551616')
            refused = client.post("/api/v1/lineage", content=raw, headers={"content-type": "application/json"})
            assert refused.status_code == 400 and "rowCount must be an integer" in refused.json()["detail"]
            for body, reason in RAW_POISONS:
                refused = client.post("/api/v1/lineage", content=body, headers={"content-type": "application/json"})
                assert refused.status_code == 400 and reason in refused.json()["detail"]
            assert client.post("/api/v1/lineage/batch", json=good[1:]).status_code == 201
            health = _health(port)
            assert (health["behind_bytes"], health["dead_letters"]) == (0, 0)
            job = good[0]["job"]
            runs = client.get(f"/api/v1/namespaces/{job['namespace']}/jobs/{job['name']}/runs")
            assert runs.status_code == 200 and runs.json()["totalCount"] == 3
    finally:
        _stop(proc)
    assert _stored_keys(LineageStore(url)) == {(e["run"]["runId"], e["eventType"]) for e in good}


def _poisoned_spool(root: Path, event: dict) -> None:
    """A spool as a service before the validator left it: an acknowledged poison event in it."""
    folder = root / "lineage" / "spool"
    folder.mkdir(parents=True)
    (folder / f"{0:020d}.jsonl").write_text(json.dumps(event) + "\n")


def test_a_poison_event_left_in_the_spool_is_set_aside_and_the_service_works_reports_it_and_stops_promptly(
        tmp_path):
    """The state issue 20 found: a poison event acknowledged into the spool. The indexer sets it
    aside (dead-letter file, health, lineage check), stores what comes after, and a SIGTERM stops
    the service in seconds (it took 123 s); after kill -9 no indexer is left."""
    poison = POISONS[0].event()
    _poisoned_spool(tmp_path, poison)
    url, port = f"sqlite:///{tmp_path / 'lineage.db'}", _free_port()
    proc = start_service(url, port, tmp_path)
    good = _events(2)
    try:
        assert httpx.post(f"http://127.0.0.1:{port}/api/v1/lineage/batch", json=good, timeout=30).status_code == 201
        health = _health(port)
        assert (health["behind_bytes"], health["dead_letters"]) == (0, 1)
        assert health["dead_letter_file"] == str(tmp_path / "lineage" / "spool" / "dead-letter.jsonl")
        (letter,) = [orjson.loads(line) for line in Path(health["dead_letter_file"]).read_text().splitlines()]
        assert orjson.loads(letter["event"]) == poison and "rowCount" in letter["reason"]
    finally:
        seconds = _stop(proc)
    assert seconds < 8
    assert _stored_keys(LineageStore(url)) == {(e["run"]["runId"], e["eventType"]) for e in good}
    checked = subprocess.run([sys.executable, "-m", "lineage.cli", "check", "--json", "--no-ingest", "--store", url],
                             env=service_env(tmp_path), capture_output=True, text=True, check=True)
    report = json.loads(checked.stdout)
    assert report["dead_letters"] == {"path": health["dead_letter_file"], "events": 1}
    assert [(i["line"], i["kind"]) for i in report["malformed_lines"]] == [(1, "malformed")]

    proc = start_service(url, port, tmp_path)
    indexer = psutil.Process(proc.pid).children()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    _, alive = psutil.wait_procs(indexer, timeout=5)
    assert indexer and not alive


def test_a_sigterm_under_load_stops_within_seconds_and_what_was_left_is_stored_at_the_next_start(tmp_path):
    url, port = f"sqlite:///{tmp_path / 'lineage.db'}", _free_port()
    proc = start_service(url, port, tmp_path)
    produced = _events(5000)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for start in range(0, len(produced), 1000):
                assert client.post("/api/v1/lineage/batch", json=produced[start:start + 1000]).status_code == 201
        indexer = psutil.Process(proc.pid).children()
    finally:
        seconds = _stop(proc)
    print(f"SIGTERM with {len(produced)} events just acknowledged: stopped in {seconds:.2f}s")
    assert seconds < 10
    _, alive = psutil.wait_procs(indexer, timeout=5)
    assert not alive
    proc = start_service(url, port, tmp_path)
    try:
        assert _health(port)["behind_bytes"] == 0
    finally:
        _stop(proc)
    assert len(_stored_keys(LineageStore(url))) == len(produced)
