"""Version-aware queries on a hand-built event graph with a known answer.

The story (``build_story``): spam labels L1 train the spam filter M1 in the D1 DAG run (D2, D3
re-emit it with content-addressed skips); every date de-spams with M1, cleans (and gates the
clean output: a run that reads and writes nothing), preprocesses a two-day window (a diamond:
C2 reaches F3 and T3, both reach J3) and trains. Then labels L2 fix D1 only (a superseded
branch). A report job reads only raw data (an unrelated branch), a spam-share report fails on
D2, D4's ingest never finishes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bench.lineage_synth import EventFactory, Ref, ds, ver
from lineage import queries
from lineage.store import LineageStore

DAG = "user_pipeline"
D1, D2, D3, D4 = "2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"
TASKS = ["train_spam_filter", "despam", "clean", "gate_users_clean", "preprocess", "train"]


@dataclass
class Story:
    store: LineageStore
    log: Path
    before_fix: str  # a time after the first three DAG runs, before the D1 backfill
    events: list[dict] = field(default_factory=list)


def _day(f: EventFactory, day: str, model: Ref, *, suffix: str = "", skip_model: bool = False,
         labels: Ref | None = None, previous_clean: Ref | None = None, ingest: bool = True) -> tuple[list[dict], Ref]:
    """One DAG run of the story; returns its events and its clean output."""
    n = day[-1]
    out: list[dict] = []
    if labels is not None:
        out += f.run("user_pipeline.training.spam_filter", "train_spam_filter", day, [labels], [model],
                     skipped=skip_model)
    ingested = ds("staging.users_ingested", day, f"I{n}")
    if ingest:
        out += f.run("beam_jobs.ingest", "ingest", day, [ds("raw.users_web", day, f"rW{n}")], [ingested])
    despammed = ds("staging.users_despammed", day, f"S{n}{suffix}")
    out += f.run("beam_jobs.despam", "despam", day, [ingested, model], [despammed])
    clean = ds("curated.users_clean", day, f"C{n}{suffix}")
    out += f.run("beam_jobs.clean", "clean", day, [despammed], [clean])
    out += f.run("expectations.gate", "gate_users_clean", day, [clean], [])  # reads, writes nothing
    window = [previous_clean, clean] if previous_clean else [clean]
    features = ds("features.users_transformed", day, f"F{n}{suffix}")
    transform = ver("models.transform_fn", f"T{n}{suffix}")
    out += f.run("beam_jobs.preprocess", "preprocess", day, window, [features, transform])
    out += f.run("user_pipeline.training.train", "train", day, [features, transform],
                 [ver("models.job_seeker", f"J{n}{suffix}")])
    return out, clean


def story_events() -> tuple[list[dict], str]:
    """The story's events in log order, and the time just before the D1 backfill."""
    f = EventFactory()
    l1, l2 = ver("reference.spam_labels", "L1", "v1"), ver("reference.spam_labels", "L2", "v2")
    m1, m2 = ver("models.spam_filter", "M1"), ver("models.spam_filter", "M2")
    events: list[dict] = []
    day1, c1 = _day(f, D1, m1, labels=l1)
    day2, c2 = _day(f, D2, m1, labels=l1, skip_model=True, previous_clean=c1)
    day3, _ = _day(f, D3, m1, labels=l1, skip_model=True, previous_clean=c2)
    events += day1 + day2 + day3
    # The unrelated branch: a report on raw data only.
    events += f.run("beam_jobs.report", "report", D3, [ds("raw.users_web", D3, "rW3")],
                    [ds("reports.daily_counts", D3, "R3")])
    # A report that failed on D2's de-spammed users, never re-run.
    events += f.run("beam_jobs.spam_report", "spam_report", D2, [ds("staging.users_despammed", D2, "S2")], [],
                    fail="ValueError: spam share out of range")
    # D4's ingest started and was never heard of again.
    events += f.run("beam_jobs.ingest", "ingest", D4, [ds("raw.users_web", D4, "rW4")], [], complete=False)
    before_fix = f.tick()
    # The fix, backfilled for D1 only: L2 -> M2 -> S1' ... J1' supersede the D1 branch.
    day1_fixed, _ = _day(f, D1, m2, labels=l2, suffix="'", ingest=False)
    events += day1_fixed
    return events, before_fix


