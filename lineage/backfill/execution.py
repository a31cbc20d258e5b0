"""What executing a backfill plan takes: the interface between the lineage product, which plans,
and the orchestration layer, which runs DAGs.

The product never imports orchestration. ``lineage backfill`` receives an executor
(``lineage.cli.main(argv, executor=...)``): the pipeline's ``lineage`` command passes one that
runs each step through Airflow (``user_pipeline.runner.backfill.run_backfill``); without one, only
``--dry-run`` is possible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lineage.backfill.planner import BackfillPlan
from lineage.store import LineageStore


@dataclass(frozen=True)
class ExecutionOptions:
    """How the user asked for a plan to be executed (``lineage backfill``'s flags)."""

    airflow_url: str | None = None  # a running Airflow's REST API; None: the executor's default
    airflow_user: str | None = None  # with airflow_url: the user a token is asked for


class TaskOutcome(Protocol):
    """What became of one planned task."""

    dag_id: str | None
    dag_run_id: str | None  # the DAG run it ran in (lineage.backfill.planner: runs are named by id)
    logical_date: str | None
    task_id: str
    outcome: str  # executed | skipped | failed | not-run | manual
    reason: str


class ExecutionReport(Protocol):
    """What an executor reports back: every planned task's outcome and the final check."""

    mode: str
    tasks: Sequence[TaskOutcome]
    stopped: str | None  # why execution stopped early
    still_current: Sequence[str]  # artifacts the impact of the bad versions still shows as current

    @property
    def complete(self) -> bool:
        """Every planned task ran or skipped, and nothing current derives from the bad versions."""
        ...

    def count(self, outcome: str) -> int:
        """How many tasks had this outcome."""
        ...

    def to_json(self) -> dict[str, Any]:
        """The report for ``--json``."""
        ...


class BackfillExecutor(Protocol):
    """Executes a plan step by step, calling ``progress`` with a line per step; returns the report
    and the path it was written to (None if it was not written)."""

    def __call__(self, plan: BackfillPlan, cfg: Any, store: LineageStore, options: ExecutionOptions,
                 progress: Callable[[str], None]) -> tuple[ExecutionReport, Path | None]: ...
