"""The lineage store: OpenLineage run events in an embedded SQL database, behind one engine.

The JSONL log stays the source of truth; the store is a derived, rebuildable index of it.
SQLAlchemy Core only, and only SQL that SQLite and PostgreSQL both run (recursive CTEs live in
``lineage.queries``), so the same store runs on a server by changing the URL. Ingest is in
``lineage.store.ingest``, the tables in ``lineage.store.schema``, the SQLite tuning in
``lineage.store.tuning``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from lineage.store.errors import LineageUsageError
from lineage.store.ingest import Ingester, IngestReport
from lineage.store.schema import (
    SCHEMA_VERSION,
    events,
    ingest_files,
    ingest_issues,
    metadata,
    run_inputs,
    run_outputs,
    runs,
    store_meta,
)
from lineage.store.tuning import Checkpointer, sqlite_pragmas


def expand_store_url(url: str, data_root: str) -> str:
    """``{data_root}`` expanded; a SQLite file under an object-store root is refused clearly."""
    if "{data_root}" in url and "://" in data_root and url.startswith("sqlite"):
        raise LineageUsageError(
            f"lineage.store_url {url!r} puts a SQLite file under the data root {data_root!r}, which is "
            "not a local path: set lineage.store_url to a local sqlite:///path or a database server"
        )
    return url.replace("{data_root}", data_root)


class LineageStore:
    """An OpenLineage event store behind one SQLAlchemy engine (SQLite file, PostgreSQL, ...)."""

    def __init__(self, url: str | Engine):
        if isinstance(url, Engine):
            self.engine = url
        else:
            if url.startswith("sqlite:///") and ":memory:" not in url:
                Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
            self.engine = sa.create_engine(url)
        self._wal_autocheckpoint = True
        self._ingester = Ingester(self.engine)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect",
                            lambda dbapi, _: sqlite_pragmas(dbapi, autocheckpoint=self._wal_autocheckpoint))
        metadata.create_all(self.engine)
        with self.engine.begin() as conn:
            found = conn.execute(sa.select(store_meta.c.value).where(store_meta.c.key == "schema_version")).scalar()
            if found is None:
                conn.execute(store_meta.insert().values(key="schema_version", value=SCHEMA_VERSION))
            elif found != SCHEMA_VERSION:
                raise RuntimeError(f"lineage store schema {found}, this code needs {SCHEMA_VERSION}: "
                                   "delete the store and ingest the logs again (they are the source of truth)")

    @classmethod
    def from_config(cls, cfg: Any) -> LineageStore:
        """The store at ``lineage.store_url`` of a pipeline config."""
        return cls(expand_store_url(cfg.lineage.store_url, cfg.data_root))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def connect(self) -> Connection:
        """A connection for queries (``with store.connect() as conn: ...``)."""
        return self.engine.connect()

    def checkpoint_in_background(self, every_s: float = 1.0) -> Checkpointer | None:
        """SQLite: take WAL checkpoints off the commit path, into a thread (None on other databases).

        By default SQLite checkpoints inside the commit that grows the write-ahead log past 1,000
        pages: copying those pages into the database file and syncing it was 85% of the commit
        time of small transactions on a filled store (measured: 1,000 commits of 8 events into a
        store of 180,000 events spent 4.7 s committing with it, 0.7 s without). A
        service committing many small transactions calls this: its connections stop checkpointing,
        and a thread checkpoints every ``every_s`` seconds (PASSIVE: it never blocks the writer,
        and the sqlite3 module releases the GIL while it copies and syncs). Durability is what it
        was: a commit is in the log when it returns; a checkpoint only moves pages to the file.
        """
        if self.dialect != "sqlite":
            return None
        self._wal_autocheckpoint = False
        self.engine.dispose()  # pooled connections were opened with autocheckpoint on
        return Checkpointer(self, every_s)

    def checkpoint(self, mode: str = "PASSIVE") -> tuple[int, int, int] | None:
        """SQLite: ``PRAGMA wal_checkpoint(mode)`` -> (busy, log frames, frames checkpointed)."""
        if self.dialect != "sqlite":
            return None
        if mode not in ("PASSIVE", "FULL", "RESTART", "TRUNCATE"):
            raise LineageUsageError(f"unknown checkpoint mode {mode!r}")
        with self.engine.connect() as conn:
            busy, frames, done = conn.exec_driver_sql(f"PRAGMA wal_checkpoint({mode})").one()
        return busy, frames, done

    def counts(self) -> dict[str, int]:
        """Rows per table (tests, the benchmark, ``lineage ingest``)."""
        with self.engine.connect() as conn:
            return {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                    for t in (events, runs, run_inputs, run_outputs, ingest_issues)}

    # -- files -------------------------------------------------------------------------------
    def ingest_files(self, paths: Iterable[str | os.PathLike[str]]) -> list[IngestReport]:
        """Ingest several files (see ``ingest_file``)."""
        return [self.ingest_file(p) for p in paths]

    def file_offset(self, path: str | os.PathLike[str]) -> int:
        """Bytes of the file ingested so far (0 for a file never ingested)."""
        path = os.path.abspath(os.fspath(path))
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(ingest_files.c.byte_offset).where(ingest_files.c.path == path)).scalar()
        return int(found or 0)

    def forget_file(self, path: str | os.PathLike[str]) -> None:
        """Drop a file's offset (the spool deletes a segment once it is stored). Its issues stay:
        they are part of what ``check`` reports."""
        path = os.path.abspath(os.fspath(path))
        with self.engine.begin() as conn:
            conn.execute(ingest_files.delete().where(ingest_files.c.path == path))

    def ingest_file(self, path: str | os.PathLike[str], *, from_start: bool = False,
                    dead_letter: str | os.PathLike[str] | None = None) -> IngestReport:
        """Ingest what was appended to a JSONL file of OpenLineage events since the last ingest.

        ``from_start`` reads the whole file again (idempotent: stored events are recognised).
        A missing file is an empty log. A line that is not a valid event, or that the store fails
        on, is set aside as an issue (``lineage check``) and, with ``dead_letter``, appended to
        that JSONL file with its text; the rest is stored (``lineage.store.ingest``)."""
        return self._ingester.ingest_file(path, from_start=from_start, dead_letter=dead_letter)

    def ingest_events(self, items: Iterable[Any], source: str = "<memory>") -> IngestReport:
        """Ingest events given as dicts or openlineage-python RunEvent objects (no offsets kept)."""
        return self._ingester.ingest_events(items, source)
