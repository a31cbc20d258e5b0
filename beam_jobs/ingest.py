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
from apache_beam.metrics.metric import MetricsFilter

import transforms.ingest
from beam_jobs.common import job_parser, parse_job_args, pipeline_options, write_tables
from lineage.catalog import Catalog, Producer
from lineage.emit import ParentRun, step_run
from lineage.versioning import code_version
from transforms.ingest import SOURCES, Line, parse_lines, read_header
from transforms.schema import DEAD_LETTER, STAGED_USERS

JOB = "beam_jobs.ingest"
USERS = "staging.users_ingested"
DEAD = "staging.ingest_dead_letter"
log = logging.getLogger(JOB)


class ReadNumberedLines(beam.DoFn):
    """(source, file uri) -> (source, file uri, header, [(line number, text), ...]) batches."""

    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self.lines_read = Metrics.counter(JOB, "lines_read")

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


def run(argv: Sequence[str] | None = None) -> None:
    """Ingest one day's drops: commit users and dead letters, with lineage."""
    args, cfg, beam_argv = parse_job_args(job_parser(__doc__.splitlines()[0]), argv)
    catalog = Catalog(cfg)
    inputs, files, missing = [], [], []
    for name, fmt in SOURCES.items():
        manifest = catalog.manifest(fmt.dataset, args.ds)
        if manifest is None:
            missing.append(fmt.dataset)
            continue
        inputs.append(manifest.ref)
        files += [(name, uri) for uri in catalog.files(fmt.dataset, args.ds)]
    if missing:
        log.warning("no committed drop for %s on %s", missing, args.ds)
    code = code_version(transforms.ingest, __file__, config={"batch": cfg.beam.batch_size})

    parent = ParentRun.from_args(args)
    with step_run(cfg, JOB, inputs, parent=parent, nominal_date=args.ds) as step:
        if not inputs:
            raise FileNotFoundError(f"no raw drop of any source is committed for ds={args.ds}")
        reused = None if args.force else catalog.reusable([(USERS, args.ds), (DEAD, args.ds)], inputs, code)
        if reused:
            step.skipped = True
            for manifest in reused:
                step.add_output(manifest)
            log.info("inputs and code unchanged since run %s: skipped", reused[0].producer["run_id"])
            return
        users_dir = catalog.stage(USERS, args.ds, step.run_id)
        dead_dir = catalog.stage(DEAD, args.ds, step.run_id)
        with beam.Pipeline(options=pipeline_options(cfg, beam_argv)) as pipeline:
            parsed = pipeline | IngestSources(files, args.ds, step.run_id, cfg.beam.batch_size)
            _ = parsed.users | write_tables(users_dir, STAGED_USERS, "WriteUsers")
            _ = parsed.dead_letter | write_tables(dead_dir, DEAD_LETTER, "WriteDeadLetter")
        lines_read = _counter(pipeline.result, "lines_read")

        producer = Producer.of(step.run_id, JOB, parent)
        extra = {"missing_sources": missing, "lines_read": lines_read}
        dead = catalog.seal(dead_dir, producer=producer, inputs=inputs, code_version=code,
                            schema=DEAD_LETTER, extra=extra)
        users = catalog.seal(users_dir, producer=producer, inputs=inputs, code_version=code,
                             schema=STAGED_USERS, extra={**extra, "dead_letter_version": dead.version})
        # Checked before anything is published: a broken count commits nothing.
        _check_accounting(lines_read, users.row_count, dead.row_count)
        catalog.publish(dead_dir, dead)
        catalog.publish(users_dir, users)
        step.add_output(users)
        step.add_output(dead)
        log.info("ingested %s rows, dead-lettered %s of %s lines", users.row_count, dead.row_count, lines_read)


def _counter(result, name: str) -> int:
    found = result.metrics().query(MetricsFilter().with_namespace(JOB).with_name(name))["counters"]
    return int(sum(c.committed or c.attempted or 0 for c in found))


def _check_accounting(lines_read: int, kept: int | None, dead: int | None) -> None:
    if lines_read != (kept or 0) + (dead or 0):
        raise RuntimeError(f"accounting broken: {lines_read} lines read != {kept} ingested + {dead} dead-lettered")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    run()
