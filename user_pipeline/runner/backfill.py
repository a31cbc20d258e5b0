"""Execute a backfill plan (``lineage.backfill``) through Airflow, and report what happened.

    lineage backfill --fixed reference.spam_labels            # embedded: dag.test in-process
    lineage backfill DATASET@BAD --airflow-url http://host:8080  # a running Airflow, via its API

The plan's steps run in order, one DAG run at a time, because a later step reads what an
earlier one recomputes (the retrained spam filter before the dates that used it). A step names
its DAG run by the run id the lineage recorded (``lineage.backfill.planner``), never by a date:
on Airflow 3 manual and asset-triggered runs have no logical date. Each step runs exactly its
planned tasks:

- **Airflow API** (scheduler + API server): ``POST /api/v2/dags/{dag}/clearTaskInstances`` with
  the exact task ids of the step and its DAG run id (never ``airflow tasks clear -t``, which
  matches substrings), then wait for that DAG run to finish before the next step. The cleared
  tasks run in their own DAG run again, with its conf and triggering asset events. Airflow runs a
  cleared task once its DAG upstream tasks are done, and an uncleared task is done: where the
  DAG does not order two planned tasks through cleared ones, they are cleared in successive
  waves (``clear_waves``). A paused DAG is refused: its cleared tasks would wait for ever.
- **embedded** (the default: SQLite metadata, no scheduler): the DAG run is looked up by its run
  id in the embedded metadata database; ``dag.test`` runs again for its logical date with its
  conf, every task *not* in the step marked success without running (``mark_success_pattern``),
  so the DAG's own dependencies order the planned tasks and nothing else executes. ``dag.test``
  finds the run to replace by logical date, so a run without one is refused here (use the API).

A planned task whose inputs and code equal those recorded in its outputs' manifests skips
(content-addressed, docs/datasets-and-versions.md): the report counts it as skipped with that
reason, so planned = executed + skipped (+ failed / not run when a step stops). The backfill
ends with the check the user wants: the impact of the bad versions holds no current artifact (a
bad version its re-run reproduced unchanged counts as repaired: ``lineage.queries.currency``). A
backfill that stopped half-way is re-planned and re-run: finished tasks are no longer in the plan.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from lineage import queries
from lineage.backfill import BackfillPlan, ExecutionOptions, PlanStep
from lineage.store import LineageStore, normalise_time, runs
from user_pipeline.airflow_api import FINISHED, POLL_SECONDS, AirflowApi, AirflowApiError
from user_pipeline.config import PipelineConfig

SKIP_REASON = "inputs and code unchanged: outputs reused (content-addressed skip)"


@dataclass
class TaskOutcome:
    """What became of one planned task."""

    dag_id: str | None
    logical_date: str | None
    task_id: str
    outcome: str  # executed | skipped | failed | not-run | manual
    reason: str
    job_runs: list[str] = field(default_factory=list)  # OpenLineage runs of its job during the backfill
    airflow_state: str | None = None
    dag_run_id: str | None = None


@dataclass
class BackfillReport:
    """planned = executed + skipped + failed + not-run + manual, per task and date."""

    started_at: str
    finished_at: str
    mode: str  # embedded | airflow-api
    tasks: list[TaskOutcome]
    still_current: list[str]  # artifacts the impact of the bad versions still shows as current
    stopped: str | None = None  # why execution stopped early

    def count(self, outcome: str) -> int:
        return sum(t.outcome == outcome for t in self.tasks)

    @property
    def complete(self) -> bool:
        """Every planned task ran or skipped, and nothing current derives from the bad versions."""
        return self.stopped is None and not self.still_current and all(
            t.outcome in ("executed", "skipped") for t in self.tasks)

    def to_json(self) -> dict[str, Any]:
        counts = {k: self.count(k) for k in ("executed", "skipped", "failed", "not-run", "manual")}
        return {**asdict(self), "planned": len(self.tasks), "counts": counts, "complete": self.complete}


class StepRunner:
    """Runs the planned tasks of one DAG run; returns the Airflow state of each task."""

    mode = "embedded"

    def run_step(self, step: PlanStep) -> dict[str, str]:
        raise NotImplementedError


class EmbeddedRunner(StepRunner):
    """``dag.test`` in this process, the tasks outside the step marked success without running."""

    mode = "embedded"

    def __init__(self, cfg: PipelineConfig):
        from user_pipeline.runner.local import airflow_env, migrate_airflow_db

        env = airflow_env(cfg)
        os.environ.update(env)  # before the first Airflow import: Airflow reads its settings once
        migrate_airflow_db(env)
        from airflow.dag_processing.dagbag import DagBag

        from user_pipeline.config import REPO_ROOT

        self.bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
        if self.bag.import_errors:
            raise RuntimeError(f"DAG import errors: {self.bag.import_errors}")

    def run_step(self, step: PlanStep) -> dict[str, str]:
        dag = self.bag.dags.get(step.dag_id)
        if dag is None:
            raise LookupError(f"DAG {step.dag_id!r} is not in the DAG folder")
        unknown = sorted(set(step.task_ids) - set(dag.task_ids))
        if unknown:
            raise LookupError(f"DAG {step.dag_id} has no task {', '.join(unknown)} (renamed since it ran?)")
        logical_date, run_after, conf = self.dag_run(step)
        others = [t for t in dag.task_ids if t not in step.task_ids]
        pattern = "|".join(re.escape(t) for t in others) or None  # dag.test full-matches it
        run = dag.test(logical_date=logical_date, run_after=run_after, run_conf=conf, mark_success_pattern=pattern)
        return {ti.task_id: _state(ti.state) for ti in run.get_task_instances()}

    @staticmethod
    def dag_run(step: PlanStep) -> tuple[Any, Any, dict | None]:
        """Logical date, run_after and conf of the step's DAG run in the embedded metadata database,
        once it is sure that ``dag.test`` with them replaces exactly that run (same run id)."""
        from airflow.models.dagrun import DagRun
        from airflow.utils.session import create_session
        from airflow.utils.types import DagRunType

        if step.dag_run_id is None:
            raise LookupError(f"the lineage names no DAG run id for {step.dag_id} {step.logical_date}")
        with create_session() as session:
            found = session.scalar(sa.select(DagRun).where(DagRun.dag_id == step.dag_id,
                                                           DagRun.run_id == step.dag_run_id))
            if found is None:
                raise LookupError(f"the embedded Airflow has no run {step.dag_run_id!r} of {step.dag_id} (the lineage "
                                  "came from another Airflow? execute through it: --airflow-url)")
            if found.logical_date is None:
                raise LookupError(f"{step.dag_id} {step.dag_run_id} has no logical date: dag.test cannot re-run it "
                                  "in place; execute through a running Airflow (--airflow-url)")
            # dag.test replaces the run of that logical date by one named from run_after.
            again = DagRun.generate_run_id(run_type=DagRunType.MANUAL, logical_date=found.logical_date,
                                           run_after=found.run_after)
            if again != step.dag_run_id:
                raise LookupError(f"{step.dag_id} {step.dag_run_id} was not made by dag.test (it would re-run as "
                                  f"{again}); execute through the Airflow that ran it (--airflow-url)")
            return found.logical_date, found.run_after, dict(found.conf or {}) or None


class AirflowApiRunner(StepRunner):
    """Clears exactly the step's task instances through Airflow's REST API (v2) and waits."""

    mode = "airflow-api"

    def __init__(self, url: str, token: str | None = None, username: str | None = None,
                 password: str | None = None, *, poll_seconds: float = POLL_SECONDS, timeout_seconds: float = 6 * 3600,
                 client: Any = None):
        self.api = AirflowApi(url, username, password, token=token, client=client)
        self.poll_seconds, self.timeout_seconds = poll_seconds, timeout_seconds

    def check_runnable(self, step: PlanStep) -> str:
        """The step's DAG run id, once Airflow confirmed the run exists and its DAG is not paused."""
        if step.dag_run_id is None:
            raise LookupError(f"the lineage names no DAG run id for {step.dag_id} {step.logical_date}: "
                              "Airflow runs are addressed by run id")
        try:
            self.api.run(step.dag_id, step.dag_run_id)
        except AirflowApiError as exc:
            if exc.status == 404:
                raise LookupError(f"Airflow has no run {step.dag_run_id!r} of {step.dag_id} (the lineage names it: "
                                  "another Airflow, or its metadata database was reset?)") from exc
            raise
        if self.api.dag(step.dag_id).get("is_paused"):
            raise RuntimeError(f"DAG {step.dag_id} is paused: its cleared tasks would never be scheduled "
                               f"(unpause it: airflow dags unpause {step.dag_id})")
        return step.dag_run_id

    def run_step(self, step: PlanStep) -> dict[str, str]:
        """Clear the step's tasks in waves (``clear_waves``), each once the one before succeeded;
        returns the state of every task cleared (a task of a wave never cleared has none)."""
        dag_run_id = self.check_runnable(step)
        found = self.api.call("GET", f"/api/v2/dags/{step.dag_id}/tasks")
        downstream = {t["task_id"]: list(t.get("downstream_task_ids") or []) for t in found.get("tasks", [])}
        states: dict[str, str] = {}
        for wave in clear_waves(step, downstream):
            self.api.call("POST", f"/api/v2/dags/{step.dag_id}/clearTaskInstances", json={
                "dry_run": False, "dag_run_id": dag_run_id, "task_ids": wave,
                "only_failed": False, "reset_dag_runs": True, "include_upstream": False,
                "include_downstream": False, "include_future": False, "include_past": False,
                "run_on_latest_version": True, "note": "lineage backfill",
            })
            # Clearing set the run to queued, so an earlier end is not seen.
            ended = self.api.wait(step.dag_id, dag_run_id, self.timeout_seconds, self.poll_seconds)
            if ended.state not in FINISHED:
                raise TimeoutError(f"{step.dag_id} {dag_run_id} still {ended.state} after {self.timeout_seconds}s")
            now = {ti["task_id"]: ti["state"] for ti in ended.tasks}
            states.update({t: now.get(t) for t in wave})
            if any(states[t] != "success" for t in wave):
                break
        return states


