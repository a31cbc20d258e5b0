import json
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

import beam_jobs.clean
import beam_jobs.despam
import beam_jobs.id_merge
import beam_jobs.ingest
import transforms.ingest
import user_pipeline.training.id_matcher
from beam_jobs.ingest import IngestSources
from lineage.catalog import Catalog
from tests.beam_jobs.conftest import mobile_line, partner_line, web_line
from tests.user_pipeline.labels.helpers import train_spam_filter
from tests.user_pipeline.training.test_id_matcher import commit_pairs

DS = "2026-01-01"


def _events(cfg):
    path = cfg.openlineage_client_config()["transport"]["log_file_path"]
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_ingest_sources_ptransform_splits_users_and_dead_letters(cfg, commit_raw, tmp_path):
    commit_raw(DS, web=[web_line(1), web_line(2, tenure_months="twelve"), "W9,short"], mobile=[mobile_line(1)],
               partner=[partner_line(1)])
    catalog = Catalog(cfg)
    files = [(name, uri, digest) for name, fmt in transforms.ingest.SOURCES.items()
             for uri, digest in beam_jobs.ingest.drop_files(catalog, catalog.require(fmt.dataset, DS))]
    with TestPipeline(runner="FnApiRunner") as p:
        out = p | IngestSources(files, DS, "run-1", batch_size=2)
        ids = out.users | beam.FlatMap(lambda t: t.column("source_record_id").to_pylist())
        reasons = out.dead_letter | beam.FlatMap(lambda t: t.column("reason").to_pylist())
        assert_that(ids, equal_to(["web:W0000001", "mobile:M0000001", "partner:P0000001"]), label="ids")
        assert_that(reasons, equal_to(["tenure_months: not an integer: 'twelve'", "expected 17 fields, found 2"]),
                    label="reasons")


def test_ingest_despam_merge_clean_commit_partitions_with_accounting_and_lineage(cfg, commit_raw):
    raw = commit_raw(DS, web=[web_line(i) for i in range(20)] + ["W99,broken"],
                     mobile=[mobile_line(i) for i in range(10)] + ["{oops"], partner=[partner_line(1)])
    beam_jobs.ingest.run(["--ds", DS])
    train_spam_filter(cfg)  # de-spam needs the spam filter of the pinned labels version
    beam_jobs.despam.run(["--ds", DS])
    commit_pairs(cfg)  # ID-merge needs the matcher of the pinned pairs version
    user_pipeline.training.id_matcher.run([])
    beam_jobs.id_merge.run(["--ds", DS])
    beam_jobs.clean.run(["--ds", DS])
    catalog = Catalog(cfg)
    users = catalog.require("staging.users_ingested", DS)
    dead = catalog.require("staging.ingest_dead_letter", DS)
    assert users.extra["lines_read"] == 33 == users.row_count + dead.row_count
    assert (users.row_count, dead.row_count) == (31, 2)
    assert sorted(catalog.read_table("staging.ingest_dead_letter", DS).column("line_number").to_pylist()) == [11, 22]
    despammed = catalog.require("staging.users_despammed", DS)
    quarantine = catalog.require("staging.spam_quarantine", DS)
    assert (despammed.row_count, quarantine.row_count) == (users.row_count, 0)  # no spam in these drops
    # Every record is mapped once and every canonical user accounts for its records (who matches
    # whom is tested against ground truth in test_id_merge.py).
    merged = catalog.require("staging.users_merged", DS)
    id_map = catalog.read_table("staging.id_map", DS).to_pandas()
    assert len(id_map) == despammed.row_count and id_map["source_record_id"].is_unique
    merged_users = catalog.read_table("staging.users_merged", DS).to_pandas()
    assert merged_users["merged_records"].sum() == despammed.row_count
    assert set(merged_users["canonical_id"]) == set(id_map["canonical_id"])
    clean = catalog.require("curated.users_clean", DS)
    assert clean.row_count == merged.row_count
    assert clean.inputs == [{"dataset": "staging.users_merged", "partition": f"ds={DS}", "version": merged.version}]
    cleaned = catalog.read_table("curated.users_clean", DS).to_pandas()
    assert cleaned["canonical_id"].notna().all() and cleaned["canonical_id"].is_unique

    events = _events(cfg)
    by_job = {(e["job"]["name"], e["eventType"]): e for e in events}
    start = by_job[("beam_jobs.ingest", "START")]
    assert {i["name"]: i["facets"]["version"]["datasetVersion"] for i in start["inputs"]} == {
        "raw.users_web": raw["web"], "raw.users_mobile": raw["mobile"], "raw.users_partner": raw["partner"]}
    complete = by_job[("beam_jobs.ingest", "COMPLETE")]
    assert {o["name"]: o["facets"]["version"]["datasetVersion"] for o in complete["outputs"]} == {
        "staging.users_ingested": users.version, "staging.ingest_dead_letter": dead.version}
    assert by_job[("beam_jobs.despam", "START")]["inputs"][0]["facets"]["version"]["datasetVersion"] == users.version
    assert by_job[("beam_jobs.clean", "START")]["inputs"][0]["facets"]["version"]["datasetVersion"] == \
        merged.version


