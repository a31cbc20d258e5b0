"""Ingest into the lineage store: JSONL files of OpenLineage events (incrementally) and events
given in memory, in batches of one transaction each.

Ingest is
- idempotent: an event is keyed by (runId, SHA-256 of its canonical JSON); an event already
  stored changes nothing, wherever it is read again (a re-read, the same event in another file,
  or delivered both to ``lineage serve`` and to the JSONL log of a composite transport: OpenLineage
  transports deliver at least once). Such an event is counted (``IngestReport.duplicates``), not
  reported as a problem;
- order-independent: a run's row, inputs and outputs are rebuilt from all of its stored events
  whenever one arrives (``lineage.store.interpret.summarise_run``), so COMPLETE before START
  gives the same rows as START then COMPLETE;
- incremental: per file the byte offset consumed so far, the line count and a fingerprint of the
  consumed prefix are stored; the next ingest reads only what was appended. A file shorter than
  its offset, or whose prefix fingerprint changed (rotated, rewritten), is read again from the
  start (events already stored stay stored);
- inferring: a dataset read without a version facet is linked to the version current when the
  reading run started (``_link_unversioned``), and re-linked when an earlier commit of it arrives;
  a run without an Airflow facet whose parent run is an Airflow task run is that task's
  (``_inherit_airflow``);
- forgiving: a line that is not a valid event (``lineage.store.validation``) is recorded (file,
  line, reason) in ``ingest_issues`` and skipped; a last line without its newline is left for the
  next ingest (the writer may be mid-append);
- never stopped by one event: if a batch fails to store for a reason other than the database
  being unavailable, it is stored in halves until the events that fail alone are found; each is
  set aside as an ``unstorable`` issue with the error, and the rest is stored. Set-aside lines
  are also appended, with their text, to the ``dead_letter`` JSONL
  file when one is given (the service's spool is deleted once stored: that file keeps them).
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Table
from sqlalchemy.engine import Connection, Engine

from lineage.store.errors import LineageUsageError, MalformedEvent
from lineage.store.interpret import ParsedEvent, load_json, parse_event, summarise_run
from lineage.store.schema import (
    chunks,
    events,
    ingest_files,
    ingest_issues,
    run_inputs,
    run_outputs,
    runs,
    unversioned_inputs,
)

# Bytes of the head and of the tail of the consumed prefix that make up its fingerprint.
FINGERPRINT_BYTES = 64 * 1024
# Lines per transaction: big enough to amortise the commit, small enough to bound memory.
BATCH_LINES = 5000


@dataclass(frozen=True)
class Issue:
    """A line that was not ingested as an event, and why (``kind``: malformed, unsupported or
    unstorable); ``raw`` is the line's text, for the dead-letter file only."""

    path: str
    line: int
    kind: str
    detail: str
    raw: str | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}: {self.detail}"


@dataclass
class IngestReport:
    """What one ingest of one source did."""

    path: str
    lines: int = 0  # lines consumed in this ingest
    events_new: int = 0  # events stored for the first time
    events_known: int = 0  # already stored (a re-read, or the same event delivered twice)
    duplicates: int = 0  # of those, the same event at another place (another file or route): one event
    bytes_read: int = 0
    issues: list[Issue] = field(default_factory=list)  # malformed / unsupported lines
    restarted: str = ""  # why the file was read again from the start, if it was
    pending_tail: bool = False  # an unterminated last line was left for the next ingest
    runs_updated: int = 0

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "issues"}
        data["issues"] = [{k: v for k, v in issue.__dict__.items() if k != "raw"} for issue in self.issues]
        return data


_STORED_COLUMNS = ("event_key", "run_id", "event_type", "event_time", "job_namespace", "job_name", "raw",
                   "source_file", "source_line")


