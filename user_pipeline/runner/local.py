"""Run the ``user_pipeline`` DAG on the embedded default and print what it did.

    python -m user_pipeline.runner.local [--days 3] [--start-date 2026-01-01] [--users-per-day N] [--no-generate]
    python -m user_pipeline.runner.local --trigger spam_labels_fix --conf '{"new_version": "v2", "accept_top": 60}'

Sets up an Airflow home under the data root (SQLite metadata, the OpenLineage provider writing
to the same JSONL log as the jobs), generates sample data, runs ``dag.test`` for each date
in-process, and prints rows in/out of every step, artifact versions, the number of lineage
events and where the serving model is.

While it runs it prints a line per task as its job starts and ends, and the jobs' warnings and
errors; each job's full output goes to a log file per task under the Airflow home
(``logs/runner/<dag>/<date>/<task>.log``; ``user_pipeline.runner.progress``). ``-v`` prints it all.

The tasks of a DAG run one after the other here, so while one runs, the processes of the next
tasks' jobs are started and import what they compute with (``user_pipeline.runner.warm``);
``--cold`` starts each task's process only when the task starts.

There is no scheduler on the embedded default, so this runner also does the scheduler's asset
step: after its runs, every DAG that Airflow queued because an asset it is scheduled on got an
event (a task's outlet, e.g. the labels fix) is run, with the events in its run conf
(``asset_events``: asset name and extra). ``--trigger DAG --conf JSON`` runs one DAG by hand
(then that step), like ``airflow dags trigger``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lineage.catalog import Catalog, Manifest
from user_pipeline.config import REPO_ROOT, PipelineConfig, load_config
from user_pipeline.runner import launch
from user_pipeline.runner.launch import Launch
from user_pipeline.runner.progress import TaskProgress
from user_pipeline.runner.warm import ahead
from user_pipeline.steps.logs import QUIET_ENV
from user_pipeline.steps.registry import DAILY, steps

console = Console(width=120)

def data_steps(cfg: PipelineConfig) -> list[tuple[str, list[str]]]:
    """The daily Beam steps in DAG order, each with the daily datasets it writes (main first)."""
    return [(s.name, [d for d in s.writes if cfg.dataset(d).partitioning == "ds"])
            for s in steps(DAILY) if s.job.startswith("beam_jobs.") and s.writes and s.dataset is None]


def airflow_env(cfg: PipelineConfig) -> dict[str, str]:
    """Environment for an embedded Airflow: home, SQLite, DAG folder, OpenLineage transport."""
    local_root = Path(cfg.data_root) if "://" not in cfg.data_root else Path.home() / ".user_pipeline"
    home = local_root / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    transport = cfg.openlineage_client_config().get("transport", {})
    for log in cfg.openlineage_log_paths():
        # The provider's file transport (alone or in a composite) does not create the folder of its log.
        Path(log).parent.mkdir(parents=True, exist_ok=True)
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # This runner is the scheduler: a paused DAG would not be queued by asset events.
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__OPENLINEAGE__NAMESPACE": cfg.lineage.namespace,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
        "PIPELINE_CONFIG": cfg.source_path,
        "PIPELINE_DATA_ROOT": cfg.data_root,
        # Keep the demo's output readable: Airflow's own logs at WARNING (--verbose: INFO), and the
        # settings that quiet third-party libraries in the jobs (user_pipeline.steps.logs).
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        **QUIET_ENV,
    }


def task_log_dir(env: dict[str, str]) -> Path:
    """Where the runner writes each task's log (``user_pipeline.runner.progress``)."""
    return Path(env["AIRFLOW_HOME"]) / "logs" / "runner"


