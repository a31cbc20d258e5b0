"""Drive the deployment through Airflow 3's REST API (``/api/v2``, a JWT from ``/auth/token``).

``run_pipeline`` is how the deployment runs dates through the real scheduler without its
surprises: DAGs are paused at creation, and unpausing a daily DAG with ``catchup=False`` makes the
scheduler run the latest cron point at once (today, ``CronTriggerTimetable``), ahead of runs
queued by hand. So the daily DAG's runs are triggered with explicit logical dates while it is
still paused, today's among them, then it is unpaused: the scheduler finds today's run already
there (it never creates a second run for a logical date) and runs the queued ones in order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from user_pipeline.config import PipelineConfig
from user_pipeline.steps.registry import ID_MATCHER, LABELS_FIX, SPAM_FILTER

FINISHED = {"success", "failed"}


class AirflowApiError(RuntimeError):
    """A REST call failed: method, path, status and Airflow's answer."""


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
    """A logged-in client of one api-server."""

    def __init__(self, url: str, username: str, password: str, timeout_s: float = 30.0):
        self.url = url.rstrip("/")
        self.credentials = {"username": username, "password": password}
        self.client = httpx.Client(base_url=self.url, timeout=timeout_s)
        self._login()

    def _login(self) -> None:
        answer = self.client.post("/auth/token", json=self.credentials)
        if answer.status_code >= 400:
            raise AirflowApiError(f"POST /auth/token: {answer.status_code} {answer.text[:300]}")
        self.client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request; logs in again once if the token expired."""
        answer = self.client.request(method, path, **kwargs)
        if answer.status_code == 401:
            self._login()
            answer = self.client.request(method, path, **kwargs)
        if answer.status_code >= 400:
            raise AirflowApiError(f"{method} {path}: {answer.status_code} {answer.text[:500]}")
        return answer.json() if answer.content else None

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

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        return self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances",
                         params={"limit": 1000})["task_instances"]

    def wait(self, dag_id: str, run_id: str, timeout_s: float, poll_s: float = 3.0) -> RunResult:
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


def default_dates(days: int) -> list[str]:
    """The ``days`` days ending today (UTC): today is the cron point unpausing the daily DAG runs."""
    today = datetime.now(UTC).date()
    return [(today - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]


def logical_date(ds: str) -> str:
    """The logical date of a daily run (midnight UTC), as the API takes it."""
    return f"{ds}T00:00:00Z"


def run_pipeline(api: AirflowApi, cfg: PipelineConfig, dates: list[str], timeout_s: float = 3600.0,
                 say=print) -> list[RunResult]:
    """Run the models' DAGs once, then the daily DAG for ``dates`` in order, through the scheduler;
    returns every run's result (stops after a model DAG fails: the daily runs would need it)."""
    results = []
    # The models de-spam and ID-merge score with (they skip when already committed), as the
    # embedded runner does first; and the labels fix, which runs only when triggered.
    api.set_paused(LABELS_FIX, False)
    for dag_id in (SPAM_FILTER, ID_MATCHER):
        api.set_paused(dag_id, False)
        result = api.wait(dag_id, api.trigger(dag_id, logical_date(dates[0])), timeout_s)
        say(f"DAG RUN {dag_id} {result.run_id}: {result.state}")
        results.append(result)
        if result.state != "success":
            return results
    daily = cfg.airflow.dag_id
    info = api.dag(daily)
    next_run = info.get("next_dagrun_logical_date")
    if info.get("is_paused") and next_run and next_run[:10] <= datetime.now(UTC).date().isoformat() \
            and next_run[:10] not in dates:
        say(f"WARNING: unpausing {daily} makes the scheduler also run {next_run[:10]} (its next cron point), "
            "which is not among the dates given")
    run_ids = [api.trigger(daily, logical_date(ds)) for ds in dates]
    api.set_paused(daily, False)
    for ds, run_id in zip(dates, run_ids, strict=True):
        result = api.wait(daily, run_id, timeout_s)
        say(f"DAG RUN {daily} {ds} ({run_id}): {result.state}; tasks on {', '.join(sorted(result.hostnames))}")
        results.append(result)
    return results
