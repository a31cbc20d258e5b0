"""Drive the deployment through Airflow 3's REST API (the client: ``user_pipeline.airflow_api``).

``run_pipeline`` is how the deployment runs dates through the real scheduler without its
surprises: DAGs are paused at creation, and unpausing a daily DAG with ``catchup=False`` makes the
scheduler run the latest cron point at once (today, ``CronTriggerTimetable``), ahead of runs
queued by hand. So the daily DAG's runs are triggered with explicit logical dates while it is
still paused, today's among them, then it is unpaused: the scheduler finds today's run already
there (it never creates a second run for a logical date) and runs the queued ones in order.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from user_pipeline.airflow_api import AirflowApi, RunResult
from user_pipeline.config import PipelineConfig
from user_pipeline.steps.registry import ID_MATCHER, LABELS_FIX, SPAM_FILTER


def default_dates(days: int) -> list[str]:
    """The ``days`` days ending today (UTC): today is the cron point unpausing the daily DAG runs."""
    today = datetime.now(UTC).date()
    return [(today - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]


def logical_date(ds: str) -> str:
    """The logical date of a daily run (midnight UTC), as the API takes it."""
    return f"{ds}T00:00:00Z"


def run_pipeline(api: AirflowApi, cfg: PipelineConfig, dates: list[str], timeout_s: float = 3600.0,
                 say=print) -> list[RunResult]:
    """Run the models' DAGs once, then the daily DAG for ``dates`` in order, through the scheduler;
    returns every run's result (stops after a model DAG fails: the daily runs would need it)."""
    results = []
    # The models de-spam and ID-merge score with (they skip when already committed), as the
    # embedded runner does first; and the labels fix, which runs only when triggered.
    api.set_paused(LABELS_FIX, False)
    for dag_id in (SPAM_FILTER, ID_MATCHER):
        api.set_paused(dag_id, False)
        result = api.wait(dag_id, api.trigger(dag_id, logical_date(dates[0])), timeout_s)
        say(f"DAG RUN {dag_id} {result.run_id}: {result.state}")
        results.append(result)
        if result.state != "success":
            return results
    daily = cfg.airflow.dag_id
    info = api.dag(daily)
    next_run = info.get("next_dagrun_logical_date")
    if info.get("is_paused") and next_run and next_run[:10] <= datetime.now(UTC).date().isoformat() \
            and next_run[:10] not in dates:
        say(f"WARNING: unpausing {daily} makes the scheduler also run {next_run[:10]} (its next cron point), "
            "which is not among the dates given")
    run_ids = [api.trigger(daily, logical_date(ds)) for ds in dates]
    api.set_paused(daily, False)
    for ds, run_id in zip(dates, run_ids, strict=True):
        result = api.wait(daily, run_id, timeout_s)
        say(f"DAG RUN {daily} {ds} ({run_id}): {result.state}; tasks on {', '.join(sorted(result.hostnames))}")
        results.append(result)
    return results
