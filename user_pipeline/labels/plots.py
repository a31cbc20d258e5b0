"""Charts of the label-noise sweep: F1 (or another measure) against training size per arm, one panel per noise rate."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pandas as pd

from transforms.labels import sweep as logic

# One colour per arm, so every chart reads the same way.
COLOURS = {logic.NOISY: "#dc2626", logic.DETECTOR: "#2563eb", logic.REVIEW: "#16a34a", logic.GOLD: "#111827"}
MORE_COLOURS = ("#f59e0b", "#a855f7", "#0891b2")


def against_size(summary: pd.DataFrame, kind: str, arms: Sequence[str], metric: str = "f1",
                 label: str = "F1") -> bytes:
    """PNG: for noise ``kind``, one panel per rate; in each, the mean of ``metric`` (``label``) on
    the held-out messages against the training size ``n`` per arm, with its 95% interval as a band. The ``kx noisy``
    arms are drawn at their base size ``n`` (they train on ``k n``), so "clean or collect" is a
    vertical comparison."""
    import matplotlib

    matplotlib.use("Agg")  # files only
    import matplotlib.pyplot as plt

    cell = summary[summary["kind"] == kind]
    rates = sorted(cell["rate"].unique())
    fig, axes = plt.subplots(1, len(rates), figsize=(4.2 * len(rates), 3.6), sharey=True, squeeze=False)
    more = iter(MORE_COLOURS * 3)
    colours = {arm: COLOURS.get(arm) or next(more) for arm in arms}
    for ax, rate in zip(axes[0], rates, strict=True):
        for arm in arms:
            line = cell[(cell["rate"] == rate) & (cell["arm"] == arm)].sort_values("size")
            if line.empty:
                continue
            dashed = arm not in (logic.NOISY, logic.DETECTOR, logic.REVIEW)
            ax.plot(line["size"], line[metric], marker="o", ms=3, label=arm, color=colours[arm],
                    linestyle="--" if dashed else "-")
            ax.fill_between(line["size"], line[f"{metric}_low"], line[f"{metric}_high"], color=colours[arm], alpha=0.12,
                            linewidth=0)
        ax.set_xscale("log")
        ax.set_title(f"{kind} noise {rate:.1%}" if kind != logic.LABELLED else f"labels as labelled ({rate:.1%} wrong)",
                     fontsize=9)
        ax.set_xlabel("training messages n (kx noisy: k·n)", fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=8)
    axes[0][0].set_ylabel(f"held-out {label}", fontsize=8)
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


STRATEGY_COLOURS = {"random": "#6b7280", "uncertainty": "#2563eb", "uncertainty+disagreement": "#16a34a"}


def learning_curves(curves: pd.DataFrame, target: float, label: str = "F1") -> bytes:
    """PNG: mean held-out ``label`` (column ``f1``) against labels spent, one line per strategy
    with its 95% interval as a band, and the full labelled pool's score as a dotted line."""
    import matplotlib

    matplotlib.use("Agg")  # files only
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.0))
    for strategy, line in curves.groupby("strategy", sort=False):
        line = line.sort_values("labels")
        colour = STRATEGY_COLOURS.get(strategy)
        ax.plot(line["labels"], line["f1"], marker="o", ms=2, label=strategy, color=colour)
        # a t-interval over few seeds can pass the bounds of a score; the score cannot
        ax.fill_between(line["labels"], line["f1_low"].clip(0, 1), line["f1_high"].clip(0, 1), color=colour,
                        alpha=0.15, linewidth=0)
    ax.axhline(target, color="#111827", linestyle=":", linewidth=1, label=f"all labels ({target:.3f})")
    ax.set_xscale("log")
    ax.set_xlabel("labels spent", fontsize=8)
    ax.set_ylabel(f"held-out {label}", fontsize=8)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()
