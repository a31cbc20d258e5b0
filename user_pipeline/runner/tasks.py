"""Task factories the DAG files share: each task launches a job module in its own process."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset, task

from user_pipeline.config import PipelineConfig


def asset(dataset: str) -> Asset:
    """The Airflow asset of a logical dataset: a task that commits a new version of it names the
    asset as an outlet; DAGs that must react are scheduled on it."""
    return Asset(name=dataset, uri=f"pipeline://{dataset.replace('.', '/')}")


def labels_version(cfg: PipelineConfig, dag_run: Any = None, triggering_asset_events: Any = None) -> str:
    """The spam labels version a spam_filter run works on: the one the triggering asset event names
    (scheduler), else the one an asset event in the run conf names (embedded runner, which has no
    scheduler: user_pipeline.runner.local), else ``labels_version`` of a manual trigger's conf, else the
    ``spam.labels_version`` pin."""
    for events in (triggering_asset_events or {}).values():
        named = [e for e in events if (e.extra or {}).get("version")]
        if named:
            return str(max(named, key=lambda e: e.timestamp).extra["version"])
    conf = (getattr(dag_run, "conf", None) or {}) if dag_run is not None else {}
    for event in reversed(conf.get("asset_events") or []):
        if (event.get("extra") or {}).get("version"):
            return str(event["extra"]["version"])
    return str(conf.get("labels_version") or cfg.spam.labels_version)


def job(cfg: PipelineConfig, module: str, task_id: str, *extra_args: str, labels_version_flag: str | None = None,
        **task_kwargs):
    """A task running ``python -m <module> --ds {{ ds }} <extra_args>``; returns the job's last line.

    With ``labels_version_flag``, ``<flag> <version>`` is appended at run time (``labels_version``)."""

    @task(task_id=task_id, doc_md=f"`python -m {module} --ds {{{{ ds }}}} {' '.join(extra_args)}`", **task_kwargs)
    def launch(ds: str | None = None, ti=None, run_id: str | None = None, logical_date=None, dag_run=None,
               triggering_asset_events=None) -> str:
        from user_pipeline.runner.launch import run_module

        args = list(extra_args)
        if labels_version_flag:
            args += [labels_version_flag, labels_version(cfg, dag_run, triggering_asset_events)]
        return run_module(module, ds=ds, ti=ti, dag_run_id=run_id, logical_date=logical_date, dag_run=dag_run,
                          config=cfg.source_path, extra_args=args)

    return launch()


def gate(cfg: PipelineConfig, dataset: str, *extra_args: str, **kwargs):
    """A Great Expectations gate on the run's partition of ``dataset`` (DESIGN §5): a failed
    critical expectation fails the task, so nothing downstream runs for that date."""
    return job(cfg, "expectations.gate", f"gate_{dataset.split('.', 1)[1]}", "--dataset", dataset, *extra_args,
               **kwargs)
