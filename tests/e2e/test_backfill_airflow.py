"""The backfill's Airflow API runner against a real Airflow 3 on loopback (slow: marked e2e).

An api-server, a scheduler (LocalExecutor) and a dag-processor on a SQLite metadata database,
started here for this module and stopped after it, run a toy pair of DAGs: ``toy_fix`` publishes
an asset, which triggers ``toy_consumer`` (first -> second -> third). Every task appends
"<run id> <task> <try>" to a file, so what ran, in which DAG run and in what order is exact.

What the fake of tests/user_pipeline/runner/test_backfill.py cannot show: that Airflow 3's API
re-runs exactly the cleared tasks of a run named by its id, for runs that have no logical date
(asset-triggered and manual), that the waves of ``clear_waves`` are needed and suffice, and that
a paused DAG is refused before anything is cleared. The pipeline's own DAGs through a real
deployment are the deployment's end-to-end test.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from lineage.backfill import PlannedTask, PlanStep
from user_pipeline.runner.backfill import AirflowApiRunner

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

TOY_DAGS = '''
import os
from pathlib import Path

import pendulum
from airflow.sdk import DAG, Asset, task

FIXED = Asset(name="toy.fixed", uri="pipeline://toy/fixed")


def record(task_id, run_id, ti):
    with Path(os.environ["TOY_LOG"]).open("a") as fh:
        fh.write(f"{run_id} {task_id} {ti.try_number}\\n")


with DAG("toy_fix", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False):
    @task(outlets=[FIXED])
    def publish(ti=None, run_id=None):
        record("publish", run_id, ti)

    publish()

with DAG("toy_consumer", schedule=[FIXED], start_date=pendulum.datetime(2026, 1, 1), catchup=False):
    @task
    def first(ti=None, run_id=None):
        record("first", run_id, ti)

    @task
    def second(ti=None, run_id=None):
        record("second", run_id, ti)

    @task
    def third(ti=None, run_id=None):
        record("third", run_id, ti)

    first() >> second() >> third()
'''
USER, PASSWORD = "admin", secrets.token_hex(8)
COMPONENTS = ("api-server", "scheduler", "dag-processor")


@dataclass
class Airflow:
    url: str
    client: httpx.Client  # authenticated
    log: Path  # what the toy tasks ran

    def runner(self) -> AirflowApiRunner:
        return AirflowApiRunner(self.url, username=USER, password=PASSWORD, poll_seconds=0.5, timeout_seconds=120)

    def call(self, method: str, path: str, **kwargs) -> dict:
        answer = self.client.request(method, path, **kwargs)
        answer.raise_for_status()
        return answer.json()

    def trigger(self, dag_id: str) -> str:
        """A manual run without a logical date (what the UI's and the CLI's trigger make)."""
        return self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None})["dag_run_id"]

    def finished(self, dag_id: str, run_type: str | None = None, run_id: str | None = None) -> dict:
        """The DAG run (by id, or the first of ``run_type``) once it succeeded."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            found = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns")["dag_runs"]
            run = next((r for r in found if r["dag_run_id"] == run_id or r["run_type"] == run_type), None)
            if run and run["state"] == "success":
                return run
            assert run is None or run["state"] != "failed", run
            time.sleep(0.5)
        raise TimeoutError(f"no successful run of {dag_id} ({run_type or run_id})")

    def ran(self, run_id: str) -> list[str]:
        """"<task> <try>" of every task execution of that DAG run, in order."""
        lines = [line.split(" ") for line in self.log.read_text().splitlines()]
        return [f"{task} {attempt}" for run, task, attempt in lines if run == run_id]

    def started_after(self, dag_id: str, run_id: str, later: str, earlier: str) -> bool:
        tis = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances")
        by_task = {ti["task_id"]: ti for ti in tis["task_instances"]}
        return by_task[later]["start_date"] >= by_task[earlier]["end_date"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    root = tmp_path_factory.mktemp("airflow")
    (root / "dags").mkdir()
    (root / "dags" / "toy.py").write_text(TOY_DAGS)
    (root / "passwords.json").write_text(json.dumps({USER: PASSWORD}))
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ, "AIRFLOW_HOME": str(root), "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{root / 'airflow.db'}",
        "AIRFLOW__CORE__PARALLELISM": "2",
        # Moving the API off 8080 moves the execution API the workers call too.
        "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        # Every component signs and checks task tokens with the same secret.
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(root / "passwords.json"),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
        "AIRFLOW__OPENLINEAGE__DISABLED": "True",
        "TOY_LOG": str(root / "toy.log"),
    }
    env.pop("PIPELINE_CONFIG", None)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True,
                   timeout=300)
    started = []
    try:
        for component in COMPONENTS:
            with (root / f"{component}.log").open("w") as out:
                # A session of its own: stopping it stops the workers it forked.
                started.append(subprocess.Popen([sys.executable, "-m", "airflow", component], env=env, stdout=out,
                                                stderr=subprocess.STDOUT, start_new_session=True))
        client = _logged_in(url, started, root)
        yield Airflow(url, client, root / "toy.log")
    finally:
        for process in started:
            os.killpg(process.pid, signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def _logged_in(url: str, started: list[subprocess.Popen], root: Path) -> httpx.Client:
    """A client with a token, once the API answers and both toy DAGs are parsed."""
    deadline = time.monotonic() + 240
    client = httpx.Client(base_url=url, timeout=30)
    while time.monotonic() < deadline:
        dead = [p.args[3] for p in started if p.poll() is not None]
        assert not dead, f"{dead} exited: see {root}/*.log"
        try:
            token = client.post("/auth/token", json={"username": USER, "password": PASSWORD})
            if token.status_code == 201:
                client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
                dags = client.get("/api/v2/dags").json()["dags"]
                if {d["dag_id"] for d in dags} == {"toy_fix", "toy_consumer"}:
                    return client
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(1)
    raise TimeoutError(f"Airflow did not come up in 240 s: see {root}/*.log")


def _step(dag_run_id: str, *tasks: str, follows: dict[str, str] | None = None) -> PlanStep:
    planned = {t: PlannedTask("toy_consumer", None, t, "derived", dag_run_id=dag_run_id) for t in tasks}
    for task, before in (follows or {}).items():
        planned[task].after = [planned[before].label]
    return PlanStep("toy_consumer", None, list(planned.values()), dag_run_id)


def test_an_asset_triggered_run_is_re_run_by_its_id(airflow):
    fix = airflow.trigger("toy_fix")
    airflow.finished("toy_fix", run_id=fix)
    run = airflow.finished("toy_consumer", run_type="asset_triggered")
    assert run["logical_date"] is None  # what a date-keyed backfill could not find
    assert airflow.ran(run["dag_run_id"]) == ["first 1", "second 1", "third 1"]

    states = airflow.runner().run_step(_step(run["dag_run_id"], "second", "third", follows={"third": "second"}))
    assert states == {"second": "success", "third": "success"}
    assert airflow.ran(run["dag_run_id"]) == ["first 1", "second 1", "third 1", "second 2", "third 2"]
    assert airflow.ran(fix) == ["publish 1"]  # the run that published the asset was left alone


def test_a_task_the_dag_does_not_order_after_its_predecessor_waits_for_it(airflow):
    """first and third planned, third reading what first recomputes, second not planned: cleared
    together, Airflow would start third at once (measured: before first)."""
    run_id = airflow.trigger("toy_consumer")
    airflow.finished("toy_consumer", run_id=run_id)
    states = airflow.runner().run_step(_step(run_id, "first", "third", follows={"third": "first"}))
    assert states == {"first": "success", "third": "success"}
    assert airflow.ran(run_id) == ["first 1", "second 1", "third 1", "first 2", "third 2"]
    assert airflow.started_after("toy_consumer", run_id, "third", "first")


def test_a_paused_dag_and_a_run_airflow_does_not_know_are_refused_before_clearing(airflow):
    run_id = airflow.trigger("toy_consumer")
    airflow.finished("toy_consumer", run_id=run_id)
    airflow.call("PATCH", "/api/v2/dags/toy_consumer", json={"is_paused": True})
    try:
        with pytest.raises(RuntimeError, match="DAG toy_consumer is paused"):
            airflow.runner().run_step(_step(run_id, "second"))
    finally:
        airflow.call("PATCH", "/api/v2/dags/toy_consumer", json={"is_paused": False})
    with pytest.raises(LookupError, match="Airflow has no run 'manual__1999-01-01T00:00:00"):
        airflow.runner().run_step(_step("manual__1999-01-01T00:00:00+00:00", "second"))
    assert airflow.ran(run_id) == ["first 1", "second 1", "third 1"]
