"""Launching a job: a job killed by a signal is launched again once, an error exit is an answer;
the job's output reaches the task log line by line at the level the job logged it."""

import logging
import sys
import textwrap
import types

import pytest

from user_pipeline.runner.launch import ChildLines, Launch, run_child, run_module

LAUNCH_LOGGER = "user_pipeline.runner.launch"

ABORT_ONCE = """
import os, pathlib, sys
marker = pathlib.Path(sys.argv[1])
if not marker.exists():
    marker.write_text("crashed once")
    os.abort()
print("done")
"""


def test_a_job_aborted_by_a_signal_is_launched_again(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger=LAUNCH_LOGGER)
    done = run_child([sys.executable, "-c", ABORT_ONCE, str(tmp_path / "marker")])
    assert done.returncode == 0 and done.stdout.strip() == "done"
    assert [r.levelno for r in caplog.records if "killed by signal 6" in r.getMessage()] == [logging.WARNING]


def test_an_error_exit_is_not_retried(tmp_path):
    script = "import pathlib, sys; p = pathlib.Path(sys.argv[1]); p.write_text(p.read_text() + 'x' "
    script += "if p.exists() else 'x'); sys.exit(1)"
    counter = tmp_path / "runs"
    assert run_child([sys.executable, "-c", script, str(counter)]).returncode == 1
    assert counter.read_text() == "x"


def test_a_job_killed_every_time_fails_after_two_attempts(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger=LAUNCH_LOGGER)
    script = "import os, pathlib, sys; p = pathlib.Path(sys.argv[1]); p.write_text(p.read_text() + 'x' "
    script += "if p.exists() else 'x'); os.abort()"
    counter = tmp_path / "runs"
    done = run_child([sys.executable, "-c", script, str(counter)])
    assert done.returncode < 0
    assert counter.read_text() == "xx"
    assert "attempt 2 of 2" in caplog.text


# A job as the harness sets it up (user_pipeline.steps.logs), writing what real jobs write.
JOB = textwrap.dedent("""
    import logging, sys
    from user_pipeline.steps.logs import configure_job_logging

    # What TensorFlow's C++ runtime writes while it loads on a machine without a GPU.
    sys.stderr.write("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
    sys.stderr.write("I0000 00:00:1796414955.908515    6554 cudart_stub.cc:31] Could not find cuda drivers on "
                     "your machine, GPU will not be used.\\n")
    sys.stderr.write("E0000 00:00:1796414958.752885    6554 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
                     "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\\n")
    sys.stderr.write("W0000 00:00:1796414958.752885    6554 some_kernel.cc:7] a native warning\\n")
    sys.stderr.flush()
    configure_job_logging()
    log = logging.getLogger("beam_jobs.example")
    log.info("read 10 rows")
    logging.getLogger("apache_beam.io.filebasedsink").info("Renamed 1 shards in 0.00 seconds.")
    log.warning("training window is incomplete")
    try:
        raise ValueError("bad row")
    except ValueError:
        log.exception("could not parse")
    print("example ds=2026-01-01: committed 10 rows")
    print("  report: /somewhere")
    if "fail" in sys.argv:
        print("GATE FAILED: 1 critical check", file=sys.stderr)
        sys.exit(1)
    if "could-not-validate" in sys.argv:
        print("GATE COULD NOT VALIDATE: a partition", file=sys.stderr)
        sys.exit(2)
""")


def _relayed(caplog) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == LAUNCH_LOGGER]


