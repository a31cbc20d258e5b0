"""Training on the preprocess output, the serving export, and batch/serving parity
(docs/architecture.md#training-and-serving)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from lineage.catalog import Catalog
from tests.user_pipeline.training.synthetic_users import commit_day, isolated_environment, write_config
from user_pipeline.config import load_config

pytestmark = pytest.mark.tf

DAYS = ("2026-01-02", "2026-01-03")
ROWS_PER_DAY = 700  # ~1,260 labelled rows: the parity check covers more than 1,000


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Preprocess two synthetic days, then train; yields (cfg, config path, model manifest)."""
    from beam_jobs import preprocess
    from user_pipeline.training import train

    with isolated_environment():
        config_path = write_config(tmp_path_factory.mktemp("training"))
        cfg = load_config(config_path)
        for day in DAYS:
            commit_day(cfg, day, ROWS_PER_DAY, seed=1)
        preprocess.run(["--ds", DAYS[-1], "--config", str(config_path)])
        manifest = train.run(["--ds", DAYS[-1], "--config", str(config_path)]).output
        yield cfg, config_path, manifest


@pytest.fixture(scope="module")
def batch_and_raw(trained):
    """The committed features (Beam path) and the raw clean rows they came from, in the same order."""
    cfg, _, _ = trained
    catalog = Catalog(cfg)
    batch = catalog.read_table("features.users_transformed", DAYS[-1]).sort_by("source_record_id")
    users = pa.concat_tables([catalog.read_table("curated.users_clean", day) for day in DAYS])
    raw = users.take(pc.index_in(batch.column("source_record_id"), value_set=users.column("source_record_id")))
    assert raw.column("source_record_id").equals(batch.column("source_record_id"))
    return batch, raw


@pytest.fixture(scope="module")
def serving_model(trained):
    import tensorflow as tf

    from user_pipeline.steps.models import JOB_SEEKER as MODEL
    from user_pipeline.steps.models import committed_dir

    cfg, _, manifest = trained
    return tf.saved_model.load(committed_dir(Catalog(cfg), MODEL, manifest.version))


def test_model_is_committed_with_metrics_and_lineage(trained):
    cfg, _, manifest = trained
    catalog = Catalog(cfg)
    features_manifest = catalog.require("features.users_transformed", DAYS[-1])
    transform_fn_version = features_manifest.extra["transform_fn_version"]
    assert manifest.dataset == "models.job_seeker" and manifest.version_method == "derivation"
    assert manifest.inputs == [
        features_manifest.ref.to_json(),
        catalog.require("models.transform_fn", transform_fn_version).ref.to_json(),
    ]
    for split in ("dev", "test"):
        metrics = manifest.extra[f"{split}_metrics"]
        assert set(metrics) >= {"roc_auc", "accuracy", "precision", "recall", "log_loss"}
        assert metrics["rows"] == features_manifest.extra[f"{split}_rows"]
    assert manifest.extra["dev_metrics"]["roc_auc"] > 0.65, "the synthetic label depends on the features"

    lines = (Path(cfg.data_root) / "lineage" / "events.jsonl").read_text().splitlines()
    train_events = [e for e in map(json.loads, lines) if e["job"]["name"] == "user_pipeline.training.train"]
    assert [e["eventType"] for e in train_events] == ["START", "COMPLETE"]
    assert [i["facets"]["version"]["datasetVersion"] for i in train_events[0]["inputs"]] == [
        features_manifest.version, transform_fn_version
    ]
    assert train_events[1]["outputs"][0]["facets"]["version"]["datasetVersion"] == manifest.version


def test_serving_transform_equals_batch_transform(batch_and_raw, serving_model):
    """Exact parity: Beam's TransformDataset and the serving signature run the same transform_fn
    graph with element-wise ops on the same raw values (Arrow lists vs parsed tf.Examples), so
    the float32 outputs are bit-identical; no tolerance is needed."""
    import tensorflow as tf

    from transforms.features import model_input_names
    from transforms.tft_inputs import encode_examples

    batch, raw = batch_and_raw
    assert batch.num_rows >= 1000
    served = serving_model.signatures["transform_features"](examples=tf.constant(encode_examples(raw)))
    assert set(served) == set(model_input_names())
    for name in model_input_names():
        expected = batch.column(name).to_numpy()
        got = served[name].numpy()
        assert got.dtype == expected.dtype, name
        np.testing.assert_array_equal(got, expected, err_msg=name)


def test_serving_probabilities_equal_the_models_on_batch_features(batch_and_raw, serving_model):
    """serving_default (raw examples) vs the exported Keras model on the committed features.
    Same weights and, by the parity above, the same inputs; a float32 tolerance of 1e-6 covers
    matmul kernels that may block the batch differently between the two calls."""
    import tensorflow as tf

    from transforms.tft_inputs import encode_examples
    from user_pipeline.training.model import model_inputs

    batch, raw = batch_and_raw
    served = serving_model.signatures["serving_default"](examples=tf.constant(encode_examples(raw)))
    probability = served["probability"].numpy()
    keras = serving_model.model({k: tf.constant(v) for k, v in model_inputs(batch).items()}).numpy().reshape(-1)
    assert probability.shape == (batch.num_rows,)
    np.testing.assert_allclose(probability, keras, rtol=0, atol=1e-6)


