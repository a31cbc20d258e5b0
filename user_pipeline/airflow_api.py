"""One client of Airflow 3's REST API (``/api/v2``), for every command that talks to a running Airflow.

Authorised by a token (``$AIRFLOW_API_TOKEN``), or by a JWT asked of the auth manager's
``/auth/token`` for a user and password (``--airflow-user`` with ``$AIRFLOW_API_PASSWORD``), asked
again once when it expires. Used by ``lineage backfill --airflow-url`` (``user_pipeline.runner.backfill``),
the fix command's asset event (``user_pipeline.fix``), the review page's commit
(``user_pipeline.labels.review``) and the deployment (``user_pipeline.deploy``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

FINISHED = {"success", "failed"}
# How often a waiting caller asks for a run's state: one small GET, nothing for the API server;
# every second of it is added, on average half of it, to each waited run (a backfill waits on one
# run per step, the deployment on one per date).
POLL_SECONDS = 2.0


class AirflowApiError(RuntimeError):
    """A REST call failed: method, path, status and Airflow's answer (``status``: None when
    Airflow did not answer)."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass
class RunResult:
    """One DAG run as the scheduler left it, with each task instance's state and hostname."""

    dag_id: str
    run_id: str
    logical_date: str | None
    state: str
    tasks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def hostnames(self) -> set[str]:
        """Where the run's tasks ran (a task instance's ``hostname``)."""
        return {t["hostname"] for t in self.tasks if t.get("hostname")}


class AirflowApi:
    """A client of one api-server, logged in when given a user (else the token, if any)."""

    def __init__(self, url: str, username: str | None = None, password: str | None = None, *,
                 token: str | None = None, timeout_s: float = 60.0, client: httpx.Client | None = None):
        self.url = url.rstrip("/")
        self.credentials = {"username": username, "password": password} if token is None and username else None
        self.client = client or httpx.Client(base_url=self.url, timeout=timeout_s)
        if token:
            self.client.headers["Authorization"] = f"Bearer {token}"
        if self.credentials:
            self._login()

    def _login(self) -> None:
        answer = self._send("POST", "/auth/token", json=self.credentials)
        if answer.status_code >= 400:
            raise AirflowApiError(f"Airflow POST /auth/token: {answer.status_code} {answer.text[:300]}",
                                  answer.status_code)
        self.client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise AirflowApiError(f"Airflow at {self.url} did not answer {method} {path}: {exc}") from exc

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request, its response whatever the status; logs in again once if the token expired."""
        answer = self._send(method, path, **kwargs)
        if answer.status_code == 401 and self.credentials:
            self._login()
            answer = self._send(method, path, **kwargs)
        return answer

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request; its JSON answer, AirflowApiError on a status of 400 or more."""
        answer = self.request(method, path, **kwargs)
        if answer.status_code >= 400:
            raise AirflowApiError(f"Airflow {method} {path}: {answer.status_code} {answer.text[:500]}",
                                  answer.status_code)
        return answer.json() if answer.content else None

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> AirflowApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the calls the project makes -----------------------------------------------------------
    def dag_ids(self) -> set[str]:
        return {d["dag_id"] for d in self.call("GET", "/api/v2/dags", params={"limit": 1000})["dags"]}

    def import_errors(self) -> list[dict[str, Any]]:
        return self.call("GET", "/api/v2/importErrors")["import_errors"]

    def dag(self, dag_id: str) -> dict[str, Any]:
        return self.call("GET", f"/api/v2/dags/{dag_id}")

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.call("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": paused})

    def trigger(self, dag_id: str, logical_date: str | None, conf: dict[str, Any] | None = None) -> str:
        """Create a manual run (``logical_date`` None: a run without one, as Airflow 3 allows); its run id."""
        body = {"logical_date": logical_date, "conf": conf or {}}
        return self.call("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    @staticmethod
    def run_path(dag_id: str, run_id: str) -> str:
        """The path of a DAG run, its id quoted (run ids hold ":" and "+")."""
        return f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.call("GET", self.run_path(dag_id, run_id))

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.call("GET", f"{self.run_path(dag_id, run_id)}/taskInstances",
                         params={"limit": 1000})["task_instances"]

    def wait(self, dag_id: str, run_id: str, timeout_s: float, poll_s: float = POLL_SECONDS) -> RunResult:
        """Poll the run until it succeeded or failed (or ``timeout_s`` passed: its state then)."""
        deadline = time.monotonic() + timeout_s
        while True:
            run = self.run(dag_id, run_id)
            if run["state"] in FINISHED or time.monotonic() > deadline:
                break
            time.sleep(poll_s)
        tasks = [{k: ti.get(k) for k in ("task_id", "state", "hostname", "try_number")}
                 for ti in self.task_instances(dag_id, run_id)]
        return RunResult(dag_id, run_id, run.get("logical_date"), run["state"], tasks)
