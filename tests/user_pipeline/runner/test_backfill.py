"""Executing a backfill plan: the report, the final check, interruption, and the Airflow API calls.

The DAG runs themselves are replayed as lineage events (the story of tests/lineage/test_queries
after the spam labels were fixed); the real ``dag.test`` execution is covered end to end in
tests/e2e/test_backfill.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bench.lineage_synth import EventFactory, ds, ver
from lineage import backfill
from lineage.backfill import PlanStep
from lineage.store import LineageStore
from tests.lineage.test_queries import D2, D3, story_events, write_log
from user_pipeline.runner import backfill as runner_backfill
from user_pipeline.runner import lineage_command
from user_pipeline.runner.backfill import SKIP_REASON, AirflowApiRunner, StepRunner, execute


class ReplayRunner(StepRunner):
    """Appends to the log what the planned tasks of a story date do after the fix: the spam
    filter is retrained on L2 (M2), de-spam writes the same S version again, clean skips (same
    input version), preprocess and train produce new versions."""

    mode = "replay"

    def __init__(self, log: Path, fail_on: str | None = None):
        self.log, self.fail_on = log, fail_on
        self.factory = EventFactory(start=datetime.now(UTC))
        self.steps: list[PlanStep] = []

    def run_step(self, step: PlanStep) -> dict[str, str]:
        self.steps.append(step)
        day = step.logical_date[:10]
        if day == self.fail_on:
            return {t: ("failed" if t == "despam" else "upstream_failed") for t in step.task_ids}
        f, n = self.factory, day[-1]
        model = ver("models.spam_filter", "M2")
        events = f.run("user_pipeline.training.spam_filter", "train_spam_filter", day,
                       [ver("reference.spam_labels", "L2", "v2")],
                       [model], skipped=day != D2)
        despammed = ds("staging.users_despammed", day, f"S{n}")
        events += f.run("beam_jobs.despam", "despam", day, [ds("staging.users_ingested", day, f"I{n}"), model],
                        [despammed])
        clean = ds("curated.users_clean", day, f"C{n}")
        events += f.run("beam_jobs.clean", "clean", day, [despammed], [clean], skipped=True)
        events += f.run("expectations.gate", "gate_users_clean", day, [clean], [])
        previous = ds("curated.users_clean", D2, "C2") if day == D3 else ds("curated.users_clean", "2026-01-01", "C1'")
        features = ds("features.users_transformed", day, f"F{n}+")
        transform = ver("models.transform_fn", f"T{n}+")
        events += f.run("beam_jobs.preprocess", "preprocess", day, [previous, clean], [features, transform])
        events += f.run("user_pipeline.training.train", "train", day, [features, transform],
                        [ver("models.job_seeker", f"J{n}+")])
        if "spam_report" in step.task_ids:
            events += f.run("beam_jobs.spam_report", "spam_report", day, [despammed], [])
        with self.log.open("a") as fh:
            fh.writelines(json.dumps(e) + "\n" for e in events)
        return {t: "success" for t in step.task_ids}


@pytest.fixture
def story(cfg):
    log = Path(cfg.openlineage_log_paths()[0])
    log.parent.mkdir(parents=True, exist_ok=True)
    write_log(log, story_events()[0])
    store = LineageStore.from_config(cfg)
    store.ingest_file(log)
    return cfg, store, log


def test_execute_reports_executed_and_skipped_and_leaves_nothing_current(story):
    cfg, store, log = story
    plan = backfill.plan_bad_version(store, "reference.spam_labels", "L1")
    runner = ReplayRunner(log)
    report = execute(plan, cfg, store, runner)
    assert [(s.dag_id, s.logical_date) for s in runner.steps] == [(s.dag_id, s.logical_date) for s in plan.steps]
    outcome = {(t.logical_date[:10], t.task_id): t for t in report.tasks}
    assert len(report.tasks) == sum(len(s.tasks) for s in plan.steps)
    assert outcome[(D2, "train_spam_filter")].outcome == "executed"
    assert outcome[(D3, "train_spam_filter")].outcome == "skipped"
    assert outcome[(D2, "clean")].outcome == "skipped" and outcome[(D2, "clean")].reason == SKIP_REASON
    assert outcome[(D2, "despam")].outcome == outcome[(D2, "spam_report")].outcome == "executed"
    assert report.count("executed") + report.count("skipped") == len(report.tasks)
    assert report.still_current == [] and report.complete
    # Nothing is left to do: planning again gives an empty plan.
    assert backfill.plan_bad_version(store, "reference.spam_labels", "L1").empty


def test_the_lineage_console_script_executes_the_plan_with_the_embedded_runner(story, monkeypatch, capsys):
    cfg, store, log = story
    runners = []
    monkeypatch.setattr(runner_backfill, "EmbeddedRunner", lambda cfg: runners.append(ReplayRunner(log)) or runners[-1])
    assert lineage_command.main(["backfill", "reference.spam_labels@L1"]) == 0
    out = capsys.readouterr().out
    assert "backfill report (replay)" in out and "holds no current artifact" in out
    assert [s.logical_date[:10] for s in runners[0].steps] == [D2, D3]
    (written,) = (Path(cfg.data_root) / "reports" / "backfill").glob("backfill-*.json")
    assert json.loads(written.read_text())["complete"] is True
    assert backfill.plan_bad_version(store, "reference.spam_labels", "L1").empty


def test_an_interrupted_backfill_resumes_without_redoing_finished_work(story):
    cfg, store, log = story
    plan = backfill.plan_bad_version(store, "reference.spam_labels", "L1")
    report = execute(plan, cfg, store, ReplayRunner(log, fail_on=D3))
    assert not report.complete and "despam" in report.stopped
    assert {t.outcome for t in report.tasks if t.logical_date.startswith(D2)} <= {"executed", "skipped"}
    assert {t.outcome for t in report.tasks if t.logical_date.startswith(D3)} == {"failed"}
    assert report.still_current  # D3's outputs still derive from L1

    again = backfill.plan_bad_version(store, "reference.spam_labels", "L1")
    assert {date[:10] for _, date, _ in again.task_set()} == {D3}
    runner = ReplayRunner(log)
    assert execute(again, cfg, store, runner).complete
    assert [s.logical_date[:10] for s in runner.steps] == [D3]


def test_airflow_api_runner_clears_exactly_the_planned_tasks_and_waits():
    calls = []
    states = iter(["queued", "running", "success"])

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append((request.method, request.url.path, dict(request.url.params),
                      json.loads(request.content) if request.content else None, request.headers.get("authorization")))
        path = request.url.path
        if path == "/auth/token":
            return httpx.Response(201, json={"access_token": "jwt"})
        if path == "/api/v2/dags/user_pipeline/dagRuns":
            return httpx.Response(200, json={"dag_runs": [{"dag_run_id": "scheduled__2026-01-02"}], "total_entries": 1})
        if path == "/api/v2/dags/user_pipeline/clearTaskInstances":
            return httpx.Response(200, json={"task_instances": [], "total_entries": 2})
        if path.endswith("/taskInstances"):
            return httpx.Response(200, json={"task_instances": [{"task_id": "despam", "state": "success"},
                                                                {"task_id": "clean", "state": "success"}]})
        if path == "/api/v2/dags/user_pipeline/dagRuns/scheduled__2026-01-02":
            return httpx.Response(200, json={"state": next(states)})
        return httpx.Response(404, json={"detail": "not found"})

    client = httpx.Client(base_url="http://airflow", transport=httpx.MockTransport(handler))
    runner = AirflowApiRunner("http://airflow", username="admin", password="pw", poll_seconds=0, client=client)
    step = PlanStep("user_pipeline", "2026-01-02T00:00:00+00:00", [
        backfill.PlannedTask("user_pipeline", "2026-01-02T00:00:00+00:00", "despam", "derived"),
        backfill.PlannedTask("user_pipeline", "2026-01-02T00:00:00+00:00", "clean", "derived")])
    assert runner.run_step(step) == {"despam": "success", "clean": "success"}
    token, find, clear, *polls, tis = calls
    assert token[1] == "/auth/token" and token[3] == {"username": "admin", "password": "pw"}
    assert find[2] == {"logical_date_gte": step.logical_date, "logical_date_lte": step.logical_date}
    body = clear[3]
    assert body["task_ids"] == ["despam", "clean"] and body["dag_run_id"] == "scheduled__2026-01-02"
    assert body["dry_run"] is False and body["only_failed"] is False
    assert not body["include_downstream"] and not body["include_upstream"]
    assert len(polls) == 3 and all(c[4] == "Bearer jwt" for c in calls[1:])


def test_airflow_api_errors_are_reported_with_the_call():
    client = httpx.Client(base_url="http://airflow", transport=httpx.MockTransport(
        lambda request: httpx.Response(403, json={"detail": "Forbidden"})))
    runner = AirflowApiRunner("http://airflow", token="t", client=client)
    with pytest.raises(RuntimeError, match="GET /api/v2/dags/user_pipeline/dagRuns: 403"):
        runner.dag_run_id("user_pipeline", "2026-01-02T00:00:00+00:00")
