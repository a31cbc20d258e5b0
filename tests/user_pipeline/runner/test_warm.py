"""Warm job processes: a job handed to a process started ahead runs as ``python -m`` would run it."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from user_pipeline.runner import launch
from user_pipeline.runner.warm import WarmPool, ahead
from user_pipeline.steps.registry import DAILY, step, steps

JOB = textwrap.dedent("""
    import json, os, sys
    print(json.dumps({"name": __name__, "argv": sys.argv[1:], "colour": os.environ.get("COLOUR"),
                      "preloaded": "heavy_lib" in sys.modules, "spec": __spec__.name}))
    sys.stderr.write("a warning on stderr\\n")
    sys.exit(int(os.environ.get("EXIT", "0")))
""")
HEAVY = "import os, pathlib; pathlib.Path(os.environ['MARKER']).write_text('imported')\n"


@pytest.fixture
def modules(tmp_path, monkeypatch):
    """A job module and a 'heavy' library on the path of the processes started here."""
    (tmp_path / "toy_job.py").write_text(JOB)
    (tmp_path / "heavy_lib.py").write_text(HEAVY)
    (tmp_path / "broken_lib.py").write_text("raise ImportError('not on this machine')\n")
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    monkeypatch.setenv("MARKER", str(tmp_path / "marker"))
    return tmp_path


def _wait_for(path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.exists()


def _finish(child: subprocess.Popen) -> tuple[int, str, str]:
    out, err = child.communicate(timeout=60)
    return child.returncode, out, err


def test_a_job_handed_to_a_warm_process_runs_as_python_dash_m_would(modules):
    pool = WarmPool(os.environ)
    try:
        pool.warm("toy_job", ["heavy_lib"])
        _wait_for(modules / "marker")  # imported before the task came
        env = {**os.environ, "COLOUR": "blue", "EXIT": "3"}
        warm = _finish(pool.claim([sys.executable, "-m", "toy_job", "--ds=2026-01-01", "x y"], env))
    finally:
        pool.close()
    cold = _finish(subprocess.Popen([sys.executable, "-m", "toy_job", "--ds=2026-01-01", "x y"], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    assert warm[0] == cold[0] == 3
    assert warm[2] == cold[2] == "a warning on stderr\n"
    assert warm[1].replace('"preloaded": true', '"preloaded": false') == cold[1]
    assert '"name": "__main__"' in cold[1] and '"spec": "toy_job"' in cold[1] and '"colour": "blue"' in cold[1]


def test_a_preload_that_fails_is_left_to_the_job_and_a_job_error_is_its_traceback(modules):
    (modules / "failing_job.py").write_text("raise RuntimeError('the job failed')\n")
    pool = WarmPool(os.environ)
    try:
        pool.warm("failing_job", ["broken_lib", "heavy_lib:missing_function"])
        code, out, err = _finish(pool.claim([sys.executable, "-m", "failing_job"], os.environ))
    finally:
        pool.close()
    assert code == 1 and err.rstrip().endswith("RuntimeError: the job failed") and "Traceback" in err


def test_only_a_waiting_process_of_the_same_module_is_claimed_and_closing_kills_the_rest(modules):
    pool = WarmPool(os.environ)
    pool.warm("toy_job")
    pool.warm("toy_job")  # already one waiting
    pool.warm("toy_job", count=2)  # two tasks to come
    waiting = pool.waiting["toy_job"]
    assert len(waiting) == 2
    assert pool.claim([sys.executable, "-m", "other_job"], os.environ) is None
    assert pool.claim([sys.executable, "-c", "pass"], os.environ) is None
    pool.close()
    assert all(child.poll() is not None for child in waiting) and pool.waiting == {}
    assert pool.claim([sys.executable, "-m", "toy_job"], os.environ) is None


def test_run_module_starts_the_next_jobs_ahead_and_their_tasks_take_them(modules, monkeypatch):
    import types

    monkeypatch.setattr("airflow.providers.openlineage.plugins.macros.lineage_parent_id", lambda ti: "ns/p/1")
    monkeypatch.setattr("airflow.providers.openlineage.plugins.macros.lineage_root_parent_id", lambda ti: "ns/r/1")
    ti = types.SimpleNamespace(dag_id="d", task_id="t", try_number=1)
    launch.start_warm_processes()
    try:
        first = launch.run_module("toy_job", ds="2026-01-01", ti=ti, dag_run_id="manual__1", logical_date=None,
                                  config="conf.yaml", ahead=[("toy_job", ("heavy_lib",))])
        _wait_for(modules / "marker")  # the next task's process was started with the first
        (taken,) = launch._WARM.waiting["toy_job"]
        second = launch.run_module("toy_job", ds="2026-01-02", ti=ti, dag_run_id="manual__2", logical_date=None,
                                   config="conf.yaml")
        assert launch._WARM.waiting["toy_job"] == [] and taken.returncode == 0
        # A run's last task (nothing ahead in its run) starts the next run's first task's process.
        launch.next_run([("toy_job", ())])
        launch.run_module("toy_job", ds="2026-01-02", ti=ti, dag_run_id="manual__2", logical_date=None,
                          config="conf.yaml")
        assert len(launch._WARM.waiting["toy_job"]) == 1
    finally:
        launch.next_run([])
        launch.stop_warm_processes()
    assert '"preloaded": false' in first and '"preloaded": true' in second and "--ds=2026-01-02" in second


def test_the_jobs_started_ahead_are_those_of_the_next_two_tasks_with_their_preload():
    daily = steps(DAILY)
    assert ahead(step("ingest"), daily) == [("expectations.gate", step("gate_users_ingested").preload),
                                            ("expectations.gate", step("gate_job_outcomes").preload)]
    assert [job for job, _ in ahead(step("train"), daily)] == ["user_pipeline.training.evaluate",
                                                               "user_pipeline.training.skew"]
    assert ahead(step("run_report"), daily) == []
    # As a run starts: its first task and the two after it, a process per task (two gates wait).
    assert [job for job, _ in ahead(None, daily)] == ["beam_jobs.ingest", "expectations.gate", "expectations.gate"]
