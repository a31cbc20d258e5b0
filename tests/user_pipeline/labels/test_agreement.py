from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

import user_pipeline.labels.agreement
from lineage.catalog import Catalog
from tests.user_pipeline.labels.helpers import commit_spam_labels


def test_agreement_commits_stats_and_renders_a_report(cfg):
    labels_manifest = commit_spam_labels(cfg, "v1")
    manifest = user_pipeline.labels.agreement.run(["--labels-version", "v1"]).output
    assert manifest.dataset == "reference.spam_label_agreement" and manifest.partition == "version=v1"
    assert manifest.inputs == [labels_manifest.ref.to_json()]
    table = Catalog(cfg).read_table("reference.spam_label_agreement", "v1")
    overall = manifest.extra["overall"]
    # The generated labels: 4 labelers, ~10% of messages labelled twice, ~3% random errors.
    assert overall["messages_multi_labelled"] > 300
    assert 0.6 < overall["krippendorff_alpha"] < 0.95
    assert abs(overall["krippendorff_alpha"] - overall["fleiss_kappa"]) < 0.01  # two labels each: nearly equal
    pairs = table.filter(pc.equal(table.column("metric"), "cohen_kappa"))
    assert pairs.num_rows == 6  # every pair of the 4 labelers
    disagreements = table.filter(pc.equal(table.column("section"), "disagreement"))
    assert disagreements.num_rows == overall["messages_in_disagreement"]
    assert all("=" in labels for labels in disagreements.column("labels").to_pylist())
    # Dawid-Skene: every labeler's estimated accuracy, every message's posterior, the biased labeler flagged.
    accuracy = table.filter(pc.equal(table.column("metric"), "estimated_accuracy"))
    assert accuracy.num_rows == 4 and all(0.9 < v < 1 for v in accuracy.column("value").to_pylist())
    posteriors = table.filter(pc.equal(table.column("section"), "posterior"))
    assert posteriors.num_rows == overall["messages"]
    assert [f for f in manifest.extra["flags"] if "Dawid-Skene" in f][0].startswith("labeler labeler_03: ham->spam")
    html = Path(f"{cfg.data_root}/reports/labels/spam_label_agreement_v1.html").read_text()
    assert "Cohen's kappa" in html and "labeler_03" in html and "Dawid&ndash;Skene" in html
    again = user_pipeline.labels.agreement.run(["--labels-version", "v1"]).output
    assert again.producer["run_id"] == manifest.producer["run_id"]


def test_agreement_force_reproduces_the_committed_version(cfg):
    commit_spam_labels(cfg, "v1")
    first = user_pipeline.labels.agreement.run(["--labels-version", "v1"]).output
    forced = user_pipeline.labels.agreement.run(["--labels-version", "v1", "--force"]).output
    assert forced.producer["run_id"] != first.producer["run_id"]
    assert forced.version == first.version


def test_agreement_of_labels_without_double_labelled_messages_is_reported_as_unmeasurable(cfg, capsys):
    commit_spam_labels(cfg, "v1", pa.table({"message_id": ["a", "b"], "text": ["hi", "WIN"], "label": ["ham", "spam"],
                                            "labeler_id": ["l1", "l2"], "is_double_labelled": [False, False]}))
    manifest = user_pipeline.labels.agreement.run(["--labels-version", "v1"]).output
    assert manifest.extra["overall"]["krippendorff_alpha"] is None and manifest.extra["flags"] == []
    assert "agreement cannot be measured" in capsys.readouterr().out
