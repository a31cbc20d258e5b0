"""Store backends for the lineage tests: SQLite always, PostgreSQL when ``LINEAGE_TEST_PG_URL``
names a server (``.ci/run`` starts one): each store gets a database of its own, dropped after.
Without the variable the PostgreSQL variants are reported as skipped, saying how to run them."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from lineage.store import LineageStore

PG_URL = os.environ.get("LINEAGE_TEST_PG_URL")
NEEDS_PG = pytest.mark.skipif(
    not PG_URL,
    reason="PostgreSQL: set LINEAGE_TEST_PG_URL to a server's SQLAlchemy URL "
    "(.ci/postgres.sh starts a throwaway one and prints it)",
)
BACKENDS = ["sqlite", pytest.param("postgresql", marks=NEEDS_PG)]


@pytest.fixture(params=BACKENDS)
def make_store(request, tmp_path):
    """``make_store(name)``: a new, empty store on the parametrised backend."""
    made: list[tuple[LineageStore, str | None]] = []
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT") if request.param == "postgresql" else None

    def make(name: str = "lineage.db") -> LineageStore:
        if admin is None:
            store = LineageStore(f"sqlite:///{tmp_path / name}")
            made.append((store, None))
            return store
        database = f"lineage_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{database}"'))
        store = LineageStore(admin.url.set(database=database).render_as_string(hide_password=False))
        made.append((store, database))
        return store

    yield make
    for store, database in made:
        store.engine.dispose()
        if database and admin is not None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    if admin is not None:
        admin.dispose()
