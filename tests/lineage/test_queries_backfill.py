"""The backfill planner against the story of test_queries, whose answer is known."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from bench.lineage_synth import EventFactory, ds, ver
from lineage import backfill, queries
from lineage.store import LineageStore
from tests.lineage.test_queries import D1, D2, D3, DAG, TASKS, _day, build_story, story_events, write_log


def _date(day: str) -> str:
    return f"{day}T00:00:00+00:00"


def _run(day: str) -> str:
    """The DAG run id of the story's scheduled run of ``day`` (bench.lineage_synth's default)."""
    return f"scheduled__{_date(day)}"


def _precision_recall(planned: set, truth: set) -> tuple[float, float]:
    hits = len(planned & truth)
    return hits / len(planned) if planned else 1.0, hits / len(truth) if truth else 1.0


def _assert_order_respects_dependencies(plan: backfill.BackfillPlan) -> None:
    position = {t.label: i for i, t in enumerate(t for s in plan.steps for t in s.tasks)}
    for step in plan.steps:
        for task in step.tasks:
            assert all(position[before] < position[task.label] for before in task.after), task


def test_bad_labels_plan_is_exactly_the_current_tasks_in_dependency_order(tmp_path):
    story = build_story(tmp_path)
    plan = backfill.plan_bad_version(story.store, "reference.spam_labels", "L1")
    # Ground truth: D1 was already backfilled; D2 and D3 redo every spam-dependent task, the
    # gates of their clean output included; the spam report that failed on D2's bad de-spammed
    # users runs again; ingest and the raw-only report are unrelated.
    truth = {(DAG, _run(day), task) for day in (D2, D3) for task in TASKS} | {(DAG, _run(D2), "spam_report")}
    assert _precision_recall(plan.task_set(), truth) == (1.0, 1.0)
    assert [(dag, run, date) for dag, run, date, _ in plan.airflow_steps()] == [
        (DAG, _run(D2), _date(D2)), (DAG, _run(D3), _date(D3))]
    d2 = plan.airflow_steps()[0][3]
    assert d2[0] == "train_spam_filter" and d2.index("despam") < d2.index("clean") < d2.index("preprocess")
    _assert_order_respects_dependencies(plan)
    # D3's preprocess read D2's clean output: it must follow it, across DAG runs.
    d3_pre = next(t for t in plan.steps[1].tasks if t.task_id == "preprocess")
    assert f"{DAG}/{_run(D2)}/clean" in d3_pre.after
    assert {a.version for a in plan.superseded} == {"S1", "C1", "F1", "T1", "J1"}
    assert "J3" in {a.version for a in plan.to_recompute}
    reasons = {t.task_id: t.reason for t in plan.steps[0].tasks}
    assert (reasons["spam_report"], reasons["gate_users_clean"], reasons["clean"]) == ("failed", "checked", "derived")
    assert plan.manual_steps() == [] and not plan.truncated
    json.dumps(plan.to_json())


def test_fixed_dataset_plans_from_its_superseded_version(tmp_path):
    story = build_story(tmp_path)
    labels = backfill.plan_fixed(story.store, "reference.spam_labels")
    assert [s.version for s in labels.seeds] == ["L1"]
    assert labels.task_set() == backfill.plan_bad_version(story.store, "reference.spam_labels", "L1").task_set()
    clean = backfill.plan_fixed(story.store, "curated.users_clean")
    assert [s.version for s in clean.seeds] == ["C1"]
    assert clean.task_set() == {(DAG, _run(D2), "preprocess"), (DAG, _run(D2), "train")}  # C1's gate: redone


@dataclass
class _Manifest:
    version: str


class _Catalog:
    """The two Catalog methods the planner uses: raw.users_web D3 was re-dropped, fixed."""

    def partition_key(self, dataset):
        if dataset != "raw.users_web":
            raise KeyError(dataset)
        return "ds"

    def manifest(self, dataset, value):
        return _Manifest("rW3-fixed" if value == D3 else f"rW{value[-1]}")


def test_fixed_raw_drop_known_only_to_the_catalog(tmp_path):
    story = build_story(tmp_path)
    assert backfill.plan_fixed(story.store, "raw.users_web").empty  # lineage alone: nothing is stale
    plan = backfill.plan_fixed(story.store, "raw.users_web", catalog=_Catalog())
    truth = {(DAG, _run(D3), t) for t in ("ingest", "despam", "clean", "gate_users_clean", "preprocess", "train",
                                          "report")}
    assert _precision_recall(plan.task_set(), truth) == (1.0, 1.0)
    assert plan.airflow_steps()[0][3][0] == "ingest"


def test_executing_the_plan_leaves_nothing_to_recompute(tmp_path):
    story = build_story(tmp_path)
    plan = backfill.plan_bad_version(story.store, "reference.spam_labels", "L1")
    # Execute the plan as Airflow would: re-run the planned tasks of D2, then D3, with the fix.
    f = EventFactory(start=EventFactory().clock.replace(year=2027))
    m2, l2 = ver("models.spam_filter", "M2"), ver("reference.spam_labels", "L2", "v2")
    redo, previous = [], ds("curated.users_clean", D1, "C1'")
    for dag_id, _, date, tasks in plan.airflow_steps():
        assert dag_id == DAG
        day = date[:10]
        events, previous = _day(f, day, m2, labels=l2, suffix="'", ingest=False, previous_clean=previous)
        redo += events
        if "spam_report" in tasks:
            redo += f.run("beam_jobs.spam_report", "spam_report", day, [ds("staging.users_despammed", day, "S2'")],
                          [ds("reports.spam_share", day, "Q2")])
    with story.log.open("a") as fh:
        fh.writelines(json.dumps(e) + "\n" for e in redo)
    story.store.ingest_file(story.log)
    again = backfill.plan_bad_version(story.store, "reference.spam_labels", "L1")
    assert again.empty and not again.to_recompute
    assert {a.version for a in again.superseded} >= {"M1", "J2", "J3", "S2"}


def test_a_model_trained_outside_airflow_is_a_manual_step_before_the_dates_that_used_it(tmp_path):
    from lineage.store import LineageStore

    f = EventFactory()
    labels, model = ver("reference.spam_labels", "L1", "v1"), ver("models.spam_filter", "M1")
    events = f.run("user_pipeline.training.spam_filter", None, None, [labels], [model])  # by hand: no DAG run
    for day in (D1, D2):
        ingested = ds("staging.users_ingested", day, f"I{day[-1]}")
        events += f.run("beam_jobs.despam", "despam", day, [ingested, model],
                        [ds("staging.users_despammed", day, f"S{day[-1]}")])
    store = LineageStore(f"sqlite:///{tmp_path / 'lineage.db'}")
    store.ingest_events(events)
    plan = backfill.plan_bad_version(store, "reference.spam_labels", "L1")
    assert [(s.dag_id, s.task_ids) for s in plan.steps] == [
        (None, ["user_pipeline.training.spam_filter"]), (DAG, ["despam"]), (DAG, ["despam"])]
    assert [t.task_id for t in plan.manual_steps()] == ["user_pipeline.training.spam_filter"]
    assert [(dag, run, tasks) for dag, run, _, tasks in plan.airflow_steps()] == [
        (DAG, _run(D1), ["despam"]), (DAG, _run(D2), ["despam"])]


def test_a_version_recommitted_unchanged_from_clean_inputs_is_no_longer_current(tmp_path):
    """D2 is backfilled with M2: de-spam writes S2 again, byte for byte, and clean skips (same input
    version). The content version is the same, but the commit now comes from clean inputs."""
    events, _ = story_events()
    f = EventFactory(start=datetime.fromisoformat(events[-1]["eventTime"]) + timedelta(minutes=1))
    m2 = ver("models.spam_filter", "M2")
    ingested, despammed = ds("staging.users_ingested", D2, "I2"), ds("staging.users_despammed", D2, "S2")
    clean = ds("curated.users_clean", D2, "C2")
    # The correction itself reads L1 and writes L2: it is the fix, not derived from L1.
    events += f.run("user_pipeline.labels.noise", None, None, [ver("reference.spam_labels", "L1", "v1")],
                    [ver("reference.spam_labels", "L2", "v2"), ver("reference.label_corrections", "K2", "v2")])
    events += f.run("beam_jobs.despam", "despam", D2, [ingested, m2], [despammed])
    events += f.run("beam_jobs.clean", "clean", D2, [despammed], [clean], skipped=True)
    events += f.run("expectations.gate", "gate_users_clean", D2, [clean], [])
    store = LineageStore(f"sqlite:///{tmp_path / 'lineage.db'}")
    store.ingest_file(write_log(tmp_path / "events.jsonl", events))

    graph = queries.impact(store, "reference.spam_labels", "L1")
    for dataset, version in (("staging.users_despammed", "S2"), ("curated.users_clean", "C2")):
        artifact = graph.artifact(dataset, version)
        assert artifact.status == "superseded", artifact
        assert any("re-derived from clean inputs" in r for r in artifact.replaced_by)
    # The runs that read the clean commit are not derived from L1.
    d2_runs = [r for r in graph.runs if r.logical_date and r.logical_date.startswith(D2)]
    assert not [r for r in d2_runs if r.job == "beam_jobs.clean" and r.skipped]
    assert graph.artifact("features.users_transformed", "F2").status == "current"  # read C1 too
    assert "user_pipeline.labels.noise" not in {r.job for r in graph.runs}
    assert graph.artifact("reference.label_corrections", "K2") is None

    plan = backfill.plan_bad_version(store, "reference.spam_labels", "L1")
    d2 = {task for dag, run, task in plan.task_set() if run == _run(D2)}
    assert {"despam", "clean", "gate_users_clean"}.isdisjoint(d2)
    assert {"preprocess", "train"} <= d2


def test_the_gate_that_checked_a_bad_version_checks_its_replacement(tmp_path):
    story = build_story(tmp_path)
    plan = backfill.plan_bad_version(story.store, "curated.users_clean", "C3")
    tasks = {task: t.reason for s in plan.steps for t in s.tasks for (_, _, task) in [t.key]}
    assert tasks["clean"] == "produced-bad-version" and tasks["gate_users_clean"] == "checked"
    # C1's gate already ran again after D1 was fixed: not planned again.
    fixed = backfill.plan_fixed(story.store, "curated.users_clean")
    assert (DAG, _run(D1), "gate_users_clean") not in fixed.task_set()
