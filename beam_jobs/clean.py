"""Clean: ``staging.users_merged`` -> ``curated.users_clean`` (rules in ``transforms.clean``).

    python -m beam_jobs.clean --ds 2026-01-01 [--runner=... other Beam options]

It reads the canonical users of ID-merge (one row per person seen that day, ``canonical_id``
kept), so every row downstream is a person, not a source record. Cleaning keeps every row (bad
values become nulls with a flag), so the job checks ``rows in == rows out`` before it commits.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import apache_beam as beam

from beam_jobs.common import ReadTables, write_tables
from transforms.clean import clean_users, flag_counts
from transforms.schema import CLEAN_USERS
from user_pipeline.config import CleanConfig
from user_pipeline.steps.harness import Job, StepContext

NAME = "beam_jobs.clean"
SOURCE = "staging.users_merged"
TARGET = "curated.users_clean"
log = logging.getLogger(NAME)


class CleanUsers(beam.PTransform):
    """Parquet files of merged users -> cleaned Arrow tables, one per record batch."""

    def __init__(self, files: Sequence[str], ds: str, run_id: str, cfg: CleanConfig, batch_size: int):
        super().__init__()
        self.files, self.ds, self.run_id, self.cfg, self.batch_size = list(files), ds, run_id, cfg, batch_size

    def expand(self, pbegin):
        ds, run_id, cfg = self.ds, self.run_id, self.cfg
        return (
            pbegin
            | "Read" >> ReadTables(self.files)
            | "Clean" >> beam.Map(lambda table: clean_users(table, ds=ds, run_id=run_id, cfg=cfg))
        )


def compute(ctx: StepContext) -> str:
    """Clean one day's merged users and commit the cleaned partition."""
    (source,) = ctx.plan.inputs
    staged = ctx.stage(TARGET)
    with beam.Pipeline(options=ctx.pipeline_options()) as pipeline:
        cleaned = pipeline | CleanUsers(
            ctx.catalog.files(SOURCE, ctx.ds), ctx.ds, ctx.run_id, ctx.cfg.clean, ctx.cfg.beam.batch_size
        )
        _ = cleaned | write_tables(staged, CLEAN_USERS, "WriteClean")
    manifest = ctx.seal(staged, schema=CLEAN_USERS)
    if manifest.row_count != source.row_count:
        raise RuntimeError(f"cleaning must keep every row: {source.row_count} in, {manifest.row_count} out")
    manifest.extra["flag_counts"] = flag_counts(ctx.catalog.read_staged(staged, columns=["clean_flags"]))
    ctx.publish(staged, manifest)
    return f"cleaned {manifest.row_count} rows ({TARGET}@{manifest.version})"


JOB = Job(NAME, compute)
run, main = JOB.run, JOB.main

if __name__ == "__main__":
    JOB.exit()
