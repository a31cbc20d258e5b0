"""Airflow tasks built from the step registry: each task launches its job in its own process."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset, task

from user_pipeline.config import PipelineConfig
from user_pipeline.runner.warm import ahead
from user_pipeline.steps.assets import asset_name, asset_uri
from user_pipeline.steps.code import config_part
from user_pipeline.steps.declare import Step
from user_pipeline.steps.registry import steps


def asset(dataset: str) -> Asset:
    """The Airflow asset of a logical dataset: a task that commits a new version of it names the
    asset as an outlet; DAGs that must react are scheduled on it."""
    return Asset(name=asset_name(dataset), uri=asset_uri(dataset))


def asset_version(pinned: str, dag_run: Any = None, triggering_asset_events: Any = None,
                  conf_key: str = "labels_version") -> str:
    """The version a run of an asset-scheduled DAG works on: the one the triggering asset event
    names (scheduler), else the one an asset event in the run conf names (embedded runner, which
    has no scheduler: user_pipeline.runner.local), else ``conf_key`` of a manual trigger's conf
    (the pin's own name: ``labels_version``, ``pairs_version``), else the ``pinned`` version of the config."""
    for events in (triggering_asset_events or {}).values():
        named = [e for e in events if (e.extra or {}).get("version")]
        if named:
            return str(max(named, key=lambda e: e.timestamp).extra["version"])
    conf = (getattr(dag_run, "conf", None) or {}) if dag_run is not None else {}
    for event in reversed(conf.get("asset_events") or []):
        if (event.get("extra") or {}).get("version"):
            return str(event["extra"]["version"])
    return str(conf.get(conf_key) or pinned)


def pinned_version(cfg: PipelineConfig, step: Step) -> str:
    """The reference version a version-taking step works on by default (its ``version_pin``)."""
    return str(config_part(cfg, (step.version_pin,))[step.version_pin])


def task_arguments(cfg: PipelineConfig, step: Step, dag_run: Any = None, triggering_asset_events: Any = None
                   ) -> list[str]:
    """The job arguments of ``step``'s task in this DAG run (besides --ds and the lineage parent):
    a version-taking step gets the version the triggering asset event names, else its pin."""
    args = step.command()
    if step.version_flag:
        key = step.version_pin.rsplit(".", 1)[-1]
        args += [step.version_flag,
                 asset_version(pinned_version(cfg, step), dag_run, triggering_asset_events, conf_key=key)]
    return args


def launch_task(cfg: PipelineConfig, step: Step, next_jobs: list[tuple[str, tuple[str, ...]]] | None = None):
    """The task of ``step``: ``python -m <job> --ds {{ ds }} <its arguments>``; returns the job's last line.
    ``next_jobs``: the jobs to start ahead while it runs, where the runner does that (``ahead``)."""

    @task(task_id=step.name, doc_md=f"`python -m {step.job} --ds {{{{ ds }}}} {' '.join(step.command())}`",
          outlets=[asset(d) for d in step.outlets])
    def launch(ds: str | None = None, ti=None, run_id: str | None = None, logical_date=None, dag_run=None,
               triggering_asset_events=None) -> str:
        from user_pipeline.runner.launch import run_module

        args = task_arguments(cfg, step, dag_run, triggering_asset_events)
        return run_module(step.job, ds=ds, ti=ti, dag_run_id=run_id, logical_date=logical_date, dag_run=dag_run,
                          config=cfg.source_path, extra_args=args, not_run=step.not_run, ahead=next_jobs or ())

    return launch()


def build_tasks(cfg: PipelineConfig, dag: str) -> dict[str, Any]:
    """Every declared step of ``dag`` as a task, with the declared edges; returns them by name."""
    built: dict[str, Any] = {}
    dag_steps = steps(dag)
    for step in dag_steps:
        built[step.name] = launch_task(cfg, step, ahead(step, dag_steps))
    for step in dag_steps:
        upstream = [built[name] for name in step.after]
        if step.teardown:
            # Runs whatever happened upstream; Airflow ignores teardowns for the DAG run's state,
            # so a run whose gate failed still fails.
            _ = upstream >> built[step.name].as_teardown()
        elif upstream:
            _ = upstream >> built[step.name]
    return built
