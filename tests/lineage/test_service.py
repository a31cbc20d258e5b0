"""``lineage serve``: the OpenLineage endpoint, the Marquez-compatible and version-aware reads, the
pages, and a live server under concurrent producers (loopback only)."""

from __future__ import annotations

import gzip
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import orjson
import pytest
import sqlalchemy as sa
import uvicorn
from fastapi.testclient import TestClient

from bench.lineage_service import post_raw
from bench.lineage_synth import EventFactory, ds
from lineage.service import create_app
from lineage.store import LineageStore, events
from tests.lineage.test_queries import story_events

TOKEN = "s3cret-token-value"
BASE = "http://127.0.0.1"  # TestClient's default Host, "testserver", is not one the service answers to


def _count(store: LineageStore) -> int:
    with store.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one()


def _spooled(tmp_path) -> list[str]:
    return [line for path in sorted((tmp_path / "spool").glob("*.jsonl")) for line in path.read_text().splitlines()]


@pytest.fixture
def story(tmp_path, make_store):
    store = make_store()
    with TestClient(create_app(store, tmp_path / "spool"), base_url=BASE) as client:
        response = client.post("/api/v1/lineage/batch", json=story_events()[0])
        assert response.status_code == 201, response.text
        yield client, store


def test_events_post_one_by_one_like_the_openlineage_http_transport_and_twice_is_once(tmp_path, make_store):
    store = make_store()
    event = story_events()[0][0]
    with TestClient(create_app(store, tmp_path / "spool"), base_url=BASE) as client:
        assert client.post("/api/v1/lineage", json=event).status_code == 201
        assert client.post("/api/v1/lineage", json=event).status_code == 201
        packed = gzip.compress(json.dumps(event).encode())
        sent = client.post("/api/v1/lineage", content=packed,
                           headers={"content-encoding": "gzip", "content-type": "application/json"})
        assert sent.status_code == 201
    assert _count(store) == 1


@pytest.mark.parametrize("body, message", [
    (b"{not json", "malformed JSON"),
    (b"", "empty body"),
    (b"[1, 2]", "expected a JSON object"),
    (json.dumps({"eventTime": "2026-01-01T00:00:00Z", "producer": "p", "schemaURL": "s",
                 "run": {}, "job": {"namespace": "n", "name": "j"}}).encode(), "run.runId is required"),
    (json.dumps({"producer": "p", "schemaURL": "s", "run": {"runId": "r"},
                 "job": {"namespace": "n", "name": "j"}}).encode(), "eventTime is required"),
    (json.dumps({"eventTime": "yesterday", "producer": "p", "schemaURL": "s", "run": {"runId": "r"},
                 "job": {"namespace": "n", "name": "j"}}).encode(), "eventTime: not an ISO-8601 date-time"),
])
def test_bad_events_get_400_saying_what_is_wrong_and_nothing_is_stored(tmp_path, body, message, make_store):
    store = make_store()
    with TestClient(create_app(store, tmp_path / "spool"), base_url=BASE) as client:
        response = client.post("/api/v1/lineage", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400 and message in response.json()["detail"]
    assert _count(store) == 0 and _spooled(tmp_path) == []


def test_a_batch_with_one_bad_event_stores_nothing_and_names_it(tmp_path, make_store):
    store = make_store()
    good = story_events()[0][:3]
    bad = {**good[0], "job": {"namespace": "n"}}
    with TestClient(create_app(store, tmp_path / "spool"), base_url=BASE) as client:
        refused = client.post("/api/v1/lineage/batch", json=[*good, bad])
        accepted = client.post("/api/v1/lineage/batch", json={"events": good})
    assert refused.status_code == 400 and "[3] job.name is required" in refused.json()["detail"]
    assert accepted.status_code == 201 and accepted.json()["accepted"] == 3
    assert _count(store) == 3 and len(_spooled(tmp_path)) == 3


def test_oversized_bodies_are_refused(tmp_path, make_store):
    store = make_store()
    with TestClient(create_app(store, tmp_path / "spool", max_body_bytes=1000), base_url=BASE) as client:
        response = client.post("/api/v1/lineage/batch", json=story_events()[0])
        packed = gzip.compress(json.dumps([story_events()[0][0]] * 50).encode())
        bomb = client.post("/api/v1/lineage/batch", content=packed,
                           headers={"content-encoding": "gzip", "content-type": "application/json"})
    assert response.status_code == 413 and bomb.status_code == 413
    assert _count(store) == 0 and _spooled(tmp_path) == []


def test_writes_need_the_token_when_one_is_configured_and_it_is_never_logged(tmp_path, caplog, make_store):
    store = make_store()
    event = story_events()[0][0]
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(store, tmp_path / "spool", write_token=TOKEN), base_url=BASE) as client:
        assert client.post("/api/v1/lineage", json=event).status_code == 401
        assert client.post("/api/v1/lineage", json=event, headers={"authorization": "Bearer nope"}).status_code == 401
        assert client.post("/api/v1/lineage", json=event,
                           headers={"authorization": f"Bearer {TOKEN}"}).status_code == 201
        assert client.get("/api/v1/check").status_code == 200  # reads are open
    assert _count(store) == 1
    assert TOKEN not in caplog.text


