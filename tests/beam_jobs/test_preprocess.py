"""The preprocess job on two synthetic days: outputs, split, lineage, content-addressed skip."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from lineage.catalog import Catalog
from tests.user_pipeline.training.synthetic_users import clean_users, commit_day, isolated_environment, write_config
from transforms.schema import USERS_TRANSFORMED
from user_pipeline.config import load_config

pytestmark = pytest.mark.tf

DAYS = ("2026-01-02", "2026-01-03")  # the 3-day window of 2026-01-03 misses 2026-01-01
ROWS_PER_DAY = 300


def events(cfg) -> list[dict]:
    path = Path(cfg.data_root) / "lineage" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def job_events(cfg, job: str) -> list[dict]:
    return [e for e in events(cfg) if e["job"]["name"] == job]


def versions(datasets: list[dict]) -> list[tuple[str, str, str]]:
    return [
        (d["name"], f"{d['facets']['partition']['key']}={d['facets']['partition']['value']}",
         d["facets"]["version"]["datasetVersion"])
        for d in datasets
    ]


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """Two committed days of users + outcomes, and the first preprocess run over them."""
    from beam_jobs import preprocess

    with isolated_environment():
        config_path = write_config(tmp_path_factory.mktemp("preprocess"))
        cfg = load_config(config_path)
        committed = [commit_day(cfg, day, ROWS_PER_DAY) for day in DAYS]
        manifests = preprocess.run(["--ds", DAYS[-1], "--config", str(config_path)]).outputs
        yield cfg, config_path, committed, manifests


def test_outputs_are_committed_with_manifests(first_run):
    cfg, _, _, (features_manifest, transform_fn_manifest, _) = first_run
    catalog = Catalog(cfg)
    assert catalog.committed("features.users_transformed") == [DAYS[-1]]
    assert catalog.committed("models.transform_fn") == [transform_fn_manifest.version]
    assert features_manifest.extra["transform_fn_version"] == transform_fn_manifest.version
    assert transform_fn_manifest.version_method == "derivation"

    table = catalog.read_table("features.users_transformed", DAYS[-1])
    assert table.schema.equals(USERS_TRANSFORMED)
    assert table.num_rows == features_manifest.row_count
    assert pc.count_distinct(table.column("source_record_id")).as_py() == table.num_rows
    run_folder = {name.split("/")[0] for name in transform_fn_manifest.files}.pop()
    assert {name.split("/")[1] for name in transform_fn_manifest.files} == {
        "transform_fn", "transformed_metadata", "metadata"
    }, f"{run_folder}: TFT outputs plus the raw schema, and no scratch files"


def test_only_labelled_rows_are_training_rows_and_the_rest_are_counted(first_run):
    cfg, _, _, (features_manifest, _, _) = first_run
    users = pa.concat_tables([clean_users(day, ROWS_PER_DAY)[0] for day in DAYS])
    outcomes = pa.concat_tables([clean_users(day, ROWS_PER_DAY)[1] for day in DAYS])
    labelled = pc.is_in(users.column("source_record_id"), value_set=outcomes.column("source_record_id"))
    n_labelled = pc.sum(labelled).as_py()
    assert features_manifest.row_count == n_labelled
    assert features_manifest.extra["unlabelled_rows"] == users.num_rows - n_labelled > 0
    assert features_manifest.extra["missing_days"]["curated.users_clean"] == ["2026-01-01"]


def test_splits_are_balanced_persisted_and_reported(first_run):
    cfg, _, _, (features_manifest, _, assignments_manifest) = first_run
    catalog = Catalog(cfg)
    table = catalog.read_table("features.users_transformed", DAYS[-1])
    assignments = catalog.read_table("features.split_assignments", DAYS[-1])
    assert sorted(table.column("source_record_id").to_pylist()) == sorted(
        assignments.column("source_record_id").to_pylist())  # the first assignment run: exactly the labelled ids
    chosen = dict(zip(assignments["source_record_id"].to_pylist(), assignments["split"].to_pylist(), strict=True))
    assert [chosen[i] for i in table["source_record_id"].to_pylist()] == table["split"].to_pylist()
    report = features_manifest.extra["split_report"]
    assert report["within_tolerance"] and report["rows"] == table.num_rows
    for name, fraction in cfg.preprocess.split_fractions.items():
        rows = pc.sum(pc.equal(table.column("split"), name)).as_py()
        assert rows == features_manifest.extra[f"{name}_rows"] == report["splits"][name]["rows"]
        assert abs(rows - fraction * table.num_rows) <= report["strata"]
    assert assignments_manifest.extra["assigned_today"] == assignments.num_rows


def test_lineage_names_input_and_output_versions(first_run):
    cfg, _, committed, manifests = first_run
    start, complete = job_events(cfg, "beam_jobs.preprocess")[:2]
    assert (start["eventType"], complete["eventType"]) == ("START", "COMPLETE")
    assert start["run"]["runId"] == complete["run"]["runId"]
    users, outcomes = zip(*committed, strict=True)
    expected_inputs = [(m.dataset, m.partition, m.version) for m in users + outcomes]
    assert versions(start["inputs"]) == expected_inputs
    assert versions(complete["inputs"]) == expected_inputs
    assert versions(complete["outputs"]) == [(m.dataset, m.partition, m.version) for m in manifests]
    window = complete["run"]["facets"]["trainingWindow"]
    assert window["missingUsersDays"] == ["2026-01-01"]
    assert window["unlabelledRows"] == manifests[0].extra["unlabelled_rows"]
    assert manifests[0].inputs == [{"dataset": d, "partition": p, "version": v} for d, p, v in expected_inputs]


def test_rerun_with_same_inputs_and_code_skips(first_run):
    from beam_jobs import preprocess

    cfg, config_path, _, manifests = first_run
    with isolated_environment():
        again = preprocess.run(["--ds", DAYS[-1], "--config", str(config_path)]).outputs
    assert [(m.version, m.committed_at) for m in again] == [(m.version, m.committed_at) for m in manifests]
    complete = job_events(cfg, "beam_jobs.preprocess")[-1]
    assert complete["eventType"] == "COMPLETE"
    assert [o["facets"]["manifest"]["skipped"] for o in complete["outputs"]] == [True, True, True]


def test_force_recomputes_the_same_features_version(first_run):
    """The recomputed features are bit-identical, so the row-multiset content version is equal:
    on the DirectRunner with one worker the analysers (mean/variance, vocabulary counts) combine
    the same batches in the same order. (With several workers the floating-point merge order of the
    mean/variance accumulators may vary, which can change the last bit of a z-score and with it
    the content version; nothing else in the job depends on scheduling.) The transform_fn's
    bytes do differ run to run (TF writes fresh object ids and fingerprints into each
    SavedModel), which is why it is versioned by derivation instead."""
    from beam_jobs import preprocess

    cfg, config_path, _, (features_manifest, transform_fn_manifest, _) = first_run
    with isolated_environment():
        forced = preprocess.run(["--ds", DAYS[-1], "--config", str(config_path), "--force"]).outputs
    assert forced[0].version == features_manifest.version
    assert forced[1].version == transform_fn_manifest.version
    assert forced[2].version == first_run[3][2].version  # the same assignments
    assert forced[0].producer["run_id"] != features_manifest.producer["run_id"]
    assert job_events(cfg, "beam_jobs.preprocess")[-1]["outputs"][0]["facets"]["manifest"]["skipped"] is False


def test_missing_ds_partition_fails_with_a_fail_event(first_run):
    from beam_jobs import preprocess

    cfg, config_path, _, _ = first_run
    with isolated_environment(), pytest.raises(FileNotFoundError, match="curated.users_clean.*2026-01-04"):
        preprocess.run(["--ds", "2026-01-04", "--config", str(config_path)])
    fail = job_events(cfg, "beam_jobs.preprocess")[-1]
    assert fail["eventType"] == "FAIL"
    assert "2026-01-04" in fail["run"]["facets"]["errorMessage"]["message"]
