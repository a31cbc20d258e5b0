"""Clean or collect, for your own labels: what cleaning the flagged labels is worth in more noisy labels.

    python -m user_pipeline.labels.clean_or_collect [--labels-version v1] [--seeds 10] [--kind uniform]
        [--multiples 2,3] [--smallest 100] [--jobs 1] [--config ...]

1. **How noisy are the labels?** Three estimates from the labels version itself, no gold needed:
   the labelers' model (Dawid–Skene, ``transforms.labels.labelers``: each labeler's confusion
   matrix, so unequal and one-sided labelers count as they are), whose expected share of wrong
   label rows is ``1 - mean P(true class = the label given)``; the labelers' pairwise agreement on
   the messages labelled more than once, turned into a per-label error rate under symmetric,
   equal labelers (``transforms.labels.sweep.noise_from_agreement``); and the share of label rows
   confident learning flags (``user_pipeline.labels.noise.detect``). The labelers' model gives the
   noise rate used when at least ``MIN_MULTI_LABELLED`` messages are labelled twice (below that
   it cannot tell a labeler's errors from the messages' classes), else the flagged share; the
   page shows all three, and the labeler the model singles out.
2. **What is cleaning worth?** A sweep (``user_pipeline.labels.sweep``) on these messages at the
   reference size ``n = messages // max(multiples)`` (so the noisy curve is measured up to every
   message) and a few smaller sizes, over ``--seeds``, for two noise settings: the labels as they
   are (``labelled``) and the truth with ``--kind`` noise injected at the estimated rate (the truth
   is gold where the generator's ground truth covers the labels, else the labels themselves).
3. **The answer**: "cleaning the N flagged labels ≈ collecting M more noisy labels" at ``n``, with
   its 95% bootstrap interval (method: ``transforms.labels.sweep``), and what the same multiple
   means for all of the labels (stated as an extrapolation).

Writes ``<data_root>/reports/labels/clean_or_collect_<version>.{html,md,csv,json}`` and its charts;
the run report links the page of the pinned labels version and shows its headlines (the ``.json``).
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from lineage.catalog import Catalog
from transforms.labels import label_counts, observed_agreement
from transforms.labels import sweep as logic
from transforms.labels.labelers import dawid_skene
from user_pipeline.config import load_config
from user_pipeline.labels.common import (
    clean_or_collect_page,
    clean_or_collect_summary,
    report_uri,
    sweep_page,
    write_report,
)
from user_pipeline.labels.noise import detect
from user_pipeline.labels.sweep import (
    SweepReport,
    analyse,
    fmt_labels,
    load_inputs,
    parse_list,
    render_html,
    render_markdown,
    run_sweep,
    sweep_arguments,
    write_charts,
)

log = logging.getLogger("user_pipeline.labels.clean_or_collect")
MIN_MULTI_LABELLED = 30
REFERENCE_SIZES = 4  # sizes of the curve up to the reference size (log-spaced)


@dataclass
class NoiseEstimate:
    """How noisy a labels version looks, from the labels alone."""

    label_rows: int
    messages: int
    multi_labelled: int
    observed_agreement: float
    from_agreement: float
    flagged_rows: int
    flagged_share: float
    # The labelers' model: expected share of wrong label rows, and the labelers it singles out.
    from_labelers: float = float("nan")
    outliers: tuple[str, ...] = ()

    @property
    def identified(self) -> bool:
        """Enough messages labelled more than once for the labelers' model to be trusted."""
        return self.multi_labelled >= MIN_MULTI_LABELLED and math.isfinite(self.from_labelers)

    @property
    def rate(self) -> float:
        """The rate the answer simulates: the labelers' model's when enough messages are labelled
        twice, else the detector's flagged share."""
        return round(self.from_labelers if self.identified else self.flagged_share, 4)

    @property
    def source(self) -> str:
        if self.identified:
            return (f"the labelers' model (Dawid–Skene) on {self.label_rows} label rows, {self.multi_labelled} "
                    "messages labelled more than once")
        return (f"the detector's flagged share (only {self.multi_labelled} messages labelled twice, fewer than "
                f"{MIN_MULTI_LABELLED})")