def test_marquez_lineage_graph_of_a_dataset(story):
    client, _ = story
    graph = client.get("/api/v1/lineage", params={"nodeId": "dataset:user_pipeline:curated.users_clean",
                                                  "depth": 1}).json()["graph"]
    nodes = {n["id"]: n for n in graph}
    clean = nodes["dataset:user_pipeline:curated.users_clean"]
    assert clean["type"] == "DATASET"
    assert {e["origin"] for e in clean["inEdges"]} == {"job:user_pipeline:beam_jobs.clean"}
    assert {e["destination"] for e in clean["outEdges"]} >= {"job:user_pipeline:beam_jobs.preprocess",
                                                             "job:user_pipeline:expectations.gate"}
    assert "job:user_pipeline:beam_jobs.ingest" not in nodes  # two hops away, depth 1 stops before
    missing = client.get("/api/v1/lineage", params={"nodeId": "dataset:user_pipeline:nope"})
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    assert client.get("/api/v1/lineage", params={"nodeId": "table:x"}).status_code == 400


def test_marquez_versions_and_runs(story):
    """The Marquez reads in full: tests/lineage/test_marquez_api.py."""
    client, _ = story
    versions = client.get("/api/v1/namespaces/user_pipeline/datasets/curated.users_clean/versions").json()
    assert versions["totalCount"] == len(versions["versions"]) == 4
    assert [v["facets"]["version"]["datasetVersion"] for v in versions["versions"]] == ["C1'", "C3", "C2", "C1"]
    job_runs = client.get("/api/v1/namespaces/user_pipeline/jobs/beam_jobs.clean/runs").json()
    assert job_runs["totalCount"] == 4 and [r["state"] for r in job_runs["runs"]] == ["COMPLETED"] * 4
    assert job_runs["runs"][0]["facets"]["airflowDagRun"]["dagId"] == "user_pipeline"
    assert client.get("/api/v1/namespaces/user_pipeline/jobs/beam_jobs.nope/runs").status_code == 404
    assert client.get("/api/v1/namespaces/user_pipeline/jobs/beam_jobs.clean/runs?limit=-1").status_code == 400


def test_names_with_slashes_and_schemes_in_our_routes_and_pages(tmp_path, make_store):
    """OpenLineage names (a namespace with a scheme, a name with ``/`` and ``&``) as path segments and
    query values, percent-encoded, in the version-aware routes and the pages and their links."""
    factory = EventFactory(namespace="s3://bucket")
    name = "raw/events/a&b"
    produced = factory.run("loader", None, None, [], [ds(name, "2026-01-01", "e1")])
    with TestClient(create_app(make_store(), tmp_path / "spool"), base_url=BASE) as client:
        assert client.post("/api/v1/lineage/batch", json=produced).status_code == 201
        assert [v["version"] for v in client.get("/api/v1/versions/raw%2Fevents%2Fa%26b").json()] == ["e1"]
        home = client.get("/").text
        assert "href='/versions/raw%2Fevents%2Fa%26b'" in home
        page = client.get("/versions/raw%2Fevents%2Fa%26b").text
        assert "href='/view?artifact=raw%2Fevents%2Fa%26b%40e1&amp;query=impact'" in page
        view = client.get("/view?artifact=raw%2Fevents%2Fa%26b%40e1&query=upstream")
        assert view.status_code == 200 and "raw/events/a&amp;b" in view.text
        versions = client.get("/api/v1/namespaces/s3%3A%2F%2Fbucket/datasets/raw%2Fevents%2Fa%26b/versions").json()
        assert [v["facets"]["version"]["datasetVersion"] for v in versions["versions"]] == ["e1"]
        assert client.get("/versions/raw/events/a&b").status_code == 404  # unencoded: other segments


