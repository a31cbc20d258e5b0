"""The DAG file parses fast, without heavy imports, into the expected chain of steps and gates."""

import json
import os
import subprocess
import sys

PROBE = """
import json, sys, time
start = time.perf_counter()
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder="dags")
dag = bag.dags["user_pipeline"]
spam = bag.dags["spam_filter"]
fix = bag.dags["spam_labels_fix"]
matcher = bag.dags["id_matcher"]
fixes = {d: bag.dags[d] for d in bag.dags if d.startswith("fix_")}
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "order": [t.task_id for t in dag.topological_sort()],
    "upstream": {t.task_id: sorted(t.upstream_task_ids) for t in dag.tasks},
    "spam_upstream": {t.task_id: sorted(t.upstream_task_ids) for t in spam.tasks},
    "spam_schedule": str(spam.schedule),
    "matcher_upstream": {t.task_id: sorted(t.upstream_task_ids) for t in matcher.tasks},
    "matcher_schedule": str(matcher.schedule),
    "fix_outlets": [str(o) for t in fix.tasks for o in t.outlets],
    "fix_params": sorted(fix.params),
    "upstream_fixes": {d: {"outlets": [o.name for t in f.tasks for o in t.outlets], "params": sorted(f.params),
                           "tasks": [t.task_id for t in f.tasks], "schedule": str(f.schedule)}
                       for d, f in fixes.items()},
    "matcher_asset": [a.name for a in matcher.schedule.iter_assets()] if hasattr(matcher.schedule, "iter_assets")
                     else str(matcher.schedule),
    "heavy": [m for m in ("apache_beam", "tensorflow", "tensorflow_transform") if m in sys.modules],
    "catchup": dag.catchup,
    "teardowns": [t.task_id for t in dag.tasks if t.is_teardown],
}))
"""


def test_dag_parses_into_the_step_chain_without_heavy_imports(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "PIPELINE"))}
    env.update(AIRFLOW_HOME=str(tmp_path), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__CORE__DAGS_FOLDER=os.path.abspath("dags"))
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    parsed = json.loads(done.stdout.strip().splitlines()[-1])
    assert parsed["errors"] == {}
    assert parsed["order"][0] in {"ingest", "gate_job_outcomes"} and parsed["order"][-1] == "run_report"
    assert parsed["upstream"] == {
        "ingest": [],
        "gate_users_ingested": ["ingest"],
        "gate_job_outcomes": [],
        "despam": ["gate_users_ingested"],
        "gate_users_despammed": ["despam"],
        "id_merge": ["gate_users_despammed"],
        "gate_users_merged": ["id_merge"],
        "clean": ["gate_users_merged"],
        "gate_users_clean": ["clean"],
        "statistics_users_clean": ["gate_users_clean"],
        "preprocess": ["gate_job_outcomes", "statistics_users_clean"],
        "gate_users_transformed": ["preprocess"],
        "train": ["gate_users_transformed"],
        "evaluate": ["train"],
        "training_serving_skew": ["train"],
        "run_report": ["evaluate", "training_serving_skew"],
    }
    assert parsed["teardowns"] == ["run_report"]
    assert parsed["spam_upstream"] == {
        "gate_spam_labels": [], "train_spam_filter": ["gate_spam_labels"],
        "label_agreement": ["train_spam_filter"], "label_noise": ["train_spam_filter"],
    }
    assert "reference.spam_labels" in parsed["spam_schedule"]
    assert parsed["matcher_upstream"] == {"gate_id_pairs": [], "train_id_matcher": ["gate_id_pairs"]}
    assert "reference.id_pairs" in parsed["matcher_schedule"]
    # The labels fix announces the new version on the asset the spam filter is scheduled on.
    assert len(parsed["fix_outlets"]) == 1 and "reference.spam_labels" in parsed["fix_outlets"][0]
    assert parsed["fix_params"] == ["accept_top", "decisions", "labels_version", "new_version", "reviews"]
    # One hand-triggered fix DAG per upstream dataset, announcing it on the asset DAGs are scheduled on.
    fixes = parsed["upstream_fixes"]
    assert sorted(fixes) == ["fix_raw_job_outcomes", "fix_raw_users_mobile", "fix_raw_users_partner",
                             "fix_raw_users_web", "fix_reference_id_pairs", "fix_reference_spam_label_spec",
                             "fix_reference_spam_labels"]
    assert fixes["fix_reference_id_pairs"] == {"outlets": ["reference.id_pairs"], "tasks": ["fix"], "schedule": "None",
                                               "params": ["file", "new_version", "reason", "replaces"]}
    assert fixes["fix_raw_users_partner"] == {"outlets": ["raw.users_partner"], "tasks": ["fix"], "schedule": "None",
                                              "params": ["ds", "file", "reason"]}
    assert "reference.id_pairs" in str(parsed["matcher_asset"])
    assert parsed["heavy"] == []
    assert parsed["catchup"] is False