def estimate_noise(labels: pd.DataFrame, flagged_rows: int) -> NoiseEstimate:
    """The three estimates of the module docstring for validated label rows and the detector's flag count."""
    ids, counts = label_counts(labels, min_labels=2)
    agreement = observed_agreement(counts) if len(ids) else float("nan")
    from_labelers, outliers = float("nan"), ()
    if len(labels):
        model = dawid_skene(labels).labelers
        from_labelers = 1 - float((model["labels"] * model["accuracy"]).sum() / model["labels"].sum())
        outliers = tuple(model.loc[model["outlier"], "labeler_id"])
    return NoiseEstimate(len(labels), int(labels["message_id"].nunique()), len(ids), agreement,
                         logic.noise_from_agreement(agreement), flagged_rows,
                         flagged_rows / len(labels) if len(labels) else float("nan"), from_labelers, outliers)


@dataclass
class Answer:
    """The page's figures: the noise estimate, the reference size and the sweep around it."""

    version: str
    noise: NoiseEstimate
    reference_size: int
    kind: str
    report: SweepReport

    def headlines(self) -> list[str]:
        """One sentence per noise setting and cleaned arm at the reference size: F1 (the headline),
        then the same on average precision, which no threshold moves."""
        eq = self.report.equivalents
        ap = self.report.analyses["average_precision"].equivalents.set_index(["kind", "rate", "size", "arm"])
        at = eq[eq["size"] == self.reference_size]
        out = []
        for r in at.itertuples():
            setting = (f"your labels as they are ({r.rate:.1%} differ from the truth)" if r.kind == logic.LABELLED
                       else f"{r.kind} noise at your estimated rate {r.rate:.1%}")
            m, low, high = fmt_labels(r.more_labels), fmt_labels(r.more_low), fmt_labels(r.more_high)
            scaled = ""
            if math.isfinite(r.multiple) and r.more_labels > 0:
                scaled = (f"; if the multiple x{r.multiple:.2f} held for all {self.report.pool} messages (an "
                          f"extrapolation), ≈ {(r.multiple - 1) * self.report.pool:+,.0f} noisy labels")
            worth = (f"≈ collecting {m} more noisy labels" if r.more_labels > 0 else
                     "is worth no more noisy labels (M = 0: the noisy labels did as well)")
            a = ap.loc[(r.kind, r.rate, r.size, r.arm)]
            out.append(f"{setting}, {r.size} messages: {r.arm} ({r.labels_changed:.0f} labels changed, F1 "
                       f"{r.noisy:.3f} -> {r.cleaned:.3f}) {worth} (95% CI [{low}, {high}], {r.seeds} seeds)"
                       f"{scaled}; on average precision ({a.noisy:.3f} -> {a.cleaned:.3f}) M = "
                       f"{fmt_labels(a.more_labels)} [{fmt_labels(a.more_low)}, {fmt_labels(a.more_high)}]")
        return out


def answer(catalog: Catalog, cfg, version: str, kind: str, seeds: int, multiples: Sequence[int],
           smallest: int = 100, jobs: int = 1, holdout_uri: str | None = None) -> Answer:
    """Estimate the noise of ``version`` and run the sweep around its reference size."""
    labels, pool, holdout = load_inputs(catalog, version, holdout_uri)
    candidates, _ = detect(labels, cfg)
    noise = estimate_noise(labels, candidates.num_rows)
    multiples = tuple(sorted(set(multiples)))
    reference = len(pool) // max(multiples)
    sizes = logic.geometric_sizes(min(smallest, reference), reference, REFERENCE_SIZES)
    g = logic.grid(sizes, multiples, len(pool))
    runs, skipped = run_sweep(pool, holdout, cfg, g, [logic.LABELLED, kind], [noise.rate], seeds, jobs)
    return Answer(version, noise, reference, kind, analyse(runs, skipped, g.multiples, pool))


