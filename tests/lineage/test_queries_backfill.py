"""The backfill planner against the story of test_queries, whose answer is known."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

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



def test_a_fixed_drop_named_by_its_date_plans_from_the_versions_before_it(tmp_path):
    """``--fixed raw.users_web@ds=D3``: the label names the version committed on D3 (known to the
    catalog alone: the drop was re-committed by hand), the plan starts from what it replaced."""
    story = build_story(tmp_path)
    fixed, bad, warnings = backfill.replaced_versions(story.store, "raw.users_web", f"ds={D3}", catalog=_Catalog())
    assert ([(n.partition, n.version) for n in fixed], [n.version for n in bad], warnings) == (
        [(f"ds={D3}", "rW3-fixed")], ["rW3"], [])
    by_label = backfill.plan_fixed(story.store, "raw.users_web", version=D3, catalog=_Catalog())
    assert by_label.task_set() == backfill.plan_fixed(story.store, "raw.users_web", catalog=_Catalog()).task_set()
    # Named by its old content version, the drop of D3 is the good one: nothing came before it.
    plan = backfill.plan_fixed(story.store, "raw.users_web", version="rW3")
    assert plan.empty and plan.warnings == [
        f"raw.users_web@rW3 [ds={D3}] replaced no version the lineage knows: nothing to plan from (give the bad "
        "version instead: lineage backfill raw.users_web@BAD_VERSION)"]


def _labels_fixed_twice() -> list[dict]:
    """Spam labels v1 train M1, which de-spams D1; fixes commit v2 from v1, then v3 from v2."""
    f = EventFactory()
    l1, l2, l3 = (ver("reference.spam_labels", f"L{n}", f"v{n}") for n in (1, 2, 3))
    events = f.run("user_pipeline.training.spam_filter", "train_spam_filter", D1, [l1],
                   [ver("models.spam_filter", "M1")])
    events += f.run("beam_jobs.despam", "despam", D1, [ds("staging.users_ingested", D1, "I1"),
                                                      ver("models.spam_filter", "M1")],
                    [ds("staging.users_despammed", D1, "S1")])
    f.dag_id = "fix_reference_spam_labels"
    events += f.run("user_pipeline.fix", "fix", D1, [l1], [l2])
    events += f.run("user_pipeline.fix", "fix", D2, [l2], [l3])
    return events


def test_a_fixed_version_plans_from_the_versions_its_fixes_replaced(tmp_path):
    store = LineageStore(f"sqlite:///{tmp_path / 'lineage.db'}")
    store.ingest_events(_labels_fixed_twice())
    fixed, bad, _ = backfill.replaced_versions(store, "reference.spam_labels", "v3")
    assert [n.version for n in fixed] == ["L3"] and [n.version for n in bad] == ["L1", "L2"]
    assert [n.version for n in backfill.replaced_versions(store, "reference.spam_labels", "version=v2")[1]] == ["L1"]
    plan = backfill.plan_fixed(store, "reference.spam_labels", version="v3")
    assert [s.version for s in plan.seeds] == ["L1", "L2"]
    assert plan.task_set() == {(DAG, _run(D1), "train_spam_filter"), (DAG, _run(D1), "despam")}
    # v1 replaced nothing; the label of no version, and a label that is also a version's prefix, are errors.
    assert backfill.plan_fixed(store, "reference.spam_labels", version="v1").empty
    with pytest.raises(queries.LineageLookupError, match="has no version 'v9'; latest: L3"):
        backfill.plan_fixed(store, "reference.spam_labels", version="v9")


def test_a_label_naming_no_single_fixed_version_is_an_error_listing_them(tmp_path):
    f = EventFactory()
    # The partition version=L holds L (as its label) while L1 starts with L too.
    events = f.run("user_pipeline.fix", "fix", D1, [ver("reference.id_pairs", "P0", "L")],
                   [ver("reference.id_pairs", "L1", "v2")])
    store = LineageStore(f"sqlite:///{tmp_path / 'lineage.db'}")
    store.ingest_events(events)
    with pytest.raises(queries.LineageLookupError, match=r"reference.id_pairs@L is ambiguous: "
                       r"reference.id_pairs@P0 \[version=L\]; it is also the prefix of version L1"):
        backfill.plan_fixed(store, "reference.id_pairs", version="L")

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


def _without_logical_date(events: list[dict], run_after: str) -> list[dict]:
    """The events of runs of a DAG run that has no logical date (Airflow 3's manual and
    asset-triggered runs): ``user_pipeline.runner.launch`` gives the jobs the time the run was
    queued for (run_after) as its date, and the run id Airflow made up."""
    for event in events:
        facet = event["run"]["facets"].get("airflowDagRun")
        if facet:
            facet["logicalDate"] = run_after
    return events


def test_manual_and_asset_triggered_runs_without_logical_date_are_planned_by_run_id(tmp_path):
    """A manual spam_filter run trained on L1 and the asset-triggered one the fix started share a
    date; two manual user_pipeline runs de-spammed with L1's model. Only the run ids tell the runs
    apart: the plan names each step by its run id, and leaves the asset-triggered run alone."""
    f = EventFactory()

    def run(dag_id: str, run_after: str, dag_run_id: str, *args) -> list[dict]:
        f.dag_id = dag_id
        return _without_logical_date(f.run(*args, dag_run_id=dag_run_id), run_after)

    l1, l2 = ver("reference.spam_labels", "L1", "v1"), ver("reference.spam_labels", "L2", "v2")
    m1, m2 = ver("models.spam_filter", "M1"), ver("models.spam_filter", "M2")
    manual, triggered = "manual__2026-03-01T09:00:00.000001+00:00", "asset_triggered__2026-03-01T15:00:00+00:00_aB3x"
    days = {"2026-03-02": "manual__2026-03-02T08:00:00+00:00", "2026-03-03": "manual__2026-03-03T08:00:00+00:00"}
    events = run("spam_filter", manual[8:], manual, "expectations.gate", "gate_spam_labels", "2026-03-01", [l1], [])
    events += run("spam_filter", manual[8:], manual, "user_pipeline.training.spam_filter", "train_spam_filter",
                  "2026-03-01", [l1], [m1])
    for day, run_id in days.items():
        events += run("user_pipeline", run_id[8:], run_id, "beam_jobs.despam", "despam", day,
                      [ds("staging.users_ingested", day, f"I{day[-1]}"), m1],
                      [ds("staging.users_despammed", day, f"S{day[-1]}")])
    events += run("spam_labels_fix", "2026-03-01T14:00:00+00:00", "manual__2026-03-01T14:00:00+00:00",
                  "user_pipeline.labels.fix", "fix_spam_labels", "2026-03-01", [l1], [l2])
    events += run("spam_filter", "2026-03-01T15:00:00+00:00", triggered, "expectations.gate", "gate_spam_labels",
                  "2026-03-01", [l2], [])
    events += run("spam_filter", "2026-03-01T15:00:00+00:00", triggered, "user_pipeline.training.spam_filter",
                  "train_spam_filter", "2026-03-01", [l2], [m2])
    store = LineageStore(f"sqlite:///{tmp_path / 'lineage.db'}")
    store.ingest_events(events)

    plan = backfill.plan_fixed(store, "reference.spam_labels")
    assert [s.version for s in plan.seeds] == ["L1"] and plan.warnings == []
    assert plan.airflow_steps() == [
        ("spam_filter", manual, "2026-03-01T09:00:00.000001+00:00", ["gate_spam_labels", "train_spam_filter"]),
        ("user_pipeline", days["2026-03-02"], "2026-03-02T08:00:00+00:00", ["despam"]),
        ("user_pipeline", days["2026-03-03"], "2026-03-03T08:00:00+00:00", ["despam"])]
    assert all(t.dag_run_id == s.dag_run_id for s in plan.steps for t in s.tasks)
    assert plan.to_json()["steps"][0]["dag_run_id"] == manual


def test_lineage_without_a_dag_run_id_is_planned_by_date_with_a_warning(tmp_path):
    f = EventFactory()
    events = f.run("beam_jobs.despam", "despam", D1, [ds("staging.users_ingested", D1, "I1"),
                                                      ver("models.spam_filter", "M1")],
                   [ds("staging.users_despammed", D1, "S1")])
    for event in events:
        # A producer whose Airflow facets name the DAG and task but not the DAG run.
        event["run"]["facets"]["airflowDagRun"].pop("dagRunId", None)
    store = LineageStore(f"sqlite:///{tmp_path / 'lineage.db'}")
    store.ingest_events(events)
    plan = backfill.plan_bad_version(store, "models.spam_filter", "M1")
    assert plan.task_set() == {(DAG, _date(D1), "despam")} and plan.steps[0].dag_run_id is None
    assert plan.warnings == [f"the lineage names no DAG run id for {DAG}/{_date(D1)}/despam: Airflow cannot "
                             "re-run them by run id (lineage from a producer whose Airflow facets name no DAG run)"]


def _redo_clean_of_d3(store: LineageStore, start: datetime, *, recomputed: bool) -> None:
    """D3 re-run after the bad C3 was reported: clean commits C3 again, recomputed from fixed code
    (``recomputed``) or reused by a content-addressed skip (same inputs, same code); what reads it
    skips."""
    f = EventFactory(start=start)
    c2, c3 = ds("curated.users_clean", D2, "C2"), ds("curated.users_clean", D3, "C3")
    features, transform = ds("features.users_transformed", D3, "F3"), ver("models.transform_fn", "T3")
    events = f.run("beam_jobs.clean", "clean", D3, [ds("staging.users_despammed", D3, "S3")], [c3],
                   skipped=not recomputed)
    events += f.run("expectations.gate", "gate_users_clean", D3, [c3], [])
    events += f.run("beam_jobs.preprocess", "preprocess", D3, [c2, c3], [features, transform], skipped=True)
    events += f.run("user_pipeline.training.train", "train", D3, [features, transform],
                    [ver("models.job_seeker", "J3")], skipped=True)
    store.ingest_events(events)


def test_a_bad_version_its_rerun_reproduces_unchanged_is_repaired(tmp_path):
    """C3 is reported bad; after a fix of clean's code, the backfill recomputes it and gets the
    same content version. Everything planned executed or skipped, so nothing current derives from
    the bad version: the check passes and planning again finds nothing to do."""
    events, _ = story_events()
    store = LineageStore(f"sqlite:///{tmp_path / 'lineage.db'}")
    store.ingest_events(events)
    plan = backfill.plan_bad_version(store, "curated.users_clean", "C3")
    assert plan.task_set() == {(DAG, _run(D3), t) for t in ("clean", "gate_users_clean", "preprocess", "train")}
    _redo_clean_of_d3(store, datetime.fromisoformat(events[-1]["eventTime"]) + timedelta(minutes=1), recomputed=True)

    graph = queries.impact_of(store, plan.seeds)
    assert [str(a.node) for a in graph.affected() if a.status == "current"] == []
    seed = graph.artifact("curated.users_clean", "C3")
    assert seed.status == "superseded" and seed.current_slots == []
    assert seed.replaced_by == ["curated.users_clean@C3 [ds=2026-01-03] (re-derived unchanged after the fix: repaired)"]
    assert backfill.plan_bad_version(store, "curated.users_clean", "C3").empty


def test_a_bad_version_reused_by_a_skip_is_still_bad(tmp_path):
    """The same re-run, but nothing was fixed: clean skips (same inputs, same code) and re-emits C3.
    That proves nothing: C3 and what reads it stay to redo."""
    events, _ = story_events()
    store = LineageStore(f"sqlite:///{tmp_path / 'lineage.db'}")
    store.ingest_events(events)
    plan = backfill.plan_bad_version(store, "curated.users_clean", "C3")
    _redo_clean_of_d3(store, datetime.fromisoformat(events[-1]["eventTime"]) + timedelta(minutes=1), recomputed=False)

    graph = queries.impact_of(store, plan.seeds)
    assert {a.version for a in graph.affected() if a.status == "current"} == {"F3", "T3", "J3"}
    assert graph.artifact("curated.users_clean", "C3").status == "current"
    assert backfill.plan_bad_version(store, "curated.users_clean", "C3").task_set() == plan.task_set()


def test_the_run_report_of_every_touched_date_follows_what_it_shows(tmp_path):
    """Every date ends with its run report, which reads the versions its page shows: the date's and
    the previous date's (user_pipeline.reports.run_report). The spam filter M1 fed D1 and D2; D3
    was de-spammed with M2 already. Each touched date's report is planned after the tasks that
    recompute what it shows, D3's too: its comparison with D2 changes."""
    f = EventFactory()
    shown: dict[str, list] = {}
    events: list[dict] = []
    for day, model in ((D1, "M1"), (D2, "M1"), (D3, "M2")):
        n = day[-1]
        ingested, despammed = ds("staging.users_ingested", day, f"I{n}"), ds("staging.users_despammed", day, f"S{n}")
        clean = ds("curated.users_clean", day, f"C{n}")
        events += f.run("beam_jobs.ingest", "ingest", day, [ds("raw.users_web", day, f"rW{n}")], [ingested])
        events += f.run("beam_jobs.despam", "despam", day, [ingested, ver("models.spam_filter", model)], [despammed])
        events += f.run("beam_jobs.clean", "clean", day, [despammed], [clean])
        shown[day] = [ingested, despammed, clean]
        previous = shown.get(f"2026-01-0{int(n) - 1}", [])
        events += f.run("user_pipeline.reports.run_report", "run_report", day, shown[day] + previous, [])
    store = LineageStore(f"sqlite:///{tmp_path / 'lineage.db'}")
    store.ingest_events(events)

    plan = backfill.plan_bad_version(store, "models.spam_filter", "M1")
    assert [(run, tasks) for _, run, _, tasks in plan.airflow_steps()] == [
        (_run(D1), ["despam", "clean", "run_report"]), (_run(D2), ["despam", "clean", "run_report"]),
        (_run(D3), ["run_report"])]
    reports = {t.dag_run_id: t for s in plan.steps for t in s.tasks if t.task_id == "run_report"}
    assert {t.reason for t in reports.values()} == {"checked"}
    assert reports[_run(D2)].after == [f"{DAG}/{_run(day)}/{task}" for day in (D1, D2) for task in ("clean", "despam")]
    assert reports[_run(D3)].after == [f"{DAG}/{_run(D2)}/clean", f"{DAG}/{_run(D2)}/despam"]
