"""Ingest into the lineage store: idempotent, order-independent, incremental, forgiving."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import sqlalchemy as sa
from openlineage.client.serde import Serde

from bench.lineage_synth import EventFactory, ds, ver
from lineage import queries
from lineage.catalog import Catalog, PartitionRef, Producer
from lineage.emit import LineageEmitter, ParentRun, step_run
from lineage.spool import Spool, index_spool
from lineage.store import LineageStore, normalise_time, run_inputs, run_outputs, runs, schema
from lineage.store import ingest as ingest_module
from lineage.store.schema import unversioned_inputs
from tests.lineage import producers as p
from tests.lineage.test_queries import mixed_events

DAY = "2026-01-01"


def _chain(f: EventFactory, day: str = DAY, n: int = 1) -> list[dict]:
    """ingest -> clean -> train for one day (6 events, 3 runs)."""
    raw, ingested = ds("raw.users_web", day, f"raw{n}"), ds("staging.users_ingested", day, f"ing{n}")
    clean = ds("curated.users_clean", day, f"clean{n}")
    return (f.run("beam_jobs.ingest", "ingest", day, [raw], [ingested])
            + f.run("beam_jobs.clean", "clean", day, [ingested], [clean])
            + f.run("user_pipeline.training.train", "train", day, [clean], [ver("models.job_seeker", f"model{n}")]))


def _write(path: Path, events: list[dict], mode: str = "w") -> Path:
    with path.open(mode) as fh:
        fh.writelines(json.dumps(e) + "\n" for e in events)
    return path


def _store(tmp_path: Path, name: str = "lineage.db") -> LineageStore:
    return LineageStore(f"sqlite:///{tmp_path / name}")


def _rows(store: LineageStore) -> dict[str, list[tuple]]:
    """Every derived row, sorted: what ingest order must not change."""
    with store.connect() as conn:
        return {t.name: sorted(tuple(r) for r in conn.execute(sa.select(t)))
                for t in (runs, run_inputs, run_outputs, unversioned_inputs)}


def test_ingesting_the_same_file_twice_changes_nothing(tmp_path, make_store):
    log = _write(tmp_path / "events.jsonl", _chain(EventFactory()))
    store = make_store()
    first = store.ingest_file(log)
    counts = store.counts()
    assert (first.events_new, counts["runs"], counts["run_inputs"], counts["run_outputs"]) == (6, 3, 3, 3)
    again = store.ingest_file(log)
    assert (again.lines, again.events_new) == (0, 0) and store.counts() == counts
    # Reading every line again, or the same events from another file, stores nothing new.
    whole = store.ingest_file(log, from_start=True)
    assert (whole.events_new, whole.events_known, whole.duplicates) == (0, 6, 0)
    copy = store.ingest_file(_write(tmp_path / "copy.jsonl", [json.loads(x) for x in log.read_text().splitlines()]))
    assert (copy.events_new, copy.duplicates) == (0, 6)
    assert store.counts() | {"ingest_issues": 0} == counts | {"ingest_issues": 0}


def test_complete_before_start_gives_the_same_rows(tmp_path, make_store):
    events = _chain(EventFactory())
    in_order, reversed_ = make_store("a.db"), make_store("b.db")
    in_order.ingest_file(_write(tmp_path / "a.jsonl", events))
    reversed_.ingest_file(_write(tmp_path / "b.jsonl", events[::-1]))
    assert _rows(in_order) == _rows(reversed_)
    # And across ingests: the COMPLETEs first, the STARTs appended later.
    split = make_store("c.db")
    log = _write(tmp_path / "c.jsonl", [e for e in events if e["eventType"] == "COMPLETE"])
    split.ingest_file(log)
    assert {r[3] for r in _rows(split)["runs"]} == {"COMPLETE"}
    _write(log, [e for e in events if e["eventType"] == "START"], mode="a")
    split.ingest_file(log)
    assert _rows(split) == _rows(in_order)


def test_a_run_without_a_terminal_event_is_incomplete(tmp_path, make_store):
    f = EventFactory()
    events = f.run("beam_jobs.ingest", "ingest", DAY, [ds("raw.users_web", DAY, "r")],
                   [ds("staging.users_ingested", DAY, "i")], complete=False)
    store = make_store()
    store.ingest_file(_write(tmp_path / "events.jsonl", events))
    with store.connect() as conn:
        row = conn.execute(sa.select(runs)).mappings().one()
        assert (row["state"], row["terminal"], row["end_time"]) == ("START", False, None)
        assert conn.execute(sa.select(sa.func.count()).select_from(run_outputs)).scalar() == 0  # nothing committed
    assert [r["job_name"] for r in queries.check(store).incomplete_runs] == ["beam_jobs.ingest"]


def test_malformed_lines_are_reported_with_their_line_numbers_and_skipped(tmp_path, make_store):
    good = _chain(EventFactory())
    log = tmp_path / "events.jsonl"
    lines = [json.dumps(good[0]), "not json at all", json.dumps(good[1])[:80], "[1, 2]",
             json.dumps({**good[2], "run": {"facets": {}}}), "", json.dumps({**good[2], "eventTime": "yesterday"}),
             json.dumps(good[1])]
    log.write_text("\n".join(lines) + "\n")
    store = make_store()
    report = store.ingest_file(log)
    assert [(i.line, i.kind) for i in report.issues] == [(2, "malformed"), (3, "malformed"), (4, "malformed"),
                                                         (5, "malformed"), (7, "malformed")]
    assert "invalid JSON" in report.issues[0].detail and "runId" in report.issues[3].detail
    assert str(report.issues[0]).startswith(f"{log}:2: malformed")
    assert report.events_new == 2
    assert [(i["line"], i["kind"]) for i in queries.check(store).malformed_lines] == [
        (2, "malformed"), (3, "malformed"), (4, "malformed"), (5, "malformed"), (7, "malformed")]
    # Reading the file again does not report the same lines twice.
    store.ingest_file(log, from_start=True)
    assert len(queries.check(store).malformed_lines) == 5


def test_incremental_ingest_reads_only_what_was_appended(tmp_path, monkeypatch, make_store):
    f = EventFactory()
    log = _write(tmp_path / "events.jsonl", _chain(f, n=1))
    store = make_store()
    store.ingest_file(log)
    size = log.stat().st_size
    _write(log, _chain(f, day="2026-01-02", n=2), mode="a")
    parsed = []
    real = ingest_module.parse_event
    monkeypatch.setattr(ingest_module, "parse_event", lambda body, raw=None: parsed.append(1) or real(body, raw))
    report = store.ingest_file(log)
    assert (report.lines, report.events_new, report.bytes_read) == (6, 6, log.stat().st_size - size)
    assert len(parsed) == 6  # the first six lines were not read again
    assert store.counts()["runs"] == 6


def test_an_unterminated_last_line_waits_for_its_newline(tmp_path, make_store):
    events = _chain(EventFactory())
    log = tmp_path / "events.jsonl"
    text = "".join(json.dumps(e) + "\n" for e in events[:5])
    log.write_text(text + json.dumps(events[5])[:100])  # the writer is mid-append
    store = make_store()
    report = store.ingest_file(log)
    assert report.pending_tail and report.events_new == 5 and not report.issues
    log.write_text(text + json.dumps(events[5]) + "\n")
    report = store.ingest_file(log)
    assert report.events_new == 1 and not report.issues and not report.pending_tail


def test_a_truncated_or_rotated_file_is_read_again(tmp_path, make_store):
    f = EventFactory()
    log = _write(tmp_path / "events.jsonl", _chain(f, n=1) + _chain(f, day="2026-01-02", n=2))
    store = make_store()
    store.ingest_file(log)
    _write(log, _chain(f, day="2026-01-03", n=3))  # rotated: a new, shorter file
    report = store.ingest_file(log)
    assert "shorter" in report.restarted and report.events_new == 6
    bigger = _chain(f, day="2026-01-04", n=4) * 3  # rewritten, longer than before, new head
    _write(log, bigger)
    report = store.ingest_file(log)
    assert "changed" in report.restarted and report.events_new == 6 and report.events_known == 12
    assert store.counts()["runs"] == 12


def test_unknown_facets_are_kept_in_the_raw_event(tmp_path, make_store):
    events = _chain(EventFactory())
    events[1]["run"]["facets"]["myTeamFacet"] = {"owner": "data-eng", "_producer": "x", "_schemaURL": "y"}
    store = make_store()
    store.ingest_file(_write(tmp_path / "events.jsonl", events))
    with store.connect() as conn:
        raw = conn.execute(sa.select(schema.events.c.raw).where(
            schema.events.c.event_type == "COMPLETE").limit(1)).scalar_one()
    assert json.loads(raw)["run"]["facets"]["myTeamFacet"]["owner"] == "data-eng"


def _emitted(cfg, memory_lineage, **step_args):
    client, transport = memory_lineage
    emitter = LineageEmitter(cfg, client=client)
    source = PartitionRef("staging.users_ingested", "ds", DAY, "v-in")
    with step_run(cfg, "beam_jobs.clean", [source], emitter=emitter, nominal_date=DAY, **step_args) as run:
        manifest = Catalog(cfg).write_table(
            "curated.users_clean", DAY, pa.table({"id": ["a", "b"]}),
            producer=Producer("beam_jobs.clean", run.run_id), inputs=[source], code_version="c",
        )
        run.add_output(manifest)
    return transport.events, manifest


def _parent():
    return ParentRun("user_pipeline", "user_pipeline.clean", "0190aaaa-0000-7000-8000-000000000001",
                     "user_pipeline", "user_pipeline", "0190aaaa-0000-7000-8000-000000000002",
                     dag_run_id="scheduled__2026-01-01T00:00:00+00:00", logical_date="2026-01-01T00:00:00+00:00",
                     try_number=1)


def test_events_of_the_real_emitter_are_ingested(cfg, memory_lineage, tmp_path, make_store):
    emitted, manifest = _emitted(cfg, memory_lineage, parent=_parent())
    store = make_store()
    report = store.ingest_events(emitted)
    assert report.events_new == 2 and not report.issues
    with store.connect() as conn:
        run = conn.execute(sa.select(runs)).mappings().one()
        output = conn.execute(sa.select(run_outputs)).mappings().one()
        read = conn.execute(sa.select(run_inputs)).mappings().one()
    assert (run["state"], run["dag_id"], run["task_id"], run["logical_date"]) == (
        "COMPLETE", "user_pipeline", "clean", "2026-01-01T00:00:00+00:00")
    assert run["parent_job_name"] == "user_pipeline.clean" and run["root_run_id"].endswith("0002")
    assert (output["dataset"], output["partition"], output["version"], output["row_count"]) == (
        "curated.users_clean", f"ds={DAY}", manifest.version, 2)
    assert (read["dataset"], read["partition"], read["version"]) == ("staging.users_ingested", f"ds={DAY}", "v-in")


def test_synthetic_events_have_the_shape_of_the_emitters(cfg, memory_lineage):
    from openlineage.client.serde import Serde

    real = [json.loads(Serde.to_json(e)) for e in _emitted(cfg, memory_lineage, parent=_parent())[0]]
    fake = EventFactory().run("beam_jobs.clean", "clean", DAY, [ds("staging.users_ingested", DAY, "v-in")],
                              [ds("curated.users_clean", DAY, "v-out")])

    def shape(event):
        return {
            "top": sorted(event), "run": sorted(event["run"]["facets"]), "job": sorted(event["job"]["facets"]),
            "in": [sorted(d["facets"]) for d in event["inputs"]],
            "out": [sorted(d["facets"]) for d in event["outputs"]],
            "out_stats": [sorted(d.get("outputFacets", {})) for d in event["outputs"]],
            "dag": sorted(event["run"]["facets"]["airflowDagRun"]), "parent": sorted(event["run"]["facets"]["parent"]),
        }

    assert [shape(e) for e in fake] == [shape(e) for e in real]


def test_every_statement_also_compiles_for_postgresql(tmp_path):
    """The store's SQL is the SQLite/PostgreSQL common subset: every statement the story's
    queries execute compiles for PostgreSQL too (a live run: test_store_postgres.py)."""
    from sqlalchemy.dialects import postgresql

    from lineage import backfill
    from tests.lineage.test_queries import story_events

    store = _store(tmp_path)
    seen = []
    sa.event.listen(store.engine, "before_execute",
                    lambda conn, clause, *args: seen.append(clause) if isinstance(clause, sa.ClauseElement) else None)
    events, before_fix = story_events()
    store.ingest_file(_write(tmp_path / "events.jsonl", events))
    queries.impact(store, "reference.spam_labels", "L1", as_of=before_fix)
    queries.upstream(store, "models.job_seeker")
    queries.versions(store, "models.spam_filter")
    queries.snapshot(store, before_fix, dataset="curated.users_clean")
    queries.check(store)
    backfill.plan_fixed(store, "reference.spam_labels")
    assert len(seen) > 30
    dialect = postgresql.dialect()
    for clause in seen:
        clause.compile(dialect=dialect)
    assert any("WITH RECURSIVE" in str(c.compile(dialect=dialect)) for c in seen)


def test_two_ingests_of_one_file_at_once_store_every_event_once(tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(ingest_module, "BATCH_LINES", 7)  # many small transactions, interleaved
    f = EventFactory()
    events = [e for n in range(20) for e in _chain(f, day=f"2026-01-{n + 1:02d}", n=n)]
    log = _write(tmp_path / "events.jsonl", events)
    url = f"sqlite:///{tmp_path / 'lineage.db'}"
    stores = [LineageStore(url), LineageStore(url)]
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda s: s.ingest_file(log), stores))
    assert sum(r.events_new for r in reports) == len(events)
    assert stores[0].counts()["events"] == len(events) and stores[0].counts()["runs"] == 60
    assert _rows(stores[0]) == _rows(_reference_store(tmp_path, log))


def _reference_store(tmp_path: Path, log: Path) -> LineageStore:
    single = _store(tmp_path, "single.db")
    single.ingest_file(log)
    return single


def test_facets_of_the_wrong_type_are_refused_by_line_naming_the_field_and_the_rest_is_stored(tmp_path, make_store):
    events = json.loads(json.dumps(_chain(EventFactory())))  # a START and its COMPLETE share their facets
    events[1]["run"]["facets"]["parent"] = {"run": "not an object", "root": [1, 2]}
    events[3]["run"]["facets"]["airflowDagRun"] = "oops"
    events[5]["outputs"][0]["namespace"] = {"odd": True}
    store = make_store()
    report = store.ingest_file(_write(tmp_path / "events.jsonl", events))
    assert [(i.line, i.kind, i.detail) for i in report.issues] == [
        (2, "malformed", "run.facets.parent.run must be an object, not a string ('not an object')"),
        (4, "malformed", "run.facets.airflowDagRun must be an object, not a string ('oops')"),
        (6, "malformed", "outputs[0].namespace must be a string, not an object ({'odd': True})")]
    assert report.events_new == 3 and store.counts()["run_outputs"] == 0


def test_a_skip_of_a_run_that_writes_nothing_is_recorded_from_its_run_facet(tmp_path, cfg, memory_lineage, make_store):
    client, transport = memory_lineage
    emitter = LineageEmitter(cfg, client=client)
    ref = PartitionRef("curated.users_clean", "ds", DAY, "c1")
    with step_run(cfg, "expectations.gate", [ref], emitter=emitter) as gate:
        gate.skipped, gate.reused = True, "file:///data/curated/users_clean/ds=2026-01-01/_gates/c1.json"
    with step_run(cfg, "expectations.gate", [ref], emitter=emitter) as checked:
        pass
    store = make_store()
    store.ingest_file(_write(tmp_path / "events.jsonl", [json.loads(Serde.to_json(e)) for e in transport.events]))
    with store.connect() as conn:
        skipped = dict(conn.execute(sa.select(runs.c.run_id, runs.c.skipped)).all())
    assert skipped == {gate.run_id: True, checked.run_id: False}


def test_background_checkpoints_move_the_log_into_the_database_file(tmp_path):
    """With ``checkpoint_in_background`` commits never checkpoint; the thread does, and its stop
    leaves an empty write-ahead log. Only the thread can grow the database file here."""
    import time

    store = _store(tmp_path)
    checkpointer = store.checkpoint_in_background(every_s=0.05)
    with store.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    database, wal = tmp_path / "lineage.db", tmp_path / "lineage.db-wal"
    store.checkpoint("TRUNCATE")
    size_before = database.stat().st_size
    f = EventFactory()
    store.ingest_events([e for n in range(200) for e in _chain(f, day=f"2026-01-{n % 28 + 1:02d}", n=n)])
    deadline = time.monotonic() + 10
    while database.stat().st_size == size_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert database.stat().st_size > size_before
    checkpointer.stop()
    assert wal.stat().st_size == 0
    assert store.counts()["events"] == 1200


def test_background_checkpoints_are_sqlite_only(make_store):
    store = make_store()
    if store.dialect == "sqlite":
        checkpointer = store.checkpoint_in_background(every_s=60)
        assert checkpointer is not None and store.checkpoint() is not None
        checkpointer.stop()
    else:
        assert store.checkpoint_in_background() is None and store.checkpoint() is None


# -- other producers, run semantics, delivery by two routes ----------------------------------------
def _by_run(events: list[dict]) -> list[list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for event in events:
        grouped.setdefault(event["run"]["runId"], []).append(event)
    return list(grouped.values())


def test_reads_without_a_version_link_to_the_version_current_then_in_any_ingest_order(tmp_path, make_store):
    events, ids = mixed_events()
    in_order = make_store("a.db")
    in_order.ingest_file(_write(tmp_path / "a.jsonl", events))
    with in_order.connect() as conn:
        linked = conn.execute(sa.select(run_inputs.c.namespace, run_inputs.c.dataset, run_inputs.c.partition,
                                        run_inputs.c.version).where(run_inputs.c.run_id == ids["dbt"],
                                                                    run_inputs.c.inferred.is_(True))).all()
        assert sorted(linked) == [("postgres://warehouse.internal:5432", "analytics.public.events", "", "12"),
                                  ("user_pipeline", "curated.users_clean", "ds=2026-01-01", "C1'"),
                                  ("user_pipeline", "curated.users_clean", "ds=2026-01-02", "C2"),
                                  ("user_pipeline", "curated.users_clean", "ds=2026-01-03", "C3")]
        # No phantom: nothing read or written under an empty version.
        assert conn.execute(sa.select(sa.func.count()).select_from(run_inputs).where(run_inputs.c.version == "")
                            ).scalar() == 0
    # Run by run, last run first, one transaction each: every reader is ingested before the
    # commits it read, and is linked again as each of them arrives.
    backwards = make_store("b.db")
    for group in _by_run(events)[::-1]:
        backwards.ingest_events(group)
    assert _rows(backwards) == _rows(in_order)


def test_a_version_named_on_complete_only_is_the_run_s_one_read_of_that_dataset(make_store):
    start, complete = p.spark_run("job", "2026-03-02T01:00:00Z", "2026-03-02T01:01:00Z",
                                  [p.dataset(p.SPARK, p.S3, "events", version="7")], [])
    start = json.loads(json.dumps(start))  # its own copy of the input
    del start["inputs"][0]["facets"]["version"]
    store = make_store()
    store.ingest_events([start, complete])
    rows = _rows(store)
    assert [(r[1], r[2], r[4], r[5]) for r in rows["run_inputs"]] == [("s3://partner-drops", "events", "7", False)]
    assert rows["unversioned_inputs"] == []


def test_an_output_without_a_version_is_versioned_by_the_run_that_wrote_it(make_store):
    events = p.dbt_run("model", "2026-03-02T01:00:00Z", "2026-03-02T01:01:00Z", [],
                       [p.dataset(p.DBT, p.WAREHOUSE, "analytics.public.model")], invocation=p.run_id(), run="r-1")
    store = make_store()
    store.ingest_events(events)
    with store.connect() as conn:
        row = conn.execute(sa.select(run_outputs)).mappings().one()
    assert (row["namespace"], row["dataset"], row["version"], row["synthetic"]) == (
        p.WAREHOUSE, "analytics.public.model", "run:r-1", True)


def test_airflow_identity_comes_from_airflow_facets_never_from_a_job_name(make_store):
    task_run, dag_run = p.run_id(), p.run_id()
    task = p.airflow_task_run("partner_sync", "load_events", "manual__2026-03-02T00:00:00+00:00",
                              "2026-03-02T00:59:00Z", "2026-03-02T01:05:00Z", run=task_run, dag_run=dag_run)
    app = p.spark_run("events_loader.load_events", "2026-03-02T01:00:00Z", "2026-03-02T01:04:00Z", [], [],
                      parent_run=("default", "partner_sync.load_events", task_run))
    app_run = app[0]["run"]["runId"]
    sql = p.spark_run("events_loader.load_events.insert", "2026-03-02T01:01:00Z", "2026-03-02T01:03:00Z", [],
                      [p.dataset(p.SPARK, p.WAREHOUSE, "analytics.public.events", version="12")],
                      parent_run=("spark", "events_loader.load_events", app_run))
    # Outside Airflow: a Spark run whose parent's name has a dot.
    alone = p.spark_run("events_loader.load_events.insert", "2026-03-02T02:00:00Z", "2026-03-02T02:01:00Z", [], [],
                        parent_run=("spark", "events_loader.load_events", p.run_id()))
    store = make_store()
    # Children first: the task run's identity reaches its job and its job's job when it arrives.
    for group in (alone, sql, app, task):
        store.ingest_events(group)
    with store.connect() as conn:
        found = {r["job_name"] + ("" if r["run_id"] != alone[0]["run"]["runId"] else " (alone)"): (
            r["dag_id"], r["task_id"], r["dag_run_id"], r["try_number"], r["airflow_from"], r["parent_job_namespace"],
            r["parent_job_name"]) for r in conn.execute(sa.select(runs)).mappings()}
    manual = "manual__2026-03-02T00:00:00+00:00"
    assert found == {
        "partner_sync.load_events": ("partner_sync", "load_events", manual, 1, "facet", "default", "partner_sync"),
        "events_loader.load_events": ("partner_sync", "load_events", manual, 1, "parent", "default",
                                      "partner_sync.load_events"),
        "events_loader.load_events.insert": ("partner_sync", "load_events", manual, 1, "parent", "spark",
                                             "events_loader.load_events"),
        "events_loader.load_events.insert (alone)": (None, None, None, None, None, "spark",
                                                     "events_loader.load_events"),
    }
    in_order = make_store("in-order.db")
    in_order.ingest_events(task + app + sql + alone)
    assert _rows(in_order) == _rows(store)


def test_a_run_id_cleared_and_run_again_ends_in_its_last_attempt_s_state_without_a_conflict(make_store):
    """A task cleared or retried under the same run id (the provider's task runs, our DAG-level
    runs under dag.test): START, COMPLETE, START, FAIL, START, COMPLETE. OpenLineage's run
    semantics: the latest terminal event is the run's state; every COMPLETE committed its outputs."""
    f = EventFactory()
    run_id, task_run = f.new_run_id(), p.run_id()
    ingested = ds("staging.users_ingested", DAY, "i")
    clean = "curated.users_clean"
    attempts = (f.run("beam_jobs.clean", "clean", DAY, [ingested], [ds(clean, DAY, "c1")], run_id=run_id)
                + f.run("beam_jobs.clean", "clean", DAY, [ingested], [], run_id=run_id, fail="OSError: disk full")
                + f.run("beam_jobs.clean", "clean", DAY, [ingested], [ds("curated.users_clean", DAY, "c2")],
                        run_id=run_id))
    task = (p.airflow_task_run("partner_sync", "load", "manual__1", "2026-03-02T00:00:00Z", "2026-03-02T00:01:00Z",
                               run=task_run, dag_run="d", state="FAIL")
            + p.airflow_task_run("partner_sync", "load", "manual__1", "2026-03-02T00:02:00Z", "2026-03-02T00:03:00Z",
                                 run=task_run, dag_run="d"))
    store = make_store()
    store.ingest_events(attempts + task)
    with store.connect() as conn:
        states = dict(conn.execute(sa.select(runs.c.run_id, runs.c.state)).all())
        committed = conn.execute(sa.select(run_outputs.c.version).order_by(run_outputs.c.version)).scalars().all()
    assert (states[run_id], states[task_run], committed) == ("COMPLETE", "COMPLETE", ["c1", "c2"])
    report = queries.check(store)
    assert report.conflicting_runs == [] and report.problems == 0 and report.incomplete_runs == []
    assert [r["event_type"] for r in report.failed_runs] == ["FAIL", "FAIL"]  # facts, not problems
    # As it stood after the second attempt: failed.
    between = queries.check(store, as_of=attempts[3]["eventTime"])
    assert [(r["run_id"], r["event_type"]) for r in between.failed_runs] == [(run_id, "FAIL")]
    with store.connect() as conn:
        assert queries.load_runs(conn, [run_id], normalise_time(attempts[3]["eventTime"]))[run_id].state == "FAIL"


