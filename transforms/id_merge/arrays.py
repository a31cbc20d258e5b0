"""Array helpers of ID-merge: sort-based unique values and record-position pairs packed in one int64.

A pair ``(i, j)`` of record positions (each below 2**31) packs as ``i << 32 | j``: one int64 that
sorts like the pair, so pairs are deduplicated and shuffled as flat integer arrays.
"""

from __future__ import annotations

import numpy as np


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` by a sort: numpy 2's ``np.unique`` hashes integer arrays, which is
    tens of times slower than sorting on millions of values (measured: 6.2M pairs 11.8 s vs 0.2 s)."""
    ordered = np.sort(np.asarray(values).ravel())
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(ordered) else ordered


def pack_pairs(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Pairs of record positions (< 2**31) as one int64 each: ``left << 32 | right``."""
    return (np.asarray(left, dtype=np.int64) << 32) | np.asarray(right, dtype=np.int64)


def unpack_pairs(packed: np.ndarray) -> np.ndarray:
    """``pack_pairs`` values back to an ``(n, 2)`` int64 array of ``(left, right)``."""
    return np.stack([packed >> 32, packed & 0xFFFFFFFF], axis=1)


def unique_pairs(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The distinct ``(left, right)`` pairs as a sorted ``(n, 2)`` int64 array (positions < 2**31)."""
    return unpack_pairs(sorted_unique(pack_pairs(left, right)))
