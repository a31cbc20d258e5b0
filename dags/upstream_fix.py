"""Fix an upstream dataset (triggered by hand, with params): one DAG per dataset, ``fix_<dataset>``.

    airflow dags trigger fix_reference_id_pairs --conf '{"file": "/path/pairs.parquet", "new_version": "v2"}'
    airflow dags trigger fix_raw_users_partner --conf '{"file": "/path/users_partner.csv", "ds": "2026-01-02"}'

Runs ``python -m user_pipeline.fix`` (the ``fix`` step of each DAG in the registry; the datasets
are ``registry.upstream_datasets``: raw drops and reference data) and, on success, emits an
event on the dataset's asset whose extra names the committed version
(``user_pipeline.steps.assets.fix_event_extra``). The DAGs scheduled on that asset
(``id_matcher`` on ``reference.id_pairs``, ``spam_filter`` on ``reference.spam_labels``) then
train a candidate on that version, for review before the config pin moves; ``lineage backfill
--fixed <dataset>@<version>`` then recomputes what the replaced version fed.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, Param, task

from user_pipeline.config import cached_config
from user_pipeline.runner.tasks import asset
from user_pipeline.steps.registry import FIX_JOB, fix_dag, steps, upstream_datasets

cfg = cached_config()


def fix_dag_of(dataset: str) -> DAG:
    """The hand-triggered DAG that commits a fix of ``dataset`` and announces it on its asset."""
    (fix,) = (s for s in steps(fix_dag(dataset)) if s.job == FIX_JOB)
    outlet = asset(fix.outlets[0])
    daily = cfg.dataset(dataset).partitioning == "ds"
    where = ({"ds": Param(type="string", format="date", description="the date whose drop is replaced")} if daily
             else {"new_version": Param(type="string", minLength=1, description="version id of the corrected data"),
                   "replaces": Param(None, type=["null", "string"],
                                     description="the version replaced (default: its config pin)")})
    with DAG(
        dag_id=fix_dag(dataset),
        schedule=None,
        start_date=pendulum.parse(cfg.airflow.start_date),
        catchup=False,
        max_active_runs=1,
        tags=["lineage", "fix"],
        params={"file": Param(type="string", minLength=1, description="the corrected content (a path the "
                              "workers can read)"),
                "reason": Param("", type="string", description="why: recorded in the manifest and the lineage"),
                **where},
        doc_md=__doc__,
    ) as dag:

        # Not build_tasks: the run's params decide the arguments, and the asset event names the version.
        @task(task_id=fix.name, outlets=[outlet])
        def fix_upstream(params=None, ti=None, run_id=None, logical_date=None, dag_run=None, outlet_events=None):
            from user_pipeline.runner.launch import run_module
            from user_pipeline.steps.assets import fix_event_extra

            value = params["ds"] if daily else params["new_version"]
            version = [] if daily else ["--new-version", value,
                                        *(["--replaces", params["replaces"]] if params.get("replaces") else [])]
            last = run_module(fix.job, ds=value if daily else None, ti=ti, dag_run_id=run_id,
                              logical_date=logical_date, dag_run=dag_run, config=cfg.source_path,
                              extra_args=[*fix.command(), "--file", params["file"], "--reason", params["reason"],
                                          *version])
            outlet_events[outlet].extra = fix_event_extra(cfg, dataset, value)
            return last

        fix_upstream()
    return dag


for _dataset in upstream_datasets():
    globals()[fix_dag(_dataset)] = fix_dag_of(_dataset)
