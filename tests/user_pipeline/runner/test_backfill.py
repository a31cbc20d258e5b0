"""Executing a backfill plan: the report, the final check, interruption, and the Airflow API calls.

The DAG runs themselves are replayed as lineage events (the story of tests/lineage/test_queries
after the spam labels were fixed); the real ``dag.test`` execution is covered end to end in
tests/e2e/test_backfill.py.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from bench.lineage_synth import EventFactory, ds, ver
from lineage import backfill
from lineage.backfill import PlanStep
from lineage.store import LineageStore
from tests.lineage.test_queries import D2, D3, story_events, write_log
from user_pipeline.runner import backfill as runner_backfill
from user_pipeline.runner import lineage_command
from user_pipeline.runner.backfill import SKIP_REASON, AirflowApiRunner, StepRunner, clear_waves, execute


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
    assert {run for _, run, _ in again.task_set()} == {f"scheduled__{D3}T00:00:00+00:00"}
    runner = ReplayRunner(log)
    assert execute(again, cfg, store, runner).complete
    assert [s.logical_date[:10] for s in runner.steps] == [D3]


# An asset-triggered run on Airflow 3: no logical date; the lineage carries its run id.
ASSET_RUN = "asset_triggered__2026-03-01T15:04:05.123456+00:00_Xk2pQ9aB"


def _step(dag_run_id: str | None = ASSET_RUN) -> PlanStep:
    when = "2026-03-01T15:04:05.123456+00:00"  # run_after: what the lineage shows as its date
    gate = backfill.PlannedTask("spam_filter", when, "gate_spam_labels", "checked", dag_run_id=dag_run_id)
    train = backfill.PlannedTask("spam_filter", when, "train_spam_filter", "derived", dag_run_id=dag_run_id,
                                 after=[gate.label])
    return PlanStep("spam_filter", when, [gate, train], dag_run_id)


def _fake_airflow(calls: list, *, paused: bool = False, known_runs: tuple[str, ...] = (ASSET_RUN,)):
    """Airflow 3's REST API as far as the runner uses it; ``calls`` records every request."""
    states = iter(["queued", "running", "success"])
    run_path = f"/api/v2/dags/spam_filter/dagRuns/{quote(ASSET_RUN, safe='')}"

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append((request.method, request.url.raw_path.decode().split("?")[0], dict(request.url.params),
                      json.loads(request.content) if request.content else None, request.headers.get("authorization")))
        path = calls[-1][1]
        if path == "/auth/token":
            return httpx.Response(201, json={"access_token": "jwt"})
        if path == "/api/v2/dags/spam_filter":
            return httpx.Response(200, json={"dag_id": "spam_filter", "is_paused": paused})
        if path == "/api/v2/dags/spam_filter/tasks":
            return httpx.Response(200, json={"tasks": [
                {"task_id": "gate_spam_labels", "downstream_task_ids": ["train_spam_filter"]},
                {"task_id": "train_spam_filter", "downstream_task_ids": ["label_agreement", "label_noise"]},
                {"task_id": "label_agreement", "downstream_task_ids": []},
                {"task_id": "label_noise", "downstream_task_ids": []}]})
        if path == "/api/v2/dags/spam_filter/clearTaskInstances":
            return httpx.Response(200, json={"task_instances": [], "total_entries": 2})
        if path == f"{run_path}/taskInstances":
            tasks = ("gate_spam_labels", "train_spam_filter", "label_noise")
            return httpx.Response(200, json={"task_instances": [{"task_id": t, "state": "success"} for t in tasks]})
        if path == run_path and ASSET_RUN in known_runs:
            state = next(states) if any(c[1].endswith("clearTaskInstances") for c in calls) else "success"
            return httpx.Response(200, json={"dag_run_id": ASSET_RUN, "logical_date": None, "state": state})
        return httpx.Response(404, json={"detail": "not found"})

    return httpx.Client(base_url="http://airflow", transport=httpx.MockTransport(handler))


def test_airflow_api_runner_clears_the_planned_tasks_of_the_run_the_lineage_names():
    """The request sequence, against a fake of the API: the real Airflow is
    tests/e2e/test_backfill_airflow.py."""
    calls: list = []
    runner = AirflowApiRunner("http://airflow", username="admin", password="pw", poll_seconds=0,
                              client=_fake_airflow(calls))
    # The states of the tasks it cleared: the others ran before the backfill.
    assert runner.run_step(_step()) == {"gate_spam_labels": "success", "train_spam_filter": "success"}
    token, exists, dag, structure, clear, *polls, tis = calls
    assert token[1] == "/auth/token" and token[3] == {"username": "admin", "password": "pw"}
    # The run is addressed by its id, quoted (run ids hold ":" and "+"); never looked up by a date.
    assert exists[:2] == ("GET", f"/api/v2/dags/spam_filter/dagRuns/{quote(ASSET_RUN, safe='')}")
    assert dag[:2] == ("GET", "/api/v2/dags/spam_filter") and structure[1] == "/api/v2/dags/spam_filter/tasks"
    body = clear[3]
    assert body["task_ids"] == ["gate_spam_labels", "train_spam_filter"] and body["dag_run_id"] == ASSET_RUN
    assert body["dry_run"] is False and body["only_failed"] is False
    assert not body["include_downstream"] and not body["include_upstream"] and not body["include_past"]
    assert [c[1] for c in polls] == [exists[1]] * 3 and tis[1] == f"{exists[1]}/taskInstances"
    assert all(c[4] == "Bearer jwt" for c in calls[1:])
    assert not any("logical_date" in key for c in calls for key in c[2])


