"""Spam filter training, run when a new version of ``reference.spam_labels`` is committed.

    gate(reference.spam_labels) -> train spam filter -> labeler agreement report
                                                     -> label-noise review candidates

Scheduled on the ``reference.spam_labels`` asset: the ``spam_labels_fix`` DAG (or any task
with that asset as an outlet, or an asset event posted to the API) commits a new labels version
and names it in the event's extra (``{"version": "v2"}``); this DAG then gates, trains and
reports on *that* version (``user_pipeline.runner.tasks.asset_version``), so a candidate model with its
held-out metrics is ready for review. Without an event it works on the ``spam.labels_version``
pin. De-spam in ``user_pipeline`` scores with the model of the pin, so a fix becomes live by a
reviewed config change, and a backfill follows the lineage from there.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from user_pipeline.config import cached_config
from user_pipeline.runner.tasks import asset, build_tasks
from user_pipeline.steps.registry import SPAM_FILTER

cfg = cached_config()

with DAG(
    dag_id=SPAM_FILTER,
    schedule=[asset("reference.spam_labels")],
    start_date=pendulum.parse(cfg.airflow.start_date),
    catchup=False,
    max_active_runs=1,
    tags=["lineage", "labels", "spam"],
    doc_md=__doc__,
) as dag:
    build_tasks(cfg, SPAM_FILTER)
