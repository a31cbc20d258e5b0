"""ID-merge step logic: normalise person records, block, compare, cluster, assign stable ids.

Framework-free (docs/architecture.md#layers): ``beam_jobs.id_merge`` wires these functions;
``user_pipeline.training.id_matcher`` fits the matcher on ``reference.id_pairs``;
``bench.id_merge_febrl`` runs them on FEBRL.

Records are a DataFrame with the columns of ``FIELDS`` (any may be missing or null). The flow,
one module per step:

1. ``normalise`` -> lower-cased, accent-folded strings; digits-only phones; ISO dates.
2. ``blocking``: ``blocking_keys`` -> one key column per pass (``BLOCKING_PASSES``);
   ``candidate_pairs`` takes every pair that shares a key in any pass, deduplicated across passes.
   Several passes because one typo in one field must not lose a true match (multi-pass blocking).
   ``shards`` does the same on hashed keys, one shard at a time (the Beam job's shuffles), with
   pairs packed in one int64 (``arrays``).
3. ``compare`` -> one row of similarity features per pair, vectorised over the pair arrays with
   ``rapidfuzz.process.cpdist`` (``prepare`` codes each record's values once; each distinct pair
   of values is scored once). A comparison with a missing side is NaN (not 0): "unknown" is
   not "different", and the matcher (a gradient-boosted tree) routes NaN explicitly.
   ``scoring``: the fitted ``Matcher`` turns features into P(match).
4. ``cluster`` -> union-find over accepted pairs, strongest first, refusing any union that would
   exceed ``max_cluster_size`` (a giant cluster is split at its weakest links; refused links are
   reported). ``split_loose_clusters`` then scores every pair inside each cluster of three or
   more and re-clusters it by average linkage: a chain A-B-C where A and C are different people
   who both look like B (a record with few fields) is cut instead of merged by transitivity.
5. ``ids``: ``assign_ids`` -> canonical ids that survive re-runs and days: a cluster inherits the
   previous id of its members (the previous map), otherwise a hash of its smallest member id.
6. ``survivorship``: ``survivors`` -> one row per canonical user by the survivorship rules.

``merge`` puts the steps together: ``resolve`` runs them all in memory, ``merge_day`` turns one
day's links into the ``ID_MAP`` and ``USERS_MERGED`` tables; ``positions`` says which record a
position names (today's records, then the anchors).

The names below are the package's interface; callers import from here.
"""

from transforms.id_merge.arrays import sorted_unique, unique_pairs
from transforms.id_merge.blocking import (
    BLOCKING_PASSES,
    BlockingReport,
    block_pairs,
    blocking_keys,
    candidate_pairs,
    keyed_pairs,
    pairs_within_blocks,
)
from transforms.id_merge.cluster import cluster, split_loose_clusters
from transforms.id_merge.compare import (
    FEATURES,
    PreparedRecords,
    compare,
    compare_prepared,
    compared_table,
    pair_features,
    prepare,
    prepare_tables,
)
from transforms.id_merge.ids import ANCHOR_PREFIX, as_singletons, assign_ids
from transforms.id_merge.merge import concat_links, merge, merge_day, resolve
from transforms.id_merge.normalise import FIELDS, normalise, soundex
from transforms.id_merge.positions import comparison_records, split_batches, staged_table
from transforms.id_merge.scoring import Matcher
from transforms.id_merge.shards import keys_by_shard, packed_by_shard, pairs_in_key_shard, unique_pair_batches
from transforms.id_merge.survivorship import survivors

__all__ = [
    "ANCHOR_PREFIX", "BLOCKING_PASSES", "FEATURES", "FIELDS", "BlockingReport", "Matcher",
    "PreparedRecords", "as_singletons", "assign_ids", "block_pairs", "blocking_keys", "candidate_pairs", "cluster",
    "compare", "compare_prepared", "compared_table", "comparison_records", "concat_links", "keyed_pairs",
    "keys_by_shard", "merge", "merge_day", "normalise", "packed_by_shard", "pair_features",
    "pairs_in_key_shard", "pairs_within_blocks", "prepare", "prepare_tables", "resolve", "sorted_unique",
    "soundex", "split_batches", "split_loose_clusters", "staged_table", "survivors", "unique_pair_batches",
    "unique_pairs",
]
