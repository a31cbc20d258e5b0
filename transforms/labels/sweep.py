"""Clean or collect? The bookkeeping of the label-noise sweep and the "cleaning N ≈ collecting M" estimate.

Pure functions (numpy, pandas, scipy; no model fitting, no I/O): ``user_pipeline.labels.sweep``
fits the spam filter's text model on the training sets these functions describe.

**Training sets.** Per seed the pool of labelled messages is shuffled once; a training set of
size ``n`` is the first ``n`` messages of that order, and "k times as many noisy labels" is the
first ``k n``. Sets are nested, so the arms of one seed differ only by what the comparison is
about (more messages, or other labels on the same messages), not by which messages were drawn.

**Injected noise** (``inject_noise``): labels of the truth are flipped so that every training
set the sweep uses (each prefix length in ``boundaries``) holds exactly ``round(rate * n)``
flipped labels: the flips are placed block by block between consecutive boundaries. Which
messages of a block are flipped is drawn with probability proportional to the kind's weights
(``flip_weights``):

- ``uniform``: every message alike, either direction;
- ``class_conditional``: a spam message is ``SPAM_FLIP_WEIGHT`` times as likely to be flipped as a
  ham one (labelers miss spam more often than they invent it);
- ``systematic``: a labeling habit: ham that looks like spam is called spam. Promotional ham
  (offers, free, win, ...) first (``PROMOTIONAL_WEIGHT`` times as likely), then ham with spam cues
  (digits, currency, "!", call/txt/reply); never plain ham, never spam. A rate that needs more
  flips than a block has such ham is refused (``NoiseError``).

``labelled`` is the labels as they are (nothing injected; the noise is whatever the labelers made).

**Estimate** (``equivalent_size``): the noisy arm's mean F1 (or another metric) against training
size is read as a curve, linear in log(size) between measured sizes. Starting at the cleaned
set's size ``n`` and going up, the first size ``n*`` at which the curve reaches the cleaned arm's
F1 is what the cleaned labels are worth in noisy labels: ``M = n* - n`` more noisy labels buy
what cleaning bought. ``M = 0`` when the noisy curve at ``n`` is already as good (cleaning bought
nothing); ``inf`` when no measured size reaches it (never extrapolated; also the answer when more
noisy labels make the model worse, as systematic noise can). Its uncertainty
(``equivalent_labels``) is a percentile bootstrap over seeds (``scipy.stats.bootstrap``),
resampling whole seeds so that each resample keeps a seed's noisy and cleaned runs together.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

# The datagen's biased labeler flips these too (user_pipeline.datagen.reference imports it).
PROMOTIONAL = re.compile(
    r"\b(?:offers?|free|discounts?|win|won|winner|prizes?|deals?|sale|cash|claim|vouchers?|rewards?)\b",
    re.IGNORECASE,
)
SPAM_CUES = re.compile(r"[£$€!\d]|\b(?:call|txt|text|reply|now|urgent|mobile)\b", re.IGNORECASE)

LABELLED = "labelled"
KINDS = ("uniform", "class_conditional", "systematic")
SPAM_FLIP_WEIGHT = 4.0
PROMOTIONAL_WEIGHT = 20.0

NOISY, DETECTOR, REVIEW, GOLD = "noisy", "cleaned by the detector", "cleaned by review", "true labels"


def more_arm(multiple: int) -> str:
    """Name of the arm with ``multiple`` times as many noisy labels."""
    return f"{multiple}x noisy"


class NoiseError(ValueError):
    """Noise that cannot be injected as asked (a rate the kind cannot reach, an unknown kind)."""


# -- training sets -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Grid:
    """What one seed of the sweep fits: the sizes, the multiples that fit in the pool, and every
    prefix length (``boundaries``) whose noise must be exact."""

    sizes: tuple[int, ...]
    multiples: tuple[int, ...]
    pool: int

    def more(self, size: int) -> tuple[int, ...]:
        """The multiples of ``size`` that the pool holds (others are not run)."""
        return tuple(k for k in self.multiples if k * size <= self.pool)

    @property
    def boundaries(self) -> tuple[int, ...]:
        return tuple(sorted({*self.sizes, *(k * n for n in self.sizes for k in self.more(n))}))


def grid(sizes: Sequence[int], multiples: Sequence[int], pool: int) -> Grid:
    """Validated sweep sizes (distinct, ascending, each at most the pool) and multiples (> 1)."""
    sizes = tuple(sorted({int(n) for n in sizes}))
    multiples = tuple(sorted({int(k) for k in multiples}))
    if not sizes or sizes[0] < 1:
        raise ValueError(f"training sizes must be positive, got {list(sizes)}")
    if sizes[-1] > pool:
        raise ValueError(f"training size {sizes[-1]} exceeds the {pool} messages of the pool")
    if any(k < 2 for k in multiples):
        raise ValueError(f"multiples of the noisy labels must be at least 2, got {list(multiples)}")
    return Grid(sizes, multiples, pool)


def geometric_sizes(smallest: int, largest: int, count: int) -> list[int]:
    """``count`` sizes from ``smallest`` to ``largest``, evenly spaced in log(size), distinct."""
    if count < 2 or smallest >= largest:
        return [largest]
    return sorted({round(v) for v in np.geomspace(smallest, largest, count)})


# -- noise -------------------------------------------------------------------------------------
def spam_cues(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per text: is it promotional (``PROMOTIONAL``), does it carry a spam cue (``SPAM_CUES``)."""
    series = pd.Series(list(texts), dtype=object).fillna("").astype(str)
    return (series.str.contains(PROMOTIONAL).to_numpy(dtype=bool),
            series.str.contains(SPAM_CUES).to_numpy(dtype=bool))


