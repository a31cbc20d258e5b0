"""Clean or collect for a labels version: the noise estimate, the answer, its page and the run report's link."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest

import user_pipeline.labels.clean_or_collect as clean_or_collect
from tests.user_pipeline.labels.helpers import SEED, commit_spam_labels, write_gold
from transforms.labels import sweep as logic
from user_pipeline.datagen import reference
from user_pipeline.reports import run_report


def test_noise_estimate_hand_computed():
    # Four messages labelled twice, one in disagreement: agreement 0.75 = 1 - 2e(1 - e), e = (1 - sqrt(0.5)) / 2.
    labels = pd.DataFrame({"message_id": ["m1", "m1", "m2", "m2", "m3", "m3", "m4", "m4", "m5"],
                           "text": ["a", "a", "b", "b", "c", "c", "d", "d", "e"],
                           "label": ["ham", "ham", "spam", "spam", "ham", "spam", "ham", "ham", "ham"],
                           "labeler_id": ["x", "y"] * 4 + ["x"]})
    noise = clean_or_collect.estimate_noise(labels, flagged_rows=3)
    assert (noise.label_rows, noise.messages, noise.multi_labelled) == (9, 5, 4)
    assert noise.observed_agreement == pytest.approx(0.75)
    assert noise.from_agreement == pytest.approx((1 - math.sqrt(0.5)) / 2)
    assert noise.flagged_share == pytest.approx(3 / 9)
    # Four double-labelled messages are too few to trust agreement: the flagged share is used.
    assert noise.rate == pytest.approx(round(3 / 9, 4)) and "flagged share" in noise.source


def test_with_enough_messages_labelled_twice_the_labelers_model_gives_the_rate():
    """Labelers a, b and d label 200 messages; b calls 20 of the 100 ham messages spam and is
    otherwise right; labeler c alone adds 40 messages. The labelers' model puts the wrong label
    rows at b's 20 of 640, singles b out, and is the rate; agreement, which assumes symmetric
    equal labelers, reads its 1 - 40/600 as 2e(1 - e) instead."""
    rows = []
    for i in range(200):
        truth = "spam" if i % 2 else "ham"
        rows += [(f"m{i}", "a", truth), (f"m{i}", "b", "spam" if i % 10 == 0 else truth), (f"m{i}", "d", truth)]
    rows += [(f"c{i}", "c", "spam" if i % 2 else "ham") for i in range(40)]
    labels = pd.DataFrame(rows, columns=["message_id", "labeler_id", "label"]).assign(text="t")
    noise = clean_or_collect.estimate_noise(labels, flagged_rows=5)
    assert noise.multi_labelled == 200 and noise.identified
    assert noise.from_labelers == pytest.approx(20 / 640, abs=0.01)
    assert noise.outliers == ("b",)
    assert noise.rate == pytest.approx(round(noise.from_labelers, 4)) and "Dawid–Skene" in noise.source
    assert noise.from_agreement == pytest.approx((1 - math.sqrt(1 - 2 * 40 / 600)) / 2)
    assert any("singled out for one-sided errors: b" in line for line in clean_or_collect.noise_lines(noise))


def test_answer_page_and_run_report_link(cfg):
    commit_spam_labels(cfg, "v1", reference.spam_labels(SEED).slice(0, 400))
    write_gold(cfg)
    folder = Path(cfg.data_root) / "reports/labels"
    assert "clean or collect? not computed" in run_report.labels_section(cfg)

    result = clean_or_collect.run(["--seeds", "2", "--smallest", "60"])

    pool = result.report.pool
    assert result.reference_size == pool // 3
    assert sorted(result.report.runs["size"].unique()) == logic.geometric_sizes(60, pool // 3, 4)
    assert set(result.report.runs["kind"]) == {logic.LABELLED, "uniform"}
    assert result.noise.multi_labelled >= clean_or_collect.MIN_MULTI_LABELLED
    assert result.report.runs.loc[result.report.runs["kind"] == "uniform", "rate"].unique().tolist() == [
        result.noise.rate]
    # One headline per noise setting and cleaned arm, at the reference size, with its figures.
    headlines = result.headlines()
    eq = result.report.equivalents
    at = eq[eq["size"] == result.reference_size]
    assert len(headlines) == len(at) == 4
    for line, r in zip(headlines, at.itertuples(), strict=True):
        assert f"F1 {r.noisy:.3f} -> {r.cleaned:.3f}" in line and f"{r.labels_changed:.0f} labels changed" in line
    page = (folder / "clean_or_collect_v1.html").read_text()
    assert all(line.replace("->", "-&gt;") in page for line in headlines)
    assert f"per-label error ≈ {result.noise.from_agreement:.1%}" in page
    assert (folder / "clean_or_collect_v1_uniform.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((folder / "clean_or_collect_v1.json").read_text())["headlines"] == headlines

    section = run_report.labels_section(cfg)
    assert f'href="{folder}/clean_or_collect_v1.html"' in section
    assert headlines[0].replace("->", "-&gt;") in section
