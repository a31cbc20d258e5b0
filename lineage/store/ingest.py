"""Ingest into the lineage store: JSONL files of OpenLineage events (incrementally) and events
given in memory, in batches of one transaction each.

Ingest is
- idempotent: an event is keyed by (runId, SHA-256 of its canonical JSON); an event already
  stored changes nothing;
- order-independent: a run's row, inputs and outputs are rebuilt from all of its stored events
  whenever one arrives (``lineage.store.interpret.summarise_run``), so COMPLETE before START
  gives the same rows as START then COMPLETE;
- incremental: per file the byte offset consumed so far, the line count and a fingerprint of the
  consumed prefix are stored; the next ingest reads only what was appended. A file shorter than
  its offset, or whose prefix fingerprint changed (rotated, rewritten), is read again from the
  start (events already stored stay stored);
- forgiving: a malformed line is recorded (file, line, reason) in ``ingest_issues`` and skipped;
  a last line without its newline is left for the next ingest (the writer may be mid-append).
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
from lineage.store.schema import chunks, events, ingest_files, ingest_issues, run_inputs, run_outputs, runs

# Bytes of the head and of the tail of the consumed prefix that make up its fingerprint.
FINGERPRINT_BYTES = 64 * 1024
# Lines per transaction: big enough to amortise the commit, small enough to bound memory.
BATCH_LINES = 5000


@dataclass(frozen=True)
class Issue:
    """A line that was not ingested as an event, and why."""

    path: str
    line: int
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.kind}: {self.detail}"


@dataclass
class IngestReport:
    """What one ingest of one source did."""

    path: str
    lines: int = 0  # lines consumed in this ingest
    events_new: int = 0  # events stored for the first time
    events_known: int = 0  # already stored (a re-read, or the same event logged twice)
    duplicates: int = 0  # of those, the same event at another place in the logs
    bytes_read: int = 0
    issues: list[Issue] = field(default_factory=list)  # malformed / unsupported lines
    restarted: str = ""  # why the file was read again from the start, if it was
    pending_tail: bool = False  # an unterminated last line was left for the next ingest
    runs_updated: int = 0

    def to_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "issues"}
        data["issues"] = [issue.__dict__ for issue in self.issues]
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

    def delete_runs(self, conn: Connection, run_ids: Sequence[str]) -> None:
        """Delete the ``runs``, ``run_inputs`` and ``run_outputs`` rows of these runs."""
        where, cursor = self._where_run_in(len(run_ids)), conn.connection.cursor()
        for table in (runs, run_inputs, run_outputs):
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

    def ingest_file(self, path: str | os.PathLike[str], *, from_start: bool = False) -> IngestReport:
        """Ingest what was appended to a JSONL file of OpenLineage events since the last ingest.

        ``from_start`` reads the whole file again (idempotent: stored events are recognised).
        A missing file is an empty log."""
        with _no_gc():
            return self._ingest_file(path, from_start)

    def _ingest_file(self, path: str | os.PathLike[str], from_start: bool) -> IngestReport:
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
                    except (ValueError, UnicodeDecodeError):
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
                try:
                    decoded = text.decode("utf-8")
                    batch.append((line_no, parse_event(load_json(text), decoded)))
                except UnicodeDecodeError as exc:
                    issues.append(Issue(path, line_no, "malformed", f"not UTF-8: {exc}"))
                except json.JSONDecodeError as exc:
                    issues.append(Issue(path, line_no, "malformed", f"invalid JSON ({exc.msg} at column {exc.colno})"))
                except MalformedEvent as exc:
                    kind = "unsupported" if "not a RunEvent" in str(exc) else "malformed"
                    issues.append(Issue(path, line_no, kind, str(exc)))
                if len(batch) + len(issues) >= BATCH_LINES:
                    self._flush(report, batch, issues, path, offset, line_no)
                    batch, issues = [], []
            self._flush(report, batch, issues, path, offset, line_no)
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
            body = item if isinstance(item, dict) else json.loads(serde.to_json(item))
            try:
                batch.append((number, parse_event(body)))
            except MalformedEvent as exc:
                issues.append(Issue(source, number, "malformed", str(exc)))
            report.lines += 1
        self._flush(report, batch, issues, source, None, report.lines)
        return report

    # -- one transaction per batch -----------------------------------------------------------
    def _flush(self, report: IngestReport, batch: list[tuple[int, ParsedEvent]], issues: list[Issue],
               path: str, offset: int | None, line_no: int) -> None:
        """Store one batch, its issues and the file offset after it, in one transaction.

        Two ingests of the same file at once both read the same lines; the one that commits
        second finds its events stored (or fails on the key and retries, then finds them)."""
        for attempt in range(3):
            tally = IngestReport(path=path)
            try:
                with self.engine.begin() as conn:
                    new, duplicates, stored = self._store_events(conn, tally, batch, path)
                    tally.runs_updated = self._rebuild_runs(conn, new, stored)
                    found = issues + duplicates
                    if found:
                        self._record_issues(conn, [{"path": i.path, "line": i.line, "kind": i.kind,
                                                    "detail": i.detail, "event_key": None} for i in found])
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
                      path: str) -> tuple[list[ParsedEvent], list[Issue], dict[str, list[tuple]]]:
        """Insert the events not stored yet; the same event seen at another line is a duplicate.

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
        duplicates: list[Issue] = []
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
                duplicates.append(Issue(path, line, "duplicate",
                                        f"event {parsed.key[:12]} ({parsed.event_type} of run {parsed.run_id}) "
                                        f"already read at {first[0]}:{first[1]}"))
        if rows:
            self._sql.insert(conn, events, rows)
        tally.events_new = len(rows)
        return new, duplicates, stored

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
        run_rows, input_rows, output_rows = [], [], []
        for run_id in run_ids:
            row, ins, outs = summarise_run(run_id, by_run[run_id])
            run_rows.append(row)
            input_rows += ins
            output_rows += outs
        self._sql.insert(conn, runs, run_rows)
        if input_rows:
            self._sql.insert(conn, run_inputs, input_rows)
        if output_rows:
            self._sql.insert(conn, run_outputs, output_rows)
        return len(run_rows)

    def _record_issues(self, conn: Connection, rows: list[dict]) -> None:
        # (path, line, kind) is unique: a line re-read after a restart is not reported twice.
        known = set()
        for chunk in chunks(sorted({r["path"] for r in rows})):
            known |= {tuple(r) for r in conn.execute(
                sa.select(ingest_issues.c.path, ingest_issues.c.line, ingest_issues.c.kind)
                .where(ingest_issues.c.path.in_(chunk)))}
        fresh, keys = [], set()
        for row in rows:
            key = (row["path"], row["line"], row["kind"])
            if key not in known and key not in keys:
                keys.add(key)
                fresh.append(row)
        if fresh:
            conn.execute(ingest_issues.insert(), fresh)


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
