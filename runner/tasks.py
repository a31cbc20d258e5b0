"""Task factories the DAG files share: each task launches a job module in its own process."""

from __future__ import annotations

from airflow.sdk import task

from conf import PipelineConfig


def job(cfg: PipelineConfig, module: str, task_id: str, *extra_args: str, **task_kwargs):
    """A task running ``python -m <module> --ds {{ ds }} <extra_args>``; returns the job's last line."""

    @task(task_id=task_id, doc_md=f"`python -m {module} --ds {{{{ ds }}}} {' '.join(extra_args)}`", **task_kwargs)
    def launch(ds: str | None = None, ti=None, run_id: str | None = None, logical_date=None) -> str:
        from runner.launch import run_module

        return run_module(module, ds=ds, ti=ti, dag_run_id=run_id, logical_date=logical_date,
                          config=cfg.source_path, extra_args=extra_args)

    return launch()


def gate(cfg: PipelineConfig, dataset: str, *extra_args: str):
    """A Great Expectations gate on the run's partition of ``dataset`` (DESIGN §5): a failed
    critical expectation fails the task, so nothing downstream runs for that date."""
    return job(cfg, "expectations.gate", f"gate_{dataset.split('.', 1)[1]}", "--dataset", dataset, *extra_args)