def flip_weights(kind: str, is_spam: np.ndarray, promotional: np.ndarray, cue: np.ndarray) -> np.ndarray:
    """Relative chance of each message to be flipped under noise ``kind`` (module docstring)."""
    is_spam = np.asarray(is_spam, dtype=bool)
    if kind == "uniform":
        return np.ones(len(is_spam))
    if kind == "class_conditional":
        return np.where(is_spam, SPAM_FLIP_WEIGHT, 1.0)
    if kind == "systematic":
        ham = ~is_spam
        return np.where(ham & promotional, PROMOTIONAL_WEIGHT, np.where(ham & cue, 1.0, 0.0))
    raise NoiseError(f"unknown noise kind {kind!r}; known: {list(KINDS)}")


def inject_noise(weights: np.ndarray, rate: float, boundaries: Sequence[int],
                 rng: np.random.Generator) -> np.ndarray:
    """Which messages (in pool order) to flip: exactly ``round(rate * b)`` among the first ``b``
    for every ``b`` in ``boundaries``, drawn in each block with probability proportional to
    ``weights``. Messages past the last boundary are never flipped."""
    weights = np.asarray(weights, dtype=np.float64)
    if not 0 <= rate < 1:
        raise NoiseError(f"a noise rate must be in [0, 1), got {rate}")
    flips = np.zeros(len(weights), dtype=bool)
    start, done = 0, 0
    for end in sorted(set(boundaries)):
        need = round(rate * end) - done
        block = weights[start:end]
        eligible = int((block > 0).sum())
        if need > eligible:
            raise NoiseError(f"noise rate {rate} needs {need} flips among messages {start}..{end - 1}, "
                             f"but only {eligible} of them can be flipped under this kind")
        if need > 0:
            chosen = rng.choice(end - start, size=need, replace=False, p=block / block.sum())
            flips[start + chosen] = True
        start, done = end, done + max(need, 0)
    return flips


# -- the labeler-agreement noise estimate -------------------------------------------------------
def noise_from_agreement(observed_agreement: float) -> float:
    """Per-label error rate ``e`` of labelers whose pairwise agreement is ``observed_agreement``,
    taking two independent labelers with the same symmetric error: ``1 - A = 2 e (1 - e)``, so
    ``e = (1 - sqrt(1 - 2 (1 - A))) / 2``. nan when agreement is unknown; 0.5 at or below chance."""
    if observed_agreement is None or not math.isfinite(observed_agreement):
        return float("nan")
    disagreement = 1.0 - observed_agreement
    if disagreement >= 0.5:
        return 0.5
    return (1.0 - math.sqrt(1.0 - 2.0 * disagreement)) / 2.0


