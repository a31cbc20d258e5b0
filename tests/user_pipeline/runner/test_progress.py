"""What the embedded runner prints while it runs (user_pipeline.runner.progress): a line per task
as it starts and ends, the job's warnings and errors, the path of the full log; everything goes to
the task's log file."""

import io
import logging
import sys
import textwrap
import types

import pytest
from rich.console import Console

from user_pipeline.runner.launch import Launch, run_module
from user_pipeline.runner.progress import TaskProgress


@pytest.fixture
def shown(tmp_path):
    """A TaskProgress on a fresh logger, printing to a plain (non-terminal) console; yields it with
    the logger and a function returning what was printed."""
    out = io.StringIO()
    progress = TaskProgress(Console(file=out, width=200), tmp_path / "logs",
                            rows=lambda launch: "rows 10 -> 9" if launch.task_id == "clean" else "")
    name = f"test_progress.{id(progress)}"
    progress.attach(name)
    yield progress, logging.getLogger(name), out.getvalue
    logging.getLogger(name).removeHandler(progress)
    progress.close()


def _run_task(log: logging.Logger, task: str, state: str = "success", lines=()) -> None:
    log.info("launching", extra={"launch": Launch("user_pipeline", task, "2026-01-01", "running")})
    for level, message in lines:
        log.log(level, "%s", message)
    log.info("done", extra={"launch": Launch("user_pipeline", task, "2026-01-01", state, 2.25,
                                             f"{task} ds=2026-01-01: committed 9 rows")})


def test_one_line_as_a_task_starts_and_one_as_it_ends(shown):
    progress, log, printed = shown
    _run_task(log, "clean", lines=[(logging.INFO, "beam_jobs.clean: cleaned 9 rows"),
                                   (logging.DEBUG, "cudart_stub.cc:31] Could not find cuda drivers")])
    assert printed().splitlines() == [
        "user_pipeline 2026-01-01 clean                    started",
        "user_pipeline 2026-01-01 clean                    success    2.2s  rows 10 -> 9  committed 9 rows",
    ]
    log_file = progress.log_path("user_pipeline", "2026-01-01", "clean")
    written = log_file.read_text()
    for line in ("INFO launching", "INFO beam_jobs.clean: cleaned 9 rows", "DEBUG cudart_stub.cc:31]", "INFO done"):
        assert line in written


def test_warnings_and_errors_are_shown_with_the_path_of_the_full_log(shown):
    progress, log, printed = shown
    _run_task(log, "preprocess", lines=[(logging.INFO, "beam_jobs.preprocess: read 9 rows"),
                                        (logging.WARNING, "beam_jobs.preprocess: training window is incomplete")])
    _run_task(log, "gate_users_clean", "failed", lines=[(logging.ERROR, "GATE FAILED: 1 critical check")])
    lines = printed().splitlines()
    assert "    WARNING beam_jobs.preprocess: training window is incomplete" in lines
    assert "    ERROR GATE FAILED: 1 critical check" in lines
    assert not [line for line in lines if "read 9 rows" in line]
    logs = [line.strip() for line in lines if "full log:" in line]
    assert logs == [f"full log: {progress.log_path('user_pipeline', '2026-01-01', t)}"
                    for t in ("preprocess", "gate_users_clean")]
    assert [line.split()[3] for line in lines if line.startswith("user_pipeline")] == [
        "started", "success", "started", "failed"]


def test_verbose_shows_every_line(tmp_path):
    out = io.StringIO()
    progress = TaskProgress(Console(file=out, width=200), tmp_path, verbose=True)
    progress.attach(f"test_progress.verbose.{id(progress)}")
    _run_task(logging.getLogger(f"test_progress.verbose.{id(progress)}"), "clean",
              lines=[(logging.INFO, "beam_jobs.clean: cleaned 9 rows"), (logging.DEBUG, "port.cc:153] oneDNN")])
    assert "    INFO beam_jobs.clean: cleaned 9 rows" in out.getvalue().splitlines()
    assert "    DEBUG port.cc:153] oneDNN" in out.getvalue().splitlines()
    progress.close()


