"""Ingest: the day's raw drops of every source -> ``staging.users_ingested`` + dead letters.

    python -m beam_jobs.ingest --ds 2026-01-01 [--runner=... other Beam options]

Before anything runs, every committed raw drop is checked (``plan``): each file its manifest
lists must lie inside its partition (an entry like ``../../etc/passwd`` is refused), and the
files' bytes must hash to the version the manifest recorded (a file replaced in place is refused:
lineage would name the old input version for new data). A refused drop stops the run with exit
code 2 and the file named; nothing is committed.

Each source file is read by one worker (a CSV with quoted fields is not safely splittable at
arbitrary byte offsets, and line numbers make dead letters actionable): once to hash its bytes
again and check its encoding, once to split it into numbered records, handed on in batches;
decoding rules, record splitting and typing are in ``transforms.ingest``. The job checks that
every record read ("lines read") ends up either ingested or dead-lettered before it commits.
"""

from __future__ import annotations

import hashlib
import io
import logging
import posixpath
from collections.abc import Iterator, Sequence
from itertools import islice

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics

from beam_jobs.common import counters, write_tables
from lineage.catalog import Catalog, Manifest
from lineage.versioning import bytes_version
from transforms.ingest import SOURCES, Record, check_encoding, parse_records, records_of
from transforms.schema import DEAD_LETTER, STAGED_USERS
from user_pipeline.steps.harness import Job, Plan, StepContext

NAME = "beam_jobs.ingest"
USERS = "staging.users_ingested"
DEAD = "staging.ingest_dead_letter"
CHUNK = 1 << 20  # bytes read at a time when hashing and checking the encoding
log = logging.getLogger(NAME)


class DropRefused(LookupError):
    """A committed raw drop whose files are not the ones its manifest's version names (changed
    in place, or listed outside the partition): the committed input version cannot be read, which
    the harness reports like a missing input (exit code 2)."""


class ReadRecords(beam.DoFn):
    """(source, file uri, sha256 of its bytes) -> (source, uri, header, [record, ...], problem) batches.

    ``problem`` is why the whole file cannot be read (its encoding, its header), else "".
    """

    def __init__(self, batch_size: int):
        self.batch_size = batch_size
        self.lines_read = Metrics.counter(NAME, "lines_read")

    def process(self, element: tuple[str, str, str]) -> Iterator[tuple[str, str, list[str], list[Record], str]]:
        source, uri, digest = element
        fmt = SOURCES[source]
        sha = hashlib.sha256()
        with _open(uri) as raw:
            decoding = check_encoding(fmt.encoding, _hashed_chunks(raw, sha))
        if sha.hexdigest() != digest:
            raise DropRefused(f"{uri} changed while the job ran (sha256 {sha.hexdigest()}, checked {digest})")
        # Strict unless the file is already refused: then its lines are dead-lettered as the
        # bytes are (\xe9), never with replacement characters.
        errors = "backslashreplace" if decoding.problem else "strict"
        with _open(uri) as raw, io.TextIOWrapper(raw, encoding=decoding.encoding, errors=errors, newline="") as text:
            header, problem, records = records_of(fmt, text)
            problem = decoding.problem or problem
            while batch := list(islice(records, self.batch_size)):
                self.lines_read.inc(len(batch))
                yield source, uri, header, batch, problem


def _open(uri: str):
    # Raw drops are text files as their source writes them: hashed and read as stored.
    return FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED)


def _hashed_chunks(raw, sha) -> Iterator[bytes]:
    while chunk := raw.read(CHUNK):
        sha.update(chunk)
        yield chunk


class ParseSourceBatch(beam.DoFn):
    """A batch of records -> a typed users table (main) and a dead-letter table (tagged)."""

    def __init__(self, ds: str, run_id: str):
        self.ds = ds
        self.run_id = run_id

    def process(self, element):
        source, uri, header, records, problem = element
        users, dead = parse_records(
            SOURCES[source], header, records, ds=self.ds, run_id=self.run_id, source_file=uri, problem=problem
        )
        if users.num_rows:
            yield users
        if dead.num_rows:
            yield beam.pvalue.TaggedOutput("dead_letter", dead)


