"""The deployment's environment, derived config and process handling, without starting Airflow
(tests/e2e/deployment/test_deployment.py starts it)."""

from __future__ import annotations

import sys
import time

import pytest
import yaml

from user_pipeline.config import load_config
from user_pipeline.deploy import deployment as dep


def test_the_deployment_config_sends_lineage_to_the_service_and_the_log(cfg, tmp_path):
    written = dep.deployment_config(cfg, "http://127.0.0.1:5999", tmp_path / "pipeline.yaml")
    raw = yaml.safe_load(written.read_text())
    assert raw["data_root"] == cfg.data_root
    transport = raw["lineage"]["openlineage"]["transport"]
    assert transport["type"] == "composite"
    assert transport["transports"] == [
        {"type": "http", "url": "http://127.0.0.1:5999", "timeout": 30},
        {"type": "file", "log_file_path": f"{cfg.data_root}/lineage/events.jsonl", "append": True}]
    assert load_config(written).openlineage_log_paths() == cfg.openlineage_log_paths()


def test_the_services_environment_moves_the_execution_api_with_the_port(cfg, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENLINEAGE_URL", "http://elsewhere:5000")
    url = "postgresql+psycopg://postgres@127.0.0.1:5432/airflow"
    env = dep.service_env(cfg, dep.Options(executor="celery", metadata_db=url, api_port=18123), tmp_path,
                          "http://127.0.0.1:18123")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18123/execution/"
    assert env["AIRFLOW__API__PORT"] == "18123" and env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "True"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == url
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] == "postgresql+psycopg_async://postgres@127.0.0.1:5432/airflow"
    assert "OPENLINEAGE_URL" not in env
    again = dep.service_env(cfg, dep.Options(), tmp_path, "http://127.0.0.1:8080")
    assert again["AIRFLOW__API_AUTH__JWT_SECRET"] == env["AIRFLOW__API_AUTH__JWT_SECRET"]  # kept across restarts
    assert again["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path / 'airflow.db'}"  # not the runner's
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC" not in again  # SQLite: Airflow derives aiosqlite


@pytest.mark.parametrize(("options", "message"), [
    (dep.Options(executor="celery"), "the CeleryExecutor needs a metadata database server"),
    (dep.Options(executor="kubernetes"), "unknown executor 'kubernetes'"),
])
def test_start_refuses_what_cannot_work(cfg, options, message):
    with pytest.raises(dep.DeploymentError, match=message):
        dep.start(options)


def test_stop_ends_every_process_of_a_service_even_one_in_its_own_process_group(tmp_path):
    """Airflow's task supervisor moves each task into a process group of its own: stopping the
    service's group alone would leave it running. This one also ignores SIGTERM."""
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    service = (f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {stubborn!r}], "
               "process_group=0); time.sleep(600)")
    (tmp_path / "logs").mkdir()
    deployment = dep.Deployment(state_dir=str(tmp_path), config_path="", executor="local", api_url="",
                                lineage_url="", lineage_store="", username="admin", password_file="")
    dep._spawn(deployment, "service", [sys.executable, "-c", service], {})
    deployment.save()
    deadline = time.monotonic() + 20
    while len(dep.session_processes(deployment)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len({p.pid for p in dep.session_processes(deployment)}) == 2
    assert dep.stop(deployment, timeout_s=2) == ["service"]
    assert dep.session_processes(deployment) == []
    assert not deployment.state_file.exists()
