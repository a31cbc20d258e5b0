"""Warm job processes: a task's process started before its task, so its imports overlap the task before.

A task's job runs in a fresh process (``python -m <job> ...``: ``user_pipeline.runner.launch``).
Most of a small date's time was that process importing what it computes with: Great Expectations
in every gate (~2.4 s), TensorFlow in training, evaluation and the skew check (~4 s), Beam in
every Beam job (~1.5 s), on a machine whose second core sat idle while one task ran
(docs/architecture.md#steps). A runner that runs the tasks of a DAG one after the
other (the embedded runner: ``dag.test`` in one process) starts the process of the next tasks'
jobs while a task runs; that process imports the job's ``Step.preload`` and waits. When the task
comes, it is handed its arguments and environment and runs the job module as ``python -m`` would
(``runpy``, as ``__main__``). It is still one fresh process per task, used once: nothing a job
does in it is seen by another job.

    python -m user_pipeline.runner.warm MODULE [PRELOAD ...]   # then one JSON line on stdin:
        {"argv": [...], "env": {...}}    (an empty line or end of input: exit 0, nothing run)

``PRELOAD`` entries are module names, or ``module:function`` to import a library the way the
project does (``expectations.checks:gx``). A preload that fails to import is left to the job,
which imports it itself and fails, or not, as it would in a cold process.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import runpy
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence

from user_pipeline.steps.declare import Step

# How many tasks ahead a task's start starts processes for: enough for a short task (a gate that
# only validates, ~0.6 s) not to leave the next one waiting on its imports, few enough that those
# imports do not crowd the running task on 2 cores (measured: bench.overhead).
AHEAD = 2
# What every job imports: the harness (configuration, catalog, lineage client, pandas, pyarrow).
BASE = ("user_pipeline.steps.harness",)


def ahead(step: Step | None, dag_steps: list[Step], count: int = AHEAD) -> list[tuple[str, tuple[str, ...]]]:
    """The jobs (with their ``preload``), one per task, of the ``count`` tasks declared after
    ``step`` in its DAG (None: the first task and the ``count`` after it). Declaration order is
    a topological order (user_pipeline.steps.registry), so for a runner that runs the DAG's tasks
    one after the other these are the tasks that come next: what it starts ahead while ``step``
    runs (or as the run starts)."""
    first = 0 if step is None else dag_steps.index(step) + 1
    return [(s.job, s.preload) for s in dag_steps[first:first + count + (step is None)]]


def preload(entries: Sequence[str]) -> None:
    """Import ``entries`` (``module`` or ``module:function``, called); errors are left to the job."""
    for entry in (*BASE, *entries):
        module, _, function = entry.partition(":")
        try:
            imported = importlib.import_module(module)
            if function:
                getattr(imported, function)()
        except Exception:  # noqa: BLE001 - the job meets the same error where it imports it
            continue


def main(argv: list[str] | None = None) -> int:
    """Preload, wait for the task's request, run the job module as ``__main__`` (module doc)."""
    args = sys.argv[1:] if argv is None else argv
    module, entries = args[0], args[1:]
    preload(entries)
    line = sys.stdin.readline()
    if not line.strip():
        return 0  # the runner ended without this task
    request = json.loads(line)
    # The task's environment (what a library read while it was imported came from the runner's,
    # which the task's extends: the pool starts these with the runner's environment).
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = [module, *request["argv"]]
    # As ``python -m``: the module runs as __main__ (argparse, Beam's pickling of __main__ and
    # spawned processes see what they would), and its exit code or traceback is the process's.
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    return 0


class WarmPool:
    """Job processes started ahead of their tasks, waiting per job module.

    ``warm(module, preload, count)`` starts processes of ``module`` until ``count`` are waiting;
    ``claim(cmd, env)`` hands a ``python -m MODULE ARGS`` command to the first waiting process of
    MODULE (its stdout and stderr are pipes, as ``subprocess.Popen(..., stdout=PIPE, stderr=PIPE,
    text=True)`` gives), or returns None. Waiting processes are killed when the pool closes (and
    at exit); a waiting process whose parent died reads end of input and exits."""

    def __init__(self, environ: Mapping[str, str]):
        self.environ = dict(environ)
        self.waiting: dict[str, list[subprocess.Popen]] = {}
        self.lock = threading.Lock()
        atexit.register(self.close)

    def warm(self, module: str, preload_entries: Sequence[str] = (), count: int = 1) -> None:
        with self.lock:
            alive = [child for child in self.waiting.get(module, []) if child.poll() is None]
            while len(alive) < count:
                alive.append(subprocess.Popen(
                    [sys.executable, "-m", __name__, module, *preload_entries], stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.environ))
            self.waiting[module] = alive

    def claim(self, cmd: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen | None:
        if len(cmd) < 3 or cmd[0] != sys.executable or cmd[1] != "-m":
            return None
        with self.lock:
            waiting = self.waiting.get(cmd[2], [])
            child = waiting.pop(0) if waiting else None
        if child is None or child.poll() is not None:
            return None
        try:
            child.stdin.write(json.dumps({"argv": list(cmd[3:]), "env": dict(env)}) + "\n")
            child.stdin.close()
        except OSError:  # it died while waiting: the caller starts a cold process
            child.kill()
            child.wait()
            return None
        child.stdin = None  # as a process started without one: communicate() must not write to it
        return child

    def close(self) -> None:
        """Kill the processes no task took: they have only imported, nothing else."""
        with self.lock:
            waiting = [child for children in self.waiting.values() for child in children]
            self.waiting = {}
        for child in waiting:
            child.kill()
        for child in waiting:
            child.wait()
            for stream in (child.stdin, child.stdout, child.stderr):
                with contextlib.suppress(OSError):
                    stream.close()


if __name__ == "__main__":
    sys.exit(main())
