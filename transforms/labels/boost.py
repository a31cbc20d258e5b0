"""Labels spent where they count: what to label next, and how many labels a strategy needs.

Pure functions (numpy, pandas, scikit-learn's splitter; no model fitting, no I/O):
``user_pipeline.labels.boost`` fits the spam filter's text model on the labelled sets these
functions choose.

**Pool-based active learning.** Per seed, a stratified random seed set (``seed_set``) is labelled
first; then, batch after batch, the model trained on what is labelled so far scores the rest of
the pool and a strategy picks the next ``batch`` messages to label (``select``):

- ``random``: a uniform draw (the baseline: labelling in no particular order);
- ``uncertainty``: the messages the model is least sure of, largest ``uncertainty(p) = 1 - 2|p - 0.5|``
  (1 at p = 0.5, 0 at p = 0 or 1);
- ``uncertainty+disagreement``: largest ``uncertainty(p) + DOUBT_WEIGHT * doubt``, where
  ``doubt = 2 (1 - c)`` and ``c`` is the message's Dawid–Skene posterior of its resolved label
  (``transforms.labels.labelers``): 1 where the labelers split evenly or the posterior is 50/50,
  0 where the label is certain. Labelers who disagree lower ``c``; a message labelled once by a
  labeler of lower estimated accuracy lowers it a little. Ties of the sum go to the larger
  doubt (of two equally uncertain messages, label the one the labelers doubt).

Every remaining tie goes to the earlier position in the seed's shuffled pool order, so a run is a
function of its seed. No message is chosen twice; every batch has exactly ``batch`` messages but
the last, which takes what is left.

Where the doubt comes from: it is read from the label rows of the labels version, i.e. from a
first labelling pass that already went over the pool (one or more labelers per message). What
the strategies spend is the adjudicated label that enters the training set; on a pool labelled
only once the doubt is each labeler's estimated reliability.

**Labels needed** (``labels_needed``): a strategy's F1 on the held-out messages after each
batch is a learning curve; the labels it needs to reach a target F1 (that of the model trained
on the whole labelled pool) are read off it where it first reaches the target, linear in
log(labels) between measured points (``transforms.labels.sweep.equivalent_size``); ``inf``
("not reached") when no measured point gets there (never extrapolated). Over seeds
(``needed_summary``): the mean and 95% t-interval of the per-seed counts when every seed reached
the target, and of the labels saved against ``random`` on the same seed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from transforms.labels.sweep import equivalent_size, t_interval

RANDOM, UNCERTAINTY, DISAGREEMENT = "random", "uncertainty", "uncertainty+disagreement"
STRATEGIES = (RANDOM, UNCERTAINTY, DISAGREEMENT)
DOUBT_WEIGHT = 1.0


def uncertainty(probability: np.ndarray) -> np.ndarray:
    """``1 - 2|p - 0.5|`` per message: 1 where the model cannot tell, 0 where it is sure."""
    return 1.0 - 2.0 * np.abs(np.asarray(probability, dtype=np.float64) - 0.5)


def doubt(confidence: np.ndarray) -> np.ndarray:
    """``2 (1 - c)`` of a two-class posterior ``c`` of the resolved label (in [0.5, 1]), clipped to [0, 1]."""
    return np.clip(2.0 * (1.0 - np.asarray(confidence, dtype=np.float64)), 0.0, 1.0)


def seed_set(is_spam: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Positions of a stratified random draw of ``size`` messages (both classes, in their shares)."""
    from sklearn.model_selection import train_test_split

    is_spam = np.asarray(is_spam, dtype=bool)
    if not 2 <= size < len(is_spam):
        raise ValueError(f"the seed set needs 2 to {len(is_spam) - 1} messages, got {size}")
    if is_spam.sum() < 2 or (~is_spam).sum() < 2:
        raise ValueError("the pool needs at least two messages of each class to draw a stratified seed set")
    chosen, _ = train_test_split(np.arange(len(is_spam)), train_size=size, stratify=is_spam, random_state=seed)
    return np.sort(chosen)


