import numpy as np
import pandas as pd
import pytest

from lineage.catalog import Catalog
from tests.user_pipeline.labels.helpers import SEED, commit_spam_labels
from transforms.labels import LabelError, resolve_labels, review_candidates, validate_labels
from user_pipeline.datagen import reference
from user_pipeline.labels import fix, noise
from user_pipeline.training.spam_filter import cross_validated_probability

# Precision of the first k candidates, k = the number of injected flips, on 1,000 real SMS
# messages with gold labels. Measured (two seeds): 0.95 / 0.92 at 5%, 0.96 / 0.92 at 10%,
# 0.78 / 0.73 at 20% (at 20% uniform flips most "spam" labels are flipped ham).
PRECISION_FLOOR = {0.05: 0.85, 0.10: 0.85, 0.20: 0.65}


@pytest.mark.parametrize("rate", sorted(PRECISION_FLOOR))
def test_confident_learning_finds_injected_label_flips(cfg, rate):
    sms = reference.load_sms()
    rng = np.random.default_rng(0)
    pool = sms[~sms["in_holdout"]].reset_index(drop=True)
    sample = pool.iloc[rng.permutation(len(pool))[:1000]].reset_index(drop=True)
    flip = np.zeros(len(sample), dtype=bool)
    flip[rng.choice(len(sample), round(rate * len(sample)), replace=False)] = True
    noisy = np.where(flip, np.where(sample["gold_label"] == "spam", "ham", "spam"), sample["gold_label"])
    labels = validate_labels(pd.DataFrame({"message_id": sample["message_id"], "text": sample["text"],
                                           "label": noisy, "labeler_id": "labeler_01"}))
    resolved = resolve_labels(labels)
    candidates = review_candidates(labels, resolved, cross_validated_probability(
        resolved["text"], resolved["label"], cfg)).to_pandas()
    flipped = set(sample.loc[flip, "message_id"])
    k = int(flip.sum())
    top = candidates.sort_values("rank").head(k)
    assert len(top) > 0.5 * k  # it proposes most of them
    assert top["message_id"].isin(flipped).mean() >= PRECISION_FLOOR[rate]
    assert (top["suggested_label"] != top["given_label"]).all()


def small_labels(n_rows: int = 1500):
    return reference.spam_labels(SEED).slice(0, n_rows)


def test_detect_commits_ranked_reviews_and_a_csv_template(cfg):
    labels_manifest = commit_spam_labels(cfg, "v1", small_labels())
    manifest = noise.run(["--labels-version", "v1"]).output
    catalog = Catalog(cfg)
    assert manifest.dataset == "reference.spam_label_reviews" and manifest.partition == "version=v1"
    assert manifest.inputs == [labels_manifest.ref.to_json()]
    reviews = catalog.read_table("reference.spam_label_reviews", "v1").to_pandas()
    assert len(reviews) == manifest.extra["candidates"] > 0
    assert reviews["rank"].tolist() == list(range(1, len(reviews) + 1))
    assert reviews["self_confidence"].is_monotonic_increasing
    template = pd.read_csv(f"{cfg.data_root}/reports/labels/spam_label_reviews_v1.csv", dtype=str,
                           keep_default_na=False)
    assert (template["corrected_label"] == "").all() and len(template) == len(reviews)
    again = noise.run(["--labels-version", "v1"]).output
    assert again.producer["run_id"] == manifest.producer["run_id"]  # up to date: skipped


def test_detect_force_reproduces_the_committed_version(cfg):
    commit_spam_labels(cfg, "v1", small_labels())
    first = noise.run(["--labels-version", "v1"]).output
    forced = noise.run(["--labels-version", "v1", "--force"]).output
    assert forced.producer["run_id"] != first.producer["run_id"]
    assert forced.version == first.version


