"""Clean or collect? The label-noise sweep: training size x noise rate x noise kind, over seeds.

    python -m user_pipeline.labels.sweep [--labels-version v1] [--sizes 100,250,500,1000,1400]
        [--rates 0.05,0.12,0.25] [--kinds uniform,class_conditional,systematic,labelled]
        [--multiples 2,3] [--seeds 10] [--jobs 1] [--config ...]

The spam filter's text model and settings are held fixed (``fit_text_model``); only the labels
change. For every seed, noise kind and rate, and training size ``n`` (bookkeeping and noise
kinds: ``transforms.labels.sweep``), the arms are:

- ``noisy``: the first ``n`` messages with the noisy labels;
- ``cleaned by the detector``: the same messages after accepting every change confident learning
  suggests (``user_pipeline.labels.noise.detect``, cross-validated inside those ``n`` only);
- ``cleaned by review``: the same flagged messages given their true label (a reviewer who
  looks at the flagged items only); the noise the detector missed stays;
- ``kx noisy``: the first ``k n`` messages with noisy labels (``--multiples``, where the pool holds them);
- ``true labels``: the first ``n`` messages with their true labels (the ceiling).

The truth is ``ground_truth/spam_labels_gold.parquet`` when it covers the labels version (the
generated data), else the labels version's own resolved labels: noise is then injected on top of
the labels as they are, and "true" means "as labelled". Every arm is evaluated on the held-out
messages (``ground_truth/spam_holdout.parquet``, split off by the normalised-text hash before any
labelling; a held-out text also in the pool is an error), F1 at threshold 0.5.

Writes ``<data_root>/reports/labels/sweep_<version>.{html,md,csv}`` (every run, the summary with
95% t-intervals over seeds, the paired gains of cleaning over the noisy and doubled arms, and what
cleaning is worth in noisy labels) and one PNG of F1 against size per noise kind.
"""

from __future__ import annotations

import argparse
import html
import logging
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lineage.catalog import Catalog
from transforms.labels import resolve_labels
from transforms.labels import sweep as logic
from transforms.spam import text_scores
from user_pipeline.config import PipelineConfig, load_config
from user_pipeline.labels import plots
from user_pipeline.labels.common import sweep_page, write_report
from user_pipeline.labels.experiment import load_gold
from user_pipeline.labels.noise import detect
from user_pipeline.training.spam_filter import (
    check_disjoint,
    evaluation_metrics,
    fit_text_model,
    load_holdout,
    load_labels,
)

log = logging.getLogger("user_pipeline.labels.sweep")
THRESHOLD = 0.5
METRICS = ("f1", "precision", "recall", "average_precision")
DEFAULT_SIZES = (100, 250, 500, 1000, 1400)
DEFAULT_RATES = (0.04, 0.12, 0.25)


@dataclass
class Pool:
    """The labelled messages a sweep draws from (one label per message)."""

    message_id: np.ndarray
    text: np.ndarray
    given: np.ndarray       # bool spam: the labels version, resolved per message
    truth: np.ndarray       # bool spam: gold where known, else ``given``
    truth_source: str       # "gold" or "the labels as labelled"
    promotional: np.ndarray
    cue: np.ndarray

    def __len__(self) -> int:
        return len(self.message_id)

    @property
    def labelled_noise(self) -> float:
        """Share of messages whose resolved label differs from the truth (0 without gold)."""
        return float((self.given != self.truth).mean())


def make_pool(resolved: pd.DataFrame, gold: pd.Series | None) -> Pool:
    """The pool of resolved labels; gold is the truth only when it covers every message."""
    ids = resolved["message_id"].to_numpy(dtype=object)
    given = (resolved["label"].to_numpy(dtype=object) == "spam")
    covered = gold is not None and pd.Index(ids).isin(gold.index).all()
    truth = (gold.loc[ids].to_numpy(dtype=object) == "spam") if covered else given.copy()
    text = resolved["text"].to_numpy(dtype=object)
    promotional, cue = logic.spam_cues(text)
    return Pool(ids, text, given, truth, "gold" if covered else "the labels as labelled", promotional, cue)


