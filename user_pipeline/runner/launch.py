"""Launch a job module from an Airflow task as a child process, with its lineage parent."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence


def run_module(
    module: str, *, ds: str | None, ti, dag_run_id: str, logical_date, config: str, extra_args: Sequence[str] = (),
    dag_run=None,
) -> str:
    """Run ``python -m <module> --ds <ds> ... <extra_args>`` and return the last line it printed.

    A run without a logical date (Airflow 3 creates asset-triggered runs without one) works on
    the date it was queued for (``run_after``)."""
    from airflow.providers.openlineage.plugins.macros import lineage_parent_id, lineage_root_parent_id

    when = logical_date or getattr(dag_run, "run_after", None)
    if ds is None and when is not None:
        ds = when.date().isoformat()
    cmd = [
        sys.executable, "-m", module, f"--ds={ds}", f"--config={config}",
        f"--ol_parent_id={lineage_parent_id(ti)}", f"--ol_root_parent_id={lineage_root_parent_id(ti)}",
        f"--dag_run_id={dag_run_id}", *([f"--logical_date={when.isoformat()}"] if when is not None else []),
        f"--try_number={ti.try_number}",
        *extra_args,
    ]
    done = run_child(cmd)
    if done.returncode != 0:
        # The tail of stderr is the job's own account of what went wrong (a gate's summary).
        raise RuntimeError(f"{module} failed with exit code {done.returncode}:\n{done.stderr.strip()[-4000:]}")
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def run_child(cmd: Sequence[str], attempts: int = 2) -> subprocess.CompletedProcess:
    """Run ``cmd``, echoing its output; re-launch it once if a signal killed it.

    Seen here: a Beam job (clean) aborted at interpreter exit ("terminate called without an
    active exception", SIGABRT) after it had committed and emitted COMPLETE, once in an end-to-end
    run under load; 6 re-runs of it by hand exited cleanly. Jobs are idempotent (a committed
    output with the same inputs and code is reused), so a second launch either skips or recomputes
    what the first did not commit. A non-zero exit code (a failed gate, a job's own error) is an
    answer and is not retried."""
    for attempt in range(1, attempts + 1):
        done = subprocess.run(list(cmd), check=False, capture_output=True, text=True)
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        if done.returncode >= 0 or attempt == attempts:
            return done
        sys.stderr.write(f"{cmd[2] if len(cmd) > 2 else cmd[0]} was killed by signal {-done.returncode}: "
                         f"launching it again (attempt {attempt + 1} of {attempts})\n")
    raise AssertionError("unreachable")
