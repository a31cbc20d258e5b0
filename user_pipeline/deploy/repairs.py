"""Three upstream fixes, each followed by the backfill it calls for, through a running deployment
(or the embedded runner, for comparison): the repair story of docs/architecture.md#backfill as commands.

    python -m user_pipeline.deploy repair spam_labels id_pairs raw_drop [--ds DATE]

Each fix is what a user does after finding an upstream defect:

1. commit the corrected version with its DAG (``spam_labels_fix``: accept the top label-noise
   candidates; ``fix_<dataset>``: a corrected file), whose asset event makes the DAG scheduled on
   it (``spam_filter``, ``id_matcher``) train a candidate on the new version;
2. the reviewed config change: move the pin to the new version (the deployment's config, which
   every task reads when it starts);
3. ``lineage backfill --fixed DATASET`` through the same Airflow (the user's own command, run as
   a child process), then ``lineage check --strict``.

``spam_labels`` and ``id_pairs`` fix reference data every date read; ``raw_drop`` re-sends one
date's partner drop without its last records (withdrawn by the partner), so only that date (and
a later date's ID-merge that anchors on it) is recomputed. What each backfill did is measured
against what it had to do and against Airflow's own "clear downstream" (``Outcome``); the
benchmark (``bench/backfill.py``) and the deployment's end-to-end test (tests/e2e/deployment/test_repairs.py)
both run this module.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from lineage.catalog import Catalog
from user_pipeline.config import PipelineConfig, load_config
from user_pipeline.steps.registry import ID_MATCHER, LABELS_FIX, SPAM_FILTER, fix_dag, steps

LABELS, PAIRS, PARTNER = "reference.spam_labels", "reference.id_pairs", "raw.users_partner"
FIXES = ("spam_labels", "id_pairs", "raw_drop")


@dataclass
class Fix:
    """One upstream fix, ready to commit: the DAG that commits it and its params, the DAG its
    asset event triggers, and the config pin the reviewed change moves."""

    name: str
    dataset: str
    dag_id: str
    conf: dict[str, Any]
    retrains: str | None = None
    pin: tuple[str, str, str] | None = None  # (section, key, new version)


def prepare(name: str, cfg: PipelineConfig, folder: Path, ds: str | None = None, new_version: str = "v2") -> Fix:
    """The fix ``name`` (one of ``FIXES``) for the data of ``cfg``, its corrected file written under ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if name == "spam_labels":
        conf = {"new_version": new_version, "labels_version": cfg.spam.labels_version, "accept_top": 60}
        return Fix(name, LABELS, LABELS_FIX, conf, SPAM_FILTER, ("spam", "labels_version", new_version))
    if name == "id_pairs":
        path = corrected_pairs(Catalog(cfg), cfg.id_merge.pairs_version, folder / "id_pairs.parquet")
        conf = {"file": str(path), "new_version": new_version, "reason": "relabelled pairs"}
        return Fix(name, PAIRS, fix_dag(PAIRS), conf, ID_MATCHER, ("id_merge", "pairs_version", new_version))
    if name == "raw_drop":
        if ds is None:
            raise ValueError("a raw drop fix needs the date whose drop is re-sent")
        path = drop_without_last_records(Catalog(cfg), ds, folder / ds / "users_partner.csv")
        return Fix(name, PARTNER, fix_dag(PARTNER), {"file": str(path), "ds": ds, "reason": "records withdrawn"})
    raise ValueError(f"unknown fix {name!r}: one of {', '.join(FIXES)}")


def corrected_pairs(catalog: Catalog, version: str, path: Path, relabel: int = 40) -> Path:
    """The pairs of ``version`` with the labels of the ``relabel`` non-matching pairs most alike by
    name corrected to matches: what a relabelling round of the hardest pairs sends back."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    table = catalog.read_table(PAIRS, version)
    alike = pc.and_(pc.equal(table["left_last_name"], table["right_last_name"]),
                    pc.equal(table["is_match"], 0))
    chosen = set(pc.indices_nonzero(alike).to_pylist()[:relabel])
    labels = [1 if i in chosen else v for i, v in enumerate(table["is_match"].to_pylist())]
    index = table.schema.get_field_index("is_match")
    pq.write_table(table.set_column(index, table.schema.field(index), [labels]), path)
    return path


def drop_without_last_records(catalog: Catalog, ds: str, path: Path, withdrawn: int = 10) -> Path:
    """The committed partner drop of ``ds`` without its last ``withdrawn`` records. Read as
    latin-1, which maps every byte to one character, so the other records keep their bytes
    whatever the drop's encoding (its delimiters and quotes are ASCII)."""
    (uri,) = catalog.files(PARTNER, ds)
    with catalog.fs.open(catalog.fs_path(uri), "rb") as fh:
        text = fh.read().decode("latin-1")
    records = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=";", lineterminator="\r\n" if "\r\n" in text else "\n").writerows(
        records[:-withdrawn])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(out.getvalue().encode("latin-1"))
    return path


