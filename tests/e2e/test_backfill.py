"""The backfill story end to end on generated data (``user_pipeline.runner.demo_backfill``; slow: marked e2e).

Two dates run with spam labels v1 (the session's ``two_days``, as the runner left them), the
labels are fixed (v2) by the spam_labels_fix DAG, whose asset event retrains the spam filter on
v2, the config pin moves to v2, and ``lineage backfill --fixed reference.spam_labels``
recomputes through ``dag.test``. The new spam filter changes the quarantine of every date;
whether the kept users change is up to the data, and the test asserts that a date whose kept
users did not change skips clean, preprocess and train, and that nothing current derives from v1
afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import sqlalchemy as sa

from lineage import backfill
from lineage.catalog import Catalog
from lineage.store import LineageStore, normalise_time, run_inputs, runs
from tests.e2e.two_days import DATES
from user_pipeline.config import load_config
from user_pipeline.steps import registry

# The fixture runs the fix and the backfill, after the session's two dates: longer than the default timeout.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]

FIX = registry.step("fix_spam_labels", registry.LABELS_FIX)
TRAIN_SPAM_FILTER = registry.step("train_spam_filter", registry.SPAM_FILTER)


@pytest.fixture(scope="module")
def story(two_days):
    """The session's two dates (``two_days``) as the runner left them, then the demo's fix and backfill."""
    two_days.restore()
    config, env, data_root = two_days.config, two_days.env, two_days.data_root

    def snapshot():
        catalog = Catalog(load_config(config))
        return {(d, ds): catalog.require(d, ds).version for ds in DATES
                for d in ("staging.users_despammed", "staging.spam_quarantine", "staging.users_merged",
                          "curated.users_clean")}

    before = snapshot()
    demo = subprocess.run([sys.executable, "-m", "user_pipeline.runner.demo_backfill", "--days", str(len(DATES)),
                           "--skip-pipeline", "--accept-top", "60"], env=env, capture_output=True, text=True,
                          timeout=1800)
    assert demo.returncode == 0, demo.stdout[-5000:] + demo.stderr[-3000:]
    fixed_config = data_root / "demo" / "pipeline.v2.yaml"
    reports = sorted((data_root / "reports" / "backfill").glob("*.json"))
    return {"env": {**env, "PIPELINE_CONFIG": str(fixed_config)}, "cfg": load_config(fixed_config),
            "before": before, "after": snapshot(), "report": json.loads(reports[-1].read_text()),
            "stdout": demo.stdout}


def test_the_plan_retrains_first_and_every_task_is_accounted_for(story):
    report = story["report"]
    tasks = report["tasks"]
    # The fixed labels are gated, then the spam filter retrains, before any date.
    assert [(t["dag_id"], t["task_id"]) for t in tasks[:2]] == [("spam_filter", "gate_spam_labels"),
                                                                 ("spam_filter", "train_spam_filter")]
    assert report["planned"] == report["counts"]["executed"] + report["counts"]["skipped"] == len(tasks)
    assert report["complete"] and report["still_current"] == []
    despam = {t["logical_date"][:10] for t in tasks if t["task_id"] == "despam" and t["outcome"] == "executed"}
    assert despam == set(DATES)
    assert all(t["job_runs"] for t in tasks)  # each outcome is backed by the job's own lineage run


def test_unchanged_branches_are_skipped_and_changed_ones_recomputed(story):
    before, after, report = story["before"], story["after"], story["report"]
    outcome = {(t["logical_date"][:10], t["task_id"]): t["outcome"] for t in report["tasks"]}
    def changed(dataset, ds):
        return before[(dataset, ds)] != after[(dataset, ds)]

    for i, ds in enumerate(DATES):
        # The new model scores every user differently: the quarantine (with scores) changes.
        assert changed("staging.spam_quarantine", ds)
        kept_changed = changed("staging.users_despammed", ds)
        # The gate of an unchanged version reuses its stored result (same data, suite, config).
        assert outcome[(ds, "gate_users_despammed")] == ("executed" if kept_changed else "skipped")
        # ID-merge also reads the earlier dates' canonical users (its anchors).
        merge_inputs_changed = kept_changed or any(changed("staging.users_merged", d) for d in DATES[:i])
        assert outcome[(ds, "id_merge")] == ("executed" if merge_inputs_changed else "skipped")
        merged_changed = changed("staging.users_merged", ds)
        assert merged_changed <= merge_inputs_changed
        assert outcome[(ds, "clean")] == ("executed" if merged_changed else "skipped")
        if not merged_changed:
            assert not changed("curated.users_clean", ds)
    assert report["counts"]["skipped"] > 0


def test_a_second_backfill_finds_nothing_to_do(story):
    cfg = story["cfg"]
    store = LineageStore.from_config(cfg)
    store.ingest_files(cfg.openlineage_log_paths())
    assert backfill.plan_fixed(store, "reference.spam_labels", catalog=Catalog(cfg)).empty
    again = subprocess.run([sys.executable, "-m", "user_pipeline.runner.lineage_command", "backfill", "--fixed",
                            "reference.spam_labels"],
                           env=story["env"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "nothing to recompute" in again.stdout


def test_the_demo_shows_the_impact_before_and_after(story):
    out = story["stdout"]
    assert "backfill plan (fixed)" in out and "check: the impact of the bad versions holds no current artifact" in out
    assert "(0 current," in out  # the last impact


def test_the_labels_fix_triggered_retraining_through_the_asset(story):
    """The fix ran as the spam_labels_fix DAG; its asset event queued spam_filter, which trained on
    v2 before the backfill; the backfill's retraining then reused that model."""
    cfg, report = story["cfg"], story["report"]
    store = LineageStore.from_config(cfg)
    store.ingest_files(cfg.openlineage_log_paths())
    started = normalise_time(report["started_at"])
    with store.connect() as conn:
        fix = conn.execute(sa.select(runs.c.dag_id, runs.c.state).where(runs.c.job_name == FIX.job,
                                                                        runs.c.task_id == FIX.name)).all()
        trained = conn.execute(
            sa.select(runs.c.run_id, runs.c.dag_id, runs.c.start_time).join(
                run_inputs, run_inputs.c.run_id == runs.c.run_id).where(
                runs.c.job_name == TRAIN_SPAM_FILTER.job,
                run_inputs.c.dataset == "reference.spam_labels",
                run_inputs.c.partition == "version=v2", runs.c.skipped.is_(False))).all()
    assert fix == [(FIX.dag, "COMPLETE")]
    assert len(trained) == 1 and trained[0].dag_id == "spam_filter" and trained[0].start_time < started
    outcome = {(t["dag_id"], t["task_id"]): t["outcome"] for t in report["tasks"]}
    assert outcome[("spam_filter", "train_spam_filter")] == "skipped"
