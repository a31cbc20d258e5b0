"""Active learning against random labelling on a few hundred generated messages: curves, page, CSV, chart."""

import io
from pathlib import Path

import matplotlib.image
import pytest

import user_pipeline.labels.boost
from lineage.catalog import Catalog
from tests.user_pipeline.labels.helpers import SEED, commit_spam_labels
from transforms.labels import boost as logic
from user_pipeline.datagen import reference
from user_pipeline.labels.common import write_report

ARGS = ["--seeds", "2", "--batch", "50", "--start", "40", "--budget", "240"]


@pytest.fixture
def labelled(cfg):
    commit_spam_labels(cfg, "v1", reference.spam_labels(SEED).slice(0, 600))
    return cfg


def test_every_strategy_spends_the_same_labels_from_the_same_seed_set(labelled):
    report = user_pipeline.labels.boost.run(ARGS)
    curves = report.curves
    assert set(curves["strategy"]) == set(logic.STRATEGIES) and set(curves["seed"]) == {0, 1}
    for (_, _), curve in curves.groupby(["seed", "strategy"]):
        assert curve["labels"].tolist() == [40, 90, 140, 190, 240]
    first = curves[curves["labels"] == 40].groupby("seed")["f1"].nunique()
    assert first.tolist() == [1, 1]  # one seed set per seed, shared by the strategies
    assert (report.targets["f1"] > 0.8).all() and report.budget == 240
    # reproducible: the same seeds give the same curves
    assert user_pipeline.labels.boost.run(ARGS).curves.equals(curves)


def test_the_page_csv_and_chart_hold_the_figures(labelled):
    catalog = Catalog(labelled)
    write_report(catalog, "experiment_v1.md", b"# the experiment\n")
    report = user_pipeline.labels.boost.run(ARGS)
    folder = Path(labelled.data_root) / "reports/labels"
    page = (folder / "boost_v1.html").read_text()
    table = user_pipeline.labels.boost.needed_table(report)
    for row in table.itertuples(index=False):
        assert f"<td>{row[0]}</td>" in page and f"<td>{row[2]}</td>" in page and f"<td>{row[4]}</td>" in page
    versus = table.set_index("strategy")["labels saved vs uncertainty [95% CI]"]
    assert versus["random"] == versus["uncertainty"] == "" != versus["uncertainty+disagreement"]
    assert f"<td>{versus['uncertainty+disagreement']}</td>" in page
    assert f"target: F1 {report.target:.3f}" in page
    assert '<a href="experiment_v1.md">' in page and "sweep_v1.html" not in page
    assert 'src="boost_v1.png"' in page
    image = matplotlib.image.imread(io.BytesIO((folder / "boost_v1.png").read_bytes()), format="png")
    assert image.shape[:2] == (360, 540)  # 4 x 6 in at 90 dpi
    csv = (folder / "boost_v1.csv").read_text().splitlines()
    assert len(csv) == 1 + 2 * 3 * 5 and csv[0].startswith("seed,strategy,labels")


def test_a_budget_the_pool_cannot_hold_is_refused(labelled):
    with pytest.raises(ValueError, match="budget must exceed the seed set"):
        user_pipeline.labels.boost.run(["--seeds", "1", "--start", "40", "--budget", "100000"])
    with pytest.raises(ValueError, match="unknown strategies"):
        user_pipeline.labels.boost.run(["--seeds", "1", "--strategies", "random,loudest"])


def test_labelers_who_split_give_a_message_the_most_doubt():
    import pandas as pd

    from user_pipeline.labels.sweep import make_pool

    rows = [("m1", "spam", "a"), ("m1", "ham", "b")]  # a split
    rows += [(f"s{i}", "spam", who) for i in range(6) for who in "ab"] + [(f"h{i}", "ham", who) for i in range(6)
                                                                         for who in "ab"]
    rows += [("one", "ham", "a")]  # labelled once
    labels = pd.DataFrame(rows, columns=["message_id", "label", "labeler_id"])
    resolved = labels.drop_duplicates("message_id").assign(text=lambda f: "text " + f["message_id"])
    pool = make_pool(resolved, None)
    doubt = pd.Series(user_pipeline.labels.boost.label_doubt(labels, pool), index=pool.message_id)
    assert doubt.idxmax() == "m1" and doubt["m1"] > 0.5
    assert doubt["one"] > doubt["h0"]  # one label is less sure than two that agree
    assert doubt.drop(["m1", "one"]).max() < 0.05


def test_bought_truth_trains_on_gold_and_writes_its_own_page(labelled):
    from tests.user_pipeline.labels.helpers import write_gold

    with pytest.raises(ValueError, match="needs gold labels"):
        user_pipeline.labels.boost.run([*ARGS, "--bought", "truth"])
    write_gold(labelled)
    truth = user_pipeline.labels.boost.run([*ARGS, "--bought", "truth"])
    given = user_pipeline.labels.boost.run(ARGS)
    folder = Path(labelled.data_root) / "reports/labels"
    assert "Labels bought: gold (a reviewer)" in (folder / "boost_v1_truth.html").read_text()
    assert "Labels bought: the labels version" in (folder / "boost_v1.html").read_text()
    # the model on the whole pool learns other labels (the generated labels hold a few wrong ones)
    assert (truth.targets["f1"] != given.targets["f1"]).all()
    assert truth.curves[["seed", "strategy", "labels"]].equals(given.curves[["seed", "strategy", "labels"]])
