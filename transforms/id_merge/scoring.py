"""ID-merge scoring: the fitted matcher and P(match) of record pairs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from transforms.id_merge.arrays import sorted_unique
from transforms.id_merge.compare import compare, compare_prepared, prepare
from transforms.id_merge.normalise import normalise


@dataclass
class Matcher:
    """A fitted matcher: classifier, feature order, threshold. Pickled in ``models.id_matcher``,
    so it lives here (an importable module), not in a ``__main__``."""

    classifier: Any
    features: tuple[str, ...]
    threshold: float

    def score(self, features: pd.DataFrame) -> np.ndarray:
        """P(match) per row of a ``transforms.id_merge.compare`` frame."""
        if len(features) == 0:
            return np.empty(0)
        return self.classifier.predict_proba(features[list(self.features)].to_numpy(np.float64))[:, 1]


def score_pairs(norm: pd.DataFrame, pairs: np.ndarray, matcher: Matcher, batch_size: int = 50000) -> np.ndarray:
    """P(match) of every candidate pair, compared and scored ``batch_size`` pairs at a time."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    prepared = prepare(norm)
    out = np.empty(len(pairs))
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        out[start:start + len(chunk)] = matcher.score(compare_prepared(prepared, chunk))
    return out


def pair_scorer(records: pd.DataFrame, matcher: Matcher) -> Callable[[np.ndarray], np.ndarray]:
    """``pairs (k, 2) of row positions of records -> P(match)``, normalising only the rows asked for."""
    def score(pairs: np.ndarray) -> np.ndarray:
        rows = sorted_unique(pairs)
        norm = normalise(records.iloc[rows].reset_index(drop=True))
        return matcher.score(compare(norm, np.searchsorted(rows, pairs)))
    return score