def write_log(path: Path, events: list[dict]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def build_story(tmp_path: Path) -> Story:
    events, before_fix = story_events()
    log = write_log(tmp_path / "events.jsonl", events)
    store = LineageStore(f"sqlite:///{tmp_path / 'lineage.db'}")
    store.ingest_file(log)
    return Story(store, log, before_fix, events)


@pytest.fixture
def story(tmp_path) -> Story:
    return build_story(tmp_path)


def _versions(graph, status=None) -> set[str]:
    return {a.version for a in graph.artifacts if status is None or a.status == status}


def test_impact_follows_only_the_bad_version_through_the_diamond_and_marks_superseded(story):
    graph = queries.impact(story.store, "reference.spam_labels", "L1")
    affected = {a.version for a in graph.affected()}
    assert affected == {"M1", "S1", "S2", "S3", "C1", "C2", "C3", "F1", "F2", "F3", "T1", "T2", "T3",
                        "J1", "J2", "J3"}
    # The fixed D1 branch replaced these; M1 is still current in the D2 and D3 slots.
    assert {a.version for a in graph.affected() if a.status == "superseded"} == {"S1", "C1", "F1", "T1", "J1"}
    m1 = graph.artifact("models.spam_filter", "M1")
    assert m1.status == "current" and m1.current_slots == [
        f"logical_date={D2}T00:00:00+00:00", f"logical_date={D3}T00:00:00+00:00"]
    assert graph.artifact("curated.users_clean", "C1").replaced_by == ["curated.users_clean@C1' [ds=2026-01-01]"]
    # Diamond: F3 and T3 are reached once each, J3 once, at their least depth.
    assert [a.depth for a in graph.artifacts if a.version in ("F3", "T3", "J3")] == [4, 4, 5]
    # Unrelated and fixed branches are absent.
    assert not affected & {"I1", "I2", "I3", "R3", "rW3", "M2", "S1'", "C1'", "J1'"}
    jobs = sorted({(r.job, r.logical_date[:10]) for r in graph.runs})
    assert ("beam_jobs.report", D3) not in jobs and ("beam_jobs.spam_report", D2) in jobs
    assert not graph.truncated


def test_impact_of_a_mid_chain_version_and_depth_bound(story):
    graph = queries.impact(story.store, "curated.users_clean", "C2")
    assert _versions(graph) == {"C2", "F2", "T2", "F3", "T3", "J2", "J3"}
    cut = queries.impact(story.store, "curated.users_clean", "C2", depth=1)
    assert _versions(cut) == {"C2", "F2", "T2", "F3", "T3"} and cut.truncated
    # Every run in the answer read an artifact of the answer.
    read = {e.target for e in graph.edges if e.kind == "read"}
    assert read == {r.key for r in graph.runs}


def test_version_prefix_and_unknown_names(story):
    assert queries.resolve(story.store, "curated.users_clean", "C1'")[0].version == "C1'"
    with pytest.raises(queries.LineageLookupError, match="ambiguous"):
        queries.resolve(story.store, "curated.users_clean", "C")
    with pytest.raises(queries.LineageLookupError, match="did you mean curated.users_clean"):
        queries.impact(story.store, "curated.user_clean", "C1")
    with pytest.raises(queries.LineageLookupError, match="no version 'nope'"):
        queries.impact(story.store, "curated.users_clean", "nope")


def test_upstream_is_the_full_provenance_with_dag_runs(story):
    graph = queries.upstream(story.store, "models.job_seeker", "J2")
    assert _versions(graph) == {"J2", "F2", "T2", "C1", "C2", "S1", "S2", "I1", "I2", "M1", "L1", "rW1", "rW2"}
    external = {a.version for a in graph.artifacts if a.external}
    assert external == {"L1", "rW1", "rW2"}
    # M1 was re-emitted by skips on D2 and D3: the provenance names the run that trained it.
    trained = [r for r in graph.runs if r.job == "user_pipeline.training.spam_filter"]
    assert [(r.logical_date[:10], r.skipped) for r in trained] == [(D1, False)]
    assert all(r.dag_id == DAG and r.task_id and r.dag_run_id for r in graph.runs)
    # Without a version: the latest committed one.
    latest = queries.upstream(story.store, "models.job_seeker")
    assert latest.seeds[0].version == "J1'"


def test_downstream_of_a_version_and_of_a_whole_dataset(story):
    graph = queries.downstream(story.store, "staging.users_ingested", "I2")
    assert _versions(graph) == {"I2", "S2", "C2", "F2", "T2", "F3", "T3", "J2", "J3"}
    everything = queries.downstream(story.store, "raw.users_web")
    assert {"R3", "J1'", "J3"} <= _versions(everything)
    assert {s.version for s in everything.seeds} == {"rW1", "rW2", "rW3", "rW4"}


def test_versions_per_partition_with_current_and_producers(story):
    clean = {(v.partition, v.version): v for v in queries.versions(story.store, "curated.users_clean")}
    assert set(clean) == {(f"ds={D1}", "C1"), (f"ds={D1}", "C1'"), (f"ds={D2}", "C2"), (f"ds={D3}", "C3")}
    assert not clean[(f"ds={D1}", "C1")].current and clean[(f"ds={D1}", "C1'")].current
    assert clean[(f"ds={D2}", "C2")].readers == 3  # its gate, preprocess D2 and D3
    model = {v.version: v for v in queries.versions(story.store, "models.spam_filter")}
    assert model["M1"].current and len(model["M1"].producers) == 3 and model["M2"].current
    labels = {v.version: v for v in queries.versions(story.store, "reference.spam_labels")}
    assert labels["L1"].external and not labels["L1"].current and labels["L2"].current


def test_as_of_sees_the_graph_before_the_fix(story):
    before = queries.impact(story.store, "reference.spam_labels", "L1", as_of=story.before_fix)
    assert not [a for a in before.affected() if a.status == "superseded"]
    assert queries.versions(story.store, "curated.users_clean", as_of=story.before_fix)[0].current
    with pytest.raises(queries.LineageLookupError):
        queries.impact(story.store, "reference.spam_labels", "L2", as_of=story.before_fix)
    snap = queries.snapshot(story.store, story.before_fix, dataset="curated.users_clean")
    assert [c["version"] for c in snap.current] == ["C1", "C2", "C3"]
    assert snap.runs_by_state["FAIL"] == 1 and [r.job for r in snap.running] == ["beam_jobs.ingest"]


def test_check_reports_incomplete_failed_conflicts_and_external_inputs(story):
    f = EventFactory()
    extra = f.run("beam_jobs.export", "export", D3, [ds("curated.users_clean", D3, "C3")],
                  [ds("exports.users", D3, "X3", row_count=5)])
    changed = json.loads(json.dumps(extra[-1]))
    changed["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] = 6
    with story.log.open("a") as fh:
        # A different COMPLETE at the same eventTime (a conflict), and the START again (the same event).
        for event in [*extra, changed, extra[0]]:
            fh.write(json.dumps(event) + "\n")
    story.store.ingest_file(story.log)
    report = queries.check(story.store)
    assert [(r["job_name"], r["logical_date"][:10]) for r in report.incomplete_runs] == [("beam_jobs.ingest", D4)]
    assert [r["job_name"] for r in report.failed_runs] == ["beam_jobs.spam_report"]
    assert "spam share" in report.failed_runs[0]["error_message"]
    assert [c["job"] for c in report.conflicting_runs] == ["beam_jobs.export"]
    assert len(report.conflicting_runs[0]["events"]) == 2
    external = {(e["dataset"], e["version"]) for e in report.external_inputs}
    assert external == {("reference.spam_labels", "L1"), ("reference.spam_labels", "L2")} | {
        ("raw.users_web", f"rW{n}") for n in "1234"}
    assert report.problems == 1 and report.malformed_lines == []