def test_predict_scores_records_with_missing_fields(trained, batch_and_raw, tmp_path):
    from user_pipeline.training import predict

    cfg, config_path, manifest = trained
    batch, raw = batch_and_raw
    records = [
        {"source_record_id": "full", "age_years": 30, "employment_status": "unemployed", "country": "GB",
         "job_page_views_7d": 12, "applications_30d": 4, "profile_text": "open to work"},
        {"source_record_id": "sparse", "age_years": None, "employment_status": "astronaut"},
        {"source_record_id": "id-only"},
        {"age_years": 50},
    ]
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records))
    with isolated_environment():
        scores = predict.main(["--ds", DAYS[-1], "--input", str(path), "--config", str(config_path),
                               "--output", str(tmp_path / "scores.parquet")])
    assert pq.read_table(tmp_path / "scores.parquet").equals(scores)
    assert scores.column("source_record_id").to_pylist() == ["full", "sparse", "id-only", None]
    probability = scores.column("probability").to_numpy()
    assert np.all((probability > 0) & (probability < 1))

    # The public function on complete clean rows agrees with the serving signature used above.
    from user_pipeline.steps.models import JOB_SEEKER as MODEL
    from user_pipeline.steps.models import committed_dir

    model_dir = committed_dir(Catalog(cfg), MODEL, manifest.version)
    head = predict.predict(model_dir, raw.slice(0, 50))
    assert head.column("source_record_id").equals(raw.slice(0, 50).column("source_record_id"))
    by_version = predict.model_dir_for(cfg, model_version=manifest.version)
    assert by_version == model_dir


def test_retraining_the_same_inputs_skips(trained):
    from user_pipeline.training import train

    cfg, config_path, manifest = trained
    with isolated_environment():
        again = train.run(["--ds", DAYS[-1], "--config", str(config_path)]).output
    assert (again.version, again.committed_at) == (manifest.version, manifest.committed_at)


def test_error_analysis_by_metadata_slices_through_the_serving_path(trained):
    """user_pipeline.training.evaluate: per-slice dev/test metrics, worst first, committed with lineage and a page."""
    from html.parser import HTMLParser

    from user_pipeline.training import evaluate

    cfg, config_path, model_manifest = trained
    with isolated_environment():
        manifest = evaluate.run(["--ds", DAYS[-1], "--config", str(config_path)]).output
    catalog = Catalog(cfg)
    table = catalog.read_table("evaluation.job_seeker_slices", DAYS[-1])
    assert manifest.inputs[0] == model_manifest.ref.to_json()
    rows = table.to_pylist()
    for split in ("dev", "test"):
        mine = [r for r in rows if r["split"] == split]
        overall = mine[0]
        assert overall["slice_column"] == "(all)"
        # Serving on the clean records agrees with training's own evaluation on the transformed rows.
        trained_metrics = model_manifest.extra[f"{split}_metrics"]
        assert overall["rows"] == trained_metrics["rows"]
        assert overall["accuracy"] == pytest.approx(trained_metrics["accuracy"], abs=1e-9)
        assert overall["roc_auc"] == pytest.approx(trained_metrics["roc_auc"], abs=1e-4)
        # every slice column partitions the split
        for column in cfg.evaluation.slice_by:
            assert sum(r["rows"] for r in mine if r["slice_column"] == column) == overall["rows"]
        ranked = [r for r in mine[1:] if not r["small"]]
        assert [r["error_gap"] for r in ranked] == sorted((r["error_gap"] for r in ranked), reverse=True)

    page = Path(cfg.data_root) / cfg.evaluation.reports_dir / f"ds={DAYS[-1]}" / "index.html"
    assert (page.parent / "error_gaps.png").read_bytes()[:4] == b"\x89PNG"

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.cells = []

        def handle_data(self, data):
            self.cells.append(data.strip())

    parser = Cells()
    parser.feed(page.read_text())
    dev = next(r for r in rows if r["split"] == "dev")
    assert f"{dev['accuracy']:.3f}" in parser.cells and manifest.version in page.read_text()


def test_evaluate_force_reproduces_the_committed_version(trained):
    """The slice metrics are content: evaluating the same model on the same records again with
    --force commits the version already committed."""
    from user_pipeline.training import evaluate

    _, config_path, _ = trained
    argv = ["--ds", DAYS[-1], "--config", str(config_path)]
    with isolated_environment():
        first = evaluate.run(argv).output
        forced = evaluate.run([*argv, "--force"]).output
    assert forced.producer["run_id"] != first.producer["run_id"]
    assert forced.version == first.version


def test_training_serving_skew_through_the_serving_export(trained):
    from transforms.features import model_input_names
    from user_pipeline.training import skew

    cfg, config_path, _ = trained
    found = skew.run(["--ds", DAYS[-1], "--sample", "500"], cfg=cfg).result
    assert sorted(s.drift.feature for s in found) == sorted(model_input_names())
    # the records that are also training rows get exactly their training features (one transform)
    assert all(s.joined_rows > 0 and s.mismatched_rows == 0 for s in found)
    report = Path(cfg.data_root) / cfg.statistics.reports_dir / "skew" / f"ds={DAYS[-1]}"
    saved = json.loads((report / "skew.json").read_text())
    assert saved["sampled_rows"] == 500 and len(saved["features"]) == len(found)
    assert "serving features vs training features" in (report / "skew.html").read_text()
    # the same inputs, sample and code: the report is reused (a skip), not computed again
    again = skew.run(["--ds", DAYS[-1], "--sample", "500"], cfg=cfg)
    assert again.skipped and again.result == found
    assert not skew.run(["--ds", DAYS[-1], "--sample", "400"], cfg=cfg).skipped
    assert not skew.run(["--ds", DAYS[-1], "--sample", "400", "--force"], cfg=cfg).skipped
    assert skew.main(["--ds", "2025-01-01", "--config", str(config_path)]) == 2
