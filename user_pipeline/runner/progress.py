"""What the embedded runner shows while it runs (``user_pipeline.runner.local``).

One line per task as its job starts and ends (DAG, date, task, state, duration, rows in/out where
the runner can read them, the job's summary), the warnings and errors of the job as they come,
and on a terminal a live status line with the running task, its elapsed time and its job's latest
line. Every line of every job, at every level, goes to a log file per task, whose path is printed
with the task's end line when it warned or failed. ``verbose`` shows every line on screen too.

It is a logging handler on the launcher's logger (``user_pipeline.runner.launch``), which relays
each job's output at its level and marks the start and end of each launch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.text import Text

from user_pipeline.runner.launch import Launch

# Any other end state (a step's ``not_run``: "could not validate") is shown in yellow.
STATE_STYLES = {"success": "green", "failed": "bold red", "running": "cyan"}
LEVEL_STYLES = {logging.WARNING: "yellow", logging.ERROR: "red", logging.CRITICAL: "bold red"}


class TaskProgress(logging.Handler):
    """The runner's view of its tasks (see the module's docstring); install with ``attach``."""

    def __init__(self, console: Console, log_dir: Path, *, verbose: bool = False,
                 rows: Callable[[Launch], str] | None = None, live: bool | None = None):
        super().__init__(logging.DEBUG)
        self.console = console
        self.log_dir = Path(log_dir)
        self.shown_level = logging.DEBUG if verbose else logging.WARNING
        self.rows = rows
        # A live status line only where it can be redrawn: never in CI's or a test's captured output.
        self.live = console.is_terminal and not console.is_dumb_terminal if live is None else live
        self.task: Launch | None = None
        self.file: IO[str] | None = None
        self.flagged = False  # the running task showed a warning or an error
        self.launched: set[tuple[str, str | None, str]] = set()
        self.status: Progress | None = None
        self.status_id = None
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))

    def attach(self, logger_name: str = "user_pipeline.runner.launch") -> None:
        """Take over the launcher's records: every level, and none left to the root's handlers
        (Airflow's console would print its warnings a second time)."""
        logger = logging.getLogger(logger_name)
        logger.addHandler(self)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False

    def log_path(self, dag_id: str, ds: str | None, task_id: str) -> Path:
        """The log file of a task of a DAG run: ``<log_dir>/<dag_id>/<ds>/<task_id>.log``."""
        return self.log_dir / dag_id / (ds or "no-date") / f"{task_id}.log"

    def emit(self, record: logging.LogRecord) -> None:
        try:
            launch: Launch | None = getattr(record, "launch", None)
            if launch is not None and launch.state == "running":
                self._start(launch)
            if self.file is not None:
                self.file.write(self.format(record) + "\n")
                self.file.flush()
            if launch is not None and launch.state != "running":
                self._end(launch)
            elif launch is None:
                self._job_line(record)
        except Exception:
            self.handleError(record)

    def not_launched(self, dag_id: str, ds: str | None, states: dict[str, str]) -> None:
        """A line for each task of a DAG run whose job never started (upstream failed, skipped)."""
        for task_id, state in states.items():
            if (dag_id, ds, task_id) not in self.launched:
                self._print(self._head(dag_id, ds, task_id), Text(state, style="yellow"))

    def close(self) -> None:
        self._stop_status()
        if self.file is not None:
            self.file.close()
            self.file = None
        super().close()

    def _start(self, launch: Launch) -> None:
        if self.file is not None:  # the previous task never reported its end
            self.file.close()
        self.task, self.flagged = launch, False
        self.launched.add((launch.dag_id, launch.ds, launch.task_id))
        path = self.log_path(launch.dag_id, launch.ds, launch.task_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = path.open("w", encoding="utf-8")
        self._print(self._head(launch.dag_id, launch.ds, launch.task_id), Text("started", style="cyan"))
        if self.live:
            self.status = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                   TextColumn("{task.fields[latest]}", style="dim"), console=self.console,
                                   transient=True)
            self.status_id = self.status.add_task(f"{launch.dag_id} {launch.ds or ''} {launch.task_id}", latest="")
            self.status.start()

    def _end(self, launch: Launch) -> None:
        self._stop_status()
        rows = self.rows(launch) if self.rows and launch.state == "success" else ""
        summary = _without_prefix(launch.summary, launch.task_id, launch.ds)
        detail = "  ".join(part for part in (rows, summary) if part)
        self._print(self._head(launch.dag_id, launch.ds, launch.task_id),
                    Text(f"{launch.state:<8}", style=STATE_STYLES.get(launch.state, "bold yellow")),
                    Text(f"{launch.seconds:6.1f}s  "), Text(detail))
        path = self.file.name if self.file is not None else None
        if path and (self.flagged or launch.state != "success"):
            self._print(Text(f"    full log: {path}", style="dim"))
        if self.file is not None:
            self.file.close()
            self.file = None
        self.task = None

    def _job_line(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= self.shown_level:
            self.flagged |= record.levelno >= logging.WARNING
            self._print(Text(f"    {record.levelname} {message}", style=LEVEL_STYLES.get(record.levelno, "")))
        if self.status is not None and message.strip():
            self.status.update(self.status_id, latest=message.strip()[:70])

    def _stop_status(self) -> None:
        if self.status is not None:
            self.status.stop()
            self.status = None

    def _head(self, dag_id: str, ds: str | None, task_id: str) -> Text:
        return Text(f"{dag_id} {ds or '-'} {task_id:<24} ")

    def _print(self, *parts: Text) -> None:
        # soft_wrap: a long summary stays one line (the terminal wraps it), as in a log file.
        self.console.print(Text.assemble(*parts), soft_wrap=True)


def _without_prefix(summary: str, task_id: str, ds: str | None) -> str:
    """A job's summary line without the task name and date the runner's line already shows
    ("ingest ds=2026-01-01: ingested ..." -> "ingested ..."; "train_spam_filter version=v1: ..." ->
    "version=v1: ...")."""
    for prefix in (f"{task_id} ds={ds}: ", f"{task_id}: ", f"{task_id} "):
        if summary.startswith(prefix):
            return summary[len(prefix):]
    return summary
