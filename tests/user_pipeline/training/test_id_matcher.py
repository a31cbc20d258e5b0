"""The ID matcher: trained from reference.id_pairs into models.id_matcher with lineage."""

import json
from pathlib import Path

import numpy as np
import pytest

import user_pipeline.training.id_matcher
from lineage.catalog import Catalog, Producer
from tests.user_pipeline.labels.helpers import SEED
from transforms.id_merge import pair_features
from user_pipeline.datagen import reference
from user_pipeline.steps.models import ID_MATCHER, load_model_file, model_file_uri
from user_pipeline.training.id_matcher import fit_matcher

# Out-of-fold F1 on the 2,000 generated pairs: measured 0.98+ (see the training's printout).
MIN_OUT_OF_FOLD_F1 = 0.95


def commit_pairs(cfg, version="v1", table=None):
    table = table if table is not None else reference.id_pairs(SEED)
    return Catalog(cfg).write_table("reference.id_pairs", version, table, producer=Producer("test", "test-pairs"),
                                    inputs=[], code_version="test")


def test_matcher_separates_matches_out_of_fold(cfg):
    pairs = reference.id_pairs(SEED).to_pandas()
    matcher, measured = fit_matcher(pair_features(pairs), pairs["is_match"].to_numpy(), cfg.id_merge.model)
    assert measured[cfg.id_merge.model.kind]["f1"] >= MIN_OUT_OF_FOLD_F1, measured
    assert 0 < matcher.threshold < 1
    scores = matcher.score(pair_features(pairs))
    assert scores[pairs["is_match"].to_numpy() == 1].mean() > 0.8
    assert scores[pairs["is_match"].to_numpy() == 0].mean() < 0.2


def test_training_commits_a_derived_version_with_the_pairs_as_lineage_input(cfg):
    pairs = commit_pairs(cfg)
    manifest = user_pipeline.training.id_matcher.run([]).output
    catalog = Catalog(cfg)
    assert manifest.version == ID_MATCHER.version(cfg, pairs.ref) == ID_MATCHER.resolve(catalog, cfg).version
    assert manifest.inputs == [pairs.ref.to_json()]
    assert sorted(n.rsplit("/", 1)[1] for n in manifest.files) == ["metadata.json", "model.joblib"]
    matcher = load_model_file(model_file_uri(catalog, manifest))
    assert matcher.threshold == pytest.approx(manifest.extra["threshold"])
    assert np.isfinite(matcher.score(pair_features(reference.id_pairs(SEED).to_pandas().head(5)))).all()

    events = [json.loads(line) for line in
              Path(cfg.openlineage_client_config()["transport"]["log_file_path"]).read_text().splitlines()]
    start = [e for e in events
             if e["job"]["name"] == "user_pipeline.training.id_matcher" and e["eventType"] == "START"][0]
    assert start["inputs"][0]["facets"]["version"]["datasetVersion"] == pairs.version
    again = user_pipeline.training.id_matcher.run([]).output
    assert again.producer["run_id"] == manifest.producer["run_id"]  # skipped: same pairs, same code


def test_missing_matcher_names_the_training_command(cfg):
    commit_pairs(cfg)
    with pytest.raises(FileNotFoundError, match="python -m user_pipeline.training.id_matcher"):
        ID_MATCHER.resolve(Catalog(cfg), cfg)
