"""The daily user pipeline: ingest -> [de-spam] -> [ID-merge] -> clean -> preprocess (TFT) -> train.

Wiring only (DESIGN §2, §9): every task launches a job module in its own process
(``python -m beam_jobs.clean --ds {{ ds }} ...``) and passes the partition date, never data;
heavy libraries (Beam, TensorFlow) load in that process, not here. The Beam runner and its
options come from the config (``beam:``), so the same DAG runs on FnApiRunner locally or on
Dataflow/Flink/Spark. Each job emits its own OpenLineage events whose parent is this task's
OpenLineage run and whose root is the DAG run (DESIGN §4).

Why not ``BeamRunPythonPipelineOperator``: in apache-airflow-providers-apache-beam 6.3 its
constructor raises unless apache-airflow-providers-google is installed (measured here), which
would add the whole Google provider to the embedded default for a local runner.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from conf.config import cached_config

cfg = cached_config()


def job(module: str, task_id: str, *extra_args: str):
    """A task running ``python -m <module> --ds {{ ds }} <extra_args>``; returns the job's last line."""

    @task(task_id=task_id, doc_md=f"`python -m {module} --ds {{{{ ds }}}} {' '.join(extra_args)}`")
    def launch(ds: str | None = None, ti=None, run_id: str | None = None, logical_date=None) -> str:
        from runner.launch import run_module

        return run_module(module, ds=ds, ti=ti, dag_run_id=run_id, logical_date=logical_date,
                          config=cfg.source_path, extra_args=extra_args)

    return launch()


def gate(dataset: str, *extra_args: str):
    """A Great Expectations gate on the run's partition of ``dataset`` (DESIGN §5): a failed
    critical expectation fails the task, so nothing downstream runs for that date."""
    return job("expectations.gate", f"gate_{dataset.split('.', 1)[1]}", "--dataset", dataset, *extra_args)


with DAG(
    dag_id=cfg.airflow.dag_id,
    schedule=cfg.airflow.schedule,
    start_date=pendulum.parse(cfg.airflow.start_date),
    catchup=cfg.airflow.catchup,
    max_active_runs=1,
    tags=["lineage", "beam", "tft"],
    doc_md=__doc__,
) as dag:
    ingest = job("beam_jobs.ingest", "ingest")
    gate_users_ingested = gate("staging.users_ingested")
    gate_job_outcomes = gate("raw.job_outcomes")
    # De-spam (staging.users_despammed + staging.spam_quarantine) and ID-merge
    # (staging.id_map + staging.users_merged) go here, in this order, between ingest and
    # clean; clean then reads the merged users instead of the ingested ones.
    clean = job("beam_jobs.clean", "clean")
    gate_users_clean = gate("curated.users_clean")
    preprocess = job("beam_jobs.preprocess", "preprocess")
    gate_features = gate("features.users_transformed")
    train = job("training.train", "train")

    ingest >> gate_users_ingested >> clean >> gate_users_clean >> preprocess >> gate_features >> train
    gate_job_outcomes >> preprocess
