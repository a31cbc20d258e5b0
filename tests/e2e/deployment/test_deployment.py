"""The pipeline on a real Airflow 3 deployment (``user_pipeline.deploy``): api-server, scheduler,
dag-processor, triggerer, Celery workers on Redis (or the LocalExecutor), metadata on PostgreSQL,
lineage over HTTP to ``lineage serve``. Runs go through the REST API and the scheduler, never
``dag.test``. The deployment and its runs are session fixtures (tests/e2e/deployment/conftest.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from lineage.catalog import Catalog
from lineage.store import LineageStore, runs
from tests.e2e.deployment.conftest import USERS_PER_DAY as USERS_PER_DAY_OF_DEPLOYMENT
from tests.e2e.small_config import small_config
from tests.lineage.test_service import _free_port
from user_pipeline.config import load_config
from user_pipeline.steps.registry import DAILY, ID_MATCHER, SPAM_FILTER, steps

pytestmark = [pytest.mark.e2e, pytest.mark.deployment, pytest.mark.timeout(2400)]


def test_the_scheduler_ran_every_task_of_the_models_and_of_both_dates(deployed_pipeline):
    daily = deployed_pipeline.deployed.cfg.airflow.dag_id
    results = deployed_pipeline.results
    assert [r.dag_id for r in results] == [SPAM_FILTER, ID_MATCHER, daily, daily]
    assert [r.logical_date[:10] for r in results[2:]] == deployed_pipeline.dates
    for result in results:
        assert result.state == "success", result
        assert {t["state"] for t in result.tasks} == {"success"}, result.tasks
    for result, dag in zip(results, (SPAM_FILTER, ID_MATCHER, DAILY, DAILY), strict=True):
        assert sorted(t["task_id"] for t in result.tasks) == sorted(s.name for s in steps(dag))


def test_unpausing_the_daily_dag_ran_no_date_of_its_own(deployed_pipeline):
    """Today's cron point, which unpausing runs at once, was one of the runs triggered with their
    logical dates: the scheduler made no scheduled run of its own (it would have no raw data)."""
    daily = deployed_pipeline.deployed.cfg.airflow.dag_id
    made = deployed_pipeline.deployed.api().call("GET", f"/api/v2/dags/{daily}/dagRuns")["dag_runs"]
    assert sorted(r["dag_run_id"] for r in made) == sorted(r.run_id for r in deployed_pipeline.results[2:])
    assert {r["run_type"] for r in made} == {"manual"}


def test_every_event_reached_the_lineage_service_and_the_log(deployed_pipeline, tmp_path):
    """The composite transport: every event of the runs (Airflow's provider and our jobs) is in the
    service's store and in the JSONL log, and every daily step's job reported for both dates."""
    deployed = deployed_pipeline.deployed
    health = httpx.get(f"{deployed.deployment.lineage_url}/api/v1/health", params={"wait": "true"}, timeout=120)
    assert health.json()["behind_bytes"] == 0
    log_events = [json.loads(line) for path in deployed.cfg.openlineage_log_paths()
                  for line in Path(path).read_text().splitlines() if line.strip()]
    from_log = LineageStore(f"sqlite:///{tmp_path / 'from_log.db'}")
    from_log.ingest_files(deployed.cfg.openlineage_log_paths())
    served = LineageStore(deployed.served_store)
    assert served.counts()["events"] == from_log.counts()["events"] == len(log_events) > 0
    with served.connect() as conn:
        served_jobs = {j for (j,) in conn.execute(sa.select(runs.c.job_name).distinct())}
    assert served_jobs == {e["job"]["name"] for e in log_events}
    daily = deployed.cfg.airflow.dag_id
    for step in [s for s in steps(DAILY) if not s.teardown]:  # the run report records no lineage (issue 17)
        task = f"{daily}.{step.name}"
        assert task in served_jobs  # the provider's task event
        completed = {e["run"]["runId"] for e in log_events if e["job"]["name"] == step.job
                     and e["eventType"] == "COMPLETE" and _parent_job(e) == task}
        assert len(completed) == len(deployed_pipeline.dates), task


def _parent_job(event: dict) -> str | None:
    return (((event["run"].get("facets") or {}).get("parent") or {}).get("job") or {}).get("name")


def test_the_tasks_of_each_date_ran_on_both_celery_workers(deployed_pipeline):
    deployed = deployed_pipeline.deployed
    if deployed.executor != "celery":
        pytest.skip(f"the shared deployment runs the LocalExecutor here: {deployed.why_not_celery}")
    assert deployed.deployment.workers == ["worker1", "worker2"]
    for result in deployed_pipeline.results[2:]:
        assert result.hostnames == {"worker1", "worker2"}, result.tasks


def test_a_local_executor_deployment_starts_paused_and_stops_leaving_no_process(tmp_path):
    """``make deploy``'s default (LocalExecutor, SQLite): healthy, the admin logs in, every DAG is
    paused at creation and nothing ran; ``stop`` ends every process it started."""
    from user_pipeline.deploy import deployment as dep

    config, _ = small_config(tmp_path, users_per_day=100)
    started = dep.start(dep.Options(config=str(config), api_port=_free_port(), lineage_port=_free_port()))
    try:
        assert dep.load(str(config)).services == started.services
        from user_pipeline.airflow_api import AirflowApi

        api = AirflowApi(started.api_url, started.username, started.password())
        dags = api.call("GET", "/api/v2/dags")["dags"]
        assert {d["dag_id"] for d in dags} >= {DAILY, SPAM_FILTER, ID_MATCHER}
        assert all(d["is_paused"] for d in dags)
        assert api.call("GET", "/api/v2/dags/~/dagRuns")["total_entries"] == 0
        assert set(started.services) == {"lineage", "api-server", "scheduler", "dag-processor", "triggerer"}
        assert dep.session_processes(started)
    finally:
        dep.stop(started)
    assert dep.session_processes(started) == []
    assert dep.load(str(config)) is None


def test_the_last_dates_beam_jobs_give_the_same_versions_on_the_portable_runner(deployed_pipeline, tmp_path):
    """Beam's portability path (the one Flink, Spark and Dataflow take): ``PortableRunner`` with the
    embedded job service and the LOOPBACK harness recomputes the last date's Beam jobs (``--force``,
    in order, on a copy of the deployment's data) with the content versions the deployment's
    FnApiRunner committed. The last date: recomputing it sees the same earlier days it saw."""
    deployed = deployed_pipeline.deployed
    ds = deployed_pipeline.dates[-1]
    config, env = small_config(tmp_path, users_per_day=USERS_PER_DAY_OF_DEPLOYMENT)
    shutil.copytree(deployed.cfg.data_root, tmp_path / "data", ignore=shutil.ignore_patterns("airflow", "lineage"))
    cfg = load_config(config)
    beam_steps = [s for s in steps(DAILY) if s.job.startswith("beam_jobs.")]
    portable = ["--force", "--runner=PortableRunner", "--job_endpoint=embed", "--environment_type=LOOPBACK"]
    for step in beam_steps:
        done = subprocess.run([sys.executable, "-m", step.job, f"--ds={ds}", f"--config={config}", *step.command(),
                               *portable], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (step.name, done.returncode, done.stderr[-3000:])
    ours, theirs = Catalog(cfg), Catalog(deployed.cfg)
    for step in beam_steps:
        for dataset in step.writes:
            if cfg.dataset(dataset).partitioning == "ds":
                assert ours.require(dataset, ds).version == theirs.require(dataset, ds).version, dataset
                assert ours.require(dataset, ds).producer != theirs.require(dataset, ds).producer  # recomputed
            else:
                assert ours.committed(dataset) == theirs.committed(dataset), dataset