def load_inputs(catalog: Catalog, version: str, holdout_uri: str | None = None
                ) -> tuple[pd.DataFrame, Pool, pd.DataFrame]:
    """The validated label rows, their pool and the held-out messages (disjoint from the pool)."""
    _, labels = load_labels(catalog, version)
    pool = make_pool(resolve_labels(labels), load_gold(catalog))
    holdout, _ = load_holdout(catalog, holdout_uri)
    check_disjoint(pd.Series(pool.text), holdout["text"])
    return labels, pool, holdout


# -- one seed ------------------------------------------------------------------------------------
def _evaluate(cfg: PipelineConfig, holdout: pd.DataFrame, texts: np.ndarray, spam: np.ndarray) -> dict:
    model = fit_text_model(texts, np.where(spam, "spam", "ham"), cfg)
    metrics = evaluation_metrics(holdout["label"], text_scores(model, holdout["text"]), THRESHOLD)
    return {m: metrics[m] for m in METRICS}


def _flagged(cfg: PipelineConfig, ids: np.ndarray, texts: np.ndarray, spam: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Positions the detector flags among these messages, and its suggested label (bool spam) for each."""
    frame = pd.DataFrame({"message_id": ids, "text": texts, "label": np.where(spam, "spam", "ham"),
                          "labeler_id": "sweep"})
    candidates, _ = detect(frame, cfg)
    position = pd.Series(np.arange(len(ids)), index=ids)
    flagged = position.loc[candidates.column("message_id").to_pylist()].to_numpy(dtype=np.int64)
    suggested = np.asarray(candidates.column("suggested_label").to_pylist(), dtype=object) == "spam"
    return flagged, suggested


def run_seed(pool: Pool, holdout: pd.DataFrame, cfg: PipelineConfig, g: logic.Grid, kinds: Sequence[str],
             rates: Sequence[float], seed: int) -> tuple[list[dict], list[dict]]:
    """Every arm of every (kind, rate, size) for one seed: one row per arm (module docstring); and
    the (kind, rate) this seed's order cannot hold, with the reason (they are skipped, not fatal)."""
    order = np.random.default_rng([seed, 0]).permutation(len(pool))
    ids, text, truth = pool.message_id[order], pool.text[order], pool.truth[order]
    cache: dict[tuple, dict] = {}

    def evaluate(key: tuple, n: int, spam: np.ndarray) -> dict:
        if key not in cache:  # nested prefixes: "2x noisy" at n is "noisy" at 2n
            cache[key] = _evaluate(cfg, holdout, text[:n], spam)
        return cache[key]

    rows, skipped = [], []
    for kind in kinds:
        for rate in ([round(pool.labelled_noise, 4)] if kind == logic.LABELLED else rates):
            if kind == logic.LABELLED:
                labels = pool.given[order]
            else:
                weights = logic.flip_weights(kind, truth, pool.promotional[order], pool.cue[order])
                noise_rng = np.random.default_rng([seed, 1, logic.KINDS.index(kind), round(rate * 1e6)])
                try:
                    labels = truth ^ logic.inject_noise(weights, rate, g.boundaries, noise_rng)
                except logic.NoiseError as exc:
                    skipped.append({"seed": seed, "kind": kind, "rate": rate, "reason": str(exc)})
                    continue

            for size in g.sizes:
                def row(arm: str, n: int, spam: np.ndarray, metrics: dict, changed: int = 0, flagged: int = 0,
                        cell: tuple = (kind, rate, size)) -> dict:
                    return {"seed": seed, **dict(zip(logic.CELL, cell, strict=True)), "arm": arm,
                            "train_messages": n, "measured_noise": float((spam != truth[:n]).mean()),
                            "labels_changed": changed, "flagged": flagged, **metrics}

                noisy = labels[:size]
                rows.append(row(logic.NOISY, size, noisy, evaluate((kind, rate, size), size, noisy)))
                try:
                    flagged, suggested = _flagged(cfg, ids[:size], text[:size], noisy)
                except ValueError as exc:
                    raise ValueError(f"detection failed at seed {seed}, {kind} noise {rate}, size {size}: "
                                     f"{exc}") from exc
                detector = noisy.copy()
                detector[flagged] = suggested
                rows.append(row(logic.DETECTOR, size, detector, _evaluate(cfg, holdout, text[:size], detector),
                                int((detector != noisy).sum()), len(flagged)))
                if not (kind == logic.LABELLED and pool.truth_source != "gold"):  # no truth to review with
                    reviewed = noisy.copy()
                    reviewed[flagged] = truth[flagged]
                    rows.append(row(logic.REVIEW, size, reviewed, _evaluate(cfg, holdout, text[:size], reviewed),
                                    int((reviewed != noisy).sum()), len(flagged)))
                rows.append(row(logic.GOLD, size, truth[:size], evaluate(("truth", size), size, truth[:size])))
                for k in g.more(size):
                    more = labels[:k * size]
                    metrics = evaluate((kind, rate, k * size), k * size, more)
                    rows.append(row(logic.more_arm(k), k * size, more, metrics))
    return rows, skipped


def run_sweep(pool: Pool, holdout: pd.DataFrame, cfg: PipelineConfig, g: logic.Grid, kinds: Sequence[str],
              rates: Sequence[float], seeds: int, jobs: int = 1,
              progress: Callable[[int], None] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every run of the sweep (one row per seed, kind, rate, size and arm), and the skipped
    (seed, kind, rate) with their reasons."""
    for kind in kinds:
        if kind != logic.LABELLED:
            logic.flip_weights(kind, pool.truth[:1], pool.promotional[:1], pool.cue[:1])  # unknown kind: fail now
    rows: list[dict] = []
    skipped: list[dict] = []

    def collect(seed: int, result: tuple[list[dict], list[dict]]) -> None:
        rows.extend(result[0])
        skipped.extend(result[1])
        if progress:
            progress(seed)

    if jobs <= 1:
        for seed in range(seeds):
            collect(seed, run_seed(pool, holdout, cfg, g, kinds, rates, seed))
    else:
        with ProcessPoolExecutor(max_workers=jobs) as executor:
            futures = [executor.submit(run_seed, pool, holdout, cfg, g, kinds, rates, seed) for seed in range(seeds)]
            for seed, future in enumerate(futures):
                collect(seed, future.result())
    return pd.DataFrame(rows), pd.DataFrame(skipped, columns=["seed", "kind", "rate", "reason"])


# -- what the runs say -----------------------------------------------------------------------------
# What the reports show, each with its own tables and charts: F1 at THRESHOLD, the pipeline's own
# measure, and average precision, which no threshold moves. F1 at a fixed threshold also moves
# with the spam share the labels teach (more spam labels, higher scores, more recall), so noise
# that adds spam labels can raise it; average precision only sees the ranking.
REPORTED = {"f1": f"F1 at threshold {THRESHOLD}", "average_precision": "average precision (threshold-free)"}


def noisy_curve(runs: pd.DataFrame, kind: str, rate: float, metric: str = "f1") -> pd.DataFrame:
    """``metric`` of the noisy labels per seed (rows) and training messages (columns): the noisy
    arm and the ``kx noisy`` arms are the same curve at more sizes."""
    cell = runs[(runs["kind"] == kind) & (runs["rate"] == rate)]
    noisy = cell[(cell["arm"] == logic.NOISY) | cell["arm"].str.endswith("x noisy")]
    wide = noisy.drop_duplicates(["seed", "train_messages"]).pivot(index="seed", columns="train_messages",
                                                                     values=metric)
    return wide.dropna(axis=1).sort_index(axis=1)


EQUIVALENT_COLUMNS = ["kind", "rate", "size", "arm", "seeds", "labels_changed", "noisy", "cleaned",
                      "equivalent_messages", "equivalent_low", "equivalent_high", "more_labels", "more_low",
                      "more_high", "multiple", "curve_max"]


def equivalents(runs: pd.DataFrame, metric: str = "f1", arms: Sequence[str] = (logic.DETECTOR, logic.REVIEW),
                sizes: Sequence[int] | None = None) -> pd.DataFrame:
    """What cleaning is worth in noisy labels per kind, rate, size and cleaned arm, on ``metric``
    (``transforms.labels.sweep.equivalent_labels``)."""
    rows = []
    for (kind, rate), cell in runs.groupby(["kind", "rate"], sort=True):
        curve = noisy_curve(runs, kind, rate, metric)
        for arm in arms:
            cleaned = cell[cell["arm"] == arm]
            for size, at in cleaned.groupby("size", sort=True):
                if (sizes is not None and size not in sizes) or size not in curve.columns:
                    continue
                at = at.set_index("seed")
                e = logic.equivalent_labels(curve, at[metric], int(size), at["labels_changed"])
                rows.append(dict(zip(EQUIVALENT_COLUMNS, [
                    kind, rate, int(size), arm, e.seeds, e.labels_changed, e.noisy_f1, e.cleaned_f1, e.equivalent,
                    e.low, e.high, e.more, e.more_low, e.more_high, e.multiple, int(curve.columns.max())],
                    strict=True)))
    return pd.DataFrame(rows, columns=EQUIVALENT_COLUMNS)


def gains(runs: pd.DataFrame, multiples: Sequence[int], metric: str = "f1") -> pd.DataFrame:
    """Paired gains (same seed) of each cleaned arm over the noisy arm and each ``kx noisy`` arm."""
    frames = [logic.paired_gain(runs, arm, baseline, metric)
              for arm in (logic.DETECTOR, logic.REVIEW)
              for baseline in (logic.NOISY, *(logic.more_arm(k) for k in multiples))]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# -- the report -------------------------------------------------------------------------------------
def fmt_interval(mean: float, low: float, high: float, digits: int = 3) -> str:
    """``mean [low, high]`` (no interval when it is unknown)."""
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return ""
    if low is None or math.isnan(low):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def fmt_labels(more: float) -> str:
    """M for people: censored where the noisy curve was not measured (never extrapolated)."""
    if math.isnan(more):
        return "?"
    if math.isinf(more):
        return "beyond the measured sizes"
    return f"{more:+,.0f}"


def summary_table(summary: pd.DataFrame, arms: Sequence[str], metric: str = "f1") -> pd.DataFrame:
    """One row per (kind, rate, size), one column per arm: mean [95% CI] of ``metric``."""
    if summary.empty:
        return pd.DataFrame()
    cells = summary.assign(value=[fmt_interval(getattr(r, metric), getattr(r, f"{metric}_low"),
                                               getattr(r, f"{metric}_high")) for r in summary.itertuples()])
    wide = cells.pivot_table(index=["kind", "rate", "size"], columns="arm", values="value", aggfunc="first")
    noise = summary[summary["arm"] == logic.NOISY].set_index(["kind", "rate", "size"])["measured_noise"]
    wide.insert(0, "measured noise", noise.map(lambda v: f"{v:.3f}"))
    return wide[["measured noise", *[a for a in arms if a in wide.columns]]].reset_index()


def equivalents_table(eq: pd.DataFrame) -> pd.DataFrame:
    """Equivalents for people: N labels changed, M more noisy labels [95% CI], the multiple."""
    if eq.empty:
        return eq
    return pd.DataFrame({
        "kind": eq["kind"], "rate": eq["rate"], "size": eq["size"], "cleaned by": eq["arm"],
        "labels changed (N)": eq["labels_changed"].map(lambda v: f"{v:.0f}"),
        "noisy -> cleaned": [f"{a:.3f} -> {b:.3f}" for a, b in zip(eq["noisy"], eq["cleaned"], strict=True)],
        "more noisy labels (M) [95% CI]": [
            f"{fmt_labels(r.more_labels)} [{fmt_labels(r.more_low)}, {fmt_labels(r.more_high)}]"
            for r in eq.itertuples()],
        "worth x the labels": eq["multiple"].map(lambda v: "?" if math.isnan(v) else f"{v:.2f}"),
    })


def arm_order(multiples: Sequence[int]) -> list[str]:
    return [logic.NOISY, logic.DETECTOR, logic.REVIEW, *(logic.more_arm(k) for k in multiples), logic.GOLD]


def to_markdown(frame: pd.DataFrame) -> str:
    """A pipe table (pandas' to_markdown needs tabulate, which the project does not install)."""
    if frame.empty:
        return "(none)\n"
    head = "| " + " | ".join(map(str, frame.columns)) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body]) + "\n"


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    return str(value)


METHOD = (
    "Method: per seed the pool is shuffled once; a training set of size n is its first n messages, "
    "\"kx noisy\" the first k·n (so arms differ only by labels or by more messages). Noise is injected "
    "exactly (every training set holds round(rate·n) flipped labels). Intervals are 95% Student-t over "
    "seeds; gains are paired by seed. \"Cleaning ≈ M more noisy labels\": the noisy arm's mean curve against "
    "training size (the noisy and kx noisy runs, linear in log size between measured sizes) is followed from n "
    "up to where it first reaches the cleaned arm's mean; M = that size − n (0: cleaning bought nothing). "
    "It is never extrapolated: \"beyond the measured sizes\" when no measured size gets there (also when more "
    "noisy labels make it worse). Its interval is a percentile bootstrap over seeds (scipy.stats.bootstrap)."
)


@dataclass
class Analysis:
    """The tables of one measure (``REPORTED``) and its charts (noise kind -> PNG name)."""

    metric: str
    summary: pd.DataFrame
    gains: pd.DataFrame
    equivalents: pd.DataFrame
    charts: dict[str, str]


@dataclass
class SweepReport:
    """Everything one sweep reports (kept as frames so tests and the CLI read the same numbers)."""

    runs: pd.DataFrame
    analyses: dict[str, Analysis]
    multiples: tuple[int, ...]
    pool: int
    truth_source: str
    skipped: pd.DataFrame

    # F1, the measure, is the report's headline; the others are read through ``analyses``.
    @property
    def summary(self) -> pd.DataFrame:
        return self.analyses["f1"].summary

    @property
    def gains(self) -> pd.DataFrame:
        return self.analyses["f1"].gains

    @property
    def equivalents(self) -> pd.DataFrame:
        return self.analyses["f1"].equivalents


def analyse(runs: pd.DataFrame, skipped: pd.DataFrame, multiples: Sequence[int], pool: Pool) -> SweepReport:
    """Summary, gains and equivalents of the runs for every reported measure (empty when every
    cell was skipped)."""
    analyses = {}
    for metric in REPORTED:
        if runs.empty:
            analyses[metric] = Analysis(metric, logic.summarise(runs, metric), pd.DataFrame(),
                                        pd.DataFrame(columns=EQUIVALENT_COLUMNS), {})
        else:
            analyses[metric] = Analysis(metric, logic.summarise(runs, metric), gains(runs, multiples, metric),
                                        equivalents(runs, metric), {})
    return SweepReport(runs, analyses, tuple(multiples), len(pool), pool.truth_source, skipped)


def _gains_view(analysis: Analysis) -> pd.DataFrame:
    g = analysis.gains
    if g.empty:
        return g
    return g.assign(gain=[fmt_interval(r.gain, r.gain_low, r.gain_high) for r in g.itertuples()])[
        ["kind", "rate", "size", "arm", "baseline", "seeds", "gain"]]


def render_markdown(report: SweepReport, title: str, settings: str) -> str:
    arms = arm_order(report.multiples)
    out = [f"# {title}\n\n{settings}\n\nTruth: {report.truth_source}. Pool: {report.pool} messages.\n\n{METHOD}\n"]
    for metric, analysis in report.analyses.items():
        name = REPORTED[metric]
        charts = "".join(f"![{kind}]({png})\n\n" for kind, png in analysis.charts.items())
        out.append(f"## {name} on the held-out messages, mean [95% CI]\n\n"
                   f"{to_markdown(summary_table(analysis.summary, arms, metric))}\n{charts}"
                   f"### Gain of cleaning ({name}, paired by seed) [95% CI]\n\n{to_markdown(_gains_view(analysis))}\n"
                   f"### Cleaning N labels ≈ collecting M more noisy labels ({name})\n\n"
                   f"{to_markdown(equivalents_table(analysis.equivalents))}\n")
    out.append(f"## Skipped (noise a seed's order cannot hold)\n\n{to_markdown(report.skipped)}")
    return "\n".join(out)


def render_html(report: SweepReport, title: str, settings: str, intro: str = "") -> str:
    """A self-contained page but for the PNG charts beside it."""
    arms = arm_order(report.multiples)
    sections = []
    for metric, analysis in report.analyses.items():
        name = html.escape(REPORTED[metric])
        charts = "".join(f'<p><img src="{html.escape(png)}" alt="{name} against training size, '
                         f'{html.escape(kind)} noise"></p>' for kind, png in analysis.charts.items())
        sections.append(
            f"<h2>{name} on the held-out messages, mean [95% CI]</h2>"
            f"{summary_table(analysis.summary, arms, metric).to_html(index=False)}{charts}"
            f"<h3>Gain of cleaning ({name}, paired by seed) [95% CI]</h3>{_gains_view(analysis).to_html(index=False)}"
            f"<h3>Cleaning N labels ≈ collecting M more noisy labels ({name})</h3>"
            f"{equivalents_table(analysis.equivalents).to_html(index=False)}")
    skipped = report.skipped.to_html(index=False) if len(report.skipped) else "<p>none</p>"
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:80em}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:.25em .5em;text-align:left}}</style></head><body>
<h1>{html.escape(title)}</h1>{intro}
<p>{html.escape(settings)}</p><p>Truth: {html.escape(report.truth_source)}. Pool: {report.pool} messages.</p>
<p>{html.escape(METHOD)}</p>
{''.join(sections)}
<h2>Skipped (noise a seed's order cannot hold)</h2>{skipped}
</body></html>"""


def write_charts(catalog: Catalog, report: SweepReport, prefix: str) -> None:
    """One PNG per measure and noise kind (panels per rate), named into each analysis' ``charts``."""
    for metric, analysis in report.analyses.items():
        for kind in analysis.summary["kind"].unique():
            name = f"{prefix}_{kind}.png" if metric == "f1" else f"{prefix}_{kind}_{metric}.png"
            write_report(catalog, name, plots.against_size(analysis.summary, kind, arm_order(report.multiples),
                                                           metric, REPORTED[metric]))
            analysis.charts[kind] = name


def parse_list(kind: type, text: str) -> list:
    return [kind(v) for v in text.split(",") if v.strip()]


def sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """The options the sweep and ``clean_or_collect`` share."""
    parser.add_argument("--labels-version", help="reference.spam_labels version (default: spam.labels_version)")
    parser.add_argument("--seeds", type=int, default=10, help="repeats (shuffles of the pool, noise draws)")
    parser.add_argument("--multiples", default="2,3", help="k of the 'k times as many noisy labels' arms")
    parser.add_argument("--jobs", type=int, default=1, help="processes (one seed each)")
    parser.add_argument("--holdout", help="held-out messages Parquet (default: <data_root>/ground_truth/...)")
    parser.add_argument("--config", help="pipeline YAML (default: $PIPELINE_CONFIG or conf/pipeline.yaml)")


def run(argv: Sequence[str] | None = None) -> SweepReport:
    """Run the sweep, write its report and charts; returns the report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sweep_arguments(parser)
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="training sizes")
    parser.add_argument("--rates", default=",".join(map(str, DEFAULT_RATES)), help="injected noise rates")
    parser.add_argument("--kinds", default=",".join(logic.KINDS),
                        help=f"noise kinds: {', '.join(logic.KINDS)}, {logic.LABELLED} (the labels as they are)")
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    catalog = Catalog(cfg)
    version = args.labels_version or cfg.spam.labels_version
    _, pool, holdout = load_inputs(catalog, version, args.holdout)
    multiples = parse_list(int, args.multiples)
    g = logic.grid(parse_list(int, args.sizes), multiples, len(pool))
    kinds, rates = parse_list(str, args.kinds), parse_list(float, args.rates)
    runs, skipped = run_sweep(pool, holdout, cfg, g, kinds, rates, args.seeds, args.jobs,
                              progress=lambda s: print(f"  seed {s + 1}/{args.seeds} done", flush=True))
    report = analyse(runs, skipped, g.multiples, pool)
    page = sweep_page(version)
    prefix = page.removesuffix(".html")
    write_charts(catalog, report, prefix)
    title = f"Clean or collect: label-noise sweep on reference.spam_labels version={version}"
    settings = (f"Sizes {list(g.sizes)}, rates {rates}, kinds {kinds}, multiples {list(g.multiples)}, "
                f"{args.seeds} seeds; the spam filter's text model with spam.model = {cfg.spam.model.model_dump()}.")
    write_report(catalog, f"{prefix}.csv", runs.to_csv(index=False).encode())
    markdown = render_markdown(report, title, settings)
    write_report(catalog, f"{prefix}.md", markdown.encode())
    uri = write_report(catalog, page, render_html(report, title, settings).encode())
    print(markdown)
    print(f"saved: {uri} (and .md, .csv, {sum(len(a.charts) for a in report.analyses.values())} PNG)")
    return report


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    run()