def move_pin(config_path: str, section: str, key: str, value: str) -> None:
    """The reviewed config change, made to the config the deployment's tasks read."""
    raw = yaml.safe_load(Path(config_path).read_text())
    raw[section][key] = value
    Path(config_path).write_text(yaml.safe_dump(raw, sort_keys=False))


@dataclass
class Outcome:
    """What one fix's backfill did, beside what it had to do and what Airflow's clear would do."""

    fix: str
    commit_seconds: float  # the fix's DAG and the candidate it triggered
    backfill_seconds: float
    exit_code: int
    check_exit_code: int
    plan: dict[str, Any]
    report: dict[str, Any]
    needed: list[str] = field(default_factory=list)  # tasks whose inputs changed: "dag_run task"
    clear_downstream: int = 0  # tasks Airflow's clear (downstream) of the first affected task re-runs

    def tasks(self, outcome: str | None = None) -> list[str]:
        """Planned tasks ("<date or run> <task>"), or those with this outcome."""
        return [f"{_run_label(t)} {t['task_id']}" for t in self.report.get("tasks", [])
                if outcome is None or t["outcome"] == outcome]

    def summary(self) -> dict[str, Any]:
        counts = self.report.get("counts", {})
        return {"fix": self.fix, "planned": self.report.get("planned", 0), "executed": counts.get("executed", 0),
                "skipped": counts.get("skipped", 0), "needed": len(self.needed),
                "clear_downstream": self.clear_downstream, "commit_s": round(self.commit_seconds, 1),
                "backfill_s": round(self.backfill_seconds, 1), "complete": self.report.get("complete", False),
                "check_strict": self.check_exit_code}


class Driver:
    """Commits a fix through some Airflow: the deployment's scheduler or the embedded runner."""

    airflow_args: list[str] = []

    def commit(self, fix: Fix) -> None:
        raise NotImplementedError


