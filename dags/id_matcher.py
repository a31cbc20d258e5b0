"""ID matcher training, run when a new version of ``reference.id_pairs`` is committed.

    gate(reference.id_pairs) -> train the ID matcher (models.id_matcher)

Scheduled on the ``reference.id_pairs`` asset, like ``spam_filter`` on its labels. It works on the
pairs version the triggering asset event names (so a candidate matcher can be reviewed before the
pin changes), else on the ``id_merge.pairs_version`` pin: ``id_merge`` in ``user_pipeline`` scores with the matcher
derived from that pin by the current code (never "the latest model"), so a new pairs version
becomes live by a reviewed config change and a backfill follows the lineage from there. Training
is skipped when that matcher is already committed.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from user_pipeline.config import cached_config
from user_pipeline.runner.tasks import asset, build_tasks
from user_pipeline.steps.registry import ID_MATCHER

cfg = cached_config()

with DAG(
    dag_id=ID_MATCHER,
    schedule=[asset("reference.id_pairs")],
    start_date=pendulum.parse(cfg.airflow.start_date),
    catchup=False,
    max_active_runs=1,
    tags=["lineage", "id-merge"],
    doc_md=__doc__,
) as dag:
    build_tasks(cfg, ID_MATCHER)