def test_each_line_of_the_job_is_relayed_at_the_level_it_was_logged(caplog):
    caplog.set_level(logging.DEBUG, logger=LAUNCH_LOGGER)
    done = run_child([sys.executable, "-c", JOB])
    assert done.returncode == 0
    relayed = _relayed(caplog)
    levels = {message: level for level, message in relayed}
    assert levels["beam_jobs.example: read 10 rows"] == logging.INFO
    assert levels["beam_jobs.example: training window is incomplete"] == logging.WARNING
    assert levels["beam_jobs.example: could not parse"] == logging.ERROR
    # The traceback under the error is the error's, to its last line.
    assert levels["Traceback (most recent call last):"] == logging.ERROR
    assert levels["ValueError: bad row"] == logging.ERROR
    assert levels["example ds=2026-01-01: committed 10 rows"] == logging.INFO
    assert levels["  report: /somewhere"] == logging.INFO
    assert levels["some_kernel.cc:7] a native warning"] == logging.WARNING
    # TensorFlow's load-time lines are kept, at DEBUG; cuInit's failure too, as no driver was found.
    assert [level for level, message in relayed if "cuda" in message.lower()] == [logging.DEBUG, logging.DEBUG]
    assert levels["WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"] == \
        logging.DEBUG
    # Beam's INFO is silenced in the job itself: it never reaches the task log.
    assert not [m for _, m in relayed if "Renamed 1 shards" in m]
    # What run() would have captured, unchanged.
    assert done.stdout == "example ds=2026-01-01: committed 10 rows\n  report: /somewhere\n"
    assert "beam_jobs.example: training window is incomplete" in done.stderr


def test_stderr_that_is_not_a_log_record_is_an_error():
    lines = ChildLines()
    assert lines.level("GATE FAILED: 1 critical check", stderr=True) == (logging.ERROR, "GATE FAILED: 1 critical check")
    assert lines.level("beam_jobs.clean ERROR: no such partition", stderr=True)[0] == logging.ERROR
    # A Python warning and its source line are warnings.
    assert lines.level("/x/y.py:12: FutureWarning: old API", stderr=True)[0] == logging.WARNING
    assert lines.level("  warnings.warn(", stderr=True)[0] == logging.WARNING
    # A cuInit failure where no "no driver" line came first is an error like any other.
    assert ChildLines().level("E0000 00:00:17.1 1 cuda_platform.cc:52] failed call to cuInit: X", True)[0] == \
        logging.ERROR
    # The default format of Python logging ("INFO:tensorflow:...") is read too.
    assert lines.level("INFO:tensorflow:Assets written", stderr=True) == (logging.INFO, "tensorflow:Assets written")


@pytest.fixture
def airflow_macros(monkeypatch):
    """run_module asks Airflow's OpenLineage macros for the lineage parent of the task instance."""
    macros = types.ModuleType("airflow.providers.openlineage.plugins.macros")
    macros.lineage_parent_id = lambda ti: f"ns/{ti.dag_id}.{ti.task_id}/run"
    macros.lineage_root_parent_id = lambda ti: f"ns/{ti.dag_id}/run"
    monkeypatch.setitem(sys.modules, macros.__name__, macros)


def _job_module(tmp_path, monkeypatch) -> str:
    (tmp_path / "example_job.py").write_text(JOB)
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{__import__('os').environ.get('PYTHONPATH', '')}")
    return "example_job"


def test_run_module_returns_the_last_line_and_marks_the_start_and_end(tmp_path, monkeypatch, caplog, airflow_macros):
    caplog.set_level(logging.DEBUG, logger=LAUNCH_LOGGER)
    ti = types.SimpleNamespace(dag_id="user_pipeline", task_id="example", try_number=1)
    last = run_module(_job_module(tmp_path, monkeypatch), ds="2026-01-01", ti=ti, dag_run_id="manual__1",
                      logical_date=None, config="conf.yaml")
    assert last == "  report: /somewhere"
    launches = [r.launch for r in caplog.records if hasattr(r, "launch")]
    assert [(x.dag_id, x.task_id, x.ds, x.state) for x in launches] == [
        ("user_pipeline", "example", "2026-01-01", "running"), ("user_pipeline", "example", "2026-01-01", "success")]
    assert launches[1].summary == "example ds=2026-01-01: committed 10 rows" and launches[1].seconds > 0
    assert isinstance(launches[0], Launch)


