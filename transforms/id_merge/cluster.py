"""ID-merge clustering: records joined by their accepted links, giant and loose clusters split.

``cluster`` is union-find over accepted pairs, strongest first, refusing any union that would
exceed ``max_cluster_size`` (a giant cluster is split at its weakest links; refused links are
reported). ``split_loose_clusters`` then scores every pair inside each cluster of three or more and
re-clusters it by average linkage: a chain A-B-C where A and C are different people who both look
like B (a record with few fields) is cut instead of merged by transitivity.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from transforms.id_merge.arrays import sorted_unique
from transforms.id_merge.blocking import block_pairs


class UnionFind:
    """Disjoint sets over ``0..n-1`` with union by size and path halving."""

    def __init__(self, n: int):
        self.parent = np.arange(n, dtype=np.int64)
        self.size = np.ones(n, dtype=np.int64)

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return int(x)

    def union(self, a: int, b: int, max_size: int | None = None) -> bool:
        """Join the sets of ``a`` and ``b``; False (nothing joined) when the result would exceed
        ``max_size``. True also when they already share a set."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        if max_size is not None and self.size[ra] + self.size[rb] > max_size:
            return False
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        return True

    def labels(self) -> np.ndarray:
        """The root of every element (a cluster label)."""
        parent = self.parent.copy()
        while True:  # pointer jumping: every element's parent becomes its grandparent until all are roots
            grand = parent[parent]
            if np.array_equal(grand, parent):
                return parent
            parent = grand


@dataclass
class Clusters:
    """Cluster label per record, the score of the link that joined each record (NaN for a
    singleton or the first member), and the links refused by the size guard."""

    labels: np.ndarray
    join_score: np.ndarray
    refused: np.ndarray  # (k, 2) record positions of links not applied


def cluster(n: int, pairs: np.ndarray, scores: np.ndarray, threshold: float,
            max_cluster_size: int) -> Clusters:
    """Connected components of the pairs scoring at least ``threshold``, strongest links first.

    A link whose union would make a cluster larger than ``max_cluster_size`` is refused, so a
    would-be giant cluster ends split at its weakest links; refused links are returned.
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    scores = np.asarray(scores, dtype=np.float64)
    accepted = scores >= threshold
    pairs, scores = pairs[accepted], scores[accepted]
    # Strongest first; ties by pair so the result does not depend on input order.
    order = np.lexsort((pairs[:, 1], pairs[:, 0], -scores))
    sets = UnionFind(n)
    join_score = np.full(n, np.nan)
    refused = []
    for k in order:
        a, b = int(pairs[k, 0]), int(pairs[k, 1])
        ra, rb = sets.find(a), sets.find(b)
        if ra == rb:
            continue
        if not sets.union(a, b, max_cluster_size):
            refused.append((a, b))
            continue
        for x in (a, b):
            if np.isnan(join_score[x]):
                join_score[x] = scores[k]
    return Clusters(sets.labels(), join_score, np.asarray(refused, dtype=np.int64).reshape(-1, 2))


def split_loose_clusters(labels: np.ndarray, pair_score: Callable[[np.ndarray], np.ndarray], threshold: float,
                         min_size: int = 3) -> tuple[np.ndarray, int]:
    """Clusters of at least ``min_size`` records re-clustered by average linkage (scipy) over the
    matcher scores of all their pairs (``pair_score``: ``(k, 2)`` record positions -> P(match)),
    cut where the mean score between two parts falls below ``threshold``. Single-link clusters
    (union-find) chain look-alikes through one sparse record; average linkage asks every member.
    Returns the new labels (a split-off part is labelled by its smallest member) and the number
    of clusters split."""
    from scipy.cluster.hierarchy import fcluster, linkage

    labels = np.asarray(labels, dtype=np.int64).copy()
    sizes = np.bincount(labels, minlength=len(labels))
    loose = np.flatnonzero(sizes[labels] >= min_size)
    if len(loose) == 0:
        return labels, 0
    members = [np.sort(group) for group in pd.Series(loose).groupby(labels[loose]).apply(np.asarray)]
    # Every pair of every such cluster, scored in one call; triu order is scipy's condensed order.
    within = [block_pairs(group) for group in members]
    all_pairs = np.concatenate([np.stack(p, axis=1) for p in within])
    scores = np.clip(np.asarray(pair_score(all_pairs), dtype=np.float64), 0.0, 1.0)
    split, start = 0, 0
    for group, (left, _) in zip(members, within, strict=True):
        distance = 1.0 - scores[start:start + len(left)]
        start += len(left)
        parts = fcluster(linkage(distance, method="average"), t=1.0 - threshold, criterion="distance")
        if parts.max() == 1:
            continue
        split += 1
        for part in sorted_unique(parts):
            labels[group[parts == part]] = group[parts == part].min()
    return labels, split