def test_rerun_skips_when_nothing_changed_and_force_recomputes_the_same_version(cfg, commit_raw):
    commit_raw(DS, web=[web_line(i) for i in range(5)], mobile=[mobile_line(1)], partner=[partner_line(1)])
    beam_jobs.ingest.run(["--ds", DS])
    first = Catalog(cfg).require("staging.users_ingested", DS)
    beam_jobs.ingest.run(["--ds", DS])
    skipped = Catalog(cfg).require("staging.users_ingested", DS)
    assert skipped.producer["run_id"] == first.producer["run_id"]
    assert _events(cfg)[-1]["outputs"][0]["facets"]["manifest"]["skipped"] is True
    beam_jobs.ingest.run(["--ds", DS, "--force"])
    forced = Catalog(cfg).require("staging.users_ingested", DS)
    assert forced.producer["run_id"] != first.producer["run_id"]
    assert forced.version == first.version


def test_a_changed_input_is_recomputed(cfg, commit_raw):
    commit_raw(DS, web=[web_line(1)], mobile=[mobile_line(1)], partner=[partner_line(1)])
    beam_jobs.ingest.run(["--ds", DS])
    first = Catalog(cfg).require("staging.users_ingested", DS)
    commit_raw(DS, web=[web_line(1), web_line(2)], mobile=[mobile_line(1)], partner=[partner_line(1)])
    beam_jobs.ingest.run(["--ds", DS])
    second = Catalog(cfg).require("staging.users_ingested", DS)
    assert (second.row_count, second.version != first.version) == (4, True)


def test_a_missing_column_dead_letters_the_whole_file(cfg, commit_raw):
    header = ",".join(c for c in transforms.ingest.SOURCES["web"].columns if c != "email")
    lines = [",".join(v for j, v in enumerate(web_line(i).split(",")) if j != 3) for i in range(4)]
    commit_raw(DS, web=lines, web_header=header, mobile=[mobile_line(1)], partner=[partner_line(1)])
    beam_jobs.ingest.run(["--ds", DS])
    dead = Catalog(cfg).read_table("staging.ingest_dead_letter", DS).to_pylist()
    assert len(dead) == 4 and all("lacks column(s) ['email']" in d["reason"] for d in dead)


def test_a_job_that_dies_mid_write_commits_nothing_and_reports_fail(cfg, commit_raw, monkeypatch):
    commit_raw(DS, web=[web_line(i) for i in range(30)], mobile=[mobile_line(1)], partner=[partner_line(1)])
    calls = {"n": 0}
    real = beam_jobs.ingest.parse_records

    def dies_on_second_batch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("worker lost")
        return real(*args, **kwargs)

    monkeypatch.setattr(beam_jobs.ingest, "parse_records", dies_on_second_batch)
    monkeypatch.setenv("PIPELINE_CONFIG", _small_batches_config(cfg))
    with pytest.raises(Exception, match="worker lost"):
        beam_jobs.ingest.run(["--ds", DS])
    catalog = Catalog(cfg)
    assert catalog.manifest("staging.users_ingested", DS) is None
    assert catalog.manifest("staging.ingest_dead_letter", DS) is None
    assert _events(cfg)[-1]["eventType"] == "FAIL"


def _small_batches_config(cfg):
    """A copy of the config whose batches hold 10 lines, so a 30-line file has several."""
    import yaml

    raw = yaml.safe_load(Path(cfg.source_path).read_text())
    raw["beam"]["batch_size"] = 10
    path = f"{cfg.data_root}/small_batches.yaml"
    with open(path, "w") as fh:
        yaml.safe_dump(raw, fh)
    return path


# Run in a child process that SIGKILL can stop: ingest whose second batch of lines writes
# ``marker`` and then hangs, so the kill lands while the first batch is on its way into the run's
# staging folder (not before the job started writing, nor after it committed).
_HANG_ON_SECOND_BATCH = """
import sys, time
from pathlib import Path
import beam_jobs.ingest

marker, argv = Path(sys.argv[1]), sys.argv[2:]
real, calls = beam_jobs.ingest.parse_records, []

def parse_then_hang(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:
        marker.touch()
        time.sleep(600)
    return real(*args, **kwargs)

beam_jobs.ingest.parse_records = parse_then_hang
beam_jobs.ingest.run(argv)
"""


def test_a_job_killed_with_sigkill_mid_write_commits_nothing_and_a_rerun_commits(cfg, commit_raw, monkeypatch):
    import os
    import signal
    import subprocess
    import sys
    import time

    commit_raw(DS, web=[web_line(i) for i in range(30)], mobile=[mobile_line(1)], partner=[partner_line(1)])
    monkeypatch.setenv("PIPELINE_CONFIG", _small_batches_config(cfg))
    partition = Path(Catalog(cfg).partition_uri("staging.users_ingested", DS))
    marker, log = Path(cfg.data_root) / "second_batch_reached", Path(cfg.data_root) / "killed_job.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-c", _HANG_ON_SECOND_BATCH, str(marker), "--ds", DS],
                                env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if not marker.exists():
            proc.kill()
            pytest.fail(f"the job never reached its second batch (exit code {proc.wait()}): {log.read_text()[-2000:]}")
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    orphans = list(partition.glob("run=*"))
    assert any(path.is_file() for orphan in orphans for path in orphan.rglob("*")), "killed while writing"
    assert Catalog(cfg).manifest("staging.users_ingested", DS) is None
    assert Catalog(cfg).committed("staging.users_ingested") == []

    beam_jobs.ingest.run(["--ds", DS])
    users = Catalog(cfg).require("staging.users_ingested", DS)
    assert users.row_count == 32
    assert not any(path.exists() for path in orphans), "the next commit removes the killed run's folder"
