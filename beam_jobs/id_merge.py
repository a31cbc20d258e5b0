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

import hashlib
import logging
from collections.abc import Iterable

import apache_beam as beam
import numpy as np
import pandas as pd
import pyarrow as pa
from apache_beam.io.parquetio import ReadAllFromParquetBatched
from apache_beam.metrics import Metrics

import transforms.id_merge as im
from beam_jobs.common import write_tables
from lineage.catalog import Catalog
from transforms.schema import ID_MAP, STAGED_USERS, USERS_MERGED
from user_pipeline.config import IdMergeConfig
from user_pipeline.steps.harness import Job, Plan, StepContext
from user_pipeline.steps.models import ID_MATCHER, load_model_file, model_file_uri

NAME = "beam_jobs.id_merge"
SOURCE = "staging.users_despammed"
ID_MAP_DATASET = "staging.id_map"
MERGED = "staging.users_merged"
RID = "source_record_id"
log = logging.getLogger(NAME)


def everyone(today: pd.DataFrame, anchors: pd.DataFrame) -> pd.DataFrame:
    """Today's records then the anchors (prior canonical users as records, record id
    ``ANCHOR_PREFIX + canonical_id``): the rows a merge runs over. A record's position is that of
    the first row with its record id (``record_ids``), in this order: blocking, scoring and
    clustering all name records by that position, never by their id strings."""
    anchor_rows = anchors.drop(columns=["canonical_id", "merged_records", "id_merge_run_id"], errors="ignore")
    anchor_rows = anchor_rows.assign(**{RID: (im.ANCHOR_PREFIX + anchors["canonical_id"].astype(str)).to_numpy()})
    rows = pd.concat([today, anchor_rows], ignore_index=True) if len(anchor_rows) else today.copy()
    rows[RID] = rows[RID].astype(str)
    return rows


def record_ids(rows: pd.DataFrame) -> pd.Index:
    """The distinct record ids of ``everyone`` rows in first-seen order: position -> record id."""
    return pd.Index(pd.unique(rows[RID].to_numpy(dtype=object)))


def comparison_records(today: pa.Table, anchors: pd.DataFrame) -> pd.DataFrame:
    """The identifying fields (``transforms.id_merge.FIELDS``) of every record to merge, one row
    per record position (``everyone``; a repeated record id keeps its first row), not normalised."""
    names = [c for c in (RID, *im.FIELDS) if c in today.column_names]
    rows = everyone(today.select(names).to_pandas(), anchors[[c for c in (*im.FIELDS, "canonical_id")
                                                               if c in anchors.columns]])
    return rows.drop_duplicates(RID).drop(columns=[RID]).reset_index(drop=True)


def split_batches(records: pd.DataFrame, size: int) -> Iterable[tuple[int, pd.DataFrame]]:
    """``(position of the first row, rows)`` per ``size`` rows: the units normalised in parallel."""
    for start in range(0, len(records), size):
        yield start, records.iloc[start:start + size]


def normalised_batch(element: tuple[int, pd.DataFrame]) -> tuple[int, pd.DataFrame]:
    """``(start, records)`` -> ``(start, transforms.id_merge.normalise(records))``."""
    start, records = element
    return start, im.normalise(records.reset_index(drop=True))


def compared_columns(element: tuple[int, pd.DataFrame]) -> tuple[int, pa.Table]:
    """``(start, normalised batch)`` -> ``(start, the columns transforms.id_merge.prepare reads)``
    as Arrow: on their way to the one scoring side input they are pickled, and Arrow pickles
    several times faster than columns of Python strings."""
    start, norm = element
    schema = pa.schema([(name, pa.string()) for name in im.COMPARED_COLUMNS])  # an all-null batch stays string
    return start, pa.Table.from_pandas(norm[schema.names], schema=schema, preserve_index=False)