def clear_waves(step: PlanStep, downstream: dict[str, list[str]]) -> list[list[str]]:
    """The step's tasks as the groups to clear one after another in a running Airflow.

    Cleared tasks run as soon as their upstream tasks in the DAG are done, and a task not cleared
    is done: a planned task that must follow another (``PlannedTask.after``: it reads what the
    other recomputes) may only be cleared with it when the DAG orders them through cleared tasks
    alone, else it would run first on the old version (a report beside the step it reports on).
    Such a task waits for the next wave. Usually the whole step is one wave."""
    order = step.task_ids
    in_step = {t.label: t.task_id for t in step.tasks}
    deps = {t.task_id: {in_step[a] for a in t.after if a in in_step} for t in step.tasks}

    def ordered(first: str, then: str, cleared: set[str]) -> bool:
        """Whether ``then`` is downstream of ``first`` through cleared tasks only."""
        seen, todo = set(), [first]
        while todo:
            for nxt in downstream.get(todo.pop(), ()):
                if nxt == then:
                    return True
                if nxt in cleared and nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    waves: list[list[str]] = []
    done: set[str] = set()
    while len(done) < len(order):
        wave: list[str] = []
        for task in (t for t in order if t not in done):
            if all(d in done or d in wave and ordered(d, task, set(wave)) for d in deps[task]):
                wave.append(task)
        wave = wave or [next(t for t in order if t not in done)]  # a cycle: in plan order
        waves.append(wave)
        done.update(wave)
    return waves


