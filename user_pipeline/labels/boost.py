"""Labels spent where they count: active learning against random labelling, over seeds.

    python -m user_pipeline.labels.boost [--labels-version v1] [--seeds 10] [--batch 100]
        [--start 100] [--budget N] [--strategies random,uncertainty,uncertainty+disagreement]
        [--bought labels|truth] [--jobs 1] [--config ...]

The spam filter's text model and settings are held fixed (``fit_text_model``); only the choice
of which messages get labelled changes. The pool is the labels version's messages; buying a
message's label gives its resolved label (``--bought labels``) or, where gold covers the pool, its
true label (``--bought truth``: a reviewer who settles every label bought). Per seed the pool
is shuffled once (as the sweep does), a stratified seed set of ``--start`` messages is labelled, and each strategy
(``transforms.labels.boost``: random, model uncertainty, uncertainty plus the labelers' doubt from
the Dawid–Skene posterior) adds ``--batch`` messages at a time until ``--budget`` labels (default:
the whole pool). After every batch the model is evaluated on the held-out messages
(``ground_truth/spam_holdout.parquet``, split off by the normalised-text hash; a held-out text in
the pool is an error), F1 at threshold 0.5. The target is the F1 of the model trained on the
whole pool; the report says how many labels each strategy needs to reach it, mean and 95%
t-interval over seeds, and how many it saves against random on the same seed.

Writes ``<data_root>/reports/labels/boost_<version>.{html,csv,png}`` (``boost_<version>_truth.*``
with ``--bought truth``) beside the experiment's and the sweep's reports (and links them).
"""

from __future__ import annotations

import argparse
import html
import logging
import math
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lineage.catalog import Catalog
from transforms.labels import boost as logic
from transforms.labels.labelers import dawid_skene
from transforms.spam import text_scores
from user_pipeline.config import PipelineConfig, load_config
from user_pipeline.labels import plots
from user_pipeline.labels.common import report_uri, sweep_page, write_report
from user_pipeline.labels.sweep import Pool, fmt_interval, load_inputs, parse_list
from user_pipeline.training.spam_filter import evaluation_metrics, fit_text_model

log = logging.getLogger("user_pipeline.labels.boost")
THRESHOLD = 0.5
LABELS, TRUTH = "labels", "truth"
BOUGHT = (LABELS, TRUTH)


def page_name(version: str, bought: str = LABELS) -> str:
    """Name of the boost page of a labels version (and of what a chosen message's label is)."""
    return f"boost_{version}.html" if bought == LABELS else f"boost_{version}_{bought}.html"


def label_doubt(labels: pd.DataFrame, pool: Pool) -> np.ndarray:
    """Per pool message, ``transforms.labels.boost.doubt`` of its Dawid–Skene posterior."""
    posterior = dawid_skene(labels).messages.set_index("message_id")["confidence"]
    return logic.doubt(posterior.loc[pool.message_id].to_numpy(dtype=np.float64))


def _f1(model, holdout: pd.DataFrame) -> dict:
    metrics = evaluation_metrics(holdout["label"], text_scores(model, holdout["text"]), THRESHOLD)
    return {"f1": metrics["f1"], "average_precision": metrics["average_precision"]}


def _fit(cfg: PipelineConfig, texts: np.ndarray, spam: np.ndarray):
    return fit_text_model(texts, np.where(spam, "spam", "ham"), cfg)


def bought_labels(pool: Pool, bought: str) -> np.ndarray:
    """The label (bool spam) a message gets when it is chosen: the labels version's resolved
    label, or its true label (gold: a reviewer who settles every label bought)."""
    if bought == LABELS:
        return pool.given
    if bought == TRUTH:
        if pool.truth_source != "gold":
            raise ValueError("--bought truth needs gold labels covering the pool "
                             "(ground_truth/spam_labels_gold.parquet); there are none")
        return pool.truth
    raise ValueError(f"unknown --bought {bought!r}; known: {list(BOUGHT)}")


def run_seed(pool: Pool, doubt: np.ndarray, holdout: pd.DataFrame, cfg: PipelineConfig, seed: int,
             strategies: Sequence[str], start: int, batch: int, budget: int,
             bought: str = "labels") -> tuple[list[dict], dict]:
    """The learning curve of every strategy for one seed (one row per batch), and the target: the
    held-out scores of the model trained on the whole pool in this seed's order."""
    order = np.random.default_rng([seed, 0]).permutation(len(pool))
    text, spam, d = pool.text[order], bought_labels(pool, bought)[order], doubt[order]
    target = {"seed": seed, **_f1(_fit(cfg, text, spam), holdout)}
    initial = logic.seed_set(spam, start, seed)
    rows = []
    for strategy in strategies:
        rng = np.random.default_rng([seed, 1, logic.STRATEGIES.index(strategy)])
        labelled = np.zeros(len(pool), dtype=bool)
        labelled[initial] = True
        while True:
            model = _fit(cfg, text[labelled], spam[labelled])
            count = int(labelled.sum())
            rows.append({"seed": seed, "strategy": strategy, "labels": count,
                         "spam_share": float(spam[labelled].mean()), **_f1(model, holdout)})
            if count >= budget:
                break
            available = np.flatnonzero(~labelled)
            probability = (np.full(len(available), 0.5) if strategy == logic.RANDOM
                           else text_scores(model, text[available]))
            labelled[logic.select(strategy, available, probability, d[available], min(batch, budget - count),
                                  rng)] = True
    return rows, target