def test_tasks_that_never_started_get_their_state(shown):
    progress, log, printed = shown
    _run_task(log, "clean", "failed")
    progress.not_launched("user_pipeline", "2026-01-01", {"clean": "failed", "train": "upstream_failed"})
    lines = printed().splitlines()
    assert lines[-1] == "user_pipeline 2026-01-01 train                    upstream_failed"
    assert not [line for line in lines[3:] if " clean " in line]


def test_on_a_terminal_a_live_status_line_runs_beside_the_lines(tmp_path):
    out = io.StringIO()
    console = Console(file=out, width=200, force_terminal=True)
    progress = TaskProgress(console, tmp_path)
    assert progress.live
    progress.attach(f"test_progress.live.{id(progress)}")
    _run_task(logging.getLogger(f"test_progress.live.{id(progress)}"), "clean",
              lines=[(logging.INFO, "beam_jobs.clean: cleaned 9 rows")])
    assert progress.status is None  # stopped with the task
    assert "started" in out.getvalue() and "success" in out.getvalue()
    assert not TaskProgress(Console(file=io.StringIO()), tmp_path).live  # not a terminal: plain lines only
    progress.close()


JOB = textwrap.dedent("""
    import logging
    from user_pipeline.steps.logs import configure_job_logging

    configure_job_logging()
    logging.getLogger("apache_beam.io.filebasedsink").info("Renamed 1 shards in 0.00 seconds.")
    logging.getLogger("beam_jobs.example").info("read 10 rows")
    logging.getLogger("beam_jobs.example").warning("3 rows had no country")
    print("example ds=2026-01-01: committed 10 rows")
""")


def test_a_launched_job_through_the_runners_view(tmp_path, monkeypatch):
    """The launcher and the runner together: the job's warning is shown, its INFO is in the log
    file only, a library's INFO nowhere."""
    macros = types.ModuleType("airflow.providers.openlineage.plugins.macros")
    macros.lineage_parent_id = macros.lineage_root_parent_id = lambda ti: "ns/job/run"
    monkeypatch.setitem(sys.modules, macros.__name__, macros)
    (tmp_path / "example_job.py").write_text(JOB)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{__import__('os').environ.get('PYTHONPATH', '')}")
    out = io.StringIO()
    progress = TaskProgress(Console(file=out, width=200), tmp_path / "logs")
    launch_logger = logging.getLogger("user_pipeline.runner.launch")
    saved = (launch_logger.level, launch_logger.propagate)
    progress.attach()
    try:
        ti = types.SimpleNamespace(dag_id="user_pipeline", task_id="example", try_number=1)
        run_module("example_job", ds="2026-01-01", ti=ti, dag_run_id="manual__1", logical_date=None,
                   config="conf.yaml")
    finally:
        launch_logger.removeHandler(progress)
        launch_logger.setLevel(saved[0])
        launch_logger.propagate = saved[1]
        progress.close()
    lines = out.getvalue().splitlines()
    assert lines[0] == "user_pipeline 2026-01-01 example                  started"
    assert lines[1] == "    WARNING beam_jobs.example: 3 rows had no country"
    assert lines[2].startswith("user_pipeline 2026-01-01 example                  success ")
    assert lines[2].endswith("s  committed 10 rows")
    written = progress.log_path("user_pipeline", "2026-01-01", "example").read_text()
    assert "INFO beam_jobs.example: read 10 rows" in written and "Renamed 1 shards" not in written


def test_a_gate_that_could_not_validate_is_shown_as_such(shown):
    progress, log, printed = shown
    _run_task(log, "gate_users_clean", "could not validate",
              lines=[(logging.ERROR, "GATE COULD NOT VALIDATE: curated.users_clean ds=2026-01-01")])
    lines = printed().splitlines()
    assert lines[1:] == [
        "    ERROR GATE COULD NOT VALIDATE: curated.users_clean ds=2026-01-01",
        "user_pipeline 2026-01-01 gate_users_clean         could not validate   2.2s  committed 9 rows",
        f"    full log: {progress.log_path('user_pipeline', '2026-01-01', 'gate_users_clean')}",
    ]