def execute(plan: BackfillPlan, cfg: PipelineConfig, store: LineageStore, runner: StepRunner,
            *, progress: Any = None) -> BackfillReport:
    """Run the plan's steps in order with ``runner``; stop at the first failed step; report."""
    started = datetime.now(UTC).isoformat()
    states: dict[int, dict[str, str]] = {}  # by step number
    stopped = None
    for number, step in enumerate(plan.steps, start=1):
        name = f"{step.dag_id} {step.dag_run_id or step.logical_date}"
        if step.dag_id is None:
            stopped = (f"step {number} runs outside Airflow ({', '.join(step.task_ids)}): run it by hand, "
                       "then run the backfill again")
            break
        if progress:
            progress(f"step {number}/{len(plan.steps)}: {name}: {' → '.join(step.task_ids)}")
        try:
            states[number] = runner.run_step(step)
        except Exception as error:  # noqa: BLE001 - reported, and the backfill stops here
            stopped = f"step {number} ({name}) could not run: {error}"
            break
        failed = [t for t in step.task_ids if states[number].get(t) != "success"]
        if failed:
            stopped = f"step {number} ({name}): {', '.join(failed)} did not succeed"
            break
    store.ingest_files(cfg.openlineage_log_paths())
    tasks = [_outcome(store, task, step, states.get(number), started)
             for number, step in enumerate(plan.steps, start=1) for task in step.tasks]
    return BackfillReport(started, datetime.now(UTC).isoformat(), runner.mode, tasks, still_bad(store, plan), stopped)