@dataclass
class BoostReport:
    """Everything the command reports (frames, so tests and the CLI read the same numbers)."""

    curves: pd.DataFrame      # seed, strategy, labels, spam_share, f1, average_precision
    targets: pd.DataFrame     # seed, f1, average_precision of the whole pool
    needed: pd.DataFrame      # seed, strategy, needed
    summary: pd.DataFrame     # transforms.labels.boost.NEEDED_COLUMNS, saved against random
    versus_uncertainty: pd.DataFrame  # the same, saved against uncertainty alone (what the doubt adds)
    curve_summary: pd.DataFrame
    pool: int
    budget: int

    @property
    def target(self) -> float:
        return float(self.targets["f1"].mean())


def run_boost(pool: Pool, doubt: np.ndarray, holdout: pd.DataFrame, cfg: PipelineConfig, seeds: int,
              strategies: Sequence[str], start: int, batch: int, budget: int, jobs: int = 1,
              bought: str = LABELS) -> BoostReport:
    """Every seed's curves, and what they say."""
    unknown = set(strategies) - set(logic.STRATEGIES)
    if unknown:
        raise ValueError(f"unknown strategies {sorted(unknown)}; known: {list(logic.STRATEGIES)}")
    if not start < budget <= len(pool):
        raise ValueError(f"the budget must exceed the seed set ({start}) and fit the pool ({len(pool)}), got {budget}")
    bought_labels(pool, bought)  # fail before any fitting
    arguments = (pool, doubt, holdout, cfg)
    if jobs <= 1:
        results = [run_seed(*arguments, seed, strategies, start, batch, budget, bought) for seed in range(seeds)]
    else:
        with ProcessPoolExecutor(max_workers=jobs) as executor:
            results = list(executor.map(run_seed, *zip(*[(*arguments, seed, strategies, start, batch, budget, bought)
                                                         for seed in range(seeds)], strict=True)))
    curves = pd.DataFrame([row for rows, _ in results for row in rows])
    targets = pd.DataFrame([target for _, target in results])
    needed = logic.needed_per_seed(curves, targets.set_index("seed")["f1"])
    return BoostReport(curves, targets, needed, logic.needed_summary(needed),
                       logic.needed_summary(needed, baseline=logic.UNCERTAINTY), logic.curve_summary(curves),
                       len(pool), budget)


# -- the report --------------------------------------------------------------------------------------
def needed_table(report: BoostReport) -> pd.DataFrame:
    """The headline for people: labels needed [95% CI] and saved against random and against
    uncertainty alone [95% CI]."""
    def needed(r) -> str:
        if r.reached == 0:
            return "not reached"
        if r.reached < r.seeds:
            return f"not reached on {r.seeds - r.reached} of {r.seeds} seeds"
        return fmt_interval(r.needed, r.needed_low, r.needed_high, 0)

    s = report.summary
    return pd.DataFrame({
        "strategy": s["strategy"],
        "seeds reaching the target": [f"{r.reached} of {r.seeds}" for r in s.itertuples()],
        "labels needed [95% CI]": [needed(r) for r in s.itertuples()],
        "share of the pool": [("" if math.isnan(r.needed) else f"{r.needed / report.pool:.0%}")
                              for r in s.itertuples()],
        "labels saved vs random [95% CI]": [fmt_interval(r.saved, r.saved_low, r.saved_high, 0)
                                            for r in s.itertuples()],
        "labels saved vs uncertainty [95% CI]": [
            fmt_interval(r.saved, r.saved_low, r.saved_high, 0) if r.strategy == logic.DISAGREEMENT else ""
            for r in report.versus_uncertainty.itertuples()],
    })


def f1_table(report: BoostReport, points: int = 8) -> pd.DataFrame:
    """Mean F1 [95% CI] per strategy at up to ``points`` label counts spread over the curve."""
    cs = report.curve_summary
    counts = np.sort(cs["labels"].unique())
    shown = counts[np.unique(np.linspace(0, len(counts) - 1, min(points, len(counts))).round().astype(int))]
    cells = cs[cs["labels"].isin(shown)].assign(
        value=lambda f: [fmt_interval(r.f1, r.f1_low, r.f1_high) for r in f.itertuples()])
    wide = cells.pivot(index="labels", columns="strategy", values="value")
    return wide[[s for s in logic.STRATEGIES if s in wide.columns]].reset_index()


