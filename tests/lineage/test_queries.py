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


# -- other producers: Spark-shaped (s3:// and postgres:// namespaces, names with "/", versions) and
# dbt-shaped (no version facets, reading our curated dataset, its parent run elsewhere) -----------
EVENTS_TABLE = "analytics.public.events"
USERS_MODEL = "analytics.public.users_model"
WAREHOUSE_NS = "postgres://warehouse.internal:5432"


@dataclass
class Mixed:
    store: LineageStore
    spark: str  # run id of the Spark run that wrote the events table at version 12
    dbt: str  # run id of the dbt model run that read curated.users_clean and the events table
    dbt_later: str  # a later dbt run, after the Spark run that wrote version 13


def mixed_events() -> tuple[list[dict], dict[str, str]]:
    """The story, then a day of other producers: Spark loads partner drops from S3 into the
    warehouse (versioned: a table format), dbt builds a model from it and from our curated users
    (no versions), Spark loads again, dbt builds again. Returns the events and the run ids."""
    from tests.lineage import producers as p

    ids = {"app": p.run_id(), "spark": p.run_id(), "spark_later": p.run_id(), "dbt": p.run_id(),
           "dbt_later": p.run_id()}
    app = ("spark", "events_loader.load_events", ids["app"])

    def load(run: str, version: str, day: str, at: str) -> list[dict]:
        return p.spark_run(
            "events_loader.load_events.insert_into_events", f"2026-03-02T{at}:00Z", f"2026-03-02T{at}:30Z",
            [p.dataset(p.SPARK, p.S3, f"events/ds={day}", version="3"),
             p.dataset(p.SPARK, p.CRM, "crm.public.accounts")],  # a plain JDBC source: no version
            [p.dataset(p.SPARK, p.WAREHOUSE, EVENTS_TABLE, version=version, rows=1000)], run=run, parent_run=app)

    def model(run: str, at: str) -> list[dict]:
        return p.dbt_run(USERS_MODEL, f"2026-03-02T{at}:00Z", f"2026-03-02T{at}:40Z",
                         [p.dataset(p.DBT, "user_pipeline", "curated.users_clean"),
                          p.dataset(p.DBT, p.WAREHOUSE, EVENTS_TABLE)],
                         [p.dataset(p.DBT, p.WAREHOUSE, USERS_MODEL)], invocation=p.run_id(), run=run)

    events = (story_events()[0] + load(ids["spark"], "12", D2, "01") + model(ids["dbt"], "02")
              + load(ids["spark_later"], "13", D3, "03") + model(ids["dbt_later"], "04"))
    return events, ids


@pytest.fixture
def mixed(tmp_path) -> Mixed:
    events, ids = mixed_events()
    store = LineageStore(f"sqlite:///{tmp_path / 'lineage.db'}")
    store.ingest_file(write_log(tmp_path / "events.jsonl", events))
    return Mixed(store, ids["spark"], ids["dbt"], ids["dbt_later"])


def test_impact_of_our_curated_version_reaches_the_dbt_model_that_read_it_without_a_version(mixed):
    graph = queries.impact(mixed.store, "curated.users_clean", "C2")
    model = [a for a in graph.artifacts if a.dataset == USERS_MODEL]
    # Both dbt runs started while C2 was the current version of its partition.
    assert sorted(a.version for a in model) == sorted([f"run:{mixed.dbt}", f"run:{mixed.dbt_later}"])
    assert all(a.namespace == WAREHOUSE_NS and a.synthetic for a in model)
    # The later run's model replaced the earlier one's (the table has one slot).
    assert {a.version: a.status for a in model} == {f"run:{mixed.dbt}": "superseded",
                                                    f"run:{mixed.dbt_later}": "current"}
    read = [e for e in graph.edges if e.target == f"r:{mixed.dbt}"]
    assert [(e.source, e.inferred) for e in read] == [("a:user_pipeline|curated.users_clean|ds=2026-01-02|C2", True)]
    dbt = next(r for r in graph.runs if r.run_id == mixed.dbt)
    assert dbt.inferred_reads and dbt.job == USERS_MODEL and dbt.namespace == "dbt"
    # Our own readers named the version: not inferred.
    assert not next(r for r in graph.runs if r.job == "beam_jobs.preprocess").inferred_reads
    # C1 was superseded by C1' (the D1 backfill) before dbt ran: dbt never read it.
    assert USERS_MODEL not in {a.dataset for a in queries.impact(mixed.store, "curated.users_clean", "C1").artifacts}


