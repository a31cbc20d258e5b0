"""The whole DAG on small generated data, through Airflow's ``dag.test`` (slow: marked e2e)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa

from lineage import queries
from lineage.catalog import Catalog
from lineage.store import LineageStore, runs
from tests.e2e.two_days import DATES, run_local
from user_pipeline.config import load_config
from user_pipeline.reports import paths
from user_pipeline.steps.registry import DAILY, steps

# The fixture runs whole DAGs (two dates, the model DAGs first): longer than the default timeout.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

# The daily steps that commit data (the registry's declarations, not a list of our own).
STEPS = [s for s in steps(DAILY) if s.writes]


@pytest.fixture(scope="module")
def pipeline_run(two_days):
    """Two small days through the DAG (the session's ``two_days``, events over HTTP to ``lineage
    serve`` and to the JSONL log), then the first date again."""
    cfg = load_config(two_days.config)
    catalog = Catalog(cfg)
    versions_before = _versions(catalog)
    rerun = run_local(two_days.env, "--no-generate", "--days", "1")
    assert rerun.returncode == 0, rerun.stdout[-4000:] + rerun.stderr[-4000:]
    return (cfg, catalog, versions_before, two_days.stdout, rerun.stdout, two_days.env, two_days.config,
            two_days.url, two_days.served_store)


def _versions(catalog: Catalog) -> dict[tuple[str, str], str]:
    out = {}
    for dataset in catalog.cfg.datasets:
        for value in catalog.committed(dataset):
            out[(dataset, value)] = catalog.require(dataset, value).version
    return out


def _events(cfg):
    log = cfg.openlineage_log_paths()[0]
    return [json.loads(line) for line in Path(log).read_text().splitlines() if line.strip()]


def test_every_step_committed_its_outputs_for_every_date(pipeline_run):
    cfg, catalog, _, stdout, *_ = pipeline_run
    for ds in DATES:
        for step in STEPS:
            for dataset in step.writes:
                if cfg.dataset(dataset).partitioning == "ds":
                    assert catalog.manifest(dataset, ds) is not None, (step.name, dataset, ds)
    assert catalog.committed("models.transform_fn") and catalog.committed("models.job_seeker")
    assert "success" in stdout and "lineage:" in stdout
    for ds in DATES:  # the run report links what the date committed
        page = Path(cfg.data_root) / "reports" / "runs" / f"ds={ds}" / "index.html"
        shown = json.loads(re.search(r'id="data">(.*?)</script>', page.read_text(), re.S).group(1))["datasets"]
        for dataset in ("curated.users_clean", "evaluation.job_seeker_slices"):
            assert shown[dataset]["version"] == catalog.require(dataset, ds).version
        assert shown["curated.users_clean"]["gate"] == "passed"
        stats_dir = Path(paths.statistics_dir(cfg, "curated.users_clean", f"ds={ds}"))
        assert (stats_dir / paths.STATISTICS_PAGE).exists()


def test_ingest_accounts_for_every_line(pipeline_run):
    _, catalog, *_ = pipeline_run
    for ds in DATES:
        users = catalog.require("staging.users_ingested", ds)
        dead = catalog.require("staging.ingest_dead_letter", ds)
        assert users.extra["lines_read"] == users.row_count + dead.row_count
        assert dead.row_count > 0  # the generator breaks some rows on purpose
        kept = catalog.require("staging.users_despammed", ds)
        quarantined = catalog.require("staging.spam_quarantine", ds)
        assert users.row_count == kept.row_count + quarantined.row_count
        assert quarantined.row_count > 0  # the generator makes spam accounts
        # ID-merge maps every kept record once, and its canonical users account for all of them.
        id_map = catalog.read_table("staging.id_map", ds).to_pandas()
        merged = catalog.read_table("staging.users_merged", ds, columns=["canonical_id", "merged_records"]).to_pandas()
        assert len(id_map) == kept.row_count and id_map["source_record_id"].is_unique
        assert merged["merged_records"].sum() == kept.row_count
        assert set(merged["canonical_id"]) == set(id_map["canonical_id"])
        assert len(merged) < kept.row_count  # the generator sends some people twice
        assert catalog.require("curated.users_clean", ds).row_count == len(merged)


def _pairs(groups: pd.Series) -> int:
    sizes = groups.value_counts()
    return int((sizes * (sizes - 1) // 2).sum())


def test_id_merge_finds_the_same_people_across_sources_and_days(pipeline_run):
    """Pairwise precision and recall of the canonical ids of both dates against the generator's
    person ids: a person whose second record arrives a day later keeps the first day's id."""
    cfg, catalog, *_ = pipeline_run
    mapped = pd.concat([catalog.read_table("staging.id_map", ds, columns=["source_record_id", "canonical_id", "ds"])
                        .to_pandas() for ds in DATES])
    truth = pd.concat([pd.read_parquet(Path(cfg.data_root) / "ground_truth" / f"ds={ds}" / "records.parquet",
                                       columns=["source_record_id", "person_id"]) for ds in DATES])
    both = mapped.merge(truth, on="source_record_id", how="left", validate="one_to_one")
    assert both["person_id"].notna().all()
    true_pairs, found_pairs = _pairs(both["person_id"]), _pairs(both["canonical_id"])
    correct = _pairs(both["person_id"] + "|" + both["canonical_id"])
    precision, recall = correct / found_pairs, correct / true_pairs
    assert true_pairs > 20 and precision > 0.95 and recall > 0.95, (true_pairs, found_pairs, correct)
    across_days = both.groupby("person_id").filter(lambda g: g["ds"].nunique() > 1)
    assert len(across_days) > 0 and across_days.groupby("person_id")["canonical_id"].nunique().eq(1).mean() > 0.95


