"""Backfills after an upstream fix: the plan (``planner``: what to recompute, in what order) and
the interface of whoever executes it (``execution``)."""

from lineage.backfill.execution import BackfillExecutor, ExecutionOptions, ExecutionReport, TaskOutcome
from lineage.backfill.planner import (
    BackfillPlan,
    PlannedTask,
    PlanStep,
    plan_bad_version,
    plan_fixed,
    plan_for,
    replaced_versions,
    stale_versions,
)

__all__ = [
    "BackfillExecutor", "BackfillPlan", "ExecutionOptions", "ExecutionReport", "PlanStep", "PlannedTask",
    "TaskOutcome", "plan_bad_version", "plan_fixed", "plan_for", "replaced_versions", "stale_versions",
]