def test_version_aware_reads_and_plan(story):
    client, _ = story
    impact = client.get("/api/v1/impact", params={"artifact": "reference.spam_labels@L1"}).json()
    current = {a["version"] for a in impact["artifacts"] if a["status"] == "current" and not a["seed"]}
    assert {"J2", "J3", "M1"} <= current and "J1" not in current
    upstream = client.get("/api/v1/upstream", params={"artifact": "models.job_seeker@J2"}).json()
    assert {"L1", "rW1"} <= {a["version"] for a in upstream["artifacts"]}
    plan = client.get("/api/v1/backfill/plan", params={"artifact": "reference.spam_labels@L1"}).json()
    assert [date[:10] for _, _, date, _ in plan["airflow_steps"]] == ["2026-01-02", "2026-01-03"]
    unknown = client.get("/api/v1/impact", params={"artifact": "curated.users_clen@C1"})
    assert unknown.status_code == 404 and "unknown dataset" in unknown.json()["detail"]
    assert client.get("/api/v1/check").json()["problems"] == 0


def test_pages_show_the_graph_with_the_impact_and_run_details(story):
    client, _ = story
    home = client.get("/", params={"q": "users_clean"}).text
    assert "curated.users_clean" in home and "staging.users_ingested" not in home
    page = client.get("/view", params={"artifact": "reference.spam_labels@L1", "query": "impact"}).text
    assert "<svg" in page and "<script" not in page and "http://" not in page.split("<svg", 1)[1].split(">", 1)[1]
    assert "superseded" in page and "current" in page
    run_id = page.split("/runs/", 1)[1].split("'", 1)[0]
    details = client.get(f"/runs/{run_id}").text
    assert "DAG / task" in details and "user_pipeline" in details
    assert client.get("/runs/no-such-run").status_code == 404


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live(tmp_path, make_store):
    """A real uvicorn server on loopback in a thread."""
    store = make_store()
    port = _free_port()
    app = create_app(store, tmp_path / "spool")
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", store
    server.should_exit = True
    thread.join(timeout=20)