def test_one_event_delivered_by_two_routes_and_read_twice_is_one_event(tmp_path, make_store):
    """The README's production wiring: a composite transport posts every event to lineage serve
    (its spool, indexed into the store) and appends it to the JSONL log, which every CLI command
    ingests; the log is also read again from the start, and a copy of it is read."""
    events, _ = mixed_events()
    store = make_store()
    spool = Spool(tmp_path / "spool", "sqlite:///x")
    for event in events:  # the HTTP transport's bytes: other whitespace and key order than the file's
        spool.append(json.dumps(event, indent=1, sort_keys=True).replace("\n", " ").encode() + b"\n")
    index_spool(store, spool.folder, {})
    spool.close()
    log = _write(tmp_path / "events.jsonl", events)
    reports = [store.ingest_file(log), store.ingest_file(log, from_start=True),
               store.ingest_file(_write(tmp_path / "copy.jsonl", events))]
    assert [(r.events_new, r.duplicates, r.issues) for r in reports] == [(0, len(events), [])] * 3
    assert store.counts()["events"] == len(events) and store.counts()["ingest_issues"] == 0
    report = queries.check(store)
    assert (report.problems, report.conflicting_runs, report.malformed_lines) == (0, [], [])


def test_a_version_less_read_of_one_partition_links_to_that_partition_s_version(make_store):
    from tests.lineage.test_queries import story_events

    one_day = p.dataset(p.DBT, "user_pipeline", "curated.users_clean")
    one_day["facets"]["partition"] = {"_producer": p.DBT, "_schemaURL": "x", "key": "ds", "value": "2026-01-02",
                                      "uri": "/data/curated/users_clean/ds=2026-01-02"}
    reader = p.dbt_run("analytics.public.day_model", "2026-03-02T00:00:00Z", "2026-03-02T00:01:00Z", [one_day], [],
                       invocation=p.run_id(), run="day-reader")
    store = make_store()
    store.ingest_events(reader)  # before what it read: linked when the commits arrive
    store.ingest_events(story_events()[0])
    with store.connect() as conn:
        linked = conn.execute(sa.select(run_inputs.c.partition, run_inputs.c.version, run_inputs.c.inferred).where(
            run_inputs.c.run_id == "day-reader")).all()
    assert linked == [("ds=2026-01-02", "C2", True)]
