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
from apache_beam.io.parquetio import ReadAllFromParquetBatched

import transforms.clean
from beam_jobs.common import job_parser, parse_job_args, pipeline_options, write_tables
from lineage.catalog import Catalog, Producer
from lineage.emit import ParentRun, step_run
from lineage.versioning import code_version
from transforms.clean import clean_users, flag_counts
from transforms.schema import CLEAN_USERS
from user_pipeline.config import CleanConfig

JOB = "beam_jobs.clean"
SOURCE = "staging.users_merged"  # ingest -> despam -> id_merge -> clean
TARGET = "curated.users_clean"
log = logging.getLogger(JOB)


class CleanUsers(beam.PTransform):
    """Parquet files of merged users -> cleaned Arrow tables, one per record batch."""

    def __init__(self, files: Sequence[str], ds: str, run_id: str, cfg: CleanConfig, batch_size: int):
        super().__init__()
        self.files, self.ds, self.run_id, self.cfg, self.batch_size = list(files), ds, run_id, cfg, batch_size

    def expand(self, pbegin):
        ds, run_id, cfg = self.ds, self.run_id, self.cfg
        return (
            pbegin
            | "StagedFiles" >> beam.Create(self.files)
            | "Read" >> ReadAllFromParquetBatched()
            | "Clean" >> beam.Map(lambda table: clean_users(table, ds=ds, run_id=run_id, cfg=cfg))
        )


def run(argv: Sequence[str] | None = None) -> None:
    """Clean one day's merged users: commit the cleaned partition, with lineage."""
    args, cfg, beam_argv = parse_job_args(job_parser(__doc__.splitlines()[0]), argv)
    catalog = Catalog(cfg)
    source = catalog.require(SOURCE, args.ds)
    code = code_version(transforms.clean, __file__, config=cfg.clean.model_dump())
    parent = ParentRun.from_args(args)
    with step_run(cfg, JOB, [source.ref], parent=parent, nominal_date=args.ds) as step:
        reused = None if args.force else catalog.reusable([(TARGET, args.ds)], [source.ref], code)
        if reused:
            step.skipped = True
            step.add_output(reused[0])
            log.info("inputs and code unchanged since run %s: skipped", reused[0].producer["run_id"])
            return
        staged = catalog.stage(TARGET, args.ds, step.run_id)
        with beam.Pipeline(options=pipeline_options(cfg, beam_argv)) as pipeline:
            cleaned = pipeline | CleanUsers(
                catalog.files(SOURCE, args.ds), args.ds, step.run_id, cfg.clean, cfg.beam.batch_size
            )
            _ = cleaned | write_tables(staged, CLEAN_USERS, "WriteClean")
        manifest = catalog.seal(
            staged, producer=Producer.of(step.run_id, JOB, parent), inputs=[source.ref],
            code_version=code, schema=CLEAN_USERS,
        )
        if manifest.row_count != source.row_count:
            raise RuntimeError(f"cleaning must keep every row: {source.row_count} in, {manifest.row_count} out")
        manifest.extra["flag_counts"] = flag_counts(catalog.read_staged(staged, columns=["clean_flags"]))
        catalog.publish(staged, manifest)
        step.add_output(manifest)
        log.info("cleaned %s rows", manifest.row_count)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    run()