def select(strategy: str, available: np.ndarray, probability: np.ndarray, label_doubt: np.ndarray,
           batch: int, rng: np.random.Generator) -> np.ndarray:
    """The next ``batch`` positions to label among ``available`` (pool positions, in the seed's
    order), by ``strategy`` (module docstring). ``probability`` and ``label_doubt`` are per
    available position; ``rng`` draws the random strategy only."""
    available = np.asarray(available, dtype=np.int64)
    if len(np.unique(available)) != len(available):
        raise ValueError("a message is available twice")
    if batch < 1:
        raise ValueError(f"a batch needs at least one message, got {batch}")
    if len(probability) != len(available) or len(label_doubt) != len(available):
        raise ValueError("one probability and one doubt per available message")
    take = min(batch, len(available))
    if strategy == RANDOM:
        return available[rng.choice(len(available), size=take, replace=False)]
    if strategy == UNCERTAINTY:
        keys = (np.arange(len(available)), -uncertainty(probability))
    elif strategy == DISAGREEMENT:
        d = np.asarray(label_doubt, dtype=np.float64)
        keys = (np.arange(len(available)), -d, -(uncertainty(probability) + DOUBT_WEIGHT * d))
    else:
        raise ValueError(f"unknown strategy {strategy!r}; known: {list(STRATEGIES)}")
    return available[np.lexsort(keys)[:take]]  # lexsort: the last key is the primary one


def labels_needed(labels: Sequence[float], f1: Sequence[float], target: float) -> float:
    """Labels at which the curve (``f1`` after ``labels``, ascending) first reaches ``target``,
    linear in log(labels) between points; ``inf`` if it never does."""
    labels = np.asarray(labels, dtype=np.float64)
    needed = equivalent_size(labels, f1, target, float(labels[0]))
    # exp(log(n)) is n only to rounding; a count of labels is not finer than a millionth
    return round(needed, 6) if math.isfinite(needed) else needed


def needed_per_seed(curves: pd.DataFrame, targets: pd.Series) -> pd.DataFrame:
    """Per seed and strategy, the labels needed to reach that seed's target. ``curves``: columns
    seed, strategy, labels, f1; ``targets``: target F1 per seed."""
    rows = []
    for (seed, strategy), curve in curves.groupby(["seed", "strategy"], sort=True):
        curve = curve.sort_values("labels")
        rows.append({"seed": seed, "strategy": strategy,
                     "needed": labels_needed(curve["labels"], curve["f1"], float(targets.loc[seed]))})
    return pd.DataFrame(rows, columns=["seed", "strategy", "needed"])


NEEDED_COLUMNS = ["strategy", "seeds", "reached", "needed", "needed_low", "needed_high", "saved", "saved_low",
                  "saved_high"]


def needed_summary(needed: pd.DataFrame, baseline: str = RANDOM, confidence: float = 0.95) -> pd.DataFrame:
    """Per strategy: seeds, seeds that reached the target, and, when all did, the mean labels
    needed with its t-interval and the labels saved against ``baseline`` on the same seed (where
    the baseline reached it on every seed too); nan otherwise."""
    wide = needed.pivot(index="seed", columns="strategy", values="needed")
    rows = []
    for strategy in [s for s in STRATEGIES if s in wide.columns] + sorted(set(wide.columns) - set(STRATEGIES)):
        values = wide[strategy].dropna()
        reached = int(np.isfinite(values).sum())
        everywhere = reached == len(values) and len(values) > 0
        mean, low, high = t_interval(values.to_numpy()) if everywhere else (math.nan,) * 3
        saved = (math.nan,) * 3
        if everywhere and baseline in wide.columns and np.isfinite(wide[baseline]).all():
            saved = t_interval((wide[baseline] - wide[strategy]).dropna().to_numpy(), confidence)
        rows.append(dict(zip(NEEDED_COLUMNS, [strategy, len(values), reached, mean, low, high, *saved], strict=True)))
    return pd.DataFrame(rows, columns=NEEDED_COLUMNS)


def curve_summary(curves: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per strategy and labels count: seeds, mean F1 and its t-interval (the plotted curves)."""
    rows = []
    for (strategy, labels), group in curves.groupby(["strategy", "labels"], sort=True):
        mean, low, high = t_interval(group["f1"].to_numpy(), confidence)
        rows.append({"strategy": strategy, "labels": int(labels), "seeds": len(group), "f1": mean, "f1_low": low,
                     "f1_high": high})
    return pd.DataFrame(rows, columns=["strategy", "labels", "seeds", "f1", "f1_low", "f1_high"])
