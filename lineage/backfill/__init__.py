"""Backfills after an upstream fix: the plan (``planner``: what to recompute, in what order)."""

from lineage.backfill.planner import (
    BackfillPlan,
    PlannedTask,
    PlanStep,
    plan_bad_version,
    plan_fixed,
    plan_for,
    stale_versions,
)

__all__ = ["BackfillPlan", "PlanStep", "PlannedTask", "plan_bad_version", "plan_fixed", "plan_for", "stale_versions"]
