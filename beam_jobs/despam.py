"""De-spam: ``staging.users_ingested`` -> ``staging.users_despammed`` + ``staging.spam_quarantine``.

    python -m beam_jobs.despam --ds 2026-01-01 [--config ...] [--force] [--runner=... other Beam options]

Scores every staged user with the spam filter and the account signals (``transforms.spam``: the
score rule, the signals, the reasons), one Arrow batch at a time with one vectorised
``predict_proba`` per batch. Users whose score reaches ``spam.threshold`` go to the quarantine
with their full row, score, the signals that fired, a reason and the model version; the rest go
on unchanged (``STAGED_USERS``).

The model is resolved explicitly, never "the latest": the config pins ``spam.labels_version``,
and the job uses the ``models.spam_filter`` version the current training code derives from that
labels version (``user_pipeline.steps.models.SPAM_FILTER``); if it is not committed the job stops
and names the training command. The model is an input of the run (lineage START) and of both
manifests, so a new model (after a label fix) makes every date recompute, and an unchanged one
lets a re-run skip. Both outputs are sealed, ``rows in = kept + quarantined`` is checked, then
both are published in one commit (as ingest does).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.metrics import Metrics

from beam_jobs.common import ReadTables, counters, write_tables
from transforms.schema import STAGED_USERS
from transforms.spam import BURST_TIME_COLUMN, SIGNALS, SPAM_QUARANTINE, burst_keys, count_keys, split_spam
from user_pipeline.config import SpamConfig
from user_pipeline.steps.harness import Job, Plan, StepContext
from user_pipeline.steps.models import SPAM_FILTER, load_model_file, model_file_uri

NAME = "beam_jobs.despam"
SOURCE = "staging.users_ingested"
KEPT = "staging.users_despammed"
QUARANTINE = "staging.spam_quarantine"
log = logging.getLogger(NAME)


def batch_burst_counts(table: pa.Table) -> Counter:
    """Signups per (minute, channel) in one batch (``transforms.spam.burst_keys``)."""
    frame = table.select([BURST_TIME_COLUMN, "signup_channel"]).to_pandas()
    return count_keys(burst_keys(frame[BURST_TIME_COLUMN], frame["signup_channel"]))


def merge_counts(counts: Iterable[Counter]) -> Counter:
    """Add up per-batch counts (associative and commutative, so a valid CombineGlobally fn)."""
    total: Counter = Counter()
    for found in counts:
        total.update(found)
    return total


class ScoreSpamBatch(beam.DoFn):
    """An Arrow batch of staged users -> kept users (main) and quarantined users (tagged)."""

    def __init__(self, model_uri: str, model_version: str, cfg: SpamConfig):
        self.model_uri, self.model_version, self.cfg = model_uri, model_version, cfg
        self.rows_read = Metrics.counter(NAME, "rows_read")
        self.rows_kept = Metrics.counter(NAME, "rows_kept")
        self.rows_quarantined = Metrics.counter(NAME, "rows_quarantined")

    def setup(self):
        # Once per worker, not per batch: unpickling the TF-IDF vocabulary takes a moment.
        self.model = load_model_file(self.model_uri)

    def process(self, table: pa.Table, burst_counts=None):
        kept, quarantined = split_spam(table, self.model, self.model_version, self.cfg, burst_counts)
        self.rows_read.inc(table.num_rows)
        self.rows_kept.inc(kept.num_rows)
        self.rows_quarantined.inc(quarantined.num_rows)
        if kept.num_rows:
            yield kept
        if quarantined.num_rows:
            yield beam.pvalue.TaggedOutput("quarantine", quarantined)


class DespamUsers(beam.PTransform):
    """Arrow tables of staged users -> ``kept`` (``STAGED_USERS``) and ``quarantine``
    (``SPAM_QUARANTINE``) Arrow tables. With ``with_bursts`` the batches carry
    ``BURST_TIME_COLUMN`` and burst counts are taken over all batches first (a side input)."""

    def __init__(self, model_uri: str, model_version: str, cfg: SpamConfig, with_bursts: bool = False):
        super().__init__()
        self.model_uri, self.model_version, self.cfg, self.with_bursts = model_uri, model_version, cfg, with_bursts

    def expand(self, tables):
        score = ScoreSpamBatch(self.model_uri, self.model_version, self.cfg)
        if self.with_bursts:
            counts = (
                tables
                | "CountBurstKeys" >> beam.Map(batch_burst_counts)
                | "AddUpBurstKeys" >> beam.CombineGlobally(merge_counts)
            )
            scoring = beam.ParDo(score, burst_counts=beam.pvalue.AsSingleton(counts))
        else:
            scoring = beam.ParDo(score)
        return tables | "Score" >> scoring.with_outputs("quarantine", main="kept")


def plan(ctx: StepContext) -> Plan:
    """The day's ingested users and the spam filter derived from the pinned labels version."""
    source = ctx.catalog.require(SOURCE, ctx.ds)
    model = SPAM_FILTER.resolve(ctx.catalog, ctx.cfg)
    return Plan([source, model], [(KEPT, ctx.ds), (QUARANTINE, ctx.ds)])


