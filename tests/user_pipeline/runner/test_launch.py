"""A job killed by a signal is launched again once; an error exit is an answer, not retried."""

import sys

from user_pipeline.runner.launch import run_child

ABORT_ONCE = """
import os, pathlib, sys
marker = pathlib.Path(sys.argv[1])
if not marker.exists():
    marker.write_text("crashed once")
    os.abort()
print("done")
"""


def test_a_job_aborted_by_a_signal_is_launched_again(tmp_path, capsys):
    done = run_child([sys.executable, "-c", ABORT_ONCE, str(tmp_path / "marker")])
    assert done.returncode == 0 and done.stdout.strip() == "done"
    assert "killed by signal 6" in capsys.readouterr().err


def test_an_error_exit_is_not_retried(tmp_path):
    script = "import pathlib, sys; p = pathlib.Path(sys.argv[1]); p.write_text(p.read_text() + 'x' "
    script += "if p.exists() else 'x'); sys.exit(1)"
    counter = tmp_path / "runs"
    assert run_child([sys.executable, "-c", script, str(counter)]).returncode == 1
    assert counter.read_text() == "x"


def test_a_job_killed_every_time_fails_after_two_attempts(tmp_path, capsys):
    script = "import os, pathlib, sys; p = pathlib.Path(sys.argv[1]); p.write_text(p.read_text() + 'x' "
    script += "if p.exists() else 'x'); os.abort()"
    counter = tmp_path / "runs"
    done = run_child([sys.executable, "-c", script, str(counter)])
    assert done.returncode < 0
    assert counter.read_text() == "xx"
    assert "attempt 2 of 2" in capsys.readouterr().err