def test_fix_with_reviews_commits_a_new_labels_version_with_its_inputs(cfg, tmp_path):
    v1 = commit_spam_labels(cfg, "v1", small_labels())
    reviews_manifest = noise.run(["--labels-version", "v1"]).output
    catalog = Catalog(cfg)
    candidates = catalog.read_table("reference.spam_label_reviews", "v1").to_pandas().head(4)
    candidates["corrected_label"] = [candidates["suggested_label"].iloc[0], "", " HAM ", "spam"]
    candidates["reviewer"] = "ann"
    reviewed = tmp_path / "reviewed.csv"
    candidates.to_csv(reviewed, index=False)

    v2 = fix.run(["--labels-version", "v1", "--reviews", str(reviewed), "--new-version", "v2"]).output
    corrections = catalog.require("reference.spam_label_corrections", "v2")
    assert v2.inputs == [v1.ref.to_json(), reviews_manifest.ref.to_json(), corrections.ref.to_json()]
    changed = catalog.read_table("reference.spam_label_corrections", "v2").to_pandas()
    assert len(changed) == v2.extra["corrections"] >= 1 and (changed["old_label"] != changed["new_label"]).all()
    old = validate_labels(catalog.read_table("reference.spam_labels", "v1")).set_index(["message_id", "labeler_id"])
    new = validate_labels(catalog.read_table("reference.spam_labels", "v2")).set_index(["message_id", "labeler_id"])
    differs = old["label"] != new["label"]
    assert sorted(differs[differs].index) == sorted(zip(changed["message_id"], changed["labeler_id"], strict=True))
    assert v2.row_count == v1.row_count

    # Versions are immutable: other decisions cannot overwrite v2; the same ones are a no-op.
    with pytest.raises(FileExistsError, match="immutable"):
        fix.run(["--labels-version", "v1", "--accept-top", "10", "--new-version", "v2"])
    same = fix.run(["--labels-version", "v1", "--reviews", str(reviewed), "--new-version", "v2"]).output
    assert same.version == v2.version


@pytest.mark.parametrize("payload, message", [
    (b"message_id,labeler_id,corrected_label\nsms-00002,labeler_01,\xff\xfe\n", "not UTF-8"),
    (b"message_id,labeler_id,corrected_label\nsms-00002,labeler_01,junk\n", "not one of"),
    (b"message_id,labeler_id,corrected_label\nnope,labeler_01,spam\n", "not label rows"),
    (b"message_id,labeler_id\nsms-00002,labeler_01\n", "lack column"),
    (b"", "not a readable CSV"),
])
def test_fix_rejects_bad_review_files_and_commits_nothing(cfg, tmp_path, payload, message):
    commit_spam_labels(cfg, "v1", small_labels(300))
    noise.run(["--labels-version", "v1"])
    path = tmp_path / "reviewed.csv"
    path.write_bytes(payload)
    with pytest.raises(LabelError, match=message):
        fix.run(["--labels-version", "v1", "--reviews", str(path), "--new-version", "v2"])
    assert Catalog(cfg).manifest("reference.spam_labels", "v2") is None


def test_fix_needs_the_reviews_of_the_committed_labels(cfg):
    commit_spam_labels(cfg, "v1", small_labels(300))
    with pytest.raises(FileNotFoundError, match="run python -m user_pipeline.labels.noise --labels-version v1 first"):
        fix.run(["--labels-version", "v1", "--accept-top", "5", "--new-version", "v2"])


def test_a_labels_fix_run_by_hand_sends_the_labels_asset_event_with_airflow_url(cfg, capsys, monkeypatch):
    """As the spam_labels_fix DAG's outlet would: the spam filter DAG is scheduled on it."""
    from tests.user_pipeline.test_fix import _Airflow
    from user_pipeline.fix import fix_event_extra
    from user_pipeline.steps.assets import asset_name, asset_uri

    commit_spam_labels(cfg, "v1", small_labels(300))
    noise.run(["--labels-version", "v1"])
    monkeypatch.setenv("AIRFLOW_API_TOKEN", "tok")
    labels = "reference.spam_labels"
    with _Airflow(assets=[{"id": 3, "name": asset_name(labels), "uri": asset_uri(labels)}]) as airflow:
        code = fix.main(["--labels-version", "v1", "--accept-top", "3", "--new-version", "v2",
                         "--airflow-url", airflow.url])
    assert code == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"asset event 42 of {labels} version=v2 created in Airflow at {airflow.url}")
    lookup, event = airflow.requests
    assert lookup["path"] == "/api/v2/assets" and event["authorization"] == "Bearer tok"
    assert event["body"] == {"asset_id": 3, "extra": fix_event_extra(cfg, labels, "v2")}