def test_id_merge_names_the_matcher_it_scored_with(pipeline_run):
    cfg, catalog, *_ = pipeline_run
    matcher = catalog.require("models.id_matcher", catalog.committed("models.id_matcher")[-1])
    for event in _events(cfg):
        if event["job"]["name"] == "beam_jobs.id_merge" and event["eventType"] == "START":
            versions = {i["name"]: i["facets"]["version"]["datasetVersion"] for i in event["inputs"]}
            assert versions["models.id_matcher"] == matcher.version


def test_every_job_run_has_start_and_complete_and_a_parent_airflow_task(pipeline_run):
    cfg, *_ = pipeline_run
    events = _events(cfg)
    by_run = defaultdict(list)
    for event in events:
        by_run[event["run"]["runId"]].append(event)
    airflow_task_runs = {
        e["run"]["runId"]: e["job"]["name"] for e in events if e["job"]["name"].startswith("user_pipeline.")
    }
    job_runs = [run for run in by_run.values() if run[0]["job"]["name"] in {s.job for s in STEPS}]
    assert len(job_runs) >= len(STEPS) * len(DATES)
    tasks = {s.job: s.name for s in STEPS}
    for run in job_runs:
        assert [e["eventType"] for e in run] == ["START", "COMPLETE"], run[0]["job"]["name"]
        parent = run[0]["run"]["facets"]["parent"]
        assert parent["job"]["name"] == f"user_pipeline.{tasks[run[0]['job']['name']]}"
        assert airflow_task_runs[parent["run"]["runId"]] == parent["job"]["name"]
        assert parent["root"]["job"]["name"] == "user_pipeline"
        assert run[0]["run"]["facets"]["airflowDagRun"]["dagRunId"]


def test_each_consumer_reads_the_version_its_producer_last_wrote(pipeline_run):
    cfg, *_ = pipeline_run
    latest = {}  # (dataset, partition) -> the version of the last COMPLETE that wrote it
    checked = 0
    for event in _events(cfg):  # the log is append-only, in emission order
        if event["eventType"] == "START" and event["job"]["name"] in {s.job for s in STEPS[1:]}:
            for inp in event["inputs"]:
                key = (inp["name"], inp["facets"]["partition"]["value"])
                if key in latest:
                    assert inp["facets"]["version"]["datasetVersion"] == latest[key], key
                    checked += 1
        if event["eventType"] == "COMPLETE":
            for out in event["outputs"]:
                latest[(out["name"], out["facets"]["partition"]["value"])] = out["facets"]["version"]["datasetVersion"]
    assert checked >= 3 * len(DATES)