def noise_lines(noise: NoiseEstimate) -> list[str]:
    agreement = ("not measurable (no message labelled twice)" if not math.isfinite(noise.observed_agreement)
                 else f"{noise.observed_agreement:.3f} on {noise.multi_labelled} messages labelled more than once "
                      f"-> per-label error ≈ {noise.from_agreement:.1%}")
    singled = (f"; singled out for one-sided errors: {', '.join(noise.outliers)}" if noise.outliers else "")
    return [f"{noise.label_rows} label rows on {noise.messages} messages",
            f"the labelers' model (Dawid–Skene): expected share of wrong label rows {noise.from_labelers:.1%}{singled}",
            f"labeler agreement: {agreement}",
            f"the detector flags {noise.flagged_rows} label rows ({noise.flagged_share:.1%})",
            f"noise rate simulated: {noise.rate:.1%}, from {noise.source}"]


def run(argv: Sequence[str] | None = None) -> Answer:
    """Answer "clean or collect" for one labels version; print and write the page."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sweep_arguments(parser)
    parser.add_argument("--kind", default="uniform", choices=logic.KINDS,
                        help="noise kind injected at the estimated rate")
    parser.add_argument("--smallest", type=int, default=100, help="smallest training size of the curve")
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    catalog = Catalog(cfg)
    version = args.labels_version or cfg.spam.labels_version
    result = answer(catalog, cfg, version, args.kind, args.seeds, parse_list(int, args.multiples), args.smallest,
                    args.jobs, args.holdout)
    page = clean_or_collect_page(version)
    prefix = page.removesuffix(".html")
    write_charts(catalog, result.report, prefix)
    title = f"Clean or collect? reference.spam_labels version={version}"
    settings = (f"Reference size {result.reference_size} messages (all {result.report.pool} // "
                f"{max(result.report.multiples)}), curve sizes {sorted(result.report.runs['size'].unique().tolist())}, "
                f"multiples {list(result.report.multiples)}, {args.seeds} seeds; noise settings: the labels as they "
                f"are, and {args.kind} noise at {result.noise.rate:.1%}.")
    lines, headlines = noise_lines(result.noise), result.headlines()
    sweep_uri = report_uri(catalog, sweep_page(version))
    intro = ("<h2>Your labels</h2><ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in lines) + "</ul>"
             "<h2>Cleaning N flagged labels ≈ collecting M more noisy labels</h2><ul>"
             + "".join(f"<li>{html.escape(x)}</li>" for x in headlines) + "</ul>"
             f'<p>The full sweep over sizes, rates and kinds, if run: <a href="{html.escape(sweep_page(version))}">'
             f"{html.escape(sweep_page(version))}</a> (<code>python -m user_pipeline.labels.sweep</code>).</p>")
    markdown = ("## Your labels\n\n" + "".join(f"- {x}\n" for x in lines)
                + "\n## Cleaning N flagged labels ≈ collecting M more noisy labels\n\n"
                + "".join(f"- {x}\n" for x in headlines) + "\n"
                + render_markdown(result.report, title, settings).replace(f"# {title}\n", "## Details\n", 1))
    write_report(catalog, f"{prefix}.csv", result.report.runs.to_csv(index=False).encode())
    # What the run report shows of this page (user_pipeline.reports.run_report.labels_section).
    summary = {"headlines": headlines, "noise": lines}
    write_report(catalog, clean_or_collect_summary(version), json.dumps(summary).encode())
    write_report(catalog, f"{prefix}.md", f"# {title}\n\n{markdown}".encode())
    uri = write_report(catalog, page, render_html(result.report, title, settings, intro).encode())
    print("\n".join(lines + headlines))
    print(f"saved: {uri} (and .md, .csv, charts); the sweep page, when run: {sweep_uri}")
    return result


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    run()