# -- summaries with confidence intervals ---------------------------------------------------------
def t_interval(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and Student-t confidence interval of ``values`` (nan bounds for fewer than two)."""
    from scipy import stats

    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(x.mean())
    if len(x) < 2:
        return mean, float("nan"), float("nan")
    sem = float(stats.sem(x))
    if sem == 0:
        return mean, mean, mean
    low, high = stats.t.interval(confidence, len(x) - 1, loc=mean, scale=sem)
    return mean, float(low), float(high)


CELL = ["kind", "rate", "size"]


def summarise(runs: pd.DataFrame, metric: str = "f1", confidence: float = 0.95) -> pd.DataFrame:
    """Per cell (kind, rate, size) and arm: seeds, mean and t-interval of ``metric``, mean training
    messages, mean measured noise of the training labels and mean labels changed by cleaning."""
    columns = [*CELL, "arm", "seeds", metric, f"{metric}_low", f"{metric}_high", "train_messages", "measured_noise",
               "labels_changed"]
    if runs.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for key, group in runs.groupby([*CELL, "arm"], sort=True):
        mean, low, high = t_interval(group[metric], confidence)
        rows.append({**dict(zip([*CELL, "arm"], key, strict=True)), "seeds": len(group), metric: mean,
                     f"{metric}_low": low, f"{metric}_high": high,
                     "train_messages": float(group["train_messages"].mean()),
                     "measured_noise": float(group["measured_noise"].mean()),
                     "labels_changed": float(group["labels_changed"].mean())})
    return pd.DataFrame(rows, columns=columns)


def paired_gain(runs: pd.DataFrame, arm: str, baseline: str, metric: str = "f1",
                confidence: float = 0.95) -> pd.DataFrame:
    """Per cell: ``metric`` of ``arm`` minus ``baseline`` on the same seed, mean and t-interval
    (cells where either arm is missing are left out)."""
    wide = runs[runs["arm"].isin([arm, baseline])].pivot_table(index=[*CELL, "seed"], columns="arm",
                                                                values=metric)
    if arm not in wide.columns or baseline not in wide.columns:
        return pd.DataFrame(columns=[*CELL, "arm", "baseline", "seeds", "gain", "gain_low", "gain_high"])
    difference = (wide[arm] - wide[baseline]).dropna()
    rows = []
    for key, values in difference.groupby(level=CELL, sort=True):
        mean, low, high = t_interval(values.to_numpy(), confidence)
        rows.append({**dict(zip(CELL, key, strict=True)), "arm": arm, "baseline": baseline, "seeds": len(values),
                     "gain": mean, "gain_low": low, "gain_high": high})
    return pd.DataFrame(rows, columns=[*CELL, "arm", "baseline", "seeds", "gain", "gain_low", "gain_high"])


# -- cleaning N ≈ collecting M -------------------------------------------------------------------
def equivalent_size(sizes: Sequence[float], curve: Sequence[float], target: float, start: float) -> float:
    """The first training size from ``start`` (one of ``sizes``) up at which ``curve`` (F1 at
    ``sizes``, ascending) reaches ``target``, linear in log(size) between measured sizes; ``start``
    if the curve is already there, ``inf`` if it never gets there (no extrapolation)."""
    sizes = np.asarray(sizes, dtype=np.float64)
    curve = np.asarray(curve, dtype=np.float64)
    if len(sizes) == 0 or len(sizes) != len(curve) or np.any(np.diff(sizes) <= 0):
        raise ValueError("equivalent_size needs ascending distinct sizes with one F1 each")
    if start not in sizes:
        raise ValueError(f"size {start} is not a size of the noisy curve {sizes.tolist()}")
    first = int(np.flatnonzero(sizes == start)[0])
    if curve[first] >= target:
        return float(start)
    for i in range(first + 1, len(sizes)):
        if curve[i] >= target:
            fraction = (target - curve[i - 1]) / (curve[i] - curve[i - 1])
            log_size = math.log(sizes[i - 1]) + fraction * (math.log(sizes[i]) - math.log(sizes[i - 1]))
            return float(math.exp(log_size))
    return float("inf")


@dataclass(frozen=True)
class Equivalent:
    """"Cleaning at ``size`` ≈ training on ``equivalent`` noisy labels", with a bootstrap interval."""

    size: int
    cleaned_f1: float
    noisy_f1: float
    equivalent: float
    low: float
    high: float
    seeds: int
    labels_changed: float

    @property
    def more(self) -> float:
        """M: the noisy labels to add to match cleaning (0: cleaning bought nothing; inf: none measured do)."""
        return self.equivalent - self.size

    @property
    def more_low(self) -> float:
        return self.low - self.size

    @property
    def more_high(self) -> float:
        return self.high - self.size

    @property
    def multiple(self) -> float:
        return self.equivalent / self.size


def equivalent_labels(noisy: pd.DataFrame, cleaned: pd.DataFrame, size: int, labels_changed: pd.Series | None = None,
                      confidence: float = 0.95, resamples: int = 2000, seed: int = 0) -> Equivalent:
    """What cleaning at ``size`` is worth in noisy labels. ``noisy``: F1 per seed (rows) and
    training size (columns, ``size`` among them); ``cleaned``: the cleaned arm's F1 at ``size`` per seed
    (a one-column frame or a Series on the same seeds). Point estimate from the mean curves; the
    interval is the percentile bootstrap over seeds (module docstring)."""
    from scipy import stats

    cleaned = cleaned.squeeze(axis=1) if isinstance(cleaned, pd.DataFrame) else cleaned
    seeds = noisy.index.intersection(cleaned.dropna().index)
    table = noisy.loc[seeds].sort_index(axis=1)
    if table.isna().any().any():
        raise ValueError("the noisy curve lacks F1 at some sizes for some seeds")
    sizes = table.columns.to_numpy(dtype=np.float64)
    curves = table.to_numpy(dtype=np.float64)
    target = cleaned.loc[seeds].to_numpy(dtype=np.float64)

    def statistic(index: np.ndarray) -> float:
        index = np.asarray(index, dtype=np.int64)
        return equivalent_size(sizes, curves[index].mean(axis=0), float(target[index].mean()), size)

    point = statistic(np.arange(len(seeds)))
    if len(seeds) < 2:
        low = high = float("nan")
    else:
        with np.errstate(invalid="ignore"):  # an infinite (censored) resample leaves the interval open
            result = stats.bootstrap((np.arange(len(seeds)),), statistic, vectorized=False, paired=False,
                                     confidence_level=confidence, n_resamples=resamples, method="percentile",
                                     rng=np.random.default_rng(seed))
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    changed = float(labels_changed.loc[seeds].mean()) if labels_changed is not None else float("nan")
    return Equivalent(size, float(target.mean()), float(curves[:, list(table.columns).index(size)].mean()),
                      point, low, high, len(seeds), changed)
