"""Unit tests of ID-merge blocking in shards and packed pairs (transforms.id_merge.shards, .arrays),
the pieces the Beam job's shuffles run, on small hand-made arrays."""

from collections import defaultdict

import numpy as np
import pandas as pd

from transforms import id_merge as im
from transforms.id_merge.arrays import pack_pairs, unpack_pairs
from transforms.id_merge.blocking import BLOCKING_PASSES
from transforms.id_merge.shards import block_key_hashes, shard_of

PARTS = sorted({part for parts in BLOCKING_PASSES.values() for part in parts})


def key_parts(**columns):
    """A normalised frame with every blocking part, all missing except ``columns``."""
    n = len(next(iter(columns.values())))
    return pd.DataFrame({name: columns.get(name, [None] * n) for name in PARTS}, dtype=object)


def test_packed_pairs_round_trip_and_sort_like_the_pairs():
    left, right = np.array([3, 0, 2**31 - 1, 0]), np.array([1, 7, 5, 2])
    packed = pack_pairs(left, right)
    assert packed.dtype == np.int64
    assert unpack_pairs(packed).tolist() == [[3, 1], [0, 7], [2**31 - 1, 5], [0, 2]]
    assert unpack_pairs(np.sort(packed)).tolist() == [[0, 2], [0, 7], [3, 1], [2**31 - 1, 5]]


def test_shard_of_is_the_value_modulo_the_shard_count():
    values = np.array([0, 5, 17, 2**64 - 1], dtype=np.uint64)
    shards = shard_of(values, 4)
    assert shards.tolist() == [0, 1, 1, 3]
    assert shards.dtype == np.int64


def test_block_key_hashes_one_key_per_record_and_pass_with_all_parts():
    # Rows 0 and 1 share an email; row 0's phone tail spells the same text as its email, but in
    # another pass; "email_local_year" has a missing part (no birth year) so gives no key.
    norm = key_parts(email=["a@x", "a@x", "b@x"], phone_tail=["a@x", None, None],
                     email_local=["abc", "abc", None])
    keys, rows = block_key_hashes(norm)
    assert keys.dtype == np.uint64
    assert sorted(rows.tolist()) == [0, 0, 1, 2]  # three email keys, one phone key
    # Long format, pass by pass in BLOCKING_PASSES order: the email pass comes before the phone pass.
    email_keys = {int(row): int(key) for key, row in zip(keys[:3], rows[:3], strict=True)}
    assert email_keys[0] == email_keys[1] != email_keys[2]
    assert int(keys[3]) not in email_keys.values()  # the pass is part of the hash
    again, _ = block_key_hashes(norm)
    assert again.tolist() == keys.tolist()


def test_keys_by_shard_offsets_positions_and_puts_each_key_in_its_shard():
    norm = key_parts(email=["a@x", "b@x", None, "a@x"], phone_tail=["123456789", None, "123456789", None])
    keys, rows = block_key_hashes(norm)
    sharded = list(im.keys_by_shard(norm, 100, 3))
    assert [shard for shard, _ in sharded] == sorted({shard for shard, _ in sharded})
    for shard, (shard_keys, positions) in sharded:
        assert (shard_of(shard_keys, 3) == shard).all()
        assert positions.min() >= 100
    found = sorted((int(k), int(p)) for _, (ks, ps) in sharded for k, p in zip(ks, ps, strict=True))
    assert found == sorted((int(k), int(r) + 100) for k, r in zip(keys, rows, strict=True))


def test_pairs_in_key_shard_joins_a_block_split_across_parts():
    parts = [(np.array([10, 11], dtype=np.uint64), np.array([5, 7])),
             (np.array([10, 10], dtype=np.uint64), np.array([2, 9]))]
    left, right, oversized = im.pairs_in_key_shard(iter(parts), max_block_size=3)
    assert list(zip(left.tolist(), right.tolist(), strict=True)) == [(2, 5), (2, 9), (5, 9)]
    assert oversized == 0
    left, _, oversized = im.pairs_in_key_shard(parts, max_block_size=2)
    assert len(left) == 0 and oversized == 1


def test_packed_by_shard_puts_every_pair_in_exactly_one_shard_whatever_the_order():
    left, right = np.array([0, 0, 1, 2, 3, 5], dtype=np.int64), np.array([1, 4, 2, 9, 4, 6], dtype=np.int64)
    sharded = dict(im.packed_by_shard(left, right, 4))
    assert np.sort(np.concatenate(list(sharded.values()))).tolist() == np.sort(pack_pairs(left, right)).tolist()
    order = np.array([5, 3, 1, 0, 4, 2])
    reordered = dict(im.packed_by_shard(left[order], right[order], 4))
    assert {k: sorted(v.tolist()) for k, v in reordered.items()} == {k: sorted(v.tolist()) for k, v in sharded.items()}
    assert list(im.packed_by_shard(np.empty(0, np.int64), np.empty(0, np.int64), 4)) == []


def test_unique_pair_batches_deduplicates_across_parts_in_batches():
    parts = [pack_pairs(np.array([2, 0]), np.array([3, 1])), pack_pairs(np.array([0, 2, 4]), np.array([1, 3, 5]))]
    batches = list(im.unique_pair_batches(iter(parts), batch_size=2))
    assert [len(batch) for batch in batches] == [2, 1]
    assert np.concatenate(batches).tolist() == [[0, 1], [2, 3], [4, 5]]


def test_blocking_in_shards_finds_the_in_memory_candidate_pairs():
    raw = pd.DataFrame({
        "first_name": ["John", "Jon", "Mary", "John", "Ann"],
        "last_name": ["Smith", "Smith", "Jones", "Smyth", "Lee"],
        "email": ["js@x.com", None, "mj@y.com", "js@x.com", None],
        "phone": ["07700900123", "+447700900123", None, None, "0123"],
        "date_of_birth": ["1980-01-02", "1980-01-02", "1990-05-05", None, "1980-01-02"],
        "postcode": ["SW1 1AA", "SW11AA", "E1 6AN", "SW1 1AA", "E1 6AN"],
    })
    norm = im.normalise(raw)
    by_key_shard = defaultdict(list)
    for start in (0, 3):  # two batches, as the job normalises them
        batch = norm.iloc[start:start + 3].reset_index(drop=True)
        for shard, part in im.keys_by_shard(batch, start, 3):
            by_key_shard[shard].append(part)
    by_pair_shard = defaultdict(list)
    for parts in by_key_shard.values():
        left, right, _ = im.pairs_in_key_shard(parts, max_block_size=500)
        for shard, packed in im.packed_by_shard(left, right, 2):
            by_pair_shard[shard].append(packed)
    found = [tuple(pair) for parts in by_pair_shard.values()
             for batch in im.unique_pair_batches(parts, 2) for pair in batch.tolist()]
    expected = [tuple(pair) for pair in im.candidate_pairs(im.blocking_keys(norm)).tolist()]
    assert len(expected) > 0
    assert sorted(found) == expected  # each pair once
