"""The real deployment (``user_pipeline.deploy``), started once per test session and shared by
every module that asks for it: ``deployment`` (the services, healthy, DAGs parsed) and
``deployed_pipeline`` (the model DAGs and two dates of the daily DAG run through the scheduler).

Airflow's metadata goes to a fresh database on the CI's throwaway PostgreSQL server
(``$LINEAGE_TEST_PG_URL``, started by ``.ci/run``; else a server started here by
``.ci/postgres.sh``). The executor is Celery with two workers and a Redis broker when both a
PostgreSQL server and ``redis-server`` are there, else the LocalExecutor (on SQLite without
PostgreSQL), so tests that only need *a* deployment still run; the Celery test says why it skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.small_config import small_config
from tests.lineage.test_service import _free_port
from user_pipeline.config import PipelineConfig, load_config

REPO = Path(__file__).parents[2]
USERS_PER_DAY = 700  # the e2e size (tests/e2e/test_user_pipeline_dag.py)
WORKERS = 2


@dataclass
class Deployed:
    """The shared deployment and what the tests need to reach it."""

    deployment: object  # user_pipeline.deploy.deployment.Deployment
    cfg: PipelineConfig
    env: dict[str, str]  # an environment for child processes (``lineage ...``) pointing at its config
    served_store: str  # the lineage service's store (SQLite, apart from the CLI's)
    executor: str
    why_not_celery: str | None
    timings: dict[str, float] = field(default_factory=dict)

    def api(self):
        from user_pipeline.airflow_api import AirflowApi

        d = self.deployment
        return AirflowApi(d.api_url, d.username, d.password())


@pytest.fixture(scope="session")
def airflow_metadata_db():
    """A fresh PostgreSQL database URL for Airflow's metadata, dropped afterwards; None (with the
    reason) where no PostgreSQL server is reachable or can be started."""
    import psycopg
    from sqlalchemy.engine import make_url

    stop = None
    server = os.environ.get("LINEAGE_TEST_PG_URL")
    reason = None
    if not server:
        started = subprocess.run([str(REPO / ".ci" / "postgres.sh")], capture_output=True, text=True,
                                 env={**os.environ, "PGPORT_CI": os.environ.get("DEPLOY_TEST_PGPORT", "55434")})
        if started.returncode == 0:
            server, stop = started.stdout.splitlines()[:2]
        else:
            reason = f"no PostgreSQL server could be started ({started.stderr.strip().splitlines()[-1:]})"
    if server is None:
        yield None, reason
        return
    url = make_url(server)
    name = f"airflow_e2e_{uuid.uuid4().hex[:8]}"
    admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False), None
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if stop:
            subprocess.run(stop.split(), capture_output=True)
            # The server's folder, as .ci/with-postgres.sh removes it: the one before /data in its stop command.
            data = stop.split(" -D ", 1)[1].split()[0]
            shutil.rmtree(Path(data).parent, ignore_errors=True)


@pytest.fixture(scope="session")
def deployment(tmp_path_factory, airflow_metadata_db):
    """The deployment on a small config under a temporary data root, stopped (with every process
    it started) at the end of the session."""
    from user_pipeline.deploy import deployment as dep

    metadata_db, no_postgres = airflow_metadata_db
    why_not_celery = no_postgres or (None if shutil.which("redis-server") else
                                     "no redis-server on PATH (.ci/system-packages.sh installs Debian's)")
    executor = "celery" if why_not_celery is None else "local"
    root = tmp_path_factory.mktemp("deployment")
    config, env = small_config(root, users_per_day=USERS_PER_DAY)
    served = f"sqlite:///{root / 'served.db'}"
    options = dep.Options(config=str(config), executor=executor, workers=WORKERS, metadata_db=metadata_db,
                          api_port=_free_port(), lineage_port=_free_port(), lineage_store=served)
    started = time.perf_counter()
    deployment = dep.start(options)
    deployed = Deployed(deployment, load_config(deployment.config_path), {**env, "PIPELINE_CONFIG":
                        deployment.config_path}, served, executor, why_not_celery)
    deployed.timings["start"] = time.perf_counter() - started
    try:
        yield deployed
    finally:
        dep.stop(deployment)
        leftovers = dep.session_processes(deployment)
        assert not leftovers, f"processes left after stopping the deployment: {leftovers}"


@dataclass
class PipelineRuns:
    """The runs ``run_pipeline`` made: the model DAGs' and one per date of the daily DAG."""

    deployed: Deployed
    dates: list[str]
    results: list  # user_pipeline.airflow_api.RunResult
    seconds: float


@pytest.fixture(scope="session")
def deployed_pipeline(deployment):
    """The model DAGs, then two dates of the daily DAG (yesterday and today, UTC: today is the cron
    point unpausing it runs), through the scheduler via the REST API."""
    from user_pipeline.datagen.generate import generate
    from user_pipeline.deploy.airflow_api import default_dates, run_pipeline

    dates = default_dates(2)
    generate(deployment.cfg, start_date=dates[0], days=len(dates), users_per_day=USERS_PER_DAY)
    started = time.perf_counter()
    results = run_pipeline(deployment.api(), deployment.cfg, dates, timeout_s=1500, say=lambda _: None)
    seconds = time.perf_counter() - started
    deployment.timings["models and two dates"] = seconds
    print(f"\ndeployment ({deployment.executor}): started in {deployment.timings['start']:.0f}s; "
          f"model DAGs and two dates through the scheduler in {seconds:.0f}s")
    return PipelineRuns(deployment, dates, results, seconds)
