"""Ingest: the day's raw drops of every source -> ``staging.users_ingested`` + dead letters.

    python -m beam_jobs.ingest --ds 2026-01-01 [--runner=... other Beam options]

Each source file is read by one worker in numbered line batches (a CSV with quoted fields is
not safely splittable at arbitrary byte offsets, and line numbers make dead letters
actionable); parsing and typing happen per batch in ``transforms.ingest``. The job checks that
every line read ends up either ingested or dead-lettered before it commits anything.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from beam_jobs.common import counters, write_tables
from transforms.ingest import SOURCES, Line, parse_lines, read_header
from transforms.schema import DEAD_LETTER, STAGED_USERS
from user_pipeline.steps.harness import Job, Plan, StepContext

NAME = "beam_jobs.ingest"
USERS = "staging.users_ingested"
DEAD = "staging.ingest_dead_letter"
log = logging.getLogger(NAME)


class ReadNumberedLines(beam.DoFn):
    """(source, file uri) -> (source, file uri, header, [(line number, text), ...]) batches."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self.lines_read = Metrics.counter(NAME, "lines_read")

    def process(self, element: tuple[str, str]) -> Iterator[tuple[str, str, list[str], list[Line]]]:
        source, uri = element
        fmt = SOURCES[source]
        with FileSystems.open(uri) as raw:
            lines = (line.decode("utf-8", errors="replace").rstrip("\r\n") for line in raw)
            header = read_header(fmt, next(lines, "")) if fmt.kind == "csv" else list(fmt.columns)
            first = 2 if fmt.kind == "csv" else 1
            batch: list[Line] = []
            for number, text in enumerate(lines, start=first):
                if not text.strip():
                    continue  # trailing blank lines are not records
                batch.append((number, text))
                if len(batch) >= self.batch_size:
                    self.lines_read.inc(len(batch))
                    yield source, uri, header, batch
                    batch = []
            if batch:
                self.lines_read.inc(len(batch))
                yield source, uri, header, batch


class ParseSourceBatch(beam.DoFn):
    """A batch of lines -> a typed users table (main) and a dead-letter table (tagged)."""

    def __init__(self, ds: str, run_id: str):
        self.ds = ds
        self.run_id = run_id

    def process(self, element):
        source, uri, header, lines = element
        users, dead = parse_lines(
            SOURCES[source], header, lines, ds=self.ds, run_id=self.run_id, source_file=uri
        )
        if users.num_rows:
            yield users
        if dead.num_rows:
            yield beam.pvalue.TaggedOutput("dead_letter", dead)


class IngestSources(beam.PTransform):
    """Read and type every source file; outputs ``users`` and ``dead_letter`` Arrow tables."""

    def __init__(self, files: Sequence[tuple[str, str]], ds: str, run_id: str, batch_size: int):
        super().__init__()
        self.files, self.ds, self.run_id, self.batch_size = list(files), ds, run_id, batch_size

    def expand(self, pbegin):
        return (
            pbegin
            | "SourceFiles" >> beam.Create(self.files)
            | "ReadNumberedLines" >> beam.ParDo(ReadNumberedLines(self.batch_size))
            | "Parse" >> beam.ParDo(ParseSourceBatch(self.ds, self.run_id)).with_outputs(
                "dead_letter", main="users"
            )
        )


def plan(ctx: StepContext) -> Plan:
    """Every source's committed drop of the day (a missing source is logged, not fatal)."""
    inputs, missing = [], []
    for fmt in SOURCES.values():
        manifest = ctx.catalog.manifest(fmt.dataset, ctx.ds)
        if manifest is None:
            missing.append(fmt.dataset)
        else:
            inputs.append(manifest)
    if missing:
        log.warning("no committed drop for %s on %s", missing, ctx.ds)
    return Plan(inputs, [(USERS, ctx.ds), (DEAD, ctx.ds)], {"missing": missing})


def compute(ctx: StepContext) -> str:
    """Ingest one day's drops: commit users and dead letters (every line read is one or the other)."""
    if not ctx.plan.inputs:
        raise FileNotFoundError(f"no raw drop of any source is committed for ds={ctx.ds}")
    files = [(name, uri) for name, fmt in SOURCES.items() if fmt.dataset not in ctx.plan.extra["missing"]
             for uri in ctx.catalog.files(fmt.dataset, ctx.ds)]
    users_dir = ctx.stage(USERS)
    dead_dir = ctx.stage(DEAD)
    with beam.Pipeline(options=ctx.pipeline_options()) as pipeline:
        parsed = pipeline | IngestSources(files, ctx.ds, ctx.run_id, ctx.cfg.beam.batch_size)
        _ = parsed.users | write_tables(users_dir, STAGED_USERS, "WriteUsers")
        _ = parsed.dead_letter | write_tables(dead_dir, DEAD_LETTER, "WriteDeadLetter")
    lines_read = counters(pipeline.result, NAME).get("lines_read", 0)

    extra = {"missing_sources": ctx.plan.extra["missing"], "lines_read": lines_read}
    dead = ctx.seal(dead_dir, schema=DEAD_LETTER, extra=extra)
    users = ctx.seal(users_dir, schema=STAGED_USERS, extra={**extra, "dead_letter_version": dead.version})
    # Checked before anything is published: a broken count commits nothing.
    _check_accounting(lines_read, users.row_count, dead.row_count)
    ctx.publish_together((users_dir, users), (dead_dir, dead))
    return f"ingested {users.row_count} rows, dead-lettered {dead.row_count} of {lines_read} lines"


def _check_accounting(lines_read: int, kept: int | None, dead: int | None) -> None:
    if lines_read != (kept or 0) + (dead or 0):
        raise RuntimeError(f"accounting broken: {lines_read} lines read != {kept} ingested + {dead} dead-lettered")


JOB = Job(NAME, compute, plan=plan)
run, main = JOB.run, JOB.main

if __name__ == "__main__":
    JOB.exit()
