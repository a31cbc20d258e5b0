"""Launch a job module from an Airflow task as a child process, with its lineage parent.

The child's output is re-emitted line by line, as it arrives, through this module's logger at the
level the job logged it (``child_line_level``), so that in Airflow's task log INFO is INFO and only
errors are ERROR (the task process's own stderr is logged at ERROR whatever it says). The start and
end of each launch are logged with a ``launch`` attribute (a ``Launch``) that the embedded runner
shows as one line per task (``user_pipeline.runner.progress``).
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import IO

from user_pipeline.steps.logs import quiet_env

log = logging.getLogger(__name__)

# A record of a job's logging (user_pipeline.steps.logs.JOB_LOG_FORMAT): "<date> <time> LEVEL logger: message".
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d[,.]\d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) (.*)")
# Python logging's default format ("INFO:tensorflow:..."), from a library that set up its own handler.
DEFAULT_LOG_LINE = re.compile(r"(DEBUG|INFO|WARNING|ERROR|CRITICAL):(\S.*)")
# A line of C++ absl/glog logging (TensorFlow's runtime): "I0000 00:00:1796.907 6554 port.cc:153] ...".
NATIVE_LOG_LINE = re.compile(r"([IWEF])\d{4} \d\d:\d\d:\d+\.\d+ +\d+ (\S+:\d+\] .*)")
# A Python warning as the warnings module prints it: "path.py:12: FutureWarning: ...".
WARNING_LINE = re.compile(r"\S.*:\d+: \w*Warning: ")
NATIVE_LEVELS = {"I": logging.INFO, "W": logging.WARNING, "E": logging.ERROR, "F": logging.CRITICAL}

# TensorFlow 2.21 writes these while its libraries load, before absl's C++ logging is initialised,
# so no setting silences them (TF_CPP_MIN_LOG_LEVEL only applies after that). On a machine without
# a GPU they say nothing: they are kept at DEBUG (in the runner's task log files, not on screen).
TF_STARTUP = ("All log messages before absl::InitializeLog() is called are written to STDERR",
              "oneDNN custom operations are on", "Could not find cuda drivers on your machine")
# cuInit fails where there is no driver at all; it is an error only where a driver was found.
NO_DRIVER_CUINIT = "failed call to cuInit"


@dataclass(frozen=True)
class Launch:
    """The start (``state`` is "running") or end ("success", "failed", or with exit code 2 the
    step's ``not_run``: "could not validate" for a gate) of one task's job."""

    dag_id: str
    task_id: str
    ds: str | None
    state: str
    seconds: float = 0.0
    summary: str = ""


class ChildLines:
    """Reads the level of each line one child process writes (``level``), keeping the state a
    multi-line record needs: an indented line or a traceback continues the record before it."""

    def __init__(self) -> None:
        self.current: dict[bool, int | None] = {False: None, True: None}
        self.no_gpu_driver = False

    def level(self, line: str, stderr: bool) -> tuple[int, str]:
        """The level of ``line`` and the message to log (the line without its time and level)."""
        level, message = self._parse(line, stderr)
        self.current[stderr] = level
        return level, message

    def _parse(self, line: str, stderr: bool) -> tuple[int, str]:
        if any(noise in line for noise in TF_STARTUP):
            self.no_gpu_driver |= "cuda drivers" in line
            return logging.DEBUG, line
        if self.no_gpu_driver and NO_DRIVER_CUINIT in line:
            return logging.DEBUG, line
        for pattern in (LOG_LINE, DEFAULT_LOG_LINE):
            found = pattern.fullmatch(line)
            if found:
                return logging.getLevelName(found.group(1)), found.group(2)
        found = NATIVE_LOG_LINE.fullmatch(line)
        if found:
            return NATIVE_LEVELS[found.group(1)], found.group(2)
        if stderr and line.startswith("Traceback (most recent call last)"):
            return logging.ERROR, line
        if stderr and WARNING_LINE.match(line):
            return logging.WARNING, line
        previous = self.current[stderr]
        if previous is not None and (not line.strip() or line[:1].isspace()):
            return previous, line  # a record's next lines: a traceback's frames, a warning's source line
        if not stderr:
            return logging.INFO, line  # what the job prints: its summary
        # Anything else on stderr is not a log record: a job's refusal or error message, the last
        # line of a traceback, a library writing there directly. Shown rather than hidden.
        return logging.ERROR, line


def start_warm_processes() -> None:
    """From now on, ``run_module`` starts the processes of the jobs it is told come next while a
    job runs, and hands a job to its process started ahead (``user_pipeline.runner.warm``): for a
    runner that runs a DAG's tasks one after the other in this process (``dag.test``)."""
    global _WARM
    if _WARM is None:
        from user_pipeline.runner.warm import WarmPool

        _WARM = WarmPool(quiet_env(os.environ))


def stop_warm_processes() -> None:
    """End the processes started ahead that no task took (``start_warm_processes``)."""
    global _WARM
    if _WARM is not None:
        _WARM.close()
        _WARM = None


def warm(jobs: Iterable[tuple[str, Sequence[str]]]) -> None:
    """Start the processes of ``jobs`` (module, preload; one per task to come) ahead, if
    ``start_warm_processes`` was called: as many waiting per module as it is named. Fewer than
    ``AHEAD`` (a run's last tasks) come with the first tasks of the next run (``next_run``)."""
    if _WARM is not None:
        from user_pipeline.runner.warm import AHEAD

        jobs = list(jobs)
        if len(jobs) < AHEAD:
            jobs += _NEXT_RUN
        counts = Counter(job for job, _ in jobs)
        for job, preload in dict(jobs).items():
            _WARM.warm(job, preload, counts[job])


def next_run(jobs: Iterable[tuple[str, Sequence[str]]]) -> None:
    """The first tasks' jobs of the DAG run that comes after the current one (none: nothing
    follows), so that its first task's process is started while this run's last tasks run."""
    global _NEXT_RUN
    _NEXT_RUN = list(jobs)


_WARM = None  # the WarmPool of start_warm_processes
_NEXT_RUN: list[tuple[str, Sequence[str]]] = []  # next_run


def run_module(
    module: str, *, ds: str | None, ti, dag_run_id: str, logical_date, config: str, extra_args: Sequence[str] = (),
    dag_run=None, not_run: str = "could not run", ahead: Sequence[tuple[str, Sequence[str]]] = (),
) -> str:
    """Run ``python -m <module> --ds <ds> ... <extra_args>`` and return the last line it printed.

    Exit code 2 is reported as ``not_run`` (the step's word for "could not do its work on its
    input", ``Step.not_run``), any other non-zero code as "failed"; both fail the task.

    A run without a logical date (Airflow 3 creates manual and asset-triggered runs without one)
    works on the date it was queued for (``run_after``): that is its ``--ds`` partition, and the
    date its lineage shows (unique per run, so the ``version=`` outputs of two such runs on one
    day do not replace each other). What names the run is its id, always passed
    (``--dag_run_id``): a backfill re-runs the task in that run, found by id
    (``lineage.backfill.planner``), never by a date rebuilt from the lineage.

    ``ahead``: the jobs (module, preload) of the tasks that come next, started ahead while this one
    runs where the runner asked for that (``start_warm_processes``)."""
    from airflow.providers.openlineage.plugins.macros import lineage_parent_id, lineage_root_parent_id

    dag_run_id = dag_run_id or getattr(dag_run, "run_id", None)
    if not dag_run_id:
        raise ValueError(f"{module}: no DAG run id to record: a backfill could not find this run again")
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
    task = (str(getattr(ti, "dag_id", "")), str(getattr(ti, "task_id", module)), ds)
    log.info("launching %s", shlex.join(cmd), extra={"launch": Launch(*task, state="running")})
    start = time.perf_counter()
    done = run_child(cmd, ahead=ahead)
    seconds = time.perf_counter() - start
    lines = done.stdout.strip().splitlines()
    state = "success" if done.returncode == 0 else not_run if done.returncode == 2 else "failed"
    log.log(logging.INFO if state == "success" else logging.ERROR, "%s %s in %.1fs (exit code %d)", module, state,
            seconds, done.returncode, extra={"launch": Launch(*task, state, seconds, summary_line(lines))})
    if done.returncode != 0:
        # The tail of stderr is the job's own account of what went wrong (a gate's summary).
        raise RuntimeError(f"{module} {state}, exit code {done.returncode}:{_after_summary(done)}\n"
                           f"{done.stderr.strip()[-4000:]}")
    return lines[-1] if lines else ""


def summary_line(stdout_lines: Sequence[str]) -> str:
    """What a job's output says it did: its last line that is not indented (a gate prints its
    summary, then the paths of its report and results on indented lines)."""
    unindented = [line for line in stdout_lines if line.strip() and not line[:1].isspace()]
    return (unindented or [""])[-1].strip()


def run_child(cmd: Sequence[str], attempts: int = 2, ahead: Sequence[tuple[str, Sequence[str]]] = ()
              ) -> subprocess.CompletedProcess:
    """Run ``cmd``, relaying its output to this module's logger; re-launch it once if a signal killed it.
    Once it runs, the processes of the jobs ``ahead`` are started (``warm``).

    Seen here: a Beam job (clean) aborted at interpreter exit ("terminate called without an
    active exception", SIGABRT) after it had committed and emitted COMPLETE, once in an end-to-end
    run under load; 6 re-runs of it by hand exited cleanly. Jobs are idempotent (a committed
    output with the same inputs and code is reused), so a second launch either skips or recomputes
    what the first did not commit. A non-zero exit code (a failed gate, a job's own error) is an
    answer and is not retried."""
    for attempt in range(1, attempts + 1):
        done = _relayed(cmd, _log_line, ahead if attempt == 1 else ())
        if done.returncode >= 0 or attempt == attempts:
            return done
        log.warning("%s was killed by signal %d%s; launching it again (attempt %d of %d)",
                    cmd[2] if len(cmd) > 2 else cmd[0], -done.returncode, _after_summary(done), attempt + 1,
                    attempts)
    raise AssertionError("unreachable")


def _after_summary(done: subprocess.CompletedProcess) -> str:
    """" after it reported: <its summary>" when a job printed its summary line (it committed and
    sent its lineage before it died): the task says the commit happened."""
    summary = summary_line(done.stdout.splitlines())
    return f" after it reported: {summary}" if summary else ""


def _log_line(level: int, message: str) -> None:
    log.log(level, "%s", message)


def _relayed(cmd: Sequence[str], emit: Callable[[int, str], None], ahead: Sequence[tuple[str, Sequence[str]]] = ()
             ) -> subprocess.CompletedProcess:
    """Run ``cmd`` to its end (in its process started ahead, if there is one), handing each line of
    its stdout and stderr to ``emit`` with its level as it comes; returns what
    ``subprocess.run(..., capture_output=True, text=True)`` would. Once it runs, starts ``ahead``."""
    env = quiet_env(os.environ)
    child = _WARM.claim(cmd, env) if _WARM is not None else None
    if child is None:
        child = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    warm(ahead)  # after taking its own: a next task of the same job gets a process of its own
    lines = ChildLines()
    lock = threading.Lock()  # the two streams share ChildLines and arrive in one order in the log
    captured: dict[bool, list[str]] = {False: [], True: []}

    def relay(stream: IO[str], stderr: bool) -> None:
        for line in _lines(stream):
            captured[stderr].append(line)
            with lock:
                emit(*lines.level(line.rstrip("\n"), stderr))

    reader = threading.Thread(target=relay, args=(child.stderr, True), daemon=True)
    reader.start()
    relay(child.stdout, False)
    reader.join()
    returncode = child.wait()
    return subprocess.CompletedProcess(list(cmd), returncode, "".join(captured[False]), "".join(captured[True]))


def _lines(stream: IO[str]) -> Iterable[str]:
    with stream:
        yield from iter(stream.readline, "")
