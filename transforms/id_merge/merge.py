"""ID-merge as a whole: cluster scored pairs and assign canonical ids (``merge``), the full merge
in memory (``resolve``), and one day's merge into ``ID_MAP`` and ``USERS_MERGED`` tables (``merge_day``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from transforms.id_merge.blocking import BlockingReport, blocking_keys, candidate_pairs
from transforms.id_merge.cluster import cluster, split_loose_clusters
from transforms.id_merge.ids import assign_ids
from transforms.id_merge.normalise import normalise
from transforms.id_merge.positions import RID, everyone, record_ids
from transforms.id_merge.scoring import Matcher, pair_scorer, score_pairs
from transforms.id_merge.survivorship import survivors
from transforms.schema import ID_MAP, STAGED_USERS, USERS_MERGED
from user_pipeline.config import IdMergeConfig


@dataclass
class MergeResult:
    """The outcome of one merge: per record its canonical id and the score that put it there
    (NaN for a record alone or first in its cluster), plus what the size guard refused."""

    canonical_id: np.ndarray
    match_score: np.ndarray
    cluster_size: np.ndarray
    refused_links: int
    clusters_split: int
    loose_clusters_split: int = 0  # by ``split_loose_clusters``


def merge(record_ids: Sequence[str], n: int, pairs: np.ndarray, scores: np.ndarray, *, threshold: float,
          max_cluster_size: int, previous: dict[str, str],
          pair_score: Callable[[np.ndarray], np.ndarray] | None = None,
          linkage_threshold: float | None = None) -> MergeResult:
    """Cluster ``n`` records from their scored pairs and give every cluster its canonical id
    (``assign_ids`` with the previous map, which also covers prior anchors). With ``pair_score``
    clusters of three or more are re-clustered by average linkage at ``linkage_threshold``
    (default ``threshold``; see ``split_loose_clusters``)."""
    found = cluster(n, pairs, scores, threshold, max_cluster_size)
    labels, join_score, loose = found.labels, found.join_score, 0
    if pair_score is not None:
        labels, loose = split_loose_clusters(labels, pair_score,
                                             threshold if linkage_threshold is None else linkage_threshold)
    sizes = np.bincount(labels, minlength=n)[labels]
    if loose:
        join_score = np.where(sizes > 1, join_score, np.nan)  # alone after the split: joined by nothing
    ids = assign_ids(record_ids, labels, previous)
    split = len({int(found.labels[a]) for a, _ in found.refused}) if len(found.refused) else 0
    return MergeResult(ids, join_score, sizes.astype(np.int64), len(found.refused), split, loose)


def resolve(records: pd.DataFrame, matcher: Matcher, *, threshold: float | None = None,
            max_block_size: int = 500, max_cluster_size: int = 20, batch_size: int = 50000,
            sides: np.ndarray | None = None, previous: dict[str, str] | None = None,
            report: BlockingReport | None = None,
            linkage: str = "average") -> tuple[MergeResult, np.ndarray, np.ndarray]:
    """The whole merge in memory (benchmarks, small data): normalise, block, score, cluster.

    ``records`` needs ``source_record_id`` and any of ``FIELDS``; ``linkage`` ``"average"`` re-checks
    clusters of three or more (``split_loose_clusters``), ``"single"`` keeps the union-find
    components. Returns the merge result, the
    candidate pairs and their scores. ``beam_jobs.id_merge`` runs the same steps in Beam.
    """
    norm = normalise(records)
    pairs = candidate_pairs(blocking_keys(norm), max_block_size=max_block_size, sides=sides, report=report)
    scores = score_pairs(norm, pairs, matcher, batch_size)
    result = merge(records["source_record_id"].astype(str).tolist(), len(records), pairs, scores,
                   threshold=matcher.threshold if threshold is None else threshold,
                   max_cluster_size=max_cluster_size, previous=previous or {},
                   pair_score=pair_scorer(records, matcher) if linkage == "average" else None)
    return result, pairs, scores


def concat_links(found: Iterable[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The accepted ``(pairs, scores)`` of all scoring batches as one ``(k, 2)`` array and its scores."""
    found = list(found)
    if not found:
        return np.empty((0, 2), dtype=np.int64), np.empty(0)
    return (np.concatenate([pairs for pairs, _ in found]).astype(np.int64).reshape(-1, 2),
            np.concatenate([scores for _, scores in found]).astype(np.float64))