def still_bad(store: LineageStore, plan: BackfillPlan) -> list[str]:
    """The success check: artifacts still current that derive from the plan's bad versions.

    An artifact re-derived unchanged from fixed inputs (the same content version committed again
    by a clean run), or a bad version itself reproduced by its re-run from fixed inputs or code,
    is repaired, not bad: ``lineage.queries`` follows commits, not only content versions."""
    graph = queries.impact_of(store, plan.seeds)
    return [str(a.node) for a in graph.affected() if a.status == "current" and not a.external]


def _outcome(store: LineageStore, task: Any, step: PlanStep, states: dict[str, str] | None,
             since: str) -> TaskOutcome:
    """Executed or skipped, from the job's own lineage events during the backfill (its DAG run's)."""
    if step.dag_id is None:
        return TaskOutcome(None, step.logical_date, task.task_id, "manual", "outside Airflow: run it by hand")
    state = (states or {}).get(task.task_id)
    same_dag_run = (runs.c.dag_run_id == step.dag_run_id if step.dag_run_id
                    else runs.c.logical_date == step.logical_date)
    with store.connect() as conn:
        rows = conn.execute(sa.select(runs.c.run_id, runs.c.state, runs.c.skipped).where(
            runs.c.dag_id == step.dag_id, runs.c.task_id == task.task_id, same_dag_run,
            runs.c.job_name != f"{step.dag_id}.{task.task_id}", runs.c.start_time >= normalise_time(since),
        ).order_by(runs.c.start_time)).mappings().all()
    ids = [r["run_id"] for r in rows]
    done = [r for r in rows if r["state"] == "COMPLETE"]

    def outcome(kind: str, reason: str) -> TaskOutcome:
        return TaskOutcome(step.dag_id, step.logical_date, task.task_id, kind, reason, ids, state, step.dag_run_id)

    if state == "success" and done and all(r["skipped"] for r in done):
        return outcome("skipped", SKIP_REASON)
    if state == "success":
        return outcome("executed", task.reason)
    if state is None:
        return outcome("not-run", "an earlier step stopped the backfill")
    return outcome("failed", f"Airflow state {state}")


def run_backfill(plan: BackfillPlan, cfg: PipelineConfig, store: LineageStore, options: ExecutionOptions,
                 progress: Callable[[str], None]) -> tuple[BackfillReport, Path | None]:
    """The executor ``lineage backfill`` is given (``lineage.backfill.BackfillExecutor``): the plan
    through a running Airflow's API with ``--airflow-url`` (token in ``$AIRFLOW_API_TOKEN``, or
    ``--airflow-user`` with ``$AIRFLOW_API_PASSWORD``), else embedded; the report written."""
    if options.airflow_url:
        runner: StepRunner = AirflowApiRunner(options.airflow_url, os.environ.get("AIRFLOW_API_TOKEN"),
                                              options.airflow_user, os.environ.get("AIRFLOW_API_PASSWORD"))
    else:
        runner = EmbeddedRunner(cfg)
    report = execute(plan, cfg, store, runner, progress=progress)
    return report, write_report(cfg, report)


def write_report(cfg: PipelineConfig, report: BackfillReport) -> Path | None:
    """The report as JSON under ``<data_root>/reports/backfill/`` (local data roots only)."""
    if "://" in cfg.data_root:
        return None
    folder = Path(cfg.data_root) / "reports" / "backfill"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"backfill-{report.started_at.replace(':', '').replace('+', 'Z')[:17]}.json"
    path.write_text(json.dumps(report.to_json(), indent=2))
    return path


def _state(state: Any) -> str:
    return str(getattr(state, "value", state))
