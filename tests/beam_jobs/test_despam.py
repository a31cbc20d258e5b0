import json
import os
from pathlib import Path

import apache_beam as beam
import joblib
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

import beam_jobs.despam
import beam_jobs.ingest
from lineage.catalog import Catalog, Producer
from tests.transforms.test_spam import users
from tests.user_pipeline.labels.helpers import train_spam_filter
from transforms.spam import build_text_model
from user_pipeline.config import SpamConfig, SpamModelConfig, load_config
from user_pipeline.datagen import reference
from user_pipeline.datagen.generate import generate

DS = "2026-01-01"
# Measured on this generated day (2,000 users, 100 spam accounts): recall 1.00, precision 1.00.
MIN_RECALL = 0.95
MIN_PRECISION = 0.95


@pytest.fixture(scope="module")
def model_uri(tmp_path_factory):
    """A small text model pickled to a file, as the job's DoFn loads it."""
    sms = reference.load_sms()
    sample = pd.concat([sms[sms.gold_label == "spam"].head(150), sms[sms.gold_label == "ham"].head(450)])
    model = build_text_model(SpamModelConfig())
    model.fit(sample["text"].tolist(), (sample["gold_label"] == "spam").astype(int).to_numpy())
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    joblib.dump(model, path)
    return str(path)


def _ids(table: pa.Table) -> list[str]:
    return table.column("source_record_id").to_pylist()


def test_despam_ptransform_conserves_rows_across_batches(model_uri):
    spam_text = "URGENT! You have won a £2000 prize. Call 09061701461 to claim"
    first = users(3, email=["a@example.com", "b@mailinator.com", "c@example.com"],
                  job_page_views_7d=[3, 900, 4], profile_text=["Nurse in Leeds.", spam_text, None])
    second = users(2, source_record_id=["mobile:M1", "mobile:M2"], profile_text=[spam_text, "Chef in Cork."])
    with TestPipeline(runner="FnApiRunner") as p:
        out = p | beam.Create([first, second]) | beam_jobs.despam.DespamUsers(model_uri, "m-1", SpamConfig())
        kept = out.kept | "KeptIds" >> beam.FlatMap(_ids)
        quarantined = out.quarantine | "QuarantinedIds" >> beam.FlatMap(_ids)
        assert_that(kept, equal_to(["web:W000000", "web:W000002", "mobile:M2"]), label="kept")
        assert_that(quarantined, equal_to(["web:W000001", "mobile:M1"]), label="quarantined")


def test_despam_ptransform_counts_bursts_over_all_batches(model_uri):
    # Five signups in one minute on one channel, split over two batches: a burst only when counted
    # across batches. With two strong signals (burst + disposable e-mail) they are quarantined.
    minute = pd.Timestamp("2026-01-01T10:15:00", tz="UTC")
    times = pa.array([minute + pd.Timedelta(seconds=s) for s in range(5)] + [minute + pd.Timedelta(hours=3)],
                     pa.timestamp("ms", tz="UTC"))
    table = users(6, email=[f"x{i}@yopmail.com" for i in range(6)], profile_text=["Chef in Cork."] * 6,
                  signup_ts=times)
    with TestPipeline(runner="FnApiRunner") as p:
        out = (p | beam.Create([table.slice(0, 3), table.slice(3)])
               | beam_jobs.despam.DespamUsers(model_uri, "m-1", SpamConfig(), with_bursts=True))
        assert_that(out.quarantine | beam.FlatMap(_ids), equal_to([f"web:W{i:06d}" for i in range(5)]))


@pytest.fixture(scope="module")
def generated_day(tmp_path_factory):
    """One generated day ingested, the spam filter trained and de-spam run (shared by the tests below)."""
    root = tmp_path_factory.mktemp("despam") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PIPELINE_DATA_ROOT", str(root))
        for key in [k for k in os.environ if k.startswith("OPENLINEAGE")]:
            mp.delenv(key)
        cfg = load_config()
        generate(cfg, DS, 1, users_per_day=2000)
        beam_jobs.ingest.run(["--ds", DS])
        model = train_spam_filter(cfg, "v1")
        beam_jobs.despam.run(["--ds", DS])
        yield cfg, model


def test_despam_run_on_generated_data_conserves_rows_and_catches_the_spam(generated_day):
    cfg, model = generated_day
    catalog = Catalog(cfg)
    source = catalog.require("staging.users_ingested", DS)
    kept = catalog.require("staging.users_despammed", DS)
    quarantine = catalog.require("staging.spam_quarantine", DS)
    assert source.row_count == kept.row_count + quarantine.row_count == kept.extra["rows_read"]
    assert kept.inputs == quarantine.inputs == [source.ref.to_json(), model.ref.to_json()]
    assert kept.extra["model_version"] == model.version and kept.extra["signals_unavailable"] == []

    truth = pq.read_table(f"{cfg.data_root}/ground_truth/ds={DS}/records.parquet").to_pandas()
    spam_ids = set(truth.loc[truth["is_spam"], "source_record_id"])
    removed = catalog.read_table("staging.spam_quarantine", DS).to_pandas()
    caught = set(removed["source_record_id"]) & spam_ids
    ingested_spam = spam_ids & set(catalog.read_table("staging.users_ingested", DS).column("source_record_id")
                                   .to_pylist())
    assert len(caught) / len(ingested_spam) >= MIN_RECALL
    assert len(caught) / len(removed) >= MIN_PRECISION
    assert set(_ids(catalog.read_table("staging.users_despammed", DS))).isdisjoint(removed["source_record_id"])
    assert (removed["spam_model_version"] == model.version).all()
    assert removed["spam_reason"].str.startswith("score ").all()
    assert sum(quarantine.extra["signal_counts"].values()) > 0
    # The generator sends most spam accounts in bursts (same minute, same channel): the signal fires
    # on spam, and a burst alone (weight 0.3) quarantines no one.
    burst = removed[removed["spam_signals"].fillna("").str.contains("signup_burst")]
    assert len(burst) > 0 and set(burst["source_record_id"]) <= spam_ids

    events = [json.loads(line) for line in
              Path(cfg.openlineage_client_config()["transport"]["log_file_path"]).read_text().splitlines()]
    start = next(e for e in events if e["job"]["name"] == "beam_jobs.despam" and e["eventType"] == "START")
    assert {i["name"]: i["facets"]["version"]["datasetVersion"] for i in start["inputs"]} == {
        "staging.users_ingested": source.version, "models.spam_filter": model.version}


def test_despam_rerun_skips_when_inputs_and_code_are_unchanged(generated_day):
    cfg, _ = generated_day
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PIPELINE_DATA_ROOT", cfg.data_root)
        before = Catalog(cfg).require("staging.users_despammed", DS)
        beam_jobs.despam.run(["--ds", DS])
        after = Catalog(cfg).require("staging.users_despammed", DS)
    assert after.producer["run_id"] == before.producer["run_id"]


def test_despam_without_the_pinned_model_stops_with_the_training_command(cfg):
    catalog = Catalog(cfg)
    catalog.write_table("staging.users_ingested", DS, users(2), producer=Producer("test", "t"), inputs=[],
                        code_version="test")
    catalog.write_table("reference.spam_labels", "v1", reference.spam_labels(1).slice(0, 50),
                        producer=Producer("test", "t"), inputs=[], code_version="test")
    with pytest.raises(FileNotFoundError, match="python -m user_pipeline.training.spam_filter --labels-version v1"):
        beam_jobs.despam.run(["--ds", DS])
    assert catalog.manifest("staging.users_despammed", DS) is None
