"""How the deployment runs dates through the scheduler: what it asks Airflow's API, in which order."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from user_pipeline.airflow_api import RunResult
from user_pipeline.deploy.airflow_api import default_dates, run_pipeline


class RecordingApi:
    """Airflow's API as run_pipeline uses it: records each call; every run succeeds."""

    def __init__(self, next_run: str, paused: bool = True):
        self.calls: list[tuple] = []
        self.next_run = next_run
        self.paused = paused

    def set_paused(self, dag_id, paused):
        self.calls.append(("pause" if paused else "unpause", dag_id))

    def trigger(self, dag_id, logical_date, conf=None):
        self.calls.append(("trigger", dag_id, logical_date))
        return f"manual__{dag_id}_{logical_date}"

    def wait(self, dag_id, run_id, timeout_s):
        self.calls.append(("wait", dag_id, run_id))
        return RunResult(dag_id, run_id, None, "success")

    def dag(self, dag_id):
        return {"is_paused": self.paused, "next_dagrun_logical_date": self.next_run}


def test_the_daily_runs_are_queued_with_their_dates_before_the_dag_is_unpaused(cfg):
    dates = default_dates(2)
    api = RecordingApi(next_run=f"{dates[-1]}T00:00:00Z")
    said = []
    results = run_pipeline(api, cfg, dates, say=said.append)
    first = f"{dates[0]}T00:00:00Z"
    assert api.calls == [
        ("unpause", "spam_labels_fix"),
        ("unpause", "spam_filter"), ("trigger", "spam_filter", first),
        ("wait", "spam_filter", f"manual__spam_filter_{first}"),
        ("unpause", "id_matcher"), ("trigger", "id_matcher", first),
        ("wait", "id_matcher", f"manual__id_matcher_{first}"),
        ("trigger", "user_pipeline", first), ("trigger", "user_pipeline", f"{dates[1]}T00:00:00Z"),
        ("unpause", "user_pipeline"),
        ("wait", "user_pipeline", f"manual__user_pipeline_{first}"),
        ("wait", "user_pipeline", f"manual__user_pipeline_{dates[1]}T00:00:00Z"),
    ]
    assert [r.state for r in results] == ["success"] * 4
    assert not [line for line in said if line.startswith("WARNING")]


def test_it_warns_when_unpausing_would_also_run_a_date_not_asked_for(cfg):
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    api = RecordingApi(next_run=f"{datetime.now(UTC).date().isoformat()}T00:00:00Z")
    said = []
    run_pipeline(api, cfg, [yesterday], say=said.append)
    warnings = [line for line in said if line.startswith("WARNING")]
    assert warnings == [f"WARNING: unpausing user_pipeline makes the scheduler also run "
                        f"{datetime.now(UTC).date().isoformat()} (its next cron point), which is not among the "
                        "dates given"]


def test_default_dates_end_today_in_utc():
    today = datetime.now(UTC).date()
    assert default_dates(3) == [(today - timedelta(days=n)).isoformat() for n in (2, 1, 0)]
