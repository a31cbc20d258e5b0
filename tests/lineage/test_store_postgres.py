"""The same store and queries on PostgreSQL give the same answers as on SQLite.

Runs when ``LINEAGE_TEST_PG_URL`` names a scratch database (its lineage tables are dropped),
e.g. ``postgresql+psycopg://postgres@127.0.0.1:5432/lineage_test`` (``.ci/postgres.sh`` starts a
throwaway server and prints its URL); reported as skipped otherwise.
"""

from __future__ import annotations

import sqlalchemy as sa

from lineage import backfill, queries
from lineage.store import LineageStore, metadata
from tests.lineage.conftest import NEEDS_PG, PG_URL
from tests.lineage.test_queries import story_events, write_log

pytestmark = NEEDS_PG


def _answers(store: LineageStore, before_fix: str) -> dict:
    return {
        "impact": queries.impact(store, "reference.spam_labels", "L1").to_json(),
        "impact_as_of": queries.impact(store, "reference.spam_labels", "L1", as_of=before_fix).to_json(),
        "upstream": queries.upstream(store, "models.job_seeker", "J3").to_json(),
        "downstream": queries.downstream(store, "raw.users_web", depth=3).to_json(),
        "versions": [v.__dict__ for v in queries.versions(store, "models.spam_filter")],
        "snapshot": queries.snapshot(store, before_fix, dataset="curated.users_clean").to_json(),
        "check": queries.check(store).to_json(),
        "plan": backfill.plan_bad_version(store, "reference.spam_labels", "L1").to_json(),
        "fixed": backfill.plan_fixed(store, "curated.users_clean").to_json(),
    }


def test_postgresql_answers_like_sqlite(tmp_path):
    engine = sa.create_engine(PG_URL)
    metadata.drop_all(engine)
    events, before_fix = story_events()
    log = write_log(tmp_path / "events.jsonl", events)
    lite, pg = LineageStore(f"sqlite:///{tmp_path / 'lineage.db'}"), LineageStore(engine)
    for store in (lite, pg):
        store.ingest_file(log)
        store.ingest_file(log, from_start=True)  # idempotent on both
    assert pg.counts() == lite.counts()
    expected, found = _answers(lite, before_fix), _answers(pg, before_fix)
    for name in expected:
        assert found[name] == expected[name], name
    assert backfill.plan_bad_version(pg, "reference.spam_labels", "L1").task_set()
    metadata.drop_all(engine)