class DeploymentDriver(Driver):
    """Through the deployment's REST API and scheduler."""

    def __init__(self, api: Any, url: str, user: str, timeout_s: float = 900.0):
        self.api, self.timeout_s = api, timeout_s
        self.airflow_args = ["--airflow-url", url, "--airflow-user", user]

    def commit(self, fix: Fix) -> None:
        since = datetime.now(UTC)
        for dag_id in (fix.dag_id, fix.retrains):
            if dag_id:
                self.api.set_paused(dag_id, False)
        result = self.api.wait(fix.dag_id, self.api.trigger(fix.dag_id, None, fix.conf), self.timeout_s)
        if result.state != "success":
            raise RuntimeError(f"{fix.dag_id} {result.run_id}: {result.state} ({result.tasks})")
        if fix.retrains:
            run_id = self._asset_triggered_run(fix.retrains, since)
            result = self.api.wait(fix.retrains, run_id, self.timeout_s)
            if result.state != "success":
                raise RuntimeError(f"{fix.retrains} {run_id} (triggered by the fix's asset event): {result.state}")

    def _asset_triggered_run(self, dag_id: str, since: datetime) -> str:
        """The run of ``dag_id`` the fix's asset event made (filtered here: the list's own filters
        changed between Airflow 3 releases)."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            made = self.api.call("GET", f"/api/v2/dags/{dag_id}/dagRuns", params={"limit": 1000})["dag_runs"]
            triggered = [r for r in made if r["run_type"] == "asset_triggered"
                         and datetime.fromisoformat(r["run_after"]) >= since]
            if triggered:
                return max(triggered, key=lambda r: r["run_after"])["dag_run_id"]
            time.sleep(1)
        raise TimeoutError(f"the fix's asset event triggered no run of {dag_id} in 120 s")


class EmbeddedDriver(Driver):
    """Through ``dag.test`` (``python -m user_pipeline.runner.local --trigger``), which runs the
    asset-triggered DAG after the fix."""

    def __init__(self, env: dict[str, str]):
        self.env = env

    def commit(self, fix: Fix) -> None:
        done = subprocess.run([sys.executable, "-m", "user_pipeline.runner.local", "--trigger", fix.dag_id,
                               "--conf", json.dumps(fix.conf)], env=self.env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{fix.dag_id}: exit {done.returncode}\n{done.stdout[-2000:]}{done.stderr[-2000:]}")


def repair(fix: Fix, driver: Driver, config_path: str, env: dict[str, str]) -> Outcome:
    """Commit ``fix``, move its pin, then ``lineage backfill --fixed`` and ``lineage check --strict``."""
    env = {**env, "PIPELINE_CONFIG": config_path}
    started = time.perf_counter()
    driver.commit(fix)
    if fix.pin:
        move_pin(config_path, *fix.pin)
    committed = time.perf_counter()
    lineage = [sys.executable, "-m", "user_pipeline.runner.lineage_command"]
    done = subprocess.run([*lineage, "backfill", "--fixed", fix.dataset, "--json", *driver.airflow_args],
                          env=env, capture_output=True, text=True)
    backfilled = time.perf_counter()
    documents = _json_documents(done.stdout)
    if not documents:
        raise RuntimeError(f"lineage backfill printed no plan (exit {done.returncode}): {done.stderr[-3000:]}")
    plan, report = documents[0], (documents[1] if len(documents) > 1 else {})
    check = subprocess.run([*lineage, "check", "--strict"], env=env, capture_output=True, text=True)
    outcome = Outcome(fix.name, committed - started, backfilled - committed, done.returncode, check.returncode,
                      plan, report)
    outcome.needed = needed_tasks(load_config(config_path), report)
    outcome.clear_downstream = clear_downstream(plan)
    if done.returncode != 0 or check.returncode != 0:
        outcome.report.setdefault("stderr", done.stderr[-3000:])
        outcome.report["check_output"] = check.stdout[-3000:] + check.stderr[-2000:]
    return outcome


def needed_tasks(cfg: PipelineConfig, report: dict[str, Any]) -> list[str]:
    """The minimal set: the planned tasks that had to run, because the input versions their job
    read in the backfill differ from what its previous run in the same DAG run read (anything
    else reproduces its previous result). A content-addressed skip records the inputs it
    compared, so a task that skipped counts when its inputs changed (a missed recomputation)."""
    import sqlalchemy as sa

    from lineage.store import LineageStore, run_inputs, runs

    def inputs(conn: Any, run_id: str) -> set[tuple[str, str, str]]:
        rows = conn.execute(sa.select(run_inputs.c.dataset, run_inputs.c.partition, run_inputs.c.version)
                            .where(run_inputs.c.run_id == run_id))
        return {tuple(r) for r in rows}

    needed = []
    with LineageStore.from_config(cfg).connect() as conn:
        for task in report.get("tasks", []):
            if not task.get("job_runs"):
                continue
            first = conn.execute(sa.select(runs.c.job_name, runs.c.start_time)
                                 .where(runs.c.run_id.in_(task["job_runs"])).order_by(runs.c.start_time)).first()
            previous = first and conn.execute(
                sa.select(runs.c.run_id).where(runs.c.job_name == first.job_name, runs.c.task_id == task["task_id"],
                                               runs.c.dag_run_id == task.get("dag_run_id"),
                                               runs.c.state == "COMPLETE", runs.c.start_time < first.start_time)
                .order_by(runs.c.start_time.desc())).first()
            if previous is None or inputs(conn, task["job_runs"][-1]) != inputs(conn, previous.run_id):
                needed.append(f"{_run_label(task)} {task['task_id']}")
    return needed


def clear_downstream(plan: dict[str, Any]) -> int:
    """Tasks Airflow's "clear, downstream" re-runs when a user clears, in every DAG run the plan
    touches, the first task the plan names and everything downstream of it in the DAG."""
    total = 0
    for step in plan.get("steps", []):
        dag_steps = steps(step["dag_id"]) if step.get("dag_id") else []
        if not dag_steps:
            total += len(step["task_ids"])
            continue
        order = [s.name for s in dag_steps]
        first = min(step["task_ids"], key=order.index)
        reached = {first}
        for s in dag_steps:  # the registry lists a DAG's steps in an order its edges follow
            if any(a in reached for a in s.after):
                reached.add(s.name)
        total += len(reached)
    return total


def _run_label(task: dict[str, Any]) -> str:
    return (task.get("logical_date") or "")[:10] or task.get("dag_run_id") or "-"


def _json_documents(text: str) -> list[dict[str, Any]]:
    """The JSON documents ``--json`` printed one after the other; other lines (a job's own output
    under the embedded runner, which may hold braces) are passed over."""
    decoder, found, end = json.JSONDecoder(), [], 0
    for start in (m.start() for m in re.finditer(r"^\{", text, re.MULTILINE)):
        if start < end:
            continue  # inside the document just read
        try:
            document, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            continue
        found.append(document)
    return found


def main(names: list[str], config: str | None, ds: str | None, embedded: bool = False) -> int:
    """``python -m user_pipeline.deploy repair``: the fixes in order, a table of what each did."""
    from user_pipeline.airflow_api import AirflowApi
    from user_pipeline.deploy import deployment as dep

    if embedded:
        cfg = load_config(config)
        driver: Driver = EmbeddedDriver({**os.environ, "PIPELINE_CONFIG": cfg.source_path})
    else:
        deployment = dep.load(config)
        if deployment is None:
            print("no deployment is recorded for this data root (python -m user_pipeline.deploy up)", file=sys.stderr)
            return 1
        cfg = load_config(deployment.config_path)
        api = AirflowApi(deployment.api_url, deployment.username, deployment.password())
        driver = DeploymentDriver(api, deployment.api_url, deployment.username)
        os.environ["AIRFLOW_API_PASSWORD"] = deployment.password()
    ds = ds or (Catalog(cfg).committed(PARTNER) or [None])[-1]
    ok = True
    for name in names:
        fix = prepare(name, load_config(cfg.source_path), Path(cfg.data_root) / "repairs", ds)
        outcome = repair(fix, driver, cfg.source_path, dict(os.environ))
        print(json.dumps(outcome.summary()), flush=True)
        ok = ok and outcome.exit_code == 0 and outcome.check_exit_code == 0
    return 0 if ok else 1