METHOD = (
    "Method: per seed the pool is shuffled once and a stratified random seed set is labelled; each strategy "
    "then adds a batch at a time, the model trained on the labels so far choosing the next batch. Uncertainty: "
    "largest 1 − 2|p − 0.5|. Uncertainty+disagreement: largest 1 − 2|p − 0.5| + 2(1 − c), c the Dawid–Skene "
    "posterior of the message's resolved label (ties to the larger doubt). Labels needed: per seed, where the "
    "curve first reaches the F1 of the model on the whole pool (linear in log labels between "
    "batches; never extrapolated). Intervals are 95% Student-t over seeds; savings are paired by seed."
)


def render_html(report: BoostReport, title: str, settings: str, png: str, links: str) -> str:
    """A self-contained page but for the PNG beside it."""
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:80em}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:.25em .5em;text-align:left}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(settings)}</p>
<p>Pool: {report.pool} messages; target: F1 {report.target:.3f} of the model trained on all of them
(average precision {report.targets["average_precision"].mean():.3f}).</p>
<p>{html.escape(METHOD)}</p>
<h2>Labels needed to reach the F1 of all labels</h2>{needed_table(report).to_html(index=False)}
<p><img src="{html.escape(png)}" alt="held-out F1 against labels spent, per strategy"></p>
<h2>Held-out F1 against labels spent, mean [95% CI]</h2>{f1_table(report).to_html(index=False)}
{links}
</body></html>"""


def _links(catalog: Catalog, version: str) -> str:
    """Links to the experiment's and the sweep's reports of the same labels version, where they exist."""
    items = []
    for name, what in ((f"experiment_{version}.md", "hold the model fixed, change the labels (experiment)"),
                       (sweep_page(version), "clean or collect (label-noise sweep)")):
        if catalog.fs.exists(catalog.fs_path(report_uri(catalog, name))):
            items.append(f'<li><a href="{html.escape(name)}">{html.escape(what)}</a></li>')
    return f"<h2>Beside it</h2><ul>{''.join(items)}</ul>" if items else ""


def run(argv: Sequence[str] | None = None) -> BoostReport:
    """Run the comparison, write its page, CSV and chart; returns the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels-version", help="reference.spam_labels version (default: spam.labels_version)")
    parser.add_argument("--seeds", type=int, default=10, help="repeats (shuffles of the pool, seed sets)")
    parser.add_argument("--batch", type=int, default=100, help="labels added per round")
    parser.add_argument("--start", type=int, default=100, help="labels of the stratified random seed set")
    parser.add_argument("--budget", type=int, help="stop at this many labels (default: the whole pool)")
    parser.add_argument("--strategies", default=",".join(logic.STRATEGIES), help="strategies to compare")
    parser.add_argument("--bought", choices=BOUGHT, default=LABELS,
                        help="the label a chosen message gets: the labels version's, or its gold label (a reviewer)")
    parser.add_argument("--jobs", type=int, default=1, help="processes (one seed each)")
    parser.add_argument("--holdout", help="held-out messages Parquet (default: <data_root>/ground_truth/...)")
    parser.add_argument("--config", help="pipeline YAML (default: $PIPELINE_CONFIG or conf/pipeline.yaml)")
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    catalog = Catalog(cfg)
    version = args.labels_version or cfg.spam.labels_version
    labels, pool, holdout = load_inputs(catalog, version, args.holdout)
    budget = args.budget or len(pool)
    strategies = parse_list(str, args.strategies)
    report = run_boost(pool, label_doubt(labels, pool), holdout, cfg, args.seeds, strategies, args.start,
                       args.batch, budget, args.jobs, args.bought)
    page = page_name(version, args.bought)
    prefix = page.removesuffix(".html")
    png = f"{prefix}.png"
    write_report(catalog, png, plots.learning_curves(report.curve_summary, report.target))
    write_report(catalog, f"{prefix}.csv", report.curves.to_csv(index=False).encode())
    title = f"Labels spent where they count: active learning on reference.spam_labels version={version}"
    settings = (f"Labels bought: {'the labels version' if args.bought == LABELS else 'gold (a reviewer)'}. "
                f"Strategies {strategies}, seed set {args.start}, batches of {args.batch}, budget {budget}, "
                f"{args.seeds} seeds; the spam filter's text model with spam.model = {cfg.spam.model.model_dump()}.")
    uri = write_report(catalog, page, render_html(report, title, settings, png, _links(catalog, version)).encode())
    print(f"{title}\n{settings}\ntarget F1 (all {report.pool} labels): {report.target:.3f}")
    print(needed_table(report).to_string(index=False))
    print(f"saved: {uri} (and .csv, .png)")
    return report


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    run()