def migrate_airflow_db(env: dict[str, str]) -> None:
    """Create or upgrade the SQLite metadata database (idempotent)."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env={**os.environ, **env},
                   check=True, stdout=subprocess.DEVNULL)


def _bag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    if bag.import_errors:
        raise RuntimeError(f"DAG import errors: {bag.import_errors}")
    return bag


def run_dag(dag_id: str, dates: list[str], conf: dict | None = None,
            progress: TaskProgress | None = None, then: str | None = None) -> list[tuple[str, str, float]]:
    """``dag.test`` of ``dag_id`` for each date, in order; returns (date, state, seconds), stops at a failure.
    ``progress`` is told the state of the tasks whose job never started (upstream failed, skipped).
    ``then``: the DAG run next, whose first tasks' processes are started during the last date's run."""
    import pendulum

    dag = _bag().dags[dag_id]
    first = ahead(None, _steps_of(dag_id))  # the first tasks and the next ones
    then_first = ahead(None, _steps_of(then)) if then else []
    results = []
    for i, ds in enumerate(dates):
        start = time.perf_counter()
        launch.warm(first)
        launch.next_run(first if i + 1 < len(dates) else then_first)
        run = dag.test(logical_date=pendulum.parse(ds), run_conf=conf)
        state = str(getattr(run.state, "value", run.state))
        results.append((ds, state, time.perf_counter() - start))
        if progress is not None:
            progress.not_launched(dag_id, ds, {ti.task_id: str(getattr(ti.state, "value", ti.state))
                                               for ti in run.get_task_instances()})
        if state != "success":
            break
    return results


def _steps_of(dag_id: str) -> list:
    """The declared steps of the DAG ``dag_id`` (the daily DAG's id is the config's)."""
    return steps(DAILY if dag_id == load_config().airflow.dag_id else dag_id)


def queued_asset_runs() -> dict[str, list[dict]]:
    """DAGs Airflow queued on asset events (``AssetDagRunQueue``), each with the latest event of
    every queued asset (name, extra, time); the queue entries are taken (as the scheduler does)."""
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import delete, select

    found: dict[str, list[dict]] = {}
    with create_session() as session:
        for dag_id, asset_id in session.execute(select(AssetDagRunQueue.target_dag_id, AssetDagRunQueue.asset_id)):
            event = session.scalars(select(AssetEvent).where(AssetEvent.asset_id == asset_id)
                                    .order_by(AssetEvent.timestamp.desc()).limit(1)).first()
            name = session.scalar(select(AssetModel.name).where(AssetModel.id == asset_id))
            found.setdefault(dag_id, []).append({
                "asset": name, "extra": dict(event.extra or {}) if event else {},
                "timestamp": event.timestamp.isoformat() if event else None})
        if found:
            session.execute(delete(AssetDagRunQueue).where(AssetDagRunQueue.target_dag_id.in_(list(found))))
    return found


def run_asset_triggered(limit: int = 10, progress: TaskProgress | None = None) -> list[tuple[str, str, str, float]]:
    """The scheduler's asset step: run each queued DAG (for today's date) with its events in the
    run conf, until nothing is queued (a run may queue more); returns (dag, date, state, seconds)."""
    from datetime import UTC, datetime

    results = []
    for _ in range(limit):
        queued = queued_asset_runs()
        if not queued:
            break
        for dag_id, events in sorted(queued.items()):
            today = datetime.now(UTC).date().isoformat()
            console.print(f"asset event(s) {', '.join(e['asset'] for e in events)} -> running {dag_id}")
            for ds, state, seconds in run_dag(dag_id, [today], conf={"asset_events": events}, progress=progress):
                results.append((dag_id, ds, state, seconds))
    return results


def rows_in(catalog: Catalog, step: str, main: Manifest) -> int | None:
    """The rows a daily data step read, as recorded in its main output's manifest: lines for
    ingest, rows otherwise (ID-merge also reads the previous days' canonical users: its own count)."""
    if step in ("ingest", "preprocess", "id_merge"):
        return {"ingest": main.extra.get("lines_read"), "preprocess": main.extra.get("user_rows"),
                "id_merge": main.extra.get("rows_read")}[step]
    return sum(catalog.require(i["dataset"], i["partition"].split("=", 1)[1]).row_count or 0 for i in main.inputs)


def task_rows(cfg: PipelineConfig, launch: Launch) -> str:
    """"rows IN -> OUT" of a daily data step's run for its date (from the manifests), else ""."""
    outputs = dict(data_steps(cfg)).get(launch.task_id)
    if not outputs or launch.ds is None or launch.dag_id != cfg.airflow.dag_id:
        return ""
    catalog = Catalog(cfg)
    main = catalog.manifest(outputs[0], launch.ds)
    return f"rows {rows_in(catalog, launch.task_id, main)} -> {main.row_count}" if main else ""


def summary(cfg: PipelineConfig, dates: list[str]) -> None:
    """Print rows in/out of every step, the artifacts and their versions, and lineage counts."""
    catalog = Catalog(cfg)
    table = Table(title="rows in / out per step")
    for column in ("ds", "step", "rows in", "rows out", "side outputs"):
        table.add_column(column)
    versions = []
    for ds in dates:
        for step, outputs in data_steps(cfg):
            main, *side = found = [catalog.manifest(d, ds) for d in outputs]
            if main is None:
                table.add_row(ds, step, "-", "-", "-")
                continue
            notes = [f"{m.dataset}={m.row_count}" for m in side if m]
            if step == "preprocess":
                # Manifests written before preprocess kept one row per person have no person_rows.
                repeated = main.extra["user_rows"] - main.extra["person_rows"] if "person_rows" in main.extra else "-"
                notes.append(f"a person's earlier days={repeated}; "
                             f"unlabelled (not training rows)={main.extra.get('unlabelled_rows')}; "
                             f"train={main.extra.get('train_rows')} dev={main.extra.get('dev_rows')} "
                             f"test={main.extra.get('test_rows')}")
            table.add_row(ds, step, str(rows_in(catalog, step, main)), str(main.row_count), "; ".join(notes) or "-")
            versions += [f"{m.dataset}@{m.version}  ({m.partition})" for m in found if m]
    console.print(table)
    console.print("artifacts written:")
    for line in versions:
        console.print(f"  {line}")
    for dataset in ("models.transform_fn", "models.job_seeker"):
        for version in catalog.committed(dataset):
            manifest = catalog.require(dataset, version)
            metrics = manifest.extra.get("dev_metrics", {})
            shown = {k: round(v, 3) for k, v in metrics.items() if isinstance(v, float)}
            console.print(f"{dataset}@{version}  {catalog.partition_uri(dataset, version)}  {shown or ''}")
    for ds in dates:
        evaluation = catalog.manifest("evaluation.job_seeker_slices", ds)
        if evaluation is None:
            continue
        for split, worst in evaluation.extra.get("worst", {}).items():
            top = ", ".join(f"{w['slice_column']}={w['slice_value']} ({w['error_gap']:+.3f})" for w in worst[:2])
            console.print(f"evaluation ds={ds} {split}: serving accuracy "
                          f"{evaluation.extra['serving_accuracy'].get(split)}; worst slices {top or '-'}")
    for log_path in cfg.openlineage_log_paths():
        if not Path(log_path).exists():
            continue
        events = [json.loads(line) for line in Path(log_path).read_text().splitlines() if line.strip()]
        jobs = {e["job"]["name"] for e in events}
        console.print(f"lineage: {len(events)} OpenLineage events for {len(jobs)} jobs in {log_path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--start-date")
    parser.add_argument("--users-per-day", type=int)
    parser.add_argument("--no-generate", action="store_true", help="use the raw data already there")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="print every line of every job and Airflow's logs at INFO, not only warnings and errors")
    parser.add_argument("--cold", action="store_true",
                        help="start each task's process when the task starts, not ahead while the task before runs")
    parser.add_argument("--trigger", metavar="DAG_ID", help="run only this DAG once (today), then the asset step")
    parser.add_argument("--conf", default="{}", help="with --trigger: the run conf (JSON)")
    args = parser.parse_args(argv)

    cfg = load_config(args.config)
    start = date.fromisoformat(args.start_date or cfg.datagen.start_date)
    dates = [(start + timedelta(days=i)).isoformat() for i in range(args.days)]
    env = airflow_env(cfg)
    if args.verbose:
        env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "INFO"
    os.environ.update(env)  # before the first Airflow import: Airflow reads its settings once
    if not args.cold:
        launch.start_warm_processes()
    progress = TaskProgress(console, task_log_dir(env), verbose=args.verbose,
                            rows=lambda launch: task_rows(cfg, launch))
    progress.attach()
    console.print(f"task logs: {progress.log_dir}/<dag>/<date>/<task>.log")

    if args.trigger:
        migrate_airflow_db(env)
        from datetime import UTC, datetime

        runs = [(args.trigger, *run) for run in run_dag(args.trigger, [datetime.now(UTC).date().isoformat()],
                                                         conf=json.loads(args.conf), progress=progress)]
        if runs[0][2] == "success":
            runs += run_asset_triggered(progress=progress)
        for dag_id, ds, state, seconds in runs:
            console.print(f"DAG RUN {dag_id} {ds}: {state} in {seconds:.1f}s")
        return 0 if all(state == "success" for _, _, state, _ in runs) else 1

    if not args.no_generate:
        from user_pipeline.datagen.generate import generate

        console.print(f"generating sample data for {dates[0]}..{dates[-1]} under {cfg.data_root}")
        generate(cfg, start_date=dates[0], days=args.days, users_per_day=args.users_per_day)
    console.print("preparing the Airflow metadata database (SQLite)")
    migrate_airflow_db(env)
    # De-spam and ID-merge score with the models of the pinned reference versions: the spam_filter
    # and id_matcher DAGs train them (a scheduler would run them on their reference assets; they
    # skip when the model is already committed).
    for model_dag, following in (("spam_filter", "id_matcher"), ("id_matcher", cfg.airflow.dag_id)):
        trained = run_dag(model_dag, dates[:1], progress=progress, then=following)
        console.print(f"DAG RUN {model_dag} {trained[0][0]}: {trained[0][1]} in {trained[0][2]:.1f}s")
        if trained[0][1] != "success":
            return 1
    results = run_dag(cfg.airflow.dag_id, dates, progress=progress)
    for ds, state, seconds in results:
        console.print(f"DAG RUN {cfg.airflow.dag_id} {ds}: {state} in {seconds:.1f}s")
    triggered = run_asset_triggered(progress=progress)
    for dag_id, ds, state, seconds in triggered:
        console.print(f"DAG RUN {dag_id} {ds} (asset-triggered): {state} in {seconds:.1f}s")
    summary(cfg, [ds for ds, _, _ in results])
    ok = all(state == "success" for _, state, _ in results) and all(t[2] == "success" for t in triggered)
    return 0 if ok and len(results) == len(dates) else 1


if __name__ == "__main__":
    sys.exit(main())
