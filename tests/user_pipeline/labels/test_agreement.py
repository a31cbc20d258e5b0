from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

import user_pipeline.labels.agreement
from lineage.catalog import Catalog, Producer
from tests.user_pipeline.labels.helpers import SEED, commit_spam_labels
from user_pipeline.datagen import reference


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
    assert '<a href="clean_or_collect_v1.html">clean or collect?</a>' in html  # the page next to it
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


def commit_spec(cfg, version):
    return Catalog(cfg).write_table("reference.spam_label_spec", version, reference.spam_label_spec(version),
                                    producer=Producer("test", "test-spec"), inputs=[], code_version="test")


def test_agreement_shows_the_spec_per_class_and_compares_agreement_before_and_after_a_revision(cfg):
    spec_v1, spec_v2 = commit_spec(cfg, "v1"), commit_spec(cfg, "v2")
    commit_spam_labels(cfg, "v1")
    first = user_pipeline.labels.agreement.run(["--labels-version", "v1"]).output
    assert first.extra["spec_version"] == "v1" and first.extra["compared_with"] is None
    assert spec_v1.ref.to_json() in first.inputs
    # A round labelled under v2, whose rule settles promotional messages: the biased labeler follows it.
    commit_spam_labels(cfg, "v2", reference.spam_labels(SEED, spec_version="v2"))
    manifest = user_pipeline.labels.agreement.run(["--labels-version", "v2"]).output
    assert manifest.extra["spec_version"] == "v2" and manifest.extra["compared_with"] == "v1"
    assert spec_v2.ref.to_json() in manifest.inputs and spec_v1.ref.to_json() in manifest.inputs
    table = Catalog(cfg).read_table("reference.spam_label_agreement", "v2").to_pandas()
    spec = table[table["section"] == "spec"].set_index("subject")
    assert not spec.loc["spam.edge_case.1", "below_min_agreement"]  # settled by ham.rule.2 in v2
    compared = table[table["section"] == "comparison"].pivot(index="metric", columns="subject", values="value")
    edge = compared.loc["disagreements under spam.edge_case.1"]
    assert edge["after:this"] < edge["before:v1"] / 1.5
    biased = compared.loc[f"estimated_accuracy {reference.BIASED_LABELER}"]
    assert biased["after:this"] > biased["before:v1"] + 0.02
    assert compared.loc["observed_agreement", "after:this"] > compared.loc["observed_agreement", "before:v1"]
    html = Path(f"{cfg.data_root}/reports/labels/spam_label_agreement_v2.html").read_text()
    assert "Promotional but legitimate" in html and "Before and after the spec revision" in html