class IngestSources(beam.PTransform):
    """Read and type every source file; outputs ``users`` and ``dead_letter`` Arrow tables.

    ``files``: (source, uri, sha256 of the file's bytes) for every file (``drop_files``).
    """

    def __init__(self, files: Sequence[tuple[str, str, str]], ds: str, run_id: str, batch_size: int):
        super().__init__()
        self.files, self.ds, self.run_id, self.batch_size = list(files), ds, run_id, batch_size

    def expand(self, pbegin):
        return (
            pbegin
            | "SourceFiles" >> beam.Create(self.files)
            | "ReadRecords" >> beam.ParDo(ReadRecords(self.batch_size))
            | "Parse" >> beam.ParDo(ParseSourceBatch(self.ds, self.run_id)).with_outputs(
                "dead_letter", main="users"
            )
        )


def drop_files(catalog: Catalog, manifest: Manifest) -> list[tuple[str, str]]:
    """(uri, sha256) of every file of a committed raw drop, once it is checked that each lies
    inside its partition and that together they hash to the manifest's version (the catalog
    versions opaque files by their bytes: ``lineage.versioning.bytes_version``)."""
    where = f"{manifest.dataset} {manifest.partition}"
    if manifest.version_method != "files-sha256":
        raise DropRefused(f"{where}: a raw drop is versioned by its bytes, this one by {manifest.version_method!r}")
    base = catalog.partition_uri(manifest.dataset, manifest.ref.value)
    files, blobs = [], []
    for name in manifest.files:
        if not _inside_partition(name):
            raise DropRefused(f"{where}: its manifest lists {name!r}, which is not a file inside the partition")
        uri = f"{base}/{name}"
        with catalog.fs.open(catalog.fs_path(uri), "rb") as fh:
            blob = fh.read()
        files.append((uri, hashlib.sha256(blob).hexdigest()))
        # Hashed under its name inside the committing run's folder (run=<id>/<name>), as sealed.
        blobs.append((name.split("/", 1)[-1], blob))
    found = bytes_version(blobs)
    if found != manifest.version:
        raise DropRefused(
            f"{where}: the files' bytes hash to {found}, not to the committed version {manifest.version} "
            f"({', '.join(manifest.files)}): a file was changed after the drop was committed; "
            f"commit the new drop to give it a version of its own")
    return files


def _inside_partition(name: str) -> bool:
    """A manifest entry names a file below the partition: relative, normalised, no way up."""
    return (bool(name) and not name.startswith("/") and "\\" not in name
            and ".." not in name.split("/") and posixpath.normpath(name) == name)


def plan(ctx: StepContext) -> Plan:
    """Every source's committed drop of the day, checked (``drop_files``; a missing source is
    logged, not fatal)."""
    inputs, missing, files = [], [], []
    for name, fmt in SOURCES.items():
        manifest = ctx.catalog.manifest(fmt.dataset, ctx.ds)
        if manifest is None:
            missing.append(fmt.dataset)
        else:
            inputs.append(manifest)
            files += [(name, uri, digest) for uri, digest in drop_files(ctx.catalog, manifest)]
    if missing:
        log.warning("no committed drop for %s on %s", missing, ctx.ds)
    return Plan(inputs, [(USERS, ctx.ds), (DEAD, ctx.ds)], {"missing": missing, "files": files})


def compute(ctx: StepContext) -> str:
    """Ingest one day's drops: commit users and dead letters (every record read is one or the other)."""
    if not ctx.plan.inputs:
        raise FileNotFoundError(f"no raw drop of any source is committed for ds={ctx.ds}")
    files = ctx.plan.extra["files"]
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
