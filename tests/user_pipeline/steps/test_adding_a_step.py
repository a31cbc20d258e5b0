"""The walkthrough of docs/adding-a-step.md, exercised: a toy step declared in one file is run by
an Airflow DAG built from the registry (``dag.test``, its task in its own process), commits its
output with lineage under the Airflow task, skips when nothing changed and reproduces its version
with ``--force``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from lineage.catalog import Catalog, Producer
from tests.e2e.small_config import small_config
from tests.user_pipeline.steps import toy_step
from user_pipeline.config import load_config

DS = "2026-01-01"

# A DAG file as a user writes one for their own step: the tasks come from the registry.
DAG_FILE = """
import pendulum
from airflow.sdk import DAG

import tests.user_pipeline.steps.toy_step  # registers the step
from user_pipeline.config import cached_config
from user_pipeline.runner.tasks import build_tasks

with DAG(dag_id="toy", schedule=None, start_date=pendulum.datetime(2026, 1, 1), catchup=False) as dag:
    build_tasks(cached_config(), "toy")
"""

# What ``python -m user_pipeline.runner.local`` does for a date: an embedded Airflow, ``dag.test``.
RUN_DAG = """
import os, sys
import pendulum
from user_pipeline.config import load_config
from user_pipeline.runner.local import airflow_env, migrate_airflow_db
env = airflow_env(load_config())
env["AIRFLOW__CORE__DAGS_FOLDER"] = sys.argv[2]
os.environ.update(env)
migrate_airflow_db(env)
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[2])
assert not bag.import_errors, bag.import_errors
run = bag.dags["toy"].test(logical_date=pendulum.parse(sys.argv[1]))
print("STATE", getattr(run.state, "value", run.state))
"""


@pytest.fixture
def toy_config(tmp_path):
    config, env = small_config(tmp_path, users_per_day=100)
    raw = yaml.safe_load(config.read_text())
    raw["datasets"]["toy.country_counts"] = {"path": "toy/country_counts", "partitioning": "ds"}
    config.write_text(yaml.safe_dump(raw))
    env["PYTHONPATH"] = str(Path(__file__).parents[3])
    return load_config(config), config, env


def _commit_clean_users(cfg, countries):
    table = pa.table({"canonical_id": [f"u{i}" for i in range(len(countries))], "country": countries})
    return Catalog(cfg).write_table("curated.users_clean", DS, table, producer=Producer("test", "test-upstream"),
                                    inputs=[], code_version="test")


def test_a_toy_step_declared_in_one_file_runs_through_the_dag_machinery(toy_config):
    cfg, config, env = toy_config
    clean = _commit_clean_users(cfg, ["DE", "GB", "DE", "FR", "DE"])
    dags = config.parent / "dags"
    dags.mkdir()
    (dags / "toy.py").write_text(DAG_FILE)
    done = subprocess.run([sys.executable, "-c", RUN_DAG, DS, str(dags)], env=env, capture_output=True, text=True,
                          timeout=600, cwd=Path(__file__).parents[3])
    assert "STATE success" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]

    catalog = Catalog(cfg)
    counts = catalog.require("toy.country_counts", DS)
    assert catalog.read_table("toy.country_counts", DS).to_pylist() == [
        {"country": "DE", "users": 3}, {"country": "FR", "users": 1}, {"country": "GB", "users": 1}]
    assert counts.inputs == [clean.ref.to_json()] and counts.producer["job"] == toy_step.STEP.job

    events = [json.loads(line) for line in Path(cfg.openlineage_log_paths()[0]).read_text().splitlines()]
    toy = [e for e in events if e["job"]["name"] == toy_step.STEP.job]
    assert [e["eventType"] for e in toy] == ["START", "COMPLETE"]
    assert toy[0]["run"]["facets"]["parent"]["job"]["name"] == "toy.count_countries"  # the Airflow task
    assert toy[1]["outputs"][0]["facets"]["version"]["datasetVersion"] == counts.version

    # Unchanged input and code: the same command skips; --force recomputes the same version.
    again = toy_step.run(["--ds", DS], cfg=cfg)
    assert again.skipped and again.output.producer["run_id"] == counts.producer["run_id"]
    forced = toy_step.run(["--ds", DS, "--force"], cfg=cfg)
    assert not forced.skipped and forced.output.version == counts.version
    assert forced.output.producer["run_id"] != counts.producer["run_id"]


def test_the_toy_steps_code_version_covers_what_it_imports_and_not_the_core():
    from user_pipeline.steps.code import source_files

    names = {p.name for p in source_files(toy_step.STEP.job)}
    assert "toy_step.py" in names
    assert not names & {"harness.py", "registry.py", "catalog.py", "emit.py"}
