"""SQLite tuning of the lineage store: the connection pragmas, and WAL checkpoints taken in a
thread instead of inside commits (``LineageStore.checkpoint_in_background``)."""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    from lineage.store.database import LineageStore

log = logging.getLogger("lineage.store")


class Checkpointer:
    """The thread of ``LineageStore.checkpoint_in_background``; ``stop()`` ends it with a last
    checkpoint that also truncates the log."""

    def __init__(self, store: LineageStore, every_s: float):
        self.store, self.every_s = store, every_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lineage-checkpointer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopping.wait(self.every_s):
            self._checkpoint("PASSIVE")

    def _checkpoint(self, mode: str) -> None:
        try:
            self.store.checkpoint(mode)
        except sa.exc.SQLAlchemyError:  # a busy or closing database: the next round catches up
            log.warning("WAL checkpoint (%s) failed", mode, exc_info=True)

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=30)
        self._checkpoint("TRUNCATE")


def sqlite_pragmas(dbapi_connection: Any, *, autocheckpoint: bool = True) -> None:
    """Tune a new SQLite connection of the store (the engine's ``connect`` event calls this)."""
    # WAL: readers (queries) do not block the writer (ingest) and vice versa; NORMAL sync is
    # durable at checkpoints, enough for an index that can be rebuilt from the log.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # 128 MiB of page cache (default 2 MiB): index inserts at random places of a multi-GB store
    # otherwise read pages from disk again and again. Pages are allocated only when used.
    cursor.execute("PRAGMA cache_size=-131072")
    cursor.execute("PRAGMA temp_store=MEMORY")  # the recursive CTEs' temporary B-trees
    if not autocheckpoint:
        cursor.execute("PRAGMA wal_autocheckpoint=0")  # LineageStore.checkpoint_in_background
    cursor.close()
