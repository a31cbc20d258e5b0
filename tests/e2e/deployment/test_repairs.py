"""Repair after an upstream fix, through the real deployment (issue 17's end-to-end test).

On the shared deployment and its two dates (tests/e2e/deployment/conftest.py), three fixes, each committed
through its DAG (the asset event trains a candidate), its pin moved, then ``lineage backfill
--fixed DATASET --airflow-url ...`` through the scheduler and ``lineage check --strict``
(``user_pipeline.deploy.repairs``, what ``python -m user_pipeline.deploy repair`` runs):

(a) the spam labels: de-spam and what follows it, on both dates;
(b) the ID-pair labels: the plan starts at ID-merge and leaves ingest and de-spam alone;
(c) one date's partner drop re-sent: only that date is recomputed.

Runs after tests/e2e/deployment/test_deployment.py (file order), whose tests read the two dates as the
scheduler first left them.
"""

from __future__ import annotations

import pytest

from user_pipeline.deploy import repairs
from user_pipeline.steps.registry import DAILY, ID_MATCHER, SPAM_FILTER, steps

MODEL_DAGS = (SPAM_FILTER, ID_MATCHER)
pytestmark = [pytest.mark.e2e, pytest.mark.deployment, pytest.mark.timeout(2400)]


def upstream_of(task: str, dag: str = DAILY) -> set[str]:
    """The tasks ``task`` depends on in its DAG, transitively (from the registry's edges)."""
    after = {s.name: set(s.after) for s in steps(dag)}
    found, todo = set(), list(after[task])
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo.extend(after[name])
    return found


@pytest.fixture(scope="module")
def repaired(deployed_pipeline, tmp_path_factory):
    """The three fixes in turn on the deployment, each with its backfill; their outcomes by name."""
    deployed = deployed_pipeline.deployed
    d = deployed.deployment
    driver = repairs.DeploymentDriver(deployed.api(), d.api_url, d.username)
    env = {**deployed.env, "AIRFLOW_API_PASSWORD": d.password()}
    folder = tmp_path_factory.mktemp("fixes")
    outcomes = {}
    for name in repairs.FIXES:
        fix = repairs.prepare(name, _fresh(d.config_path), folder,
                              ds=deployed_pipeline.dates[-1])
        outcomes[name] = repairs.repair(fix, driver, d.config_path, env)
        print(f"\nrepair {outcomes[name].summary()}")
    return deployed_pipeline, outcomes


def _fresh(config_path: str):
    from user_pipeline.config import load_config

    return load_config(config_path)  # with the pins the fixes before moved


def _assert_repaired(outcome: repairs.Outcome) -> None:
    """Exit 0, every planned task executed or skipped, nothing current derived from the bad
    versions, and ``lineage check --strict`` clean."""
    assert outcome.exit_code == 0, (outcome.report.get("stopped"), outcome.report.get("still_current"),
                                    outcome.report.get("stderr"))
    assert outcome.report["complete"] and outcome.report["still_current"] == []
    assert set(outcome.tasks()) == set(outcome.tasks("executed")) | set(outcome.tasks("skipped"))
    assert outcome.check_exit_code == 0, outcome.report.get("check_output")


def _daily_tasks(outcome: repairs.Outcome) -> dict[str, set[str]]:
    """The planned tasks of the daily DAG, by date. A model DAG's run in the plan (the one that
    trained on the bad version) only skips: the fix's asset event already trained on the new one."""
    by_date: dict[str, set[str]] = {}
    for task in outcome.report["tasks"]:
        if task["dag_id"] != DAILY:
            assert task["dag_id"] in MODEL_DAGS and task["outcome"] == "skipped", task
            continue
        by_date.setdefault(task["logical_date"][:10], set()).add(task["task_id"])
    return by_date


def _assert_starts_at_on_every_date(repaired, fix: str, first: str) -> None:
    """The fix's backfill is clean, plans ``first`` and nothing upstream of it on every date, and
    ``first`` itself executed on each."""
    pipeline, outcomes = repaired
    outcome = outcomes[fix]
    _assert_repaired(outcome)
    by_date = _daily_tasks(outcome)
    assert sorted(by_date) == pipeline.dates
    for tasks in by_date.values():
        assert first in tasks and not tasks & upstream_of(first)
    assert {f"{ds} {first}" for ds in pipeline.dates} <= set(outcome.tasks("executed"))


def test_a_spam_labels_fix_recomputes_despam_onwards_on_both_dates(repaired):
    _assert_starts_at_on_every_date(repaired, "spam_labels", "despam")


def test_an_id_pairs_fix_starts_at_id_merge_and_leaves_ingest_and_despam_alone(repaired):
    _assert_starts_at_on_every_date(repaired, "id_pairs", "id_merge")


def test_a_corrected_drop_recomputes_only_its_date(repaired):
    pipeline, outcomes = repaired
    outcome = outcomes["raw_drop"]
    _assert_repaired(outcome)
    assert list(_daily_tasks(outcome)) == [pipeline.dates[-1]]
    assert f"{pipeline.dates[-1]} ingest" in outcome.tasks("executed")


def test_each_backfill_ran_no_more_than_it_had_to_and_no_more_than_clearing_downstream(repaired):
    """Every executed task is one whose inputs changed (from the lineage); a task whose inputs
    changed but that skipped is a model DAG's, whose output the asset-triggered candidate already
    committed; and the plan is never larger than Airflow's "clear downstream" of the first
    affected task."""
    _, outcomes = repaired
    model_tasks = {s.name for dag in MODEL_DAGS for s in steps(dag)}
    for outcome in outcomes.values():
        executed, needed = set(outcome.tasks("executed")), set(outcome.needed)
        assert executed <= needed, (outcome.fix, executed - needed)
        assert {label.split(" ", 1)[1] for label in needed - executed} <= model_tasks, (outcome.fix, needed - executed)
        assert len(outcome.tasks()) <= outcome.clear_downstream, outcome.fix