class _DriverSQL:
    """The statements of every ingest transaction as the driver's own SQL, built once per store.

    The HTTP service commits many small transactions of a few statements each: SQLAlchemy's work
    per statement (cache key, parameter processing, result set-up) was 30% of the service's CPU
    per event, the database's own work 14% (profiled). These are the same plain INSERT, SELECT and
    DELETE, on the columns of the tables of ``lineage.store.schema``, run on a cursor of the connection of SQLAlchemy's
    transaction (so they commit or roll back with it); ``_flush`` retries on the driver's
    IntegrityError / OperationalError as on SQLAlchemy's.
    """

    _MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}

    def __init__(self, dialect: sa.engine.Dialect):
        if dialect.paramstyle not in self._MARKS:
            raise LineageUsageError(f"the lineage store needs a driver with positional parameters "
                                    f"({sorted(self._MARKS)}); {dialect.driver} uses {dialect.paramstyle}")
        self.mark, self.quote = self._MARKS[dialect.paramstyle], dialect.identifier_preparer.quote
        self._inserts: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._select_stored = f"SELECT {', '.join(map(self.quote, _STORED_COLUMNS))} FROM {self.quote(events.name)}"

    def insert(self, conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
        """Insert dict rows (a missing key is NULL) with one executemany."""
        if table.name not in self._inserts:
            names = tuple(column.name for column in table.columns)
            self._inserts[table.name] = (
                f"INSERT INTO {self.quote(table.name)} ({', '.join(map(self.quote, names))}) "
                f"VALUES ({', '.join([self.mark] * len(names))})", names)
        sql, names = self._inserts[table.name]
        conn.connection.cursor().executemany(sql, [tuple(row.get(name) for name in names) for row in rows])

    def _where_run_in(self, count: int) -> str:
        return f" WHERE {self.quote('run_id')} IN ({', '.join([self.mark] * count)})"

    def stored_events(self, conn: Connection, run_ids: Sequence[str]) -> list[tuple]:
        """(``_STORED_COLUMNS``) of the stored events of these runs, through the run_id index."""
        cursor = conn.connection.cursor()
        cursor.execute(self._select_stored + self._where_run_in(len(run_ids)), tuple(run_ids))
        return cursor.fetchall()

    def unversioned_reads(self, conn: Connection, datasets: Sequence[str], since: str) -> list[dict[str, Any]]:
        """The ``unversioned_inputs`` rows of these dataset names read at or after ``since``
        (through their index): asked on every transaction that commits outputs, so it costs no
        more than a plain statement."""
        names = tuple(column.name for column in unversioned_inputs.columns)
        cursor = conn.connection.cursor()
        cursor.execute(f"SELECT {', '.join(map(self.quote, names))} FROM {self.quote(unversioned_inputs.name)} "
                       f"WHERE {self.quote('dataset')} IN ({', '.join([self.mark] * len(datasets))}) "
                       f"AND {self.quote('read_time')} >= {self.mark}", (*datasets, since))
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def children(self, conn: Connection, run_ids: Sequence[str]) -> list[tuple[str, str]]:
        """(run id, parent run id) of the runs whose parent is one of these and whose Airflow
        identity is not their own facets' (``_inherit_airflow``): asked on most transactions."""
        cursor = conn.connection.cursor()
        q = self.quote
        cursor.execute(f"SELECT {q('run_id')}, {q('parent_run_id')} FROM {q(runs.name)} "
                       f"WHERE {q('parent_run_id')} IN ({', '.join([self.mark] * len(run_ids))}) "
                       f"AND ({q('airflow_from')} IS NULL OR {q('airflow_from')} = {self.mark})",
                       (*run_ids, "parent"))
        return cursor.fetchall()

    def delete_runs(self, conn: Connection, run_ids: Sequence[str]) -> None:
        """Delete the ``runs``, ``run_inputs``, ``run_outputs`` and ``unversioned_inputs`` rows of these runs."""
        where, cursor = self._where_run_in(len(run_ids)), conn.connection.cursor()
        for table in (runs, run_inputs, run_outputs, unversioned_inputs):
            cursor.execute(f"DELETE FROM {self.quote(table.name)}" + where, tuple(run_ids))



def _fingerprint(path: str, offset: int) -> str:
    """SHA-256 of the consumed prefix's length, first and last FINGERPRINT_BYTES.

    Hashing the whole prefix on every ingest would make each incremental ingest (and every
    query, which ingests first) cost a full read of the log; head + tail + length catches
    rotation (a new head), truncation (a shorter file or a new tail) and rewrites of the end."""
    digest = hashlib.sha256(str(offset).encode())
    with open(path, "rb") as fh:
        digest.update(fh.read(min(offset, FINGERPRINT_BYTES)))
        tail_start = max(0, offset - FINGERPRINT_BYTES)
        fh.seek(tail_start)
        digest.update(fh.read(offset - tail_start))
    return digest.hexdigest()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Ingester:
    """The ingest of one store (``LineageStore.ingest_file`` / ``ingest_events`` call it)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._sql = _DriverSQL(engine.dialect)
        dbapi = engine.dialect.dbapi
        self._retry_on = (dbapi.IntegrityError, dbapi.OperationalError)  # raised by _DriverSQL's statements
        # The database being unavailable (down, locked, disk full): the batch is fine, the caller
        # tries again later. Any other failure of a batch is taken to be one of its events.
        self._unavailable: tuple[type[BaseException], ...] = (
            sa.exc.OperationalError, sa.exc.DisconnectionError, dbapi.OperationalError)
        if engine.dialect.name != "sqlite":  # sqlite3 raises InterfaceError for values it cannot bind
            self._unavailable += (sa.exc.InterfaceError, dbapi.InterfaceError)

    def ingest_file(self, path: str | os.PathLike[str], *, from_start: bool = False,
                    dead_letter: str | os.PathLike[str] | None = None) -> IngestReport:
        """Ingest what was appended to a JSONL file of OpenLineage events since the last ingest.

        ``from_start`` reads the whole file again (idempotent: stored events are recognised).
        A missing file is an empty log. ``dead_letter``: a JSONL file the lines set aside are
        appended to (see the module's doc)."""
        with _no_gc():
            return self._ingest_file(path, from_start, dead_letter)

    def _ingest_file(self, path: str | os.PathLike[str], from_start: bool,
                     dead_letter: str | os.PathLike[str] | None) -> IngestReport:
        path = os.path.abspath(os.fspath(path))
        report = IngestReport(path=path)
        if not os.path.exists(path):
            return report
        size = os.path.getsize(path)
        with self.engine.connect() as conn:
            known = conn.execute(sa.select(ingest_files).where(ingest_files.c.path == path)).mappings().first()
        start, line_no = 0, 0
        if known is not None and not from_start:
            offset = int(known["byte_offset"])
            if size < offset:
                report.restarted = f"file is shorter ({size} bytes) than the {offset} bytes already read"
            elif _fingerprint(path, offset) != known["fingerprint"]:
                report.restarted = "the part already read has changed (rotated or rewritten)"
            else:
                start, line_no = offset, int(known["line_count"])
        elif from_start:
            report.restarted = "asked to read from the start"
        if report.restarted and known is not None:
            with self.engine.begin() as conn:
                # The issues described lines of the old content.
                conn.execute(ingest_issues.delete().where(ingest_issues.c.path == path))
        offset, first_line = start, line_no
        batch: list[tuple[int, ParsedEvent]] = []
        issues: list[Issue] = []
        with open(path, "rb") as fh:
            fh.seek(start)
            for line in fh:
                if not line.endswith(b"\n"):
                    # Unterminated last line: a complete event if it parses, else a write in progress.
                    try:
                        parsed = parse_event(load_json(line), line.decode("utf-8").strip())
                    except Exception:  # noqa: BLE001 - whatever it is, it may still be being written
                        report.pending_tail = True
                        break
                    line_no += 1
                    offset += len(line)
                    batch.append((line_no, parsed))
                    continue
                line_no += 1
                offset += len(line)
                text = line.strip()
                if not text:
                    continue
                issue = None
                try:
                    decoded = text.decode("utf-8")
                    batch.append((line_no, parse_event(load_json(text), decoded)))
                except UnicodeDecodeError as exc:
                    issue = Issue(path, line_no, "malformed", f"not UTF-8: {exc}")
                except json.JSONDecodeError as exc:
                    issue = Issue(path, line_no, "malformed", f"invalid JSON ({exc.msg} at column {exc.colno})")
                except MalformedEvent as exc:
                    kind = "unsupported" if "not a RunEvent" in str(exc) else "malformed"
                    issue = Issue(path, line_no, kind, str(exc))
                except Exception as exc:  # noqa: BLE001 - one line never stops an ingest
                    issue = Issue(path, line_no, "malformed", f"could not be read: {type(exc).__name__}: {exc}")
                if issue is not None:
                    issues.append(Issue(issue.path, issue.line, issue.kind, issue.detail,
                                        text.decode("utf-8", "backslashreplace")))
                if len(batch) + len(issues) >= BATCH_LINES:
                    self._flush(report, batch, issues, path, offset, line_no, dead_letter)
                    batch, issues = [], []
            self._flush(report, batch, issues, path, offset, line_no, dead_letter)
        report.bytes_read = offset - start
        report.lines = line_no - first_line
        return report

    def ingest_events(self, items: Iterable[Any], source: str = "<memory>") -> IngestReport:
        """Ingest events given as dicts or openlineage-python RunEvent objects (no offsets kept)."""
        from openlineage.client.serde import Serde

        with _no_gc():
            return self._ingest_events(items, source, Serde)

    def _ingest_events(self, items: Iterable[Any], source: str, serde: Any) -> IngestReport:
        report = IngestReport(path=source)
        batch: list[tuple[int, ParsedEvent]] = []
        issues: list[Issue] = []
        for number, item in enumerate(items, start=1):
            try:
                body = item if isinstance(item, dict) else json.loads(serde.to_json(item))
                batch.append((number, parse_event(body)))
            except MalformedEvent as exc:
                issues.append(Issue(source, number, "malformed", str(exc)))
            report.lines += 1
        self._flush(report, batch, issues, source, None, report.lines, None)
        return report

    # -- one transaction per batch -----------------------------------------------------------
    def _flush(self, report: IngestReport, batch: list[tuple[int, ParsedEvent]], issues: list[Issue],
               path: str, offset: int | None, line_no: int, dead_letter: str | os.PathLike[str] | None) -> None:
        """Store one batch, its issues and the file offset after it, in one transaction.

        If that fails for any reason but the database being unavailable, the events that cannot
        be stored are found (``_store_apart``) and set aside as issues; the rest, the issues and
        the offset are stored."""
        try:
            self._commit(report, batch, issues, path, offset, line_no, dead_letter)
        except self._unavailable:
            raise
        except Exception:  # noqa: BLE001 - one of the events: find it below
            if not batch:
                raise
            unstorable = self._store_apart(report, batch, path)
            self._commit(report, [], issues + unstorable, path, offset, line_no, dead_letter)

    def _store_apart(self, report: IngestReport, batch: list[tuple[int, ParsedEvent]], path: str) -> list[Issue]:
        """Store a batch that failed in halves, recursively; the events that fail alone come back
        as ``unstorable`` issues (a few transactions per bad event, none for the good ones' sake)."""
        if len(batch) == 1:
            line, parsed = batch[0]
            try:
                self._commit(report, batch, [], path, None, line, None)
            except self._unavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - this event: set it aside
                detail = f"passed the checks but could not be stored: {type(exc).__name__}: {exc}"
                return [Issue(path, line, "unstorable", detail[:2000], parsed.raw)]
            return []
        middle = len(batch) // 2
        unstorable = []
        for half in (batch[:middle], batch[middle:]):
            try:
                self._commit(report, half, [], path, None, half[-1][0], None)
            except self._unavailable:
                raise
            except Exception:  # noqa: BLE001 - somewhere in this half
                unstorable += self._store_apart(report, half, path)
        return unstorable

    def _commit(self, report: IngestReport, batch: list[tuple[int, ParsedEvent]], issues: list[Issue],
                path: str, offset: int | None, line_no: int, dead_letter: str | os.PathLike[str] | None) -> None:
        """One transaction: the batch's events, its issues, and the file offset after it.

        Two ingests of the same file at once both read the same lines; the one that commits
        second finds its events stored (or fails on the key and retries, then finds them)."""
        for attempt in range(3):
            tally = IngestReport(path=path)
            try:
                with self.engine.begin() as conn:
                    new, stored = self._store_events(conn, tally, batch, path)
                    tally.runs_updated = self._rebuild_runs(conn, new, stored)
                    if issues:
                        fresh = self._record_issues(conn, issues)
                        if dead_letter is not None:
                            # Before the commit: a crash in between writes a line twice, never loses one.
                            _append_dead_letters(dead_letter, fresh)
                    if offset is not None:
                        row = {"byte_offset": offset, "line_count": line_no,
                               "fingerprint": _fingerprint(path, offset), "updated_at": _now()}
                        # Offsets commit with the events they cover: a crash never skips or half-reads a batch.
                        updated = conn.execute(ingest_files.update().where(ingest_files.c.path == path).values(**row))
                        if updated.rowcount == 0:
                            conn.execute(ingest_files.insert().values(path=path, **row))
                break
            except (sa.exc.IntegrityError, sa.exc.OperationalError, *self._retry_on):
                if attempt == 2:
                    raise
        report.events_new += tally.events_new
        report.events_known += tally.events_known
        report.duplicates += tally.duplicates
        report.runs_updated += tally.runs_updated
        report.issues.extend(issues)

    def _store_events(self, conn: Connection, tally: IngestReport, batch: list[tuple[int, ParsedEvent]],
                      path: str) -> tuple[list[ParsedEvent], dict[str, list[tuple]]]:
        """Insert the events not stored yet; the same event seen at another line (another file, or
        the service's spool) is the one event already stored, counted as a duplicate delivery.

        Also returns the events stored before this batch for the runs it touches (the runs to
        rebuild need them): one read serves both."""
        seen: dict[str, tuple[str | None, int | None]] = {}
        stored: dict[str, list[tuple]] = defaultdict(list)
        for chunk in chunks(sorted({p.run_id for _, p in batch})):
            # The stored events of these runs (a few each), through the run_id index.
            for key, run_id, event_type, event_time, namespace, job, raw, source_file, source_line in \
                    self._sql.stored_events(conn, chunk):
                seen[key] = (source_file, source_line)
                stored[run_id].append((key, run_id, event_type, event_time, namespace, job, raw))
        new: list[ParsedEvent] = []
        rows = []
        for line, parsed in batch:
            first = seen.get(parsed.key)
            if first is None:
                seen[parsed.key] = (path, line)
                new.append(parsed)
                rows.append({"event_key": parsed.key, "run_id": parsed.run_id, "event_type": parsed.event_type,
                             "event_time": parsed.event_time, "job_namespace": parsed.job_namespace,
                             "job_name": parsed.job_name, "source_file": path, "source_line": line,
                             "raw": parsed.raw})
                continue
            tally.events_known += 1
            if first != (path, line):
                tally.duplicates += 1
        if rows:
            self._sql.insert(conn, events, rows)
        tally.events_new = len(rows)
        return new, stored

    def _rebuild_runs(self, conn: Connection, new: list[ParsedEvent], stored: dict[str, list[tuple]]) -> int:
        """Recompute the runs that got new events from all their events (``stored``: the columns
        of those from earlier batches, by run; a run has a row exactly when it has stored events)."""
        by_run: dict[str, list[ParsedEvent]] = defaultdict(list)
        for parsed in new:
            by_run[parsed.run_id].append(parsed)
        if not by_run:
            return 0
        run_ids = sorted(by_run)
        existing = [run_id for run_id in run_ids if stored.get(run_id)]
        for run_id in existing:
            # Runs with events from earlier batches (START ingested before, or out of order). They
            # were checked and keyed when they arrived: parsed again from their columns, not hashed.
            by_run[run_id] += [ParsedEvent(*columns, load_json(columns[-1])) for columns in stored[run_id]]
        for chunk in chunks(existing):
            self._sql.delete_runs(conn, chunk)
        run_rows, input_rows, output_rows, unversioned_rows = [], [], [], []
        for run_id in run_ids:
            row, ins, outs, unversioned = summarise_run(run_id, by_run[run_id])
            run_rows.append(row)
            input_rows += ins
            output_rows += outs
            unversioned_rows += unversioned
        self._sql.insert(conn, runs, run_rows)
        if input_rows:
            self._sql.insert(conn, run_inputs, input_rows)
        if output_rows:
            self._sql.insert(conn, run_outputs, output_rows)
        if unversioned_rows:
            self._sql.insert(conn, unversioned_inputs, unversioned_rows)
        self._link_unversioned(conn, unversioned_rows, output_rows)
        self._inherit_airflow(conn, run_rows)
        return len(run_rows)

    def _link_unversioned(self, conn: Connection, read: list[dict[str, Any]], written: list[dict[str, Any]]) -> None:
        """Link reads without a version to the version current when their run started (inferred
        ``run_inputs`` rows): the reads of the rebuilt runs, and every stored read of a dataset
        the rebuilt runs committed that started at or after that commit (a commit ingested late
        changes what was current then). A function of the stored rows, so order-independent."""
        readers = {(r["run_id"], r["namespace"], r["dataset"], r["partition"]): r for r in read}
        first_commit: dict[tuple[str, str], str] = {}
        for row in written:
            key = (row["namespace"], row["dataset"])
            first_commit[key] = min(first_commit.get(key, row["committed_at"]), row["committed_at"])
        names = sorted({dataset for _, dataset in first_commit})
        for chunk in chunks(names):
            for found in self._sql.unversioned_reads(conn, chunk, min(first_commit.values())):
                since = first_commit.get((found["namespace"], found["dataset"]))
                if since is not None and found["read_time"] >= since:
                    key = (found["run_id"], found["namespace"], found["dataset"], found["partition"])
                    readers.setdefault(key, found)
        if not readers:
            return
        # The links of a (run, dataset) are replaced together. Its version-less reads (one
        # partition here, the whole dataset there) are all among the readers: a rebuilt run's are
        # all in ``read``, and they share the run's read_time, so the query above finds all or none.
        for reader in readers.values():
            conn.execute(run_inputs.delete().where(
                run_inputs.c.run_id == reader["run_id"], run_inputs.c.namespace == reader["namespace"],
                run_inputs.c.dataset == reader["dataset"], run_inputs.c.inferred.is_(True)))
        by_dataset: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for reader in readers.values():
            by_dataset[(reader["namespace"], reader["dataset"])].append(reader)
        links: dict[tuple[str, str, str, str, str], dict[str, Any]] = {}
        for (namespace, dataset), group in sorted(by_dataset.items()):
            commits = conn.execute(
                sa.select(run_outputs.c.partition, run_outputs.c.version, run_outputs.c.slot,
                          run_outputs.c.committed_at, run_outputs.c.run_id)
                .where(run_outputs.c.dataset == dataset, run_outputs.c.namespace == namespace,
                       run_outputs.c.committed_at <= max(r["read_time"] for r in group))).all()
            for reader in group:
                # Per slot the latest commit by the read (by time, then run id, as lineage.queries does).
                current: dict[str, tuple[str, str, str, str]] = {}
                for partition, version, slot, committed_at, writer in commits:
                    if committed_at > reader["read_time"] or writer == reader["run_id"]:
                        continue
                    if reader["partition"] and partition != reader["partition"]:
                        continue
                    if slot not in current or (committed_at, writer) > current[slot][2:]:
                        current[slot] = (partition, version, committed_at, writer)
                for partition, version, _, _ in current.values():
                    key = (reader["run_id"], namespace, dataset, partition, version)
                    seen = min(reader["first_seen"], links[key]["first_seen"]) if key in links else reader["first_seen"]
                    links[key] = {"run_id": reader["run_id"], "namespace": namespace, "dataset": dataset,
                                  "partition": partition, "version": version, "inferred": True, "first_seen": seen}
        if links:
            # A version the run also named itself stays the named (explicit) read.
            named = set()
            for chunk in chunks(sorted({key[0] for key in links})):
                named |= {tuple(r) for r in conn.execute(
                    sa.select(run_inputs.c.run_id, run_inputs.c.namespace, run_inputs.c.dataset,
                              run_inputs.c.partition, run_inputs.c.version).where(run_inputs.c.run_id.in_(chunk)))}
            fresh = [row for key, row in sorted(links.items()) if key not in named]
            if fresh:
                self._sql.insert(conn, run_inputs, fresh)

    def _inherit_airflow(self, conn: Connection, rebuilt: list[dict[str, Any]]) -> None:
        """A run without an Airflow facet whose parent run is an Airflow task run (a Spark or dbt
        job launched by a task with the provider's parent macros) belongs to that task: it takes
        over the task's DAG id, task id, DAG run id, logical date and try number (``airflow_from``
        "parent"). Both ways, so the order the runs arrive in does not matter: a rebuilt run looks
        its parent up, a rebuilt task run hands its identity to the children stored before it."""
        columns = ("dag_id", "task_id", "dag_run_id", "logical_date", "try_number")
        orphans = {r["run_id"]: r["parent_run_id"] for r in rebuilt if not r["dag_id"] and r["parent_run_id"]}
        updates: dict[str, tuple] = {}
        for chunk in chunks(sorted(set(orphans.values()))):
            parents = {row[0]: row[1:] for row in conn.execute(
                sa.select(runs.c.run_id, *(runs.c[c] for c in columns))
                .where(runs.c.run_id.in_(chunk), runs.c.dag_id.is_not(None), runs.c.task_id.is_not(None)))}
            for child, parent in orphans.items():
                if parent in parents:
                    updates[child] = parents[parent]
        frontier = {r["run_id"]: tuple(r[c] for c in columns) for r in rebuilt if r["dag_id"] and r["task_id"]}
        frontier.update(updates)
        for _ in range(16):  # a task's job's own jobs, and so on (bounded: parents may form a cycle)
            if not frontier:
                break
            children: dict[str, tuple] = {}
            for chunk in chunks(sorted(frontier)):
                for child, parent in self._sql.children(conn, chunk):
                    if child != parent:
                        children[child] = frontier[parent]
            fresh = {child: values for child, values in children.items() if updates.get(child) != values}
            updates.update(fresh)
            frontier = fresh
        for child, values in sorted(updates.items()):
            conn.execute(runs.update().where(runs.c.run_id == child).values(
                airflow_from="parent", **dict(zip(columns, values, strict=True))))

    def _record_issues(self, conn: Connection, found: list[Issue]) -> list[Issue]:
        """Record the issues not recorded yet; returns those. (path, line, kind) is unique: a line
        re-read after a restart is not reported twice."""
        known = set()
        for chunk in chunks(sorted({i.path for i in found})):
            known |= {tuple(r) for r in conn.execute(
                sa.select(ingest_issues.c.path, ingest_issues.c.line, ingest_issues.c.kind)
                .where(ingest_issues.c.path.in_(chunk)))}
        fresh, keys = [], set()
        for issue in found:
            key = (issue.path, issue.line, issue.kind)
            if key not in known and key not in keys:
                keys.add(key)
                fresh.append(issue)
        if fresh:
            conn.execute(ingest_issues.insert(), [{"path": i.path, "line": i.line, "kind": i.kind, "detail": i.detail,
                                                   "event_key": None} for i in fresh])
        return fresh


def _append_dead_letters(path: str | os.PathLike[str], issues: list[Issue]) -> None:
    """Append set-aside lines to a dead-letter JSONL file: where they were, why, and their text."""
    if not issues:
        return
    lines = "".join(json.dumps({"at": _now(), "source": i.path, "line": i.line, "kind": i.kind, "reason": i.detail,
                                "event": i.raw}, ensure_ascii=True) + "\n" for i in issues)
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(lines)


@contextmanager
def _no_gc() -> Iterator[None]:
    """The cyclic garbage collector off while a batch of parsed events is alive: parsed JSON has
    no cycles, and with thousands of live dicts every collection walks them all (it made parsing
    four times slower, measured)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