def test_rerunning_a_date_yields_the_same_versions(pipeline_run):
    _, catalog, before, _, rerun, *_ = pipeline_run
    after = _versions(catalog)
    day_one = {k: v for k, v in before.items() if k[1] == DATES[0]}
    assert day_one and all(after[k] == v for k, v in day_one.items())
    assert "success" in rerun


def test_the_events_went_over_http_to_lineage_serve_which_answers_impact_like_the_log(pipeline_run, tmp_path):
    """Production wiring: every event the DAG runs emitted (Airflow's tasks and our jobs) reached
    ``lineage serve`` through the http transport, and its impact answer over HTTP is the one the
    JSONL log (the composite's other half) gives."""
    cfg, catalog, *_, url, served_store = pipeline_run
    assert httpx.get(f"{url}/api/v1/health", params={"wait": "true"}, timeout=120).json()["behind_bytes"] == 0
    from_log = LineageStore(f"sqlite:///{tmp_path / 'from_log.db'}")
    from_log.ingest_files(cfg.openlineage_log_paths())
    served = LineageStore(f"sqlite:///{served_store}")
    assert served.counts()["events"] == from_log.counts()["events"] == len(_events(cfg)) > 0
    jobs = {e["job"]["name"] for e in _events(cfg)}
    assert "user_pipeline.ingest" in jobs and "beam_jobs.ingest" in jobs  # Airflow's provider and our jobs
    with served.connect() as conn:
        served_jobs = {j for (j,) in conn.execute(sa.select(runs.c.job_name).distinct())}
    assert served_jobs == jobs

    version = catalog.require("staging.users_ingested", DATES[0]).version
    over_http = httpx.get(f"{url}/api/v1/impact", params={"artifact": f"staging.users_ingested@{version}"},
                          timeout=120)
    assert over_http.status_code == 200, over_http.text
    expected = queries.impact(from_log, "staging.users_ingested", version).to_json()

    def summary(graph):
        return (sorted((a["dataset"], a["version"], a["status"]) for a in graph["artifacts"]),
                sorted((r["run_id"], r["state"]) for r in graph["runs"]))

    assert summary(over_http.json()) == summary(expected)
    assert {"curated.users_clean", "features.users_transformed"} <= {a["dataset"] for a in expected["artifacts"]}


def test_a_failing_gate_stops_the_date_and_a_fixed_drop_passes(pipeline_run):
    """A day with duplicated ids fails the staging gate: nothing downstream is written for it,
    the lineage carries the failed assertion; regenerating the day correctly lets it through."""
    cfg, catalog, *_, env, config, _, _ = pipeline_run
    bad_day = "2026-01-03"
    generate = [sys.executable, "-m", "user_pipeline.datagen.generate", "--config", str(config),
                "--start-date", bad_day,
                "--days", "1"]
    subprocess.run([*generate, "--bad-drop", "duplicate_ids"], env=env, check=True, capture_output=True)
    failed = run_local(env, "--no-generate", "--start-date", bad_day, "--days", "1")
    assert failed.returncode == 1
    assert catalog.manifest("staging.users_ingested", bad_day) is not None
    assert catalog.manifest("curated.users_clean", bad_day) is None
    # The run report is written for the failed date too, and shows the failed gate.
    report = (Path(cfg.data_root) / "reports" / "runs" / f"ds={bad_day}" / "index.html").read_text()
    assert "gates failed: staging.users_ingested" in report
    gate_fail = [e for e in _events(cfg) if e["job"]["name"] == "expectations.gate" and e["eventType"] == "FAIL"]
    assertions = gate_fail[-1]["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
    assert any(a["name"] == "source_record_id.unique" and not a["success"] for a in assertions)

    subprocess.run(generate, env=env, check=True, capture_output=True)
    fixed = run_local(env, "--no-generate", "--start-date", bad_day, "--days", "1")
    assert fixed.returncode == 0, fixed.stdout[-3000:] + fixed.stderr[-3000:]
    assert catalog.manifest("curated.users_clean", bad_day) is not None
