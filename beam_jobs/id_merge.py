"""ID-merge: ``staging.users_despammed`` -> ``staging.id_map`` + ``staging.users_merged``.

    python -m beam_jobs.id_merge --ds 2026-01-01 [--config ...] [--force] [--runner=... other Beam options]

The same person arrives from several sources and across days under slightly different names,
emails, phones and addresses; this job gives every record one canonical user id.

- Positions: today's records and the anchors (below) are gathered once and every record gets a
  position (first row of a repeated record id); from there on records are named by position,
  never by id strings. Records are normalised in batches of ``id_merge.record_batch_size``.
- Blocking (``BlockRecords``): every record has one key per pass of
  ``transforms.id_merge.BLOCKING_PASSES``, hashed to 64 bits (a collision only adds candidate
  pairs); (key hash, position) arrays are shuffled by key shard, records sharing a key form a
  block, blocks above ``id_merge.max_block_size`` are skipped and counted; the pairs of all
  passes are shuffled by pair shard as packed int64 arrays and deduplicated there, so a pair
  found by several passes is scored once.
- Scoring (``ScorePairs``): pairs in batches of ``id_merge.score_batch_size``, compared with
  ``transforms.id_merge.compare_prepared`` against the records prepared once (a side input) and
  scored by the committed ``models.id_matcher`` (resolved from the ``id_merge.pairs_version``
  pin, never "the latest"; an input of the run's lineage).
- Clustering and ids (``AssignCanonicalIds``): union-find over links above the matcher's
  threshold, strongest first, with clusters capped at ``id_merge.max_cluster_size`` (refused
  links are counted in the manifest). Canonical ids are stable: the previous ``id_map``
  partitions say which id a record already had, and the previous ``users_merged`` partitions
  (the last ``id_merge.anchor_days`` dates) take part in the merge as anchors, so a person merged
  yesterday keeps yesterday's id today. New clusters get a hash of their smallest record id.
  Clusters of three or more are then re-checked by average linkage over the matcher scores of
  all their pairs (``id_merge.cluster_linkage``): a chain through one sparse record that looks
  like two different people is cut, not merged by transitivity.
  Clustering runs in one worker over the accepted links (a few per record): the part that is
  all-pairs-sized, comparison, is distributed.
- ``users_merged``: one row per canonical user seen today by ``transforms.id_merge.survivors``
  (most recent non-null value per field; ties by ``id_merge.source_priority``).

Nothing vanishes: rows in = rows in ``id_map`` is checked before anything is published.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import apache_beam as beam
import numpy as np
import pandas as pd
import pyarrow as pa
from apache_beam.metrics import Metrics

import transforms.id_merge as im
from beam_jobs.common import ReadTables, counters, write_tables
from lineage.catalog import Catalog
from transforms.schema import ID_MAP, USERS_MERGED
from user_pipeline.config import IdMergeConfig
from user_pipeline.steps.harness import Job, Plan, StepContext
from user_pipeline.steps.models import ID_MATCHER, load_model_file, model_file_uri

NAME = "beam_jobs.id_merge"
SOURCE = "staging.users_despammed"
ID_MAP_DATASET = "staging.id_map"
MERGED = "staging.users_merged"
RID = "source_record_id"
log = logging.getLogger(NAME)


def normalised_batch(element: tuple[int, pd.DataFrame]) -> tuple[int, pd.DataFrame]:
    """``(start, records)`` -> ``(start, transforms.id_merge.normalise(records))``."""
    start, records = element
    return start, im.normalise(records.reset_index(drop=True))


def compared_columns(element: tuple[int, pd.DataFrame]) -> tuple[int, pa.Table]:
    """``(start, normalised batch)`` -> ``(start, the columns transforms.id_merge.prepare reads)``
    as Arrow (``compared_table``): on their way to the one scoring side input they are pickled, and
    Arrow pickles several times faster than columns of Python strings."""
    start, norm = element
    return start, im.compared_table(norm)


def prepared_records(batches: Iterable[tuple[int, pa.Table]]) -> im.PreparedRecords:
    """All ``compared_columns`` batches, in position order, as one ``PreparedRecords`` (the
    scoring side input)."""
    return im.prepare_tables([table for _, table in sorted(batches, key=lambda batch: batch[0])])


def keyed_records(element: tuple[int, pd.DataFrame],
                  shards: int) -> Iterable[tuple[int, tuple[np.ndarray, np.ndarray]]]:
    """``(start, normalised batch)`` -> ``(key shard, (key hashes, record positions))``."""
    start, norm = element
    yield from im.keys_by_shard(norm, start, shards)


class PairsInShard(beam.DoFn):
    """All (key hash, record position) rows of a key shard -> ``(pair shard, packed pairs)``: pairs
    ``i < j`` sharing a key packed as ``i << 32 | j`` (int64); blocks above the size limit are
    skipped and counted."""

    def __init__(self, max_block_size: int, shards: int):
        self.max_block_size, self.shards = max_block_size, shards
        self.oversized = Metrics.counter(NAME, "oversized_blocks")
        self.emitted = Metrics.counter(NAME, "pairs_before_dedup")

    def process(self, element):
        _, parts = element
        left, right, oversized = im.pairs_in_key_shard(parts, self.max_block_size)
        self.oversized.inc(oversized)
        self.emitted.inc(len(left))
        yield from im.packed_by_shard(left, right, self.shards)


def unique_pairs(element, batch_size: int) -> Iterable[np.ndarray]:
    """All packed pairs of a pair shard -> the unique ones (a pair found by several passes once) as
    ``(k, 2)`` position arrays of at most ``batch_size`` pairs."""
    _, parts = element
    yield from im.unique_pair_batches(parts, batch_size)


class BlockRecords(beam.PTransform):
    """``(start, normalised batch)`` elements -> arrays of unique candidate pairs of record
    positions ``(i, j)``, ``i < j``, at most ``batch_size`` per array.

    Two shuffles of arrays (docs/architecture.md#scale: batches, not rows): (key hash, position) by key shard, then
    packed pairs by pair shard, where the pairs of all passes meet and are deduplicated.
    """

    def __init__(self, max_block_size: int, shards: int = 16, batch_size: int = 50000):
        super().__init__()
        self.max_block_size, self.shards, self.batch_size = max_block_size, shards, batch_size

    def expand(self, frames):
        return (frames
                | "Keys" >> beam.FlatMap(keyed_records, self.shards)
                | "KeyShards" >> beam.GroupByKey()
                | "Pairs" >> beam.ParDo(PairsInShard(self.max_block_size, self.shards))
                | "PairShards" >> beam.GroupByKey()
                | "Dedup" >> beam.FlatMap(unique_pairs, self.batch_size))


class ScorePairs(beam.DoFn):
    """A ``(k, 2)`` array of record positions -> ``(pairs, scores)`` of those at or above the threshold."""

    def __init__(self, model_uri: str, threshold: float | None):
        self.model_uri, self.threshold = model_uri, threshold
        self.scored = Metrics.counter(NAME, "pairs_scored")
        self.accepted = Metrics.counter(NAME, "pairs_accepted")

    def setup(self):
        self.matcher = load_model_file(self.model_uri)
        self.cut = self.matcher.threshold if self.threshold is None else self.threshold

    def process(self, pairs: np.ndarray, prepared: im.PreparedRecords):
        scores = self.matcher.score(im.compare_prepared(prepared, pairs))
        self.scored.inc(len(pairs))
        keep = scores >= self.cut
        self.accepted.inc(int(keep.sum()))
        yield pairs[keep], scores[keep]


class AssignCanonicalIds(beam.DoFn):
    """All accepted links (one element: pairs and scores) -> the id_map table (main) and
    users_merged (tagged)."""

    def __init__(self, anchors: pd.DataFrame, previous: dict[str, str], cfg: IdMergeConfig, ds: str, run_id: str,
                 model_uri: str | None = None):
        self.anchors, self.previous, self.cfg, self.ds, self.run_id = anchors, previous, cfg, ds, run_id
        self.model_uri = model_uri
        self.rows_read = Metrics.counter(NAME, "rows_read")
        self.refused = Metrics.counter(NAME, "refused_links")
        self.loose = Metrics.counter(NAME, "loose_clusters_split")

    def setup(self):
        self.matcher = load_model_file(self.model_uri) if self.model_uri else None

    def process(self, links, records: pa.Table):
        pairs, scores = links
        id_map, users, report = im.merge_day(records, pairs, scores, anchors=self.anchors, previous=self.previous,
                                             cfg=self.cfg, ds=self.ds, run_id=self.run_id, matcher=self.matcher,
                                             threshold=self.cfg.threshold)
        self.rows_read.inc(records.num_rows)
        self.refused.inc(report["refused_links"])
        self.loose.inc(report["loose_clusters_split"])
        yield id_map
        yield beam.pvalue.TaggedOutput("users", users)


class MergeIds(beam.PTransform):
    """Arrow tables of de-spammed users -> ``id_map`` (``ID_MAP``) and ``users`` (``USERS_MERGED``).

    Today's records and the anchors are gathered once to give every record its position; batches
    of positions are then normalised, blocked and scored in parallel, and the accepted links meet
    in one clustering step.
    """

    def __init__(self, model_uri: str, cfg: IdMergeConfig, *, anchors: pd.DataFrame, previous: dict[str, str],
                 ds: str, run_id: str):
        super().__init__()
        self.model_uri, self.cfg, self.anchors, self.previous = model_uri, cfg, anchors, previous
        self.ds, self.run_id = ds, run_id

    def expand(self, tables):
        # ToList then one concat: a CombineGlobally callable would be re-applied to its own output.
        records = tables | "TodaysRecords" >> beam.combiners.ToList() | "OneTable" >> beam.Map(im.staged_table)
        frames = (records
                  | "Positions" >> beam.Map(im.comparison_records, self.anchors)
                  | "Batches" >> beam.FlatMap(im.split_batches, self.cfg.record_batch_size)
                  | "Normalise" >> beam.Map(normalised_batch))
        prepared = (frames
                    | "Compared" >> beam.Map(compared_columns)
                    | "AllRecords" >> beam.combiners.ToList()
                    | "Prepare" >> beam.Map(prepared_records))
        links = (frames
                 | "Block" >> BlockRecords(self.cfg.max_block_size, batch_size=self.cfg.score_batch_size)
                 | "Score" >> beam.ParDo(ScorePairs(self.model_uri, self.cfg.threshold),
                                         prepared=beam.pvalue.AsSingleton(prepared))
                 | "AllLinks" >> beam.combiners.ToList()
                 | "Links" >> beam.Map(im.concat_links))
        return links | "Assign" >> beam.ParDo(
            AssignCanonicalIds(self.anchors, self.previous, self.cfg, self.ds, self.run_id, self.model_uri),
            records=beam.pvalue.AsSingleton(records)).with_outputs("users", main="id_map")


def prior_state(catalog: Catalog, ds: str, days: int) -> tuple[pd.DataFrame, dict[str, str], list]:
    """Anchors (the latest ``users_merged`` row of each canonical user over the last ``days``
    committed dates before ``ds``), the previous map (record id -> canonical id, from the same
    dates' ``id_map``, anchors included) and the manifests read (lineage inputs)."""
    dates = [d for d in catalog.committed(MERGED) if d < ds][-days:] if days else []
    manifests, users, maps = [], [], []
    for day in dates:
        merged = catalog.manifest(MERGED, day)
        mapped = catalog.manifest(ID_MAP_DATASET, day)
        if merged is None or mapped is None:
            continue
        manifests += [mapped, merged]
        users.append(catalog.read_table(MERGED, day).to_pandas())
        maps.append(catalog.read_table(ID_MAP_DATASET, day, columns=[RID, "canonical_id"]).to_pandas())
    if not users:
        return USERS_MERGED.empty_table().to_pandas(), {}, []
    anchors = pd.concat(users, ignore_index=True).drop_duplicates("canonical_id", keep="last")
    previous = dict(zip(*(pd.concat(maps, ignore_index=True)[c] for c in (RID, "canonical_id")), strict=True))
    previous.update({im.ANCHOR_PREFIX + c: c for c in anchors["canonical_id"]})
    return anchors.reset_index(drop=True), previous, manifests


def plan(ctx: StepContext) -> Plan:
    """The day's de-spammed users, the matcher of the pinned pairs version and the prior state."""
    source = ctx.catalog.require(SOURCE, ctx.ds)
    matcher = ID_MATCHER.resolve(ctx.catalog, ctx.cfg)
    anchors, previous, prior = prior_state(ctx.catalog, ctx.ds, ctx.cfg.id_merge.anchor_days)
    return Plan([source, matcher, *prior], [(ID_MAP_DATASET, ctx.ds), (MERGED, ctx.ds)],
                {"anchors": anchors, "previous": previous})


def compute(ctx: StepContext) -> str:
    """Merge one day's de-spammed users into canonical ids; commit id_map and users_merged."""
    source, matcher, *_ = ctx.plan.inputs
    cfg = ctx.cfg.id_merge
    map_dir = ctx.stage(ID_MAP_DATASET)
    merged_dir = ctx.stage(MERGED)
    merge_ids = MergeIds(model_file_uri(ctx.catalog, matcher), cfg, anchors=ctx.plan.extra["anchors"],
                         previous=ctx.plan.extra["previous"], ds=ctx.ds, run_id=ctx.run_id)
    with beam.Pipeline(options=ctx.pipeline_options()) as pipeline:
        out = pipeline | "Read" >> ReadTables(ctx.catalog.files(SOURCE, ctx.ds)) | "MergeIds" >> merge_ids
        _ = out.id_map | write_tables(map_dir, ID_MAP, "WriteIdMap")
        _ = out.users | write_tables(merged_dir, USERS_MERGED, "WriteUsersMerged")
    metrics = counters(pipeline.result, NAME)

    common = {"matcher_version": matcher.version, "pairs_version": cfg.pairs_version,
              "threshold": cfg.threshold or matcher.extra.get("threshold"), **metrics}
    id_map = ctx.seal(map_dir, schema=ID_MAP, extra=common)
    users = ctx.seal(merged_dir, schema=USERS_MERGED, extra={**common, "id_map_version": id_map.version})
    # Nothing vanishes: checked before anything is published.
    if not (source.row_count == metrics.get("rows_read", 0) == id_map.row_count):
        raise RuntimeError(f"accounting broken: {source.row_count} de-spammed users != "
                           f"{id_map.row_count} rows in {ID_MAP_DATASET}")
    ctx.publish_together((map_dir, id_map), (merged_dir, users))
    return (f"{id_map.row_count} records -> {users.row_count} canonical users "
            f"with models.id_matcher version={matcher.version} ({metrics})")


JOB = Job(NAME, compute, plan=plan)
run, main = JOB.run, JOB.main

if __name__ == "__main__":
    JOB.exit()
