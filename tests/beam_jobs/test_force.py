"""``--force`` on unchanged input recomputes every output and commits the same content version:
identical data gets the same version whatever run produced it (provenance columns do not count).

Two small days go through ingest, de-spam, ID-merge, clean and statistics once; each test then
forces one job on the second day (the first is its ID-merge anchors and drift reference).
Preprocess has its own: ``test_preprocess.test_force_recomputes_the_same_features_version``.
"""

import pytest

import beam_jobs.clean
import beam_jobs.despam
import beam_jobs.id_merge
import beam_jobs.ingest
import beam_jobs.statistics
import user_pipeline.training.id_matcher
from lineage.catalog import Catalog
from tests.beam_jobs.conftest import commit_raw_drops, mobile_line, partner_line, web_line
from tests.user_pipeline.labels.helpers import train_spam_filter
from tests.user_pipeline.training.synthetic_users import isolated_environment
from tests.user_pipeline.training.test_id_matcher import commit_pairs
from user_pipeline.config import load_config

DAYS = ("2026-01-01", "2026-01-02")
SPAM_TEXT = "URGENT! You have won a £2000 prize. Call 09061701461 to claim"


def _day_lines(i: int) -> dict[str, list[str]]:
    web = [web_line(100 * i + j) for j in range(20)] + ["W99,broken"]
    if i:  # people of the first day again, under new record ids, and a spam account
        web += [web_line(100 + j, first_name=f"Ann{j}", email=f"a{j}@example.com", phone=f"07700 900{j:03d}")
                for j in range(5)]
        web += [web_line(900, email="win@mailinator.com", about=SPAM_TEXT, job_views_7d="900")]
    return {"web": web, "mobile": [mobile_line(100 * i + j) for j in range(5)], "partner": [partner_line(i)]}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    """The config of a data root holding two days committed by every job up to statistics."""
    with isolated_environment(), pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIPELINE_DATA_ROOT", str(tmp_path_factory.mktemp("force") / "data"))
        cfg = load_config()
        train_spam_filter(cfg)
        commit_pairs(cfg)
        user_pipeline.training.id_matcher.run([])
        for i, day in enumerate(DAYS):
            commit_raw_drops(cfg, day, **_day_lines(i))
            for job in (beam_jobs.ingest, beam_jobs.despam, beam_jobs.id_merge, beam_jobs.clean):
                job.run(["--ds", day])
            beam_jobs.statistics.run(["--dataset", "curated.users_clean", "--ds", day])
        yield cfg


def _forced_versions(cfg, run, argv, outputs):
    """Run a job again with --force: (committed versions before, after), checking it did recompute."""
    catalog = Catalog(cfg)
    before = {dataset: catalog.require(dataset, value) for dataset, value in outputs}
    run([*argv, "--force"])
    after = {dataset: catalog.require(dataset, value) for dataset, value in outputs}
    for dataset in before:
        assert after[dataset].producer["run_id"] != before[dataset].producer["run_id"], f"{dataset} was not recomputed"
    return ({d: m.version for d, m in before.items()}, {d: m.version for d, m in after.items()})


def test_ingest_force_reproduces_its_versions(pipeline):
    before, after = _forced_versions(pipeline, beam_jobs.ingest.run, ["--ds", DAYS[1]],
                                     [("staging.users_ingested", DAYS[1]), ("staging.ingest_dead_letter", DAYS[1])])
    assert after == before


def test_despam_force_reproduces_its_versions(pipeline):
    assert Catalog(pipeline).require("staging.spam_quarantine", DAYS[1]).row_count > 0
    before, after = _forced_versions(pipeline, beam_jobs.despam.run, ["--ds", DAYS[1]],
                                     [("staging.users_despammed", DAYS[1]), ("staging.spam_quarantine", DAYS[1])])
    assert after == before


def test_id_merge_force_reproduces_its_versions(pipeline):
    """Failed before id_merge_run_id was declared provenance: every re-run committed new versions."""
    inputs = Catalog(pipeline).require("staging.users_merged", DAYS[1]).inputs
    assert ("staging.users_merged", f"ds={DAYS[0]}") in {(i["dataset"], i["partition"]) for i in inputs}  # anchors
    before, after = _forced_versions(pipeline, beam_jobs.id_merge.run, ["--ds", DAYS[1]],
                                     [("staging.id_map", DAYS[1]), ("staging.users_merged", DAYS[1])])
    assert after == before


def test_clean_force_reproduces_its_version(pipeline):
    before, after = _forced_versions(pipeline, beam_jobs.clean.run, ["--ds", DAYS[1]],
                                     [("curated.users_clean", DAYS[1])])
    assert after == before


def test_statistics_force_reproduces_its_version(pipeline):
    """Statistics describe content columns only: the run ids in the data do not reach the statistics."""
    before, after = _forced_versions(pipeline, beam_jobs.statistics.run,
                                     ["--dataset", "curated.users_clean", "--ds", DAYS[1]],
                                     [("stats.users_clean", DAYS[1])])
    assert after == before


def test_identical_drops_committed_again_ingest_to_the_same_versions(pipeline):
    """The dead letter names the raw file of each line, whose path names the drop's committing run:
    found in the demo, where re-generated identical drops changed every dead letter's version."""
    catalog = Catalog(pipeline)
    drop = catalog.require("raw.users_web", DAYS[1])
    files_before = set(catalog.read_table("staging.ingest_dead_letter", DAYS[1]).column("source_file").to_pylist())
    commit_raw_drops(pipeline, DAYS[1], **_day_lines(1), run_id="test-drop-again")  # same bytes, a new run
    assert catalog.require("raw.users_web", DAYS[1]).version == drop.version
    before, after = _forced_versions(pipeline, beam_jobs.ingest.run, ["--ds", DAYS[1]],
                                     [("staging.users_ingested", DAYS[1]), ("staging.ingest_dead_letter", DAYS[1])])
    files_after = set(catalog.read_table("staging.ingest_dead_letter", DAYS[1]).column("source_file").to_pylist())
    assert files_before and files_after and not files_before & files_after  # the lines name the new files
    assert after == before
