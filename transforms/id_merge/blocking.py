"""ID-merge blocking in memory: which record pairs are worth comparing.

Every pass of ``BLOCKING_PASSES`` keys each record; records sharing a key of any pass form a block
and every pair within a block is a candidate, deduplicated across passes (multi-pass blocking: one
typo in one field must not lose a true match). ``transforms.id_merge.shards`` does the same on
hashed keys in shards, for the Beam job.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from transforms.id_merge.arrays import sorted_unique, unique_pairs

# Blocking passes: name -> the normalised columns the key is built from. A pair is a candidate
# when it shares the key of at least one pass; a key with an empty part is no key.
# Name keys are order-free (``initials``, ``names_sound`` sort the two names' parts) because
# first and last names arrive swapped between sources.
BLOCKING_PASSES: dict[str, tuple[str, ...]] = {
    "surname_sound_postcode": ("last_sound", "postcode"),
    # Local parts like "john.smith" are shared by strangers: alone they make blocks that grow
    # with the data, so the whole address, or the local part with the birth year.
    "email": ("email",),
    "email_local_year": ("email_local", "birth_year"),
    "phone": ("phone_tail",),
    "dob_initials": ("date_of_birth", "initials"),
    # Names alone make blocks that grow with the data (quadratic pairs): with the birth year.
    "names_sound": ("names_sound", "birth_year"),
    "national_id": ("national_id",),
    "first_sound_postcode_year": ("first_sound", "postcode", "birth_year"),
    "dob_postcode": ("date_of_birth", "postcode"),
    "dob_city": ("date_of_birth", "city"),
    "house_city": ("house", "city"),
    "house_street": ("house", "street"),
    "surname_sound_house": ("last_sound", "house"),
}


def blocking_keys(norm: pd.DataFrame, passes: dict[str, tuple[str, ...]] = BLOCKING_PASSES) -> pd.DataFrame:
    """One column per blocking pass: the joined key, or None when any of its parts is missing."""
    keys = pd.DataFrame(index=norm.index)
    for name, parts in passes.items():
        joined = norm[parts[0]].astype("string")
        for part in parts[1:]:
            joined = joined + "|" + norm[part].astype("string")  # NA in any part -> NA key
        keys[name] = joined.astype(object).where(joined.notna(), None)
    return keys


@dataclass
class BlockingReport:
    """What blocking did: candidate pairs per pass (before dedup) and blocks skipped as too big."""

    pairs_per_pass: dict[str, int] = field(default_factory=dict)
    oversized_blocks: dict[str, int] = field(default_factory=dict)
    candidate_pairs: int = 0


def block_pairs(members: np.ndarray, sides: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All pairs (i < j) among the record indices of one block; with ``sides`` only pairs across
    the two sides (linkage) with the side-0 record first."""
    members = np.sort(np.asarray(members, dtype=np.int64))
    i, j = np.triu_indices(len(members), k=1)
    left, right = members[i], members[j]
    if sides is not None:
        across = sides[left] != sides[right]
        left, right = left[across], right[across]
        swap = sides[left] == 1
        left, right = np.where(swap, right, left), np.where(swap, left, right)
    return left, right


def pairs_within_blocks(codes: np.ndarray, members: np.ndarray,
                        max_block_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """All pairs ``(i, j)``, ``i < j``, of ``members`` (int64) sharing a block code (one row per
    member and block; a member listed twice in a block counts once), without a Python loop over
    blocks: blocks of one size are expanded together with that size's ``triu_indices``. Returns
    the left and right members and the number of blocks above ``max_block_size`` (skipped)."""
    codes, members = np.asarray(codes), np.asarray(members, dtype=np.int64)
    order = np.lexsort((members, codes))
    codes, members = codes[order], members[order]
    repeated = np.zeros(len(codes), dtype=bool)
    repeated[1:] = (codes[1:] == codes[:-1]) & (members[1:] == members[:-1])
    codes, members = codes[~repeated], members[~repeated]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.empty(0, np.int64)
    sizes = np.diff(np.r_[starts, len(codes)])
    lefts, rights = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    for size in sorted_unique(sizes[(sizes >= 2) & (sizes <= max_block_size)]):
        i, j = np.triu_indices(size, k=1)
        first = starts[sizes == size][:, None]
        # Members are sorted within a block, so the earlier one is the smaller: i < j holds.
        lefts.append(members[(first + i).ravel()])
        rights.append(members[(first + j).ravel()])
    return np.concatenate(lefts), np.concatenate(rights), int((sizes > max_block_size).sum())


def candidate_pairs(keys: pd.DataFrame, *, max_block_size: int = 500, sides: np.ndarray | None = None,
                    report: BlockingReport | None = None) -> np.ndarray:
    """Unique candidate pairs (an ``(n, 2)`` int64 array of row positions, sorted) over all passes.

    Blocks larger than ``max_block_size`` are skipped and counted in ``report``: they are almost
    always a default value (the same postcode for everyone), and their pairs would be quadratic.
    """
    report = report if report is not None else BlockingReport()
    lefts, rights = [], []
    for name in keys.columns:
        column = keys[name]
        present = column.notna().to_numpy()
        codes, _ = pd.factorize(column[present])
        left, right, oversized = pairs_within_blocks(codes, np.flatnonzero(present), max_block_size)
        if sides is not None:  # linkage: only pairs across the two sides, side 0 first
            across = sides[left] != sides[right]
            left, right = left[across], right[across]
            swap = sides[left] == 1
            left, right = np.where(swap, right, left), np.where(swap, left, right)
        if oversized:
            report.oversized_blocks[name] = report.oversized_blocks.get(name, 0) + oversized
        report.pairs_per_pass[name] = len(left)
        lefts.append(left)
        rights.append(right)
    pairs = unique_pairs(np.concatenate(lefts), np.concatenate(rights)) if lefts else np.empty((0, 2), np.int64)
    report.candidate_pairs = len(pairs)
    return pairs


def keyed_pairs(keys: np.ndarray, members: np.ndarray, max_block_size: int) -> tuple[np.ndarray, int]:
    """Pairs ``(i, j)``, ``i < j``, of ``members`` (int64) sharing a key in ``keys`` (long format: one
    row per member and key; None = no key), unique; and the number of blocks skipped as oversized."""
    keys = np.asarray(keys)
    present = ~pd.isna(keys)
    codes, _ = pd.factorize(keys[present])
    left, right, oversized = pairs_within_blocks(codes, np.asarray(members, dtype=np.int64)[present],
                                                 max_block_size)
    return unique_pairs(left, right), oversized
