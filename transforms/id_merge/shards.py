"""ID-merge blocking in shards, for a distributed run (``beam_jobs.id_merge``).

Blocking keys are hashed to 64 bits with the pass they belong to and grouped by key shard; the
pairs found in a key shard are packed (``transforms.id_merge.arrays.pack_pairs``) and grouped by
pair shard, where the pairs of all passes meet and are deduplicated. Every function here works on
one element of those groupings and keeps the in-memory result (``blocking.candidate_pairs``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pandas as pd

from transforms.id_merge.arrays import pack_pairs, sorted_unique, unpack_pairs
from transforms.id_merge.blocking import BLOCKING_PASSES, pairs_within_blocks


def shard_of(values: np.ndarray, shards: int) -> np.ndarray:
    """A shard per non-negative integer value; the values are hashes or mixed below, so modulo spreads them."""
    return (np.asarray(values).astype(np.uint64) % np.uint64(shards)).astype(np.int64)


# 64-bit mixing of the parts of a blocking key. A collision puts two blocks in one, which only adds
# candidate pairs (scored and rejected like any other), never loses one.
_MIX = np.uint64(0x9E3779B97F4A7C15)


def _combine(seed: np.ndarray, value: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return seed ^ (value + _MIX + (seed << np.uint64(6)) + (seed >> np.uint64(2)))


def block_key_hashes(norm: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Every blocking key of every record of a normalised batch in long format: ``(key hash
    (uint64), row)``, one row per record and pass with a key. The hash covers the pass, so equal
    values of different passes never form one block; a key with a missing part is no key.
    ``pd.util.hash_array`` uses a fixed key, so every worker hashes alike."""
    parts = {name for parts in BLOCKING_PASSES.values() for name in parts}
    hashed, missing = {}, {}
    for name in parts:
        values = norm[name].to_numpy(dtype=object)
        missing[name] = pd.isna(values)
        hashed[name] = pd.util.hash_array(np.where(missing[name], "", values).astype(object))
    keys, rows = [], []
    for name, pass_parts in BLOCKING_PASSES.items():
        key = np.full(len(norm), int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little"), np.uint64)
        absent = np.zeros(len(norm), dtype=bool)
        for part in pass_parts:
            key = _combine(key, hashed[part])
            absent |= missing[part]
        keys.append(key[~absent])
        rows.append(np.flatnonzero(~absent))
    return np.concatenate(keys), np.concatenate(rows)


def keys_by_shard(norm: pd.DataFrame, start: int,
                  shards: int) -> Iterable[tuple[int, tuple[np.ndarray, np.ndarray]]]:
    """The blocking keys of a normalised batch whose first row is record position ``start``, by key
    shard: ``(key shard, (key hashes, record positions))``."""
    keys, rows = block_key_hashes(norm)
    positions = rows.astype(np.int64) + start
    shard = shard_of(keys, shards)
    for k in sorted_unique(shard):
        mine = shard == k
        yield int(k), (keys[mine], positions[mine])


def pairs_in_key_shard(parts: Iterable[tuple[np.ndarray, np.ndarray]],
                       max_block_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """All ``(key hashes, record positions)`` parts of one key shard -> the pairs ``i < j`` sharing a
    key and the number of blocks skipped as larger than ``max_block_size`` (``pairs_within_blocks``)."""
    parts = list(parts)
    keys = np.concatenate([k for k, _ in parts])
    positions = np.concatenate([p for _, p in parts])
    return pairs_within_blocks(keys, positions, max_block_size)


def packed_by_shard(left: np.ndarray, right: np.ndarray, shards: int) -> Iterable[tuple[int, np.ndarray]]:
    """Pairs ``(left, right)`` (int64) packed (``pack_pairs``) and split by pair shard:
    ``(pair shard, packed pairs)``; a pair always lands in the same shard."""
    if len(left) == 0:
        return
    packed = pack_pairs(left, right)
    # Mixed before the modulo: consecutive positions would otherwise crowd a few shards.
    shard = shard_of(_combine(left.astype(np.uint64), right.astype(np.uint64)), shards)
    for k in sorted_unique(shard):
        yield int(k), packed[shard == k]


def unique_pair_batches(parts: Iterable[np.ndarray], batch_size: int) -> Iterable[np.ndarray]:
    """All packed pairs of one pair shard -> the unique ones (a pair found by several passes once) as
    ``(k, 2)`` position arrays of at most ``batch_size`` pairs, in sorted order."""
    packed = sorted_unique(np.concatenate(list(parts)))
    for start in range(0, len(packed), batch_size):
        yield unpack_pairs(packed[start:start + batch_size])