def test_upstream_of_the_dbt_model_reaches_the_spark_run_that_wrote_its_input(mixed):
    graph = queries.upstream(mixed.store, f"{WAREHOUSE_NS}/{USERS_MODEL}", f"run:{mixed.dbt}")
    assert graph.seeds == [queries.Node(USERS_MODEL, "", f"run:{mixed.dbt}", WAREHOUSE_NS)]
    events_table = [a for a in graph.artifacts if a.dataset == EVENTS_TABLE]
    # Version 12 was current when the dbt run started; 13 came later and is not its input.
    assert [(a.namespace, a.version, a.producers) for a in events_table] == [(WAREHOUSE_NS, "12", [mixed.spark])]
    spark = next(r for r in graph.runs if r.run_id == mixed.spark)
    assert spark.job == "events_loader.load_events.insert_into_events"
    # The Spark parent's name has dots; it is not an Airflow DAG and task.
    assert (spark.dag_id, spark.task_id, spark.parent_job) == (None, None, "spark/events_loader.load_events")
    assert {(a.namespace, a.dataset, a.version, a.external) for a in graph.artifacts if a.namespace == "s3://partner-drops"
            } == {("s3://partner-drops", "events/ds=2026-01-02", "3", True)}
    # ... and through our curated versions current then, back to our own runs and raw drops.
    assert {"C1'", "C2", "C3", "rW1", "rW2", "rW3", "L1", "L2"} <= {a.version for a in graph.artifacts}
    # The later dbt run read version 13, written by the later Spark run; latest() finds it.
    later = queries.upstream(mixed.store, USERS_MODEL)
    assert later.seeds[0].version == f"run:{mixed.dbt_later}"
    assert {a.version for a in later.artifacts if a.dataset == EVENTS_TABLE} == {"13"}



def test_no_phantom_versions_and_unversioned_reads_counted_as_readers(mixed):
    clean = queries.versions(mixed.store, "curated.users_clean")
    assert "" not in {v.version for v in clean}
    assert {(v.partition, v.version): v.inferred_readers for v in clean if v.inferred_readers} == {
        ("ds=2026-01-01", "C1'"): 2, ("ds=2026-01-02", "C2"): 2, ("ds=2026-01-03", "C3"): 2}
    table = queries.versions(mixed.store, EVENTS_TABLE)
    assert [(v.namespace, v.version, v.readers, v.current) for v in table] == [
        (WAREHOUSE_NS, "12", 1, False), (WAREHOUSE_NS, "13", 1, True)]
    model = queries.versions(mixed.store, f"{WAREHOUSE_NS}/{USERS_MODEL}")
    assert [(v.version, v.synthetic, v.current) for v in model] == [
        (f"run:{mixed.dbt}", True, False), (f"run:{mixed.dbt_later}", True, True)]
    # The JDBC source, which nothing recorded wrote, is a known dataset without any version.
    accounts = "postgres://crm.internal:5432/crm.public.accounts"
    assert queries.versions(mixed.store, accounts) == []
    with pytest.raises(queries.LineageLookupError, match="crm.public.accounts has no recorded version"):
        queries.resolve(mixed.store, accounts)
    report = queries.check(mixed.store)
    assert report.problems == 0
    assert [(u["namespace"], u["dataset"], u["side"], u["runs"], u["unlinked"]) for u in report.unversioned] == [
        (WAREHOUSE_NS, EVENTS_TABLE, "input", 2, 0), (WAREHOUSE_NS, USERS_MODEL, "output", 2, 0),
        ("postgres://crm.internal:5432", "crm.public.accounts", "input", 2, 2),
        ("user_pipeline", "curated.users_clean", "input", 2, 0)]


def test_datasets_are_named_by_namespace_and_name(mixed):
    # The same name in two namespaces is two datasets; a bare name held by both is refused.
    from tests.lineage import producers as p

    mixed.store.ingest_events(p.spark_run("copy", "2026-03-03T00:00:00Z", "2026-03-03T00:01:00Z",
                                          [p.dataset(p.SPARK, p.S3, "events/ds=2026-01-02", version="3")],
                                          [p.dataset(p.SPARK, "s3://archive", EVENTS_TABLE, version="1")]))
    with pytest.raises(queries.LineageLookupError, match="names several datasets: "
                       "postgres://warehouse.internal:5432/analytics.public.events, s3://archive/analytics.public.events"):
        queries.versions(mixed.store, EVENTS_TABLE)
    assert [v.version for v in queries.versions(mixed.store, EVENTS_TABLE, namespace="s3://archive")] == ["1"]
    assert [v.version for v in queries.versions(mixed.store, f"s3://archive/{EVENTS_TABLE}")] == ["1"]
    graph = queries.downstream(mixed.store, "s3://partner-drops/events/ds=2026-01-02", "3")
    assert {(a.namespace, a.dataset, a.version) for a in graph.artifacts if a.dataset == EVENTS_TABLE} == {
        (WAREHOUSE_NS, EVENTS_TABLE, "12"), ("s3://archive", EVENTS_TABLE, "1")}
    with pytest.raises(queries.LineageLookupError, match="unknown dataset 'events/ds=2026-01-02' in namespace 's3://x'"):
        queries.versions(mixed.store, "events/ds=2026-01-02", namespace="s3://x")


@pytest.mark.parametrize(("spec", "expected"), [
    ("curated.users_clean", ("curated.users_clean", None)),
    ("curated.users_clean@C1'", ("curated.users_clean", "C1'")),
    ("s3://bucket/raw/events@3", ("s3://bucket/raw/events", "3")),
    ("postgres://db:5432/shop.public.orders@run:0190-ab", ("postgres://db:5432/shop.public.orders", "run:0190-ab")),
    ("abfss://c@acct.dfs.core.windows.net/raw/x", ("abfss://c@acct.dfs.core.windows.net/raw/x", None)),
    ("abfss://c@acct.dfs.core.windows.net/raw/x@v2", ("abfss://c@acct.dfs.core.windows.net/raw/x", "v2")),
    ("user@events@", ("user@events", None)),
    ("user@events@v3", ("user@events", "v3")),
])
def test_artifact_syntax(spec, expected):
    assert queries.parse_artifact(spec) == expected