def compute(ctx: StepContext) -> str:
    """De-spam one day's ingested users: commit kept users and the quarantine."""
    source, model = ctx.plan.inputs
    with_bursts = BURST_TIME_COLUMN in {c["name"] for c in source.schema}
    unavailable = [] if with_bursts else ["signup_burst"]
    if unavailable:
        log.warning("%s has no %s column: signal signup_burst is not computed", SOURCE, BURST_TIME_COLUMN)
    kept_dir = ctx.stage(KEPT)
    quarantine_dir = ctx.stage(QUARANTINE)
    despam = DespamUsers(model_file_uri(ctx.catalog, model), model.version, ctx.cfg.spam, with_bursts)
    with beam.Pipeline(options=ctx.pipeline_options()) as pipeline:
        scored = pipeline | "Read" >> ReadTables(ctx.catalog.files(SOURCE, ctx.ds)) | "Despam" >> despam
        _ = scored.kept | write_tables(kept_dir, STAGED_USERS, "WriteKept")
        _ = scored.quarantine | write_tables(quarantine_dir, SPAM_QUARANTINE, "WriteQuarantine")
    rows_read = counters(pipeline.result, NAME).get("rows_read", 0)

    common = {"model_version": model.version, "labels_version": ctx.cfg.spam.labels_version,
              "threshold": ctx.cfg.spam.threshold, "rows_read": rows_read, "signals_unavailable": unavailable}
    quarantine = ctx.seal(quarantine_dir, schema=SPAM_QUARANTINE, extra=common)
    kept = ctx.seal(kept_dir, schema=STAGED_USERS, extra={**common, "quarantined": quarantine.row_count,
                                                          "quarantine_version": quarantine.version})
    # Checked before anything is published: a broken count commits nothing.
    _check_accounting(source.row_count, rows_read, kept.row_count, quarantine.row_count)
    quarantine.extra["signal_counts"] = signal_counts(ctx.catalog.read_staged(quarantine_dir, columns=["spam_signals"]))
    ctx.publish_together((kept_dir, kept), (quarantine_dir, quarantine))
    return (f"kept {kept.row_count}, quarantined {quarantine.row_count} of {rows_read} "
            f"with models.spam_filter version={model.version}")


def signal_counts(table: pa.Table) -> dict[str, int]:
    """How often each signal fired among quarantined users (metadata for error analysis)."""
    if table.num_rows == 0:
        return {name: 0 for name in SIGNALS}
    column = pc.fill_null(table.column("spam_signals"), "")
    return {name: int(pc.sum(pc.match_substring(column, name)).as_py() or 0) for name in SIGNALS}


def _check_accounting(rows_in: int | None, rows_read: int, kept: int | None, quarantined: int | None) -> None:
    if not (rows_in == rows_read == (kept or 0) + (quarantined or 0)):
        raise RuntimeError(f"accounting broken: {rows_in} staged users ({rows_read} read) != "
                           f"{kept} kept + {quarantined} quarantined")


JOB = Job(NAME, compute, plan=plan)
run, main = JOB.run, JOB.main

if __name__ == "__main__":
    JOB.exit()