def prepared_records(batches: Iterable[tuple[int, pa.Table]]) -> im.PreparedRecords:
    """All ``compared_columns`` batches, in position order, as one ``PreparedRecords`` (the
    scoring side input)."""
    ordered = [table for _, table in sorted(batches, key=lambda batch: batch[0])]
    if not ordered:
        return im.prepare(im.normalise(pd.DataFrame()))
    return im.prepare(pa.concat_tables(ordered).to_pandas())


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
    parts = {name for parts in im.BLOCKING_PASSES.values() for name in parts}
    hashed, missing = {}, {}
    for name in parts:
        values = norm[name].to_numpy(dtype=object)
        missing[name] = pd.isna(values)
        hashed[name] = pd.util.hash_array(np.where(missing[name], "", values).astype(object))
    keys, rows = [], []
    for name, pass_parts in im.BLOCKING_PASSES.items():
        key = np.full(len(norm), int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little"), np.uint64)
        absent = np.zeros(len(norm), dtype=bool)
        for part in pass_parts:
            key = _combine(key, hashed[part])
            absent |= missing[part]
        keys.append(key[~absent])
        rows.append(np.flatnonzero(~absent))
    return np.concatenate(keys), np.concatenate(rows)


def keyed_records(element: tuple[int, pd.DataFrame],
                  shards: int) -> Iterable[tuple[int, tuple[np.ndarray, np.ndarray]]]:
    """``(start, normalised batch)`` -> ``(key shard, (key hashes, record positions))``."""
    start, norm = element
    keys, rows = block_key_hashes(norm)
    positions = rows.astype(np.int64) + start
    shard = shard_of(keys, shards)
    for k in im.sorted_unique(shard):
        mine = shard == k
        yield int(k), (keys[mine], positions[mine])


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
        parts = list(parts)
        keys = np.concatenate([k for k, _ in parts])
        positions = np.concatenate([p for _, p in parts])
        left, right, oversized = im.pairs_within_blocks(keys, positions, self.max_block_size)
        self.oversized.inc(oversized)
        self.emitted.inc(len(left))
        if len(left) == 0:
            return
        packed = (left << 32) | right
        # Mixed before the modulo: consecutive positions would otherwise crowd a few shards.
        shard = shard_of(_combine(left.astype(np.uint64), right.astype(np.uint64)), self.shards)
        for k in im.sorted_unique(shard):
            yield int(k), packed[shard == k]


def unique_pairs(element, batch_size: int) -> Iterable[np.ndarray]:
    """All packed pairs of a pair shard -> the unique ones (a pair found by several passes once) as
    ``(k, 2)`` position arrays of at most ``batch_size`` pairs."""
    _, parts = element
    packed = im.sorted_unique(np.concatenate(list(parts)))
    for start in range(0, len(packed), batch_size):
        chunk = packed[start:start + batch_size]
        yield np.stack([chunk >> 32, chunk & 0xFFFFFFFF], axis=1)


class BlockRecords(beam.PTransform):
    """``(start, normalised batch)`` elements -> arrays of unique candidate pairs of record
    positions ``(i, j)``, ``i < j``, at most ``batch_size`` per array.

    Two shuffles of arrays (DESIGN §7: batches, not rows): (key hash, position) by key shard, then
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


def concat_links(found: Iterable[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The accepted ``(pairs, scores)`` of all scoring batches as one ``(k, 2)`` array and its scores."""
    found = list(found)
    if not found:
        return np.empty((0, 2), dtype=np.int64), np.empty(0)
    return (np.concatenate([pairs for pairs, _ in found]).astype(np.int64).reshape(-1, 2),
            np.concatenate([scores for _, scores in found]).astype(np.float64))


def merge_day(records: pa.Table, pairs: np.ndarray, scores: np.ndarray, *, anchors: pd.DataFrame,
              previous: dict[str, str], cfg: IdMergeConfig, ds: str, run_id: str,
              matcher: im.Matcher | None = None, threshold: float | None = None) -> tuple[pa.Table, pa.Table, dict]:
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
        scorer = im.pair_scorer(rows.drop_duplicates(RID).reset_index(drop=True), matcher)
    result = im.merge(unique_ids.tolist(), len(unique_ids), pairs, np.asarray(scores, dtype=np.float64),
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
    merged = im.survivors(rows, rows["canonical_id"].to_numpy(), fields=STAGED_USERS.names,
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
        id_map, users, report = merge_day(records, pairs, scores, anchors=self.anchors, previous=self.previous,
                                          cfg=self.cfg, ds=self.ds, run_id=self.run_id, matcher=self.matcher,
                                          threshold=self.cfg.threshold)
        self.rows_read.inc(records.num_rows)
        self.refused.inc(report["refused_links"])
        self.loose.inc(report["loose_clusters_split"])
        yield id_map
        yield beam.pvalue.TaggedOutput("users", users)


def _concat_tables(tables: Iterable[pa.Table]) -> pa.Table:
    tables = [t.select(STAGED_USERS.names).cast(STAGED_USERS) for t in tables]
    return pa.concat_tables(tables) if tables else STAGED_USERS.empty_table()


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
        records = tables | "TodaysRecords" >> beam.combiners.ToList() | "OneTable" >> beam.Map(_concat_tables)
        frames = (records
                  | "Positions" >> beam.Map(comparison_records, self.anchors)
                  | "Batches" >> beam.FlatMap(split_batches, self.cfg.record_batch_size)
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
                 | "Links" >> beam.Map(concat_links))
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
        tables = (pipeline
                  | "StagedFiles" >> beam.Create(ctx.catalog.files(SOURCE, ctx.ds))
                  | "Read" >> ReadAllFromParquetBatched())
        out = tables | "MergeIds" >> merge_ids
        _ = out.id_map | write_tables(map_dir, ID_MAP, "WriteIdMap")
        _ = out.users | write_tables(merged_dir, USERS_MERGED, "WriteUsersMerged")
    metrics = _counters(pipeline.result)

    common = {"matcher_version": matcher.version, "pairs_version": cfg.pairs_version,
              "threshold": cfg.threshold or matcher.extra.get("threshold"), **metrics}
    id_map = ctx.seal(map_dir, schema=ID_MAP, extra=common)
    users = ctx.seal(merged_dir, schema=USERS_MERGED, extra={**common, "id_map_version": id_map.version})
    # Nothing vanishes: checked before anything is published.
    if not (source.row_count == metrics.get("rows_read", 0) == id_map.row_count):
        raise RuntimeError(f"accounting broken: {source.row_count} de-spammed users != "
                           f"{id_map.row_count} rows in {ID_MAP_DATASET}")
    ctx.catalog.publish(map_dir, id_map)
    ctx.catalog.publish(merged_dir, users)
    ctx.output(id_map)
    ctx.output(users)
    return (f"{id_map.row_count} records -> {users.row_count} canonical users "
            f"with models.id_matcher version={matcher.version} ({metrics})")


def _counters(result) -> dict[str, int]:
    from apache_beam.metrics.metric import MetricsFilter

    found = result.metrics().query(MetricsFilter().with_namespace(NAME))["counters"]
    totals: dict[str, int] = {}
    for counter in found:
        name = counter.key.metric.name
        totals[name] = totals.get(name, 0) + int(counter.committed or counter.attempted or 0)
    return totals


JOB = Job(NAME, compute, plan=plan)
run, main = JOB.run, JOB.main

if __name__ == "__main__":
    JOB.exit()
