"""How a job's run ends: a failure after a commit says the commit stands; the process never reaches
the interpreter's teardown (where Beam's C++ threads aborted committed runs with exit code 134)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pyarrow as pa

import beam_jobs.clean
from lineage.catalog import Catalog, Producer

DS = "2026-01-01"
REPO = Path(__file__).resolve().parents[3]


def _fails_after_commit(ctx) -> str:
    ctx.write_table("curated.users_clean", None, pa.table({"x": [1, 2]}))
    raise RuntimeError("lost the connection after the commit")


def test_a_run_that_fails_after_its_commit_says_the_commit_stands(cfg, capsys):
    Catalog(cfg).write_table("staging.users_merged", DS, pa.table({"x": [1, 2]}), producer=Producer("t", "t"),
                             inputs=[], code_version="t")
    job = replace(beam_jobs.clean.JOB, compute=_fails_after_commit)
    assert job.main(["--ds", DS]) == 1
    err = capsys.readouterr().err
    committed = Catalog(cfg).require("curated.users_clean", DS)
    assert "RuntimeError: lost the connection after the commit" in err
    assert err.splitlines()[-1] == (
        f"beam_jobs.clean committed curated.users_clean@{committed.version} (2 rows) before it stopped with exit "
        "code 1: the commit stands (a re-run with the same inputs and code reuses it)")


def test_a_refusal_before_any_commit_says_nothing_about_commits(cfg, capsys):
    # No input committed: the plan stops (exit code 2) before the run starts.
    assert beam_jobs.clean.JOB.main(["--ds", DS]) == 2
    err = capsys.readouterr().err
    assert err.startswith("beam_jobs.clean ERROR: staging.users_merged has no committed partition ds=2026-01-01")
    assert "commit stands" not in err


# A job's entry point (JOB.exit) whose run raises; atexit handlers are part of the interpreter's teardown.
EXITING = textwrap.dedent("""
    import atexit, sys
    from dataclasses import replace
    import beam_jobs.clean
    from user_pipeline.steps.harness import Plan

    def compute(ctx):
        raise {error}

    atexit.register(lambda: print("interpreter teardown ran", flush=True))
    sys.argv = ["beam_jobs.clean", *sys.argv[1:]]
    replace(beam_jobs.clean.JOB, plan=lambda ctx: Plan([], []), compute=compute).exit()
""")


def _exit_of(error: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", EXITING.format(error=error), *args], capture_output=True, text=True,
                          env={**__import__("os").environ, "PYTHONPATH": str(REPO)}, timeout=300)


def test_a_job_process_ends_without_the_interpreter_teardown_whatever_its_run_raised(cfg):
    for error, code in (("RuntimeError('boom')", 1), ("KeyboardInterrupt()", 1), ("SystemExit(3)", 3)):
        done = _exit_of(error, "--ds", DS)
        assert done.returncode == code, done.stderr[-2000:]
        assert "interpreter teardown ran" not in done.stdout
        assert ("RuntimeError: boom" in done.stderr) is (error == "RuntimeError('boom')")
    usage = _exit_of("RuntimeError('never run')")  # --ds missing: argparse's usage error
    assert usage.returncode == 2 and "the following arguments are required: --ds" in usage.stderr
    assert "interpreter teardown ran" not in usage.stdout