def merge_day(records: pa.Table, pairs: np.ndarray, scores: np.ndarray, *, anchors: pd.DataFrame,
              previous: dict[str, str], cfg: IdMergeConfig, ds: str, run_id: str,
              matcher: Matcher | None = None, threshold: float | None = None) -> tuple[pa.Table, pa.Table, dict]:
    """Today's records (``STAGED_USERS``) + accepted links -> (``ID_MAP``, ``USERS_MERGED``, report).

    ``pairs`` are record positions (``everyone`` of ``records`` and ``anchors``, see ``record_ids``)
    with their ``scores``. ``anchors`` are prior canonical users (``USERS_MERGED`` rows); their
    record id is ``ANCHOR_PREFIX + canonical_id`` and ``previous`` maps it to that id. With
    ``matcher`` and ``id_merge.cluster_linkage: average`` clusters of three or more are re-checked
    by average linkage at ``threshold`` (``transforms.id_merge.split_loose_clusters``).
    """
    today = records.to_pandas()
    rows = everyone(today, anchors)
    unique_ids = record_ids(rows)
    row_position = unique_ids.get_indexer(rows[RID])
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    scorer = None
    if matcher is not None and cfg.cluster_linkage == "average":
        # The records in position order (first row of a repeated id), for scoring in-cluster pairs.
        scorer = pair_scorer(rows.drop_duplicates(RID).reset_index(drop=True), matcher)
    result = merge(unique_ids.tolist(), len(unique_ids), pairs, np.asarray(scores, dtype=np.float64),
                   threshold=-np.inf, max_cluster_size=cfg.max_cluster_size, previous=previous,
                   pair_score=scorer,
                   linkage_threshold=matcher.threshold if threshold is None and matcher is not None else threshold)
    position = row_position[:len(today)]
    id_map = pa.table({
        RID: rows[RID].to_numpy()[:len(today)], "source": today["source"].to_numpy(),
        "canonical_id": result.canonical_id[position],
        "match_score": pa.array(result.match_score[position], from_pandas=True),
        "cluster_size": result.cluster_size[position], "ds": [ds] * len(today),
        "id_merge_run_id": [run_id] * len(today),
    }, schema=ID_MAP)

    # Survivorship over the rows of the canonical users seen today (anchors of others left out).
    user, canonical = pd.factorize(result.canonical_id)
    user_of_row = user[row_position]
    seen_today = np.zeros(len(canonical), dtype=bool)
    seen_today[user_of_row[:len(today)]] = True
    rows["canonical_id"] = np.asarray(canonical, dtype=object)[user_of_row]
    # Survivorship may pick an anchor's record id: name the real record behind it (the anchor's
    # own survivor), not the merge's "canonical:" handle.
    if len(anchors):
        rows.loc[len(today):, RID] = anchors[RID].to_numpy()
    rows = rows[seen_today[user_of_row]].reset_index(drop=True)
    rows["_recency"] = _recency(rows)
    merged = survivors(rows, rows["canonical_id"].to_numpy(), fields=STAGED_USERS.names,
                       recency="_recency", source_priority=cfg.source_priority)
    records_per_user = pd.Series(np.bincount(user_of_row[:len(today)], minlength=len(canonical)),
                                 index=np.asarray(canonical, dtype=object))
    merged["merged_records"] = records_per_user.reindex(merged["canonical_id"].to_numpy()).to_numpy(np.int64)
    merged["id_merge_run_id"] = run_id
    # A row is today's view of the user: the survivor fields may come from an anchor (an earlier
    # date), the partition column may not.
    merged["ds"] = ds
    merged[RID] = merged[RID].astype(str)
    users = pa.Table.from_pandas(merged[USERS_MERGED.names], schema=USERS_MERGED, preserve_index=False)
    report = {"refused_links": result.refused_links, "clusters_split": result.clusters_split,
              "loose_clusters_split": result.loose_clusters_split,
              "links_accepted": len(pairs), "anchors": len(anchors)}
    return id_map, users, report


def _recency(frame: pd.DataFrame) -> pd.Series:
    """When a record was last asserted: its signup time, else its signup date (UTC, naive)."""
    ts = pd.to_datetime(frame["signup_ts"], utc=True, errors="coerce").dt.tz_localize(None)
    day = pd.to_datetime(frame["signup_date"], errors="coerce")
    return ts.fillna(day).astype("datetime64[ns]")