def test_run_module_raises_with_the_tail_of_stderr(tmp_path, monkeypatch, caplog, airflow_macros):
    caplog.set_level(logging.DEBUG, logger=LAUNCH_LOGGER)
    ti = types.SimpleNamespace(dag_id="user_pipeline", task_id="example", try_number=1)
    with pytest.raises(RuntimeError, match="exit code 1:(.|\n)*GATE FAILED: 1 critical check"):
        run_module(_job_module(tmp_path, monkeypatch), ds="2026-01-01", ti=ti, dag_run_id="manual__1",
                   logical_date=None, config="conf.yaml", extra_args=["fail"])
    end = [r for r in caplog.records if hasattr(r, "launch")][-1]
    assert end.launch.state == "failed" and end.levelno == logging.ERROR
    assert (logging.ERROR, "GATE FAILED: 1 critical check") in _relayed(caplog)


def test_exit_code_2_is_reported_as_the_steps_could_not_run_state(tmp_path, monkeypatch, caplog, airflow_macros):
    caplog.set_level(logging.DEBUG, logger=LAUNCH_LOGGER)
    ti = types.SimpleNamespace(dag_id="user_pipeline", task_id="gate_users_clean", try_number=1)
    with pytest.raises(RuntimeError, match="could not validate, exit code 2:(.|\n)*GATE COULD NOT VALIDATE"):
        run_module(_job_module(tmp_path, monkeypatch), ds="2026-01-01", ti=ti, dag_run_id="manual__1",
                   logical_date=None, config="conf.yaml", extra_args=["could-not-validate"],
                   not_run="could not validate")
    end = [r for r in caplog.records if hasattr(r, "launch")][-1]
    assert end.launch.state == "could not validate" and end.levelno == logging.ERROR


ABORT_AFTER_SUMMARY = """
import os, sys
print("despam ds=2026-01-01: kept 3, quarantined 1 of 4", flush=True)
os.abort()
"""


def test_a_job_killed_after_it_reported_its_summary_says_so(caplog):
    caplog.set_level(logging.DEBUG, logger=LAUNCH_LOGGER)
    run_child([sys.executable, "-c", ABORT_AFTER_SUMMARY])
    assert [r.getMessage().split(" was ", 1)[1] for r in caplog.records if "killed by signal" in r.getMessage()] == [
        "killed by signal 6 after it reported: despam ds=2026-01-01: kept 3, quarantined 1 of 4; launching it again "
        "(attempt 2 of 2)"]


def test_a_run_without_logical_date_works_on_its_run_after_date_and_records_its_run_id(monkeypatch, airflow_macros):
    """Airflow 3's asset-triggered and manual runs have no logical date: the job processes the
    date the run was queued for, and its lineage names the DAG run by id."""
    from datetime import UTC, datetime

    from user_pipeline.runner import launch

    launched = []
    monkeypatch.setattr(launch, "run_child", lambda cmd, **_: launched.append(cmd) or types.SimpleNamespace(
        returncode=0, stdout="done\n", stderr=""))
    ti = types.SimpleNamespace(dag_id="spam_filter", task_id="train_spam_filter", try_number=2)
    run_id = "asset_triggered__2026-03-01T15:04:05.123456+00:00_Xk2pQ9aB"
    dag_run = types.SimpleNamespace(run_id=run_id, run_after=datetime(2026, 3, 1, 15, 4, 5, 123456, tzinfo=UTC))
    assert run_module("some.job", ds=None, ti=ti, dag_run_id=None, logical_date=None, dag_run=dag_run,
                      config="conf.yaml") == "done"
    (cmd,) = launched
    assert cmd[1:] == ["-m", "some.job", "--ds=2026-03-01", "--config=conf.yaml",
                       "--ol_parent_id=ns/spam_filter.train_spam_filter/run", "--ol_root_parent_id=ns/spam_filter/run",
                       f"--dag_run_id={run_id}", "--logical_date=2026-03-01T15:04:05.123456+00:00", "--try_number=2"]
    with pytest.raises(ValueError, match="no DAG run id"):
        run_module("some.job", ds="2026-03-01", ti=ti, dag_run_id=None, logical_date=None, config="conf.yaml")
