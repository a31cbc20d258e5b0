"""The daily user pipeline, with a gate after every step (docs/architecture.md#purpose, #gates):

    ingest -> gate -> despam -> gate -> id_merge -> gate -> clean -> gate -> statistics -> preprocess (TFT)
    raw.job_outcomes gate -> preprocess -> gate -> train -> evaluate, training_serving_skew

``id_merge`` gives every de-spammed record a canonical user id (``staging.id_map``) and writes one
row per person seen that day (``staging.users_merged``, beam_jobs/id_merge.py) with the matcher
of the ``id_merge.pairs_version`` pin, trained by the ``id_matcher`` DAG; clean reads those
canonical users, so every row downstream is a person.

``statistics_users_clean`` commits the clean partition's statistics (tensorflow_metadata format)
and its drift against the previous days (beam_jobs/statistics.py): a drift configured as a failure
stops the date before training. ``training_serving_skew`` compares the features the serving
export computes for a sample of the day's records with the training features (user_pipeline/training/skew.py).

``evaluate`` scores the dev and test splits through the serving export and breaks the metrics
down by metadata slices (error analysis, user_pipeline/training/evaluate.py). ``run_report`` writes the date's
page (user_pipeline/reports/run_report.py) whatever happened upstream: it is a teardown, so it runs after a
failed gate too and, as Airflow ignores teardowns for the DAG run's state, the run still fails.

Wiring only: the tasks and their order are the steps declared in user_pipeline/steps/registry.py
(docs/adding-a-step.md); every task launches a job module in its own process
(``python -m beam_jobs.clean --ds {{ ds }} ...``) and passes the partition date, never data;
heavy libraries (Beam, TensorFlow, Great Expectations) load there, not here. The Beam runner
and its options come from the config (``beam:``), so the same DAG runs on FnApiRunner locally or
on Dataflow/Flink/Spark. Each job emits its own OpenLineage events whose parent is this task's
OpenLineage run and whose root is the DAG run (docs/architecture.md#lineage).

Why not ``BeamRunPythonPipelineOperator``: in apache-airflow-providers-apache-beam 6.3 its
constructor raises unless apache-airflow-providers-google is installed (measured here), which
would add the whole Google provider to the embedded default for a local runner.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from user_pipeline.config import cached_config
from user_pipeline.runner.tasks import build_tasks
from user_pipeline.steps.registry import DAILY

cfg = cached_config()

with DAG(
    dag_id=cfg.airflow.dag_id,
    schedule=cfg.airflow.schedule,
    start_date=pendulum.parse(cfg.airflow.start_date),
    catchup=cfg.airflow.catchup,
    max_active_runs=1,
    tags=["lineage", "beam", "tft"],
    doc_md=__doc__,
) as dag:
    build_tasks(cfg, DAILY)  # the steps, their jobs and edges: user_pipeline/steps/registry.py
