"""The sweep on a few hundred generated messages: its bookkeeping, its report and its charts."""

import io
import os
from pathlib import Path

import matplotlib.image
import pytest

import user_pipeline.labels.sweep
from tests.user_pipeline.labels.helpers import SEED, commit_spam_labels, write_gold
from transforms.labels import sweep as logic
from user_pipeline.config import load_config
from user_pipeline.datagen import reference

SIZES, RATE = (80, 160), 0.1


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """One small sweep (every kind, two sizes, two seeds) that the tests of this module read."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PIPELINE_DATA_ROOT", str(tmp_path_factory.mktemp("sweep") / "data"))
        for key in [k for k in os.environ if k.startswith("OPENLINEAGE")]:
            mp.delenv(key)
        cfg = load_config()
        commit_spam_labels(cfg, "v1", reference.spam_labels(SEED).slice(0, 400))
        write_gold(cfg)
        report = user_pipeline.labels.sweep.run(
            ["--sizes", ",".join(map(str, SIZES)), "--rates", str(RATE), "--multiples", "2",
             "--kinds", "uniform,class_conditional,systematic,labelled", "--seeds", "2"])
    return report, cfg


def test_every_cell_has_every_arm_at_the_requested_noise(swept):
    report, _ = swept
    runs = report.runs
    assert report.truth_source == "gold"
    assert set(runs["kind"]) == {"uniform", "class_conditional", "systematic", "labelled"}
    assert report.skipped.empty
    for (kind, size), cell in runs.groupby(["kind", "size"]):
        per_seed = cell.groupby("arm")["seed"].nunique()
        expected = {logic.NOISY, logic.DETECTOR, logic.REVIEW, logic.GOLD}
        if 2 * size <= report.pool:
            expected.add(logic.more_arm(2))
        assert set(per_seed.index) == expected, (kind, size)
        assert (per_seed == 2).all()
        arms = cell.set_index(["seed", "arm"])
        for seed in (0, 1):
            assert arms.loc[(seed, logic.NOISY), "train_messages"] == size
            assert arms.loc[(seed, logic.GOLD), "measured_noise"] == 0
            if 2 * size <= report.pool:
                assert arms.loc[(seed, logic.more_arm(2)), "train_messages"] == 2 * size
            if kind != "labelled":  # injected noise is exactly the requested rate in every training set
                assert arms.loc[(seed, logic.NOISY), "measured_noise"] == pytest.approx(round(RATE * size) / size)
                if 2 * size <= report.pool:
                    assert arms.loc[(seed, logic.more_arm(2)), "measured_noise"] == pytest.approx(
                        round(RATE * 2 * size) / (2 * size))
            # review fixes flagged labels with the truth only: it never adds noise
            assert arms.loc[(seed, logic.REVIEW), "measured_noise"] <= arms.loc[(seed, logic.NOISY), "measured_noise"]
    labelled = runs[(runs["kind"] == "labelled") & (runs["arm"] == logic.NOISY)]
    assert labelled["rate"].nunique() == 1 and 0 < labelled["rate"].iloc[0] < 0.1  # the labels' own noise vs gold


def test_report_and_charts_hold_the_figures(swept):
    report, cfg = swept
    folder = Path(cfg.data_root) / "reports/labels"
    page = (folder / "sweep_v1.html").read_text()
    markdown = (folder / "sweep_v1.md").read_text()
    noisy = report.summary[(report.summary["kind"] == "uniform") & (report.summary["arm"] == logic.NOISY)
                           & (report.summary["size"] == SIZES[0])].iloc[0]
    figure = f"{noisy.f1:.3f} [{noisy.f1_low:.3f}, {noisy.f1_high:.3f}]"
    assert figure in page and figure in markdown
    eq = report.equivalents
    assert set(eq["arm"]) == {logic.DETECTOR, logic.REVIEW}
    assert len(eq) == 4 * 2 * len(SIZES)  # kinds x cleaned arms x sizes
    assert "Cleaning N labels ≈ collecting M more noisy labels" in page
    ap = report.analyses["average_precision"].summary
    ap_figure = ap.loc[(ap["kind"] == "uniform") & (ap["arm"] == logic.REVIEW) & (ap["size"] == SIZES[1]),
                       "average_precision"].iloc[0]
    assert f"{ap_figure:.3f} [" in page
    for kind in ("uniform", "class_conditional", "systematic", "labelled"):
        for png in (f"sweep_v1_{kind}.png", f"sweep_v1_{kind}_average_precision.png"):
            assert f'src="{png}"' in page and f"]({png})" in markdown
            image = matplotlib.image.imread(io.BytesIO((folder / png).read_bytes()), format="png")
            assert image.shape[:2] == (324, 378)  # 3.6 in high at 90 dpi; one 4.2 in panel per rate
    assert len((folder / "sweep_v1.csv").read_text().splitlines()) == len(report.runs) + 1


def test_a_rate_the_kind_cannot_reach_is_skipped_and_reported(cfg):
    commit_spam_labels(cfg, "v1", reference.spam_labels(SEED).slice(0, 400))
    write_gold(cfg)
    report = user_pipeline.labels.sweep.run(["--sizes", "80", "--rates", "0.6", "--multiples", "2",
                                             "--kinds", "systematic", "--seeds", "1"])
    assert report.runs.empty
    assert report.skipped[["seed", "kind", "rate"]].to_dict("records") == [
        {"seed": 0, "kind": "systematic", "rate": 0.6}]
    assert "can be flipped under this kind" in (Path(cfg.data_root) / "reports/labels/sweep_v1.html").read_text()