def service_env(root: Path, config: Path | None = None) -> dict[str, str]:
    """The environment of a ``lineage`` process on the data root ``root`` (no producer settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENLINEAGE", "LINEAGE_WRITE", "PIPELINE"))}
    env["PIPELINE_DATA_ROOT"] = str(root)
    if config is not None:
        env["PIPELINE_CONFIG"] = str(config)
    return env


def start_service(store_url: str, port: int, root: Path, config: Path | None = None) -> subprocess.Popen:
    """``lineage serve`` in a process of its own (data root, so its spool, under ``root``)."""
    env = service_env(root, config)
    proc = subprocess.Popen([sys.executable, "-m", "lineage.cli", "serve", "--store", store_url, "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/check", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise TimeoutError("lineage serve did not start")


def test_eight_concurrent_producers_lose_and_duplicate_nothing(tmp_path):
    """20,000 events from 8 producers, one request each, plus 2,000 of them sent again: all 20,000
    stored, once. The service runs in its own process, as in production (in a thread of the test
    process it would share the producers' GIL)."""
    factory = EventFactory()
    produced = []
    for day in range(10_000):  # 10,000 runs x (START, COMPLETE)
        produced += factory.run("beam_jobs.clean", "clean", f"2026-{1 + day % 12:02d}-{1 + day % 28:02d}",
                                [ds("staging.users_despammed", "2026-01-01", f"s{day}")],
                                [ds("curated.users_clean", "2026-01-01", f"c{day}")])
    resent = produced[::10]
    shares = [[orjson.dumps(e) for e in (produced + resent)[i::8]] for i in range(8)]
    url, port = f"sqlite:///{tmp_path / 'lineage.db'}", _free_port()
    service = start_service(url, port, tmp_path)
    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            answered = list(pool.map(lambda share: post_raw("127.0.0.1", port, "/api/v1/lineage", share), shares))
        acknowledged = time.perf_counter() - started
        assert answered == [len(share) for share in shares]
        health = httpx.get(f"http://127.0.0.1:{port}/api/v1/health", params={"wait": "true"}, timeout=120)
        assert health.json()["behind_bytes"] == 0
        seconds = time.perf_counter() - started
    finally:
        service.terminate()
        service.wait(timeout=60)
    store = LineageStore(url)
    assert _count(store) == len(produced) == 20_000
    with store.connect() as conn:
        keys = conn.execute(sa.select(events.c.run_id, events.c.event_type)).all()
    assert len(set(keys)) == len(keys) == 20_000
    sent = len(produced) + len(resent)
    print(f"{sent} events from 8 producers acknowledged in {acknowledged:.1f}s ({sent / acknowledged:,.0f}/s), "
          f"all stored after {seconds:.1f}s ({sent / seconds:,.0f}/s)")


def test_the_openlineage_client_http_transport_posts_to_us(live):
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    url, store = live
    client = OpenLineageClient(transport=HttpTransport(HttpConfig(url=url)))
    event = story_events()[0][0]
    from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

    client.emit(RunEvent(eventType=RunState.START, eventTime=event["eventTime"], run=Run(runId=event["run"]["runId"]),
                         job=Job(namespace="user_pipeline", name="beam_jobs.ingest"), producer="test"))
    versions = httpx.get(f"{url}/api/v1/namespaces/user_pipeline/jobs/beam_jobs.ingest/runs", timeout=30).json()
    assert [r["id"] for r in versions["runs"]] == [event["run"]["runId"]]  # the read waited for the indexer
    assert _count(store) == 1


def test_a_read_waits_for_the_indexer_which_is_started_again_if_it_died(tmp_path, make_store, monkeypatch):
    from lineage.spool import Indexer

    monkeypatch.setattr(Indexer, "RESTART_AFTER_S", 0.0)
    store = make_store()
    event = story_events()[0][0]
    app = create_app(store, tmp_path / "spool")
    with TestClient(app, base_url=BASE) as client:
        app.indexer.process.kill()
        app.indexer.process.wait()
        assert client.post("/api/v1/lineage", json=event).status_code == 201  # in the spool: answered
        assert client.get("/api/v1/health").json()["behind_bytes"] > 0
        job = event["job"]
        found = client.get(f"/api/v1/namespaces/{job['namespace']}/jobs/{job['name']}/runs").json()
        assert [r["id"] for r in found["runs"]] == [event["run"]["runId"]]


@pytest.mark.parametrize("headers, status, reason", [
    ({"content-type": "text/plain"}, 415, "Content-Type must be application/json (got text/plain)"),
    ({"content-type": "application/x-www-form-urlencoded"}, 415,
     "Content-Type must be application/json (got application/x-www-form-urlencoded)"),
    ({"content-type": "multipart/form-data; boundary=x"}, 415,
     "Content-Type must be application/json (got multipart/form-data)"),
    ({}, 415, "Content-Type must be application/json (got none)"),
    ({"content-type": "application/json", "origin": "https://evil.example"}, 403,
     "writes from the web origin 'https://evil.example' are not allowed"),
    ({"content-type": "application/json", "origin": "null"}, 403, "writes from the web origin 'null' are not allowed"),
    ({"content-type": "application/json", "host": "evil.example:5000"}, 403,
     "Host 'evil.example' is not one this service answers to"),
])
def test_cross_site_simple_posts_and_foreign_hosts_are_refused_and_nothing_is_stored(tmp_path, make_store, headers,
                                                                                      status, reason):
    """What a web page can send without asking first (a "simple" request: text/plain, a form, no
    type) gets 415; a page's Origin or a rebound DNS name (Host) not configured gets 403."""
    store = make_store()
    body = json.dumps(story_events()[0][0]).encode()
    with TestClient(create_app(store, tmp_path / "spool"), base_url=BASE) as client:
        response = client.post("/api/v1/lineage", content=body, headers=headers)
    assert response.status_code == status and response.json()["detail"].startswith(reason)
    assert _count(store) == 0 and _spooled(tmp_path) == []


def test_json_with_a_charset_loopback_origins_and_configured_hosts_are_accepted(tmp_path, make_store):
    store = make_store()
    first, second, third = story_events()[0][:3]
    app = create_app(store, tmp_path / "spool", allowed_hosts=["lineage.example"],
                     allowed_origins=["localhost", "lineage.example"])
    with TestClient(app, base_url="http://lineage.example:5000") as client:
        assert client.post("/api/v1/lineage", content=json.dumps(first),
                           headers={"content-type": "application/json; charset=utf-8"}).status_code == 201
        assert client.post("/api/v1/lineage", json=second,
                           headers={"origin": "http://localhost:8080"}).status_code == 201
        assert client.post("/api/v1/lineage", json=third,
                           headers={"origin": "https://lineage.example"}).status_code == 201
        assert client.get("/api/v1/check").status_code == 200
        # Reads check the Host too: a DNS name rebound to this machine reads nothing.
        assert client.get("/api/v1/check", headers={"host": "127.0.0.1:5000"}).status_code == 403
    assert _count(store) == 3
