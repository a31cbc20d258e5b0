"""Commit a reviewed fix of the spam labels as a new version (triggered by hand, with params).

    airflow dags trigger spam_labels_fix --conf '{"new_version": "v2", "accept_top": 60}'
    airflow dags trigger spam_labels_fix --conf '{"new_version": "v2", "reviews": "/path/reviewed.csv"}'
    airflow dags trigger spam_labels_fix --conf '{"new_version": "v2", "decisions": true}'  # the review page's

Runs ``python -m user_pipeline.labels.fix`` (step ``fix_spam_labels`` of the registry) with the
reviewed corrections, or the top K candidates of the label-noise review, and, on success, emits
an event on the ``reference.spam_labels`` asset whose extra names the new version and the one it
replaces (``user_pipeline.steps.assets.fix_event_extra``, as every fix's: ``dags/upstream_fix.py``): the scheduler
then runs the ``spam_filter`` DAG on it. The labels version the fix starts from is
``labels_version`` in the conf, else the ``spam.labels_version`` pin.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from user_pipeline.config import cached_config
from user_pipeline.runner.tasks import asset
from user_pipeline.steps.registry import LABELS_FIX, steps

cfg = cached_config()
(FIX,) = steps(LABELS_FIX)
SPAM_LABELS = asset(FIX.outlets[0])

with DAG(
    dag_id=LABELS_FIX,
    schedule=None,
    start_date=pendulum.parse(cfg.airflow.start_date),
    catchup=False,
    max_active_runs=1,
    tags=["lineage", "labels", "spam"],
    params={
        "new_version": Param(type="string", minLength=1, description="version id of the fixed labels"),
        "labels_version": Param(cfg.spam.labels_version, type="string", description="the labels to fix"),
        "accept_top": Param(None, type=["null", "integer"], minimum=1,
                            description="accept the suggested label of the K best review candidates"),
        "reviews": Param(None, type=["null", "string"], description="reviewed CSV of corrections"),
        "decisions": Param(False, type="boolean",
                           description="the review page's decisions (reference.spam_label_decisions)"),
    },
    doc_md=__doc__,
) as dag:

    # Not build_tasks: the run's params decide the arguments, and the asset event names the new version.
    @task(task_id=FIX.name, outlets=[SPAM_LABELS])
    def fix_spam_labels(params=None, ti=None, run_id=None, logical_date=None, dag_run=None, outlet_events=None):
        from user_pipeline.runner.launch import run_module
        from user_pipeline.steps.assets import fix_event_extra

        decision = (["--accept-top", str(params["accept_top"])] if params.get("accept_top") is not None
                    else ["--reviews", params["reviews"]] if params.get("reviews")
                    else ["--decisions"] if params.get("decisions") else [])
        if not decision:
            raise ValueError("give accept_top, reviews or decisions in the conf")
        last = run_module(FIX.job, ds=None, ti=ti, dag_run_id=run_id, logical_date=logical_date,
                          dag_run=dag_run, config=cfg.source_path, extra_args=[
                              "--labels-version", params["labels_version"],
                              "--new-version", params["new_version"], *decision])
        # The same event as every fix's (dags/upstream_fix.py): the version, and the one it replaces.
        outlet_events[SPAM_LABELS].extra = fix_event_extra(cfg, FIX.outlets[0], params["new_version"])
        return last

    fix_spam_labels()