def test_airflow_api_runner_refuses_a_paused_dag_an_unknown_run_and_a_step_without_run_id():
    calls: list = []
    paused = AirflowApiRunner("http://airflow", token="t", client=_fake_airflow(calls, paused=True))
    with pytest.raises(RuntimeError, match="DAG spam_filter is paused.*airflow dags unpause spam_filter"):
        paused.run_step(_step())
    gone = AirflowApiRunner("http://airflow", token="t", client=_fake_airflow(calls, known_runs=()))
    with pytest.raises(LookupError, match=re.escape(f"Airflow has no run '{ASSET_RUN}' of spam_filter")):
        gone.run_step(_step())
    with pytest.raises(LookupError, match="names no DAG run id for spam_filter"):
        gone.run_step(_step(dag_run_id=None))
    assert not any(c[1].endswith("clearTaskInstances") for c in calls)  # nothing was cleared


def test_a_cleared_run_that_does_not_end_in_time_stops_the_step():
    calls: list = []
    runner = AirflowApiRunner("http://airflow", token="t", poll_seconds=0, timeout_seconds=0,
                              client=_fake_airflow(calls))
    with pytest.raises(TimeoutError, match="spam_filter .* still queued after 0s"):
        runner.run_step(_step())


def test_airflow_api_errors_are_reported_with_the_call():
    client = httpx.Client(base_url="http://airflow", transport=httpx.MockTransport(
        lambda request: httpx.Response(403, json={"detail": "Forbidden"})))
    runner = AirflowApiRunner("http://airflow", token="t", client=client)
    with pytest.raises(RuntimeError, match="dagRuns/asset_triggered__2026-03-01.*: 403"):
        runner.run_step(_step())


class ReproducingRunner(StepRunner):
    """D3 after clean's code was fixed: clean recomputes and commits the same content version C3,
    so everything after it skips."""

    mode = "replay"

    def __init__(self, log: Path):
        self.log = log

    def run_step(self, step: PlanStep) -> dict[str, str]:
        f, day = EventFactory(start=datetime.now(UTC)), step.logical_date[:10]
        c3 = ds("curated.users_clean", day, "C3")
        features, transform = ds("features.users_transformed", day, "F3"), ver("models.transform_fn", "T3")
        events = f.run("beam_jobs.clean", "clean", day, [ds("staging.users_despammed", day, "S3")], [c3])
        events += f.run("expectations.gate", "gate_users_clean", day, [c3], [])
        events += f.run("beam_jobs.preprocess", "preprocess", day, [ds("curated.users_clean", D2, "C2"), c3],
                        [features, transform], skipped=True)
        events += f.run("user_pipeline.training.train", "train", day, [features, transform],
                        [ver("models.job_seeker", "J3")], skipped=True)
        with self.log.open("a") as fh:
            fh.writelines(json.dumps(e) + "\n" for e in events)
        return {t: "success" for t in step.task_ids}


def test_a_backfill_that_reproduces_the_bad_version_unchanged_completes(story):
    cfg, store, log = story
    plan = backfill.plan_bad_version(store, "curated.users_clean", "C3")
    report = execute(plan, cfg, store, ReproducingRunner(log))
    assert [(t.task_id, t.outcome) for t in report.tasks] == [
        ("clean", "executed"), ("gate_users_clean", "executed"), ("preprocess", "skipped"), ("train", "skipped")]
    assert {t.dag_run_id for t in report.tasks} == {f"scheduled__{D3}T00:00:00+00:00"}
    assert report.still_current == [] and report.complete
    assert backfill.plan_bad_version(store, "curated.users_clean", "C3").empty


DAG_ID = "user_pipeline"
# The tail of the daily DAG (user_pipeline/steps/registry.py): clean -> its gate -> statistics ->
# preprocess -> its gate -> train -> evaluate -> run_report.
TAIL = ["clean", "gate_users_clean", "statistics_users_clean", "preprocess", "gate_users_transformed", "train",
        "evaluate", "run_report"]
DOWNSTREAM = {a: [b] for a, b in zip(TAIL, TAIL[1:], strict=False)} | {"run_report": []}


def _planned(*names: str, follows: dict[str, list[str]]) -> PlanStep:
    tasks = {n: backfill.PlannedTask(DAG_ID, "2026-01-02", n, "derived", dag_run_id="r") for n in names}
    for name, before in follows.items():
        tasks[name].after = [tasks[b].label for b in before]
    return PlanStep(DAG_ID, "2026-01-02", list(tasks.values()), "r")


def test_planned_tasks_the_dag_orders_through_cleared_tasks_are_cleared_together():
    step = _planned(*TAIL, follows={b: [a] for a, b in zip(TAIL, TAIL[1:], strict=False)})
    assert clear_waves(step, DOWNSTREAM) == [TAIL]


def test_a_task_whose_predecessor_the_dag_does_not_order_waits_for_the_next_wave():
    """Only clean and the report are planned: cleared together, the report would run at once (its
    DAG upstream, evaluate, is done) and show the old clean version."""
    step = _planned("clean", "gate_users_clean", "run_report",
                    follows={"gate_users_clean": ["clean"], "run_report": ["clean"]})
    assert clear_waves(step, DOWNSTREAM) == [["clean", "gate_users_clean"], ["run_report"]]
