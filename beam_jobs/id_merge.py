"""ID-merge: ``staging.users_despammed`` -> ``staging.id_map`` + ``staging.users_merged``.

    python -m beam_jobs.id_merge --ds 2026-01-01 [--config ...] [--force] [--runner=... other Beam options]

The same person arrives from several sources and across days under slightly different names,
emails, phones and addresses; this job gives every record one canonical user id.

- Blocking (``BlockRecords``): every record has one key per pass of
  ``transforms.id_merge.BLOCKING_PASSES``; (key, record) rows are shuffled by key shard as
  DataFrames, records sharing a key form a block, blocks above ``id_merge.max_block_size`` are
  skipped and counted; the pairs of all passes are shuffled by pair shard and deduplicated there,
  so a pair found by several passes is scored once.
- Scoring (``ScorePairs``): pairs in batches of ``id_merge.score_batch_size``, compared with
  ``transforms.id_merge.compare`` and scored by the committed ``models.id_matcher`` (resolved from
  the ``id_merge.pairs_version`` pin, never "the latest"; an input of the run's lineage).
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
from collections.abc import Iterable, Sequence

import apache_beam as beam
import numpy as np
import pandas as pd
import pyarrow as pa
from apache_beam.io.parquetio import ReadAllFromParquetBatched
from apache_beam.metrics import Metrics

import transforms.id_merge as im
from beam_jobs.common import job_parser, parse_job_args, pipeline_options, write_tables
from conf.config import IdMergeConfig
from lineage.catalog import Catalog, Producer
from lineage.emit import ParentRun, step_run
from lineage.versioning import code_version
from training.id_matcher import load_matcher, matcher_uri, resolve_matcher
from transforms.schema import ID_MAP, STAGED_USERS, USERS_MERGED

JOB = "beam_jobs.id_merge"
SOURCE = "staging.users_despammed"
ID_MAP_DATASET = "staging.id_map"
MERGED = "staging.users_merged"
RID = "source_record_id"
log = logging.getLogger(JOB)


def comparison_frame(table: pa.Table) -> pd.DataFrame:
    """The record id and identifying fields of a batch, normalised (``transforms.id_merge.normalise``)."""
    names = [c for c in (RID, *im.FIELDS) if c in table.column_names]
    frame = table.select(names).to_pandas()
    norm = im.normalise(frame)
    norm.insert(0, RID, frame[RID].astype(str).to_numpy())
    return norm


def shard_of(values: pd.Series, shards: int) -> np.ndarray:
    """A stable shard per value (pandas' fixed-key hash: the same in every process)."""
    return (pd.util.hash_pandas_object(values, index=False).to_numpy() % np.uint64(shards)).astype(np.int64)


def keyed_records(norm: pd.DataFrame, shards: int) -> Iterable[tuple[int, pd.DataFrame]]:
    """A batch -> ``(shard, frame of (key, record id))`` with every blocking key of every pass;
    a key is ``pass|value``, so equal values of different passes never form a block."""
    keys = im.blocking_keys(norm)
    long = pd.DataFrame({"key": np.concatenate([(name + "|" + keys[name].astype("string")).to_numpy(dtype=object)
                                                for name in keys.columns]) if len(keys) else [],
                         RID: np.tile(norm[RID].to_numpy(dtype=object), len(keys.columns))})
    long = long[long["key"].notna()]
    if long.empty:
        return
    for shard, part in long.groupby(shard_of(long["key"], shards)):
        yield int(shard), part


class PairsInShard(beam.DoFn):
    """All (key, record id) rows of a shard -> ``(pair shard, array of "id_a\x1fid_b")`` with
    ``id_a < id_b``; blocks above the size limit are skipped and counted."""

    def __init__(self, max_block_size: int, shards: int):
        self.max_block_size, self.shards = max_block_size, shards
        self.oversized = Metrics.counter(JOB, "oversized_blocks")
        self.emitted = Metrics.counter(JOB, "pairs_before_dedup")

    def process(self, element):
        _, parts = element
        frame = pd.concat(list(parts), ignore_index=True)
        rids = np.sort(pd.unique(frame[RID].to_numpy(dtype=object)))
        members = np.searchsorted(rids, frame[RID].to_numpy(dtype=object))
        pairs, oversized = im.keyed_pairs(frame["key"].to_numpy(dtype=object), members, self.max_block_size)
        self.oversized.inc(oversized)
        self.emitted.inc(len(pairs))
        if len(pairs) == 0:
            return
        joined = pd.Series(rids[pairs[:, 0]]) + PAIR_SEP + pd.Series(rids[pairs[:, 1]])
        for shard, part in joined.groupby(shard_of(joined, self.shards)):
            yield int(shard), part.tolist()


PAIR_SEP = "\x1f"


def unique_pairs(element) -> Iterable[list[tuple[str, str]]]:
    """All pairs of a pair shard -> the unique ones (a pair found by several passes once)."""
    _, parts = element
    joined = pd.unique(pd.Series([pair for part in parts for pair in part], dtype=object))
    split = pd.Series(joined).str.split(PAIR_SEP, n=1, regex=False)
    yield list(zip(split.str[0], split.str[1], strict=True))


class BlockRecords(beam.PTransform):
    """Normalised record frames -> lists of unique candidate pairs ``(id_a, id_b)``, ``id_a < id_b``.

    Two shuffles of DataFrames/arrays (DESIGN §7: batches, not rows): records by blocking key
    shard, then pairs by pair shard, where the pairs of all passes meet and are deduplicated.
    """

    def __init__(self, max_block_size: int, shards: int = 16):
        super().__init__()
        self.max_block_size, self.shards = max_block_size, shards

    def expand(self, frames):
        return (frames
                | "Keys" >> beam.FlatMap(keyed_records, self.shards)
                | "KeyShards" >> beam.GroupByKey()
                | "Pairs" >> beam.ParDo(PairsInShard(self.max_block_size, self.shards))
                | "PairShards" >> beam.GroupByKey()
                | "Dedup" >> beam.FlatMap(unique_pairs))


def _chunks(pairs: list, size: int) -> Iterable[list]:
    for start in range(0, len(pairs), size):
        yield pairs[start:start + size]


def concat_frames(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """All normalised records in one frame indexed by record id (first row of a repeated id)."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=[RID]).set_index(RID)
    frame = pd.concat(frames, ignore_index=True)
    return frame.drop_duplicates(RID).set_index(RID)


class ScorePairs(beam.DoFn):
    """A batch of pairs -> ``(id_a, id_b, score)`` for those at or above the threshold."""

    def __init__(self, model_uri: str, threshold: float | None):
        self.model_uri, self.threshold = model_uri, threshold
        self.scored = Metrics.counter(JOB, "pairs_scored")
        self.accepted = Metrics.counter(JOB, "pairs_accepted")

    def setup(self):
        self.matcher = load_matcher(self.model_uri)
        self.cut = self.matcher.threshold if self.threshold is None else self.threshold

    def process(self, batch, norm: pd.DataFrame):
        if getattr(self, "_norm", None) is not norm:  # the side input once, not a 1M-row copy per batch
            self._norm, self._flat = norm, norm.reset_index(drop=True)
        left = norm.index.get_indexer([a for a, _ in batch])
        right = norm.index.get_indexer([b for _, b in batch])
        scores = self.matcher.score(im.compare(self._flat, np.stack([left, right], axis=1)))
        self.scored.inc(len(batch))
        keep = np.flatnonzero(scores >= self.cut)
        self.accepted.inc(len(keep))
        yield [(batch[k][0], batch[k][1], float(scores[k])) for k in keep]


def merge_day(records: pa.Table, links: list[tuple[str, str, float]], *, anchors: pd.DataFrame,
              previous: dict[str, str], cfg: IdMergeConfig, ds: str, run_id: str,
              matcher: im.Matcher | None = None, threshold: float | None = None) -> tuple[pa.Table, pa.Table, dict]:
    """Today's records (``STAGED_USERS``) + accepted links -> (``ID_MAP``, ``USERS_MERGED``, report).

    ``anchors`` are prior canonical users (``USERS_MERGED`` rows); their record id is
    ``ANCHOR_PREFIX + canonical_id`` and ``previous`` maps it to that id. With ``matcher`` and
    ``id_merge.cluster_linkage: average`` clusters of three or more are re-checked by average
    linkage at ``threshold`` (``transforms.id_merge.split_loose_clusters``).
    """
    today = records.to_pandas()
    anchor_rows = anchors.drop(columns=["canonical_id", "merged_records", "id_merge_run_id"], errors="ignore")
    anchor_rows = anchor_rows.assign(**{RID: (im.ANCHOR_PREFIX + anchors["canonical_id"]).to_numpy()})
    everyone = pd.concat([today, anchor_rows], ignore_index=True) if len(anchor_rows) else today
    unique_ids = pd.Index(pd.unique(everyone[RID].astype(str)))
    pairs = np.stack([unique_ids.get_indexer([a for a, _, _ in links]),
                      unique_ids.get_indexer([b for _, b, _ in links])], axis=1).astype(np.int64).reshape(-1, 2)
    scores = np.array([s for *_, s in links], dtype=np.float64)
    scorer = None
    if matcher is not None and cfg.cluster_linkage == "average":
        # The records in ``unique_ids`` order (first row of a repeated id), for scoring in-cluster pairs.
        scorer = im.pair_scorer(everyone.drop_duplicates(RID).reset_index(drop=True), matcher)
    result = im.merge(unique_ids.tolist(), len(unique_ids), pairs, scores, threshold=-np.inf,
                      max_cluster_size=cfg.max_cluster_size, previous=previous, pair_score=scorer,
                      linkage_threshold=matcher.threshold if threshold is None and matcher is not None else threshold)
    position = unique_ids.get_indexer(today[RID].astype(str))
    id_map = pa.table({
        RID: today[RID].astype(str).to_numpy(), "source": today["source"].to_numpy(),
        "canonical_id": result.canonical_id[position],
        "match_score": pa.array(result.match_score[position], from_pandas=True),
        "cluster_size": result.cluster_size[position], "ds": [ds] * len(today),
        "id_merge_run_id": [run_id] * len(today),
    }, schema=ID_MAP)

    everyone["canonical_id"] = result.canonical_id[unique_ids.get_indexer(everyone[RID].astype(str))]
    # Survivorship may pick an anchor's record id: name the real record behind it (the anchor's
    # own survivor), not the merge's "canonical:" handle.
    if len(anchor_rows):
        everyone.loc[len(today):, RID] = anchors[RID].to_numpy()
    seen_today = set(id_map.column("canonical_id").to_pylist())
    everyone = everyone[everyone["canonical_id"].isin(seen_today)].reset_index(drop=True)
    everyone["_recency"] = _recency(everyone)
    merged = im.survivors(everyone, everyone["canonical_id"].to_numpy(), fields=STAGED_USERS.names,
                          recency="_recency", source_priority=cfg.source_priority)
    counts = pd.Series(id_map.column("canonical_id").to_numpy(zero_copy_only=False)).value_counts()
    merged["merged_records"] = merged["canonical_id"].map(counts).astype(np.int64)
    merged["id_merge_run_id"] = run_id
    # A row is today's view of the user: the survivor fields may come from an anchor (an earlier
    # date), the partition column may not.
    merged["ds"] = ds
    merged[RID] = merged[RID].astype(str)
    users = pa.Table.from_pandas(merged[USERS_MERGED.names], schema=USERS_MERGED, preserve_index=False)
    report = {"refused_links": result.refused_links, "clusters_split": result.clusters_split,
              "loose_clusters_split": result.loose_clusters_split,
              "links_accepted": len(links), "anchors": len(anchors)}
    return id_map, users, report


def _recency(frame: pd.DataFrame) -> pd.Series:
    """When a record was last asserted: its signup time, else its signup date (UTC, naive)."""
    ts = pd.to_datetime(frame["signup_ts"], utc=True, errors="coerce").dt.tz_localize(None)
    day = pd.to_datetime(frame["signup_date"], errors="coerce")
    return ts.fillna(day).astype("datetime64[ns]")


class AssignCanonicalIds(beam.DoFn):
    """All accepted links (one element) -> the id_map table (main) and users_merged (tagged)."""

    def __init__(self, anchors: pd.DataFrame, previous: dict[str, str], cfg: IdMergeConfig, ds: str, run_id: str,
                 model_uri: str | None = None):
        self.anchors, self.previous, self.cfg, self.ds, self.run_id = anchors, previous, cfg, ds, run_id
        self.model_uri = model_uri
        self.rows_read = Metrics.counter(JOB, "rows_read")
        self.refused = Metrics.counter(JOB, "refused_links")
        self.loose = Metrics.counter(JOB, "loose_clusters_split")

    def setup(self):
        self.matcher = load_matcher(self.model_uri) if self.model_uri else None

    def process(self, links, records: pa.Table):
        id_map, users, report = merge_day(records, links, anchors=self.anchors, previous=self.previous,
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
    """Arrow tables of de-spammed users -> ``id_map`` (``ID_MAP``) and ``users`` (``USERS_MERGED``)."""

    def __init__(self, model_uri: str, cfg: IdMergeConfig, *, anchors: pd.DataFrame, previous: dict[str, str],
                 ds: str, run_id: str):
        super().__init__()
        self.model_uri, self.cfg, self.anchors, self.previous = model_uri, cfg, anchors, previous
        self.ds, self.run_id = ds, run_id

    def expand(self, tables):
        anchors = tables.pipeline | "Anchors" >> beam.Create([_anchor_table(self.anchors)])
        frames = ((tables, anchors) | "WithAnchors" >> beam.Flatten()
                  | "Normalise" >> beam.Map(comparison_frame))
        # ToList then one concat: a CombineGlobally callable would be re-applied to its own output.
        norm = frames | "AllRecords" >> beam.combiners.ToList() | "OneFrame" >> beam.Map(concat_frames)
        links = (frames
                 | "Block" >> BlockRecords(self.cfg.max_block_size)
                 | "Batch" >> beam.FlatMap(_chunks, self.cfg.score_batch_size)
                 | "Score" >> beam.ParDo(ScorePairs(self.model_uri, self.cfg.threshold),
                                         norm=beam.pvalue.AsSingleton(norm))
                 | "AllLinks" >> beam.combiners.ToList()
                 | "Flat" >> beam.Map(lambda lists: [link for links in lists for link in links]))
        records = tables | "TodaysRecords" >> beam.combiners.ToList() | "OneTable" >> beam.Map(_concat_tables)
        return links | "Assign" >> beam.ParDo(
            AssignCanonicalIds(self.anchors, self.previous, self.cfg, self.ds, self.run_id, self.model_uri),
            records=beam.pvalue.AsSingleton(records)).with_outputs("users", main="id_map")


def _anchor_table(anchors: pd.DataFrame) -> pa.Table:
    """Prior canonical users as records to match against (record id ``canonical:<id>``)."""
    if anchors.empty:
        return pa.table({RID: pa.array([], pa.string())})
    frame = anchors[[c for c in im.FIELDS if c in anchors.columns]].copy()
    frame.insert(0, RID, im.ANCHOR_PREFIX + anchors["canonical_id"].astype(str))
    return pa.Table.from_pandas(frame, preserve_index=False)


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


def id_merge_code_version(cfg) -> str:
    """The merge code plus the merge settings (the matcher is an input, not code)."""
    return code_version(im, __file__, config=cfg.id_merge.model_dump(exclude={"model", "pairs_version"}))


def run(argv: Sequence[str] | None = None) -> None:
    """Merge one day's de-spammed users into canonical ids; commit id_map and users_merged with lineage."""
    args, cfg, beam_argv = parse_job_args(job_parser(__doc__.splitlines()[0]), argv)
    catalog = Catalog(cfg)
    source = catalog.require(SOURCE, args.ds)
    matcher = resolve_matcher(catalog, cfg)
    anchors, previous, prior = prior_state(catalog, args.ds, cfg.id_merge.anchor_days)
    inputs = [source.ref, matcher.ref, *(m.ref for m in prior)]
    code = id_merge_code_version(cfg)
    parent = ParentRun.from_args(args)
    with step_run(cfg, JOB, inputs, parent=parent, nominal_date=args.ds) as step:
        reused = None if args.force else catalog.reusable([(ID_MAP_DATASET, args.ds), (MERGED, args.ds)],
                                                          inputs, code)
        if reused:
            step.skipped = True
            for manifest in reused:
                step.add_output(manifest)
            print(f"id_merge {args.ds}: unchanged, skipped")
            return
        map_dir = catalog.stage(ID_MAP_DATASET, args.ds, step.run_id)
        merged_dir = catalog.stage(MERGED, args.ds, step.run_id)
        merge_ids = MergeIds(matcher_uri(catalog, matcher), cfg.id_merge, anchors=anchors, previous=previous,
                             ds=args.ds, run_id=step.run_id)
        with beam.Pipeline(options=pipeline_options(cfg, beam_argv)) as pipeline:
            tables = (pipeline
                      | "StagedFiles" >> beam.Create(catalog.files(SOURCE, args.ds))
                      | "Read" >> ReadAllFromParquetBatched())
            out = tables | "MergeIds" >> merge_ids
            _ = out.id_map | write_tables(map_dir, ID_MAP, "WriteIdMap")
            _ = out.users | write_tables(merged_dir, USERS_MERGED, "WriteUsersMerged")
        metrics = _counters(pipeline.result)

        producer = Producer.of(step.run_id, JOB, parent)
        common = {"matcher_version": matcher.version, "pairs_version": cfg.id_merge.pairs_version,
                  "threshold": cfg.id_merge.threshold or matcher.extra.get("threshold"), **metrics}
        id_map = catalog.seal(map_dir, producer=producer, inputs=inputs, code_version=code, schema=ID_MAP,
                              extra=common)
        users = catalog.seal(merged_dir, producer=producer, inputs=inputs, code_version=code,
                             schema=USERS_MERGED, extra={**common, "id_map_version": id_map.version})
        # Nothing vanishes: checked before anything is published.
        if not (source.row_count == metrics.get("rows_read", 0) == id_map.row_count):
            raise RuntimeError(f"accounting broken: {source.row_count} de-spammed users != "
                               f"{id_map.row_count} rows in {ID_MAP_DATASET}")
        catalog.publish(map_dir, id_map)
        catalog.publish(merged_dir, users)
        step.add_output(id_map)
        step.add_output(users)
        print(f"id_merge {args.ds}: {id_map.row_count} records -> {users.row_count} canonical users "
              f"with models.id_matcher version={matcher.version} ({metrics})")


def _counters(result) -> dict[str, int]:
    from apache_beam.metrics.metric import MetricsFilter

    found = result.metrics().query(MetricsFilter().with_namespace(JOB))["counters"]
    totals: dict[str, int] = {}
    for counter in found:
        name = counter.key.metric.name
        totals[name] = totals.get(name, 0) + int(counter.committed or counter.attempted or 0)
    return totals


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    run()
