"""The ``lineage`` CLI on the story of test_queries, written to the configured log."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from xml.etree import ElementTree

import pytest

from lineage.cli import main
from tests.lineage.test_queries import story_events, write_log


@pytest.fixture
def log(cfg) -> Path:
    """The story in the configured log of a config on a temporary data root."""
    path = Path(cfg.openlineage_log_paths()[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_log(path, story_events()[0])


def _json(capsys, *argv) -> dict:
    assert main(list(argv) + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_ingest_then_queries_answer_in_json(log, capsys):
    ingested = _json(capsys, "ingest")
    assert ingested["files"][0]["events_new"] == len(log.read_text().splitlines())
    assert ingested["store"]["runs"] > 0
    impact = _json(capsys, "impact", "reference.spam_labels@L1")
    current = {a["version"] for a in impact["artifacts"] if a["status"] == "current" and not a["seed"]}
    assert {"J2", "J3", "M1"} <= current and "J1" not in current
    upstream = _json(capsys, "upstream", "models.job_seeker@J2")
    assert {"L1", "rW1"} <= {a["version"] for a in upstream["artifacts"]}
    assert all(r["logical_date"] and r["dag_run_id"] for r in upstream["runs"])
    downstream = _json(capsys, "downstream", "staging.users_ingested@I3", "--depth", "1")
    assert downstream["truncated"] and {a["version"] for a in downstream["artifacts"]} == {"I3", "S3"}
    versions = _json(capsys, "versions", "curated.users_clean")
    assert [(v["version"], v["current"]) for v in versions if v["partition"] == "ds=2026-01-01"] == [
        ("C1", False), ("C1'", True)]
    check = _json(capsys, "check")
    assert check["problems"] == 0 and len(check["incomplete_runs"]) == 1 and len(check["failed_runs"]) == 1
    # The story's clock ticks one second per event from 2026-03-01T00:00:00Z: 22 events is D1
    # (14) and D2 up to its clean COMPLETE.
    snapshot = _json(capsys, "as-of", "2026-03-01T00:00:22Z", "--dataset", "curated.users_clean")
    assert snapshot["events"] == 22 and [c["version"] for c in snapshot["current"]] == ["C1", "C2"]


def test_queries_ingest_the_configured_log_first(log, capsys):
    # No `lineage ingest` before: the query reads the log itself, and only once.
    assert {a["version"] for a in _json(capsys, "impact", "curated.users_clean@C3")["artifacts"]} == {
        "C3", "F3", "T3", "J3"}
    with log.open("a") as fh:
        fh.write("{broken\n")
    assert main(["versions", "curated.users_clean"]) == 0
    captured = capsys.readouterr()
    assert f"{log}:{len(log.read_text().splitlines())}: malformed" in captured.err
    assert "C1'" in captured.out


def test_backfill_dry_run_prints_the_ordered_plan(log, capsys):
    plan = _json(capsys, "backfill", "reference.spam_labels@L1", "--dry-run")
    steps = plan["airflow_steps"]
    assert [(dag, run, date[:10]) for dag, run, date, _ in steps] == [
        ("user_pipeline", "scheduled__2026-01-02T00:00:00+00:00", "2026-01-02"),
        ("user_pipeline", "scheduled__2026-01-03T00:00:00+00:00", "2026-01-03")]
    assert steps[1][3] == ["train_spam_filter", "despam", "clean", "gate_users_clean", "preprocess", "train"]
    fixed = _json(capsys, "backfill", "--fixed", "reference.spam_labels", "--dry-run", "--no-catalog")
    assert fixed["airflow_steps"] == steps
    assert main(["backfill", "reference.spam_labels@L1", "--dry-run"]) == 0
    table = capsys.readouterr().out
    assert "train_spam_filter → despam → clean → gate_users_clean" in table
    assert "scheduled__2026-01-03T00:00:00+00:00" in table  # the DAG run, by its id


def test_backfill_without_an_executor_is_refused_unless_dry_run(log, capsys):
    # python -m lineage.cli is the product alone: executing needs the pipeline's console script.
    assert main(["backfill", "reference.spam_labels@L1"]) == 2
    captured = capsys.readouterr()
    assert "--dry-run" in captured.err and "user_pipeline.runner.lineage_command" in captured.err
    assert "backfill plan" not in captured.out  # refused before planning


@dataclass
class _Report:
    mode: str
    tasks: list[SimpleNamespace]
    stopped: str | None
    still_current: list[str]

    @property
    def complete(self) -> bool:
        return self.stopped is None and not self.still_current

    def count(self, outcome: str) -> int:
        return sum(t.outcome == outcome for t in self.tasks)

    def to_json(self) -> dict:
        return {"mode": self.mode, "complete": self.complete}


def test_backfill_hands_the_plan_and_the_flags_to_its_executor(log, capsys):
    dry = _json(capsys, "backfill", "reference.spam_labels@L1", "--dry-run")
    calls = []

    def executor(plan, cfg, store, options, progress):
        calls.append((plan, options))
        progress("step 1/2")
        task = SimpleNamespace(dag_id="user_pipeline", dag_run_id="manual__2026-01-02", logical_date="2026-01-02",
                               task_id="despam", outcome="failed", reason="Airflow state failed")
        return _Report("fake", [task], "step 1 failed", ["curated.users_clean@C2"]), None

    argv = ["backfill", "reference.spam_labels@L1", "--airflow-url", "http://airflow:8080", "--airflow-user", "admin"]
    assert main(argv, executor=executor) == 1  # the report is not complete
    (plan, options), = calls
    assert plan.to_json()["airflow_steps"] == dry["airflow_steps"]
    assert (options.airflow_url, options.airflow_user) == ("http://airflow:8080", "admin")
    out = capsys.readouterr().out
    assert "step 1/2" in out and "backfill report (fake)" in out and "planned 1 = 1 failed" in out
    assert "stopped: step 1 failed" in out and "curated.users_clean@C2" in out


@pytest.mark.parametrize("argv, message", [
    (["impact", "curated.users_clen@C1"], "unknown dataset 'curated.users_clen'"),
    (["impact", "curated.users_clean@nope"], "no version 'nope'"),
    (["impact", "curated.users_clean"], "impact needs a version"),
    (["upstream", "curated.users_clean@C"], "ambiguous"),
    (["versions", "no.such"], "unknown dataset"),
    (["backfill", "curated.users_clean", "--dry-run"], "give the bad version"),
    (["impact", "curated.users_clean@C3", "--as-of", "last tuesday"], "not an ISO date/time"),
])
def test_unknown_or_bad_names_exit_2_with_a_clear_message(log, capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_dot_and_mermaid_name_the_expected_nodes(log, capsys):
    assert main(["impact", "curated.users_clean@C2", "--format", "dot"]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith("digraph lineage {") and dot.rstrip().endswith("}")
    for name in ("curated.users_clean", "features.users_transformed", "models.job_seeker", "beam_jobs.preprocess"):
        assert name in dot
    # C2 read 3 times (gate, 2 preprocess), 4 preprocess outputs, read by 2 trains (4), 2 models.
    assert len(re.findall(r"n\d+ -> n\d+;", dot)) == 13
    assert main(["upstream", "models.job_seeker@J3", "--format", "mermaid"]) == 0
    mermaid = capsys.readouterr().out
    assert mermaid.startswith("flowchart LR")
    assert "reference.spam_labels" in mermaid and ":::external" in mermaid and ":::seed" in mermaid


def test_html_page_is_self_contained(log, capsys, tmp_path):
    page = tmp_path / "impact.html"
    assert main(["impact", "reference.spam_labels@L1", "--html", str(page)]) == 0
    text = page.read_text()
    assert "<svg" in text and "models.job_seeker" in text and "superseded" in text
    assert "<script" not in text.lower()
    assert not re.search(r"https?://", text)  # nothing fetched at view time (not even a namespace URL)
    svg = ElementTree.fromstring(text[text.index("<svg"):text.index("</svg>") + len("</svg>")])  # well-formed
    capsys.readouterr()
    graph = _json(capsys, "impact", "reference.spam_labels@L1", "--no-ingest")
    assert len(svg.findall("g")) == len(graph["artifacts"]) + len(graph["runs"])  # one shape per node


def test_console_script_runs(log):
    done = subprocess.run([sys.executable, "-m", "lineage.cli", "impact", "no.such@x"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 2 and "unknown dataset" in done.stderr


def test_ingest_of_a_log_with_poison_lines_stores_the_rest_and_reports_each_with_file_line_and_reason(log, capsys):
    """A line the store would have failed on (issue 20: it made `lineage ingest` store nothing and
    broke every command that ingests the log first) is set aside with its place and reason."""
    good = log.read_text().splitlines()
    committed = next(i for i, line in enumerate(good) if "outputStatistics" in line)
    poison = json.loads(good[committed])
    poison["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] = 2**63
    parent = json.loads(good[committed + 1])
    parent["run"]["facets"]["parent"]["run"]["runId"] = {"not": "a string"}
    lines = [*good[:committed], json.dumps(poison), json.dumps(parent), '{"eventTime": NaN}', *good[committed + 2:]]
    log.write_text("\n".join(lines) + "\n")
    report = _json(capsys, "ingest")["files"][0]
    assert (report["lines"], report["events_new"]) == (len(lines), len(good) - 2)
    first = committed + 1  # the poison's line number
    assert [(i["line"], i["kind"], i["detail"]) for i in report["issues"]] == [
        (first, "malformed", "outputs[0].outputFacets.outputStatistics.rowCount: 9223372036854775808 is outside "
                             "the signed 64-bit integer range"),
        (first + 1, "malformed", "run.facets.parent.run.runId must be a string, not an object ({'not': 'a string'})"),
        (first + 2, "malformed", "eventTime: nan is not a finite number")]
    assert main(["ingest", "--from-start"]) == 0  # the table, and each set-aside line with its file and line
    printed = capsys.readouterr().out.replace("\n", "")
    assert f"{log}:{first}: malformed: outputs[0].outputFacets.outputStatistics.rowCount" in printed
    versions = _json(capsys, "versions", "curated.users_clean")  # queries ingest the log first: still fine
    assert {"C1", "C1'"} <= {v["version"] for v in versions}
    check = _json(capsys, "check")
    assert [(i["line"], i["kind"]) for i in check["malformed_lines"]] == [
        (first, "malformed"), (first + 1, "malformed"), (first + 2, "malformed")]


# -- OpenLineage naming, other producers, check in the production wiring ------------------------------
@pytest.fixture
def mixed_log(cfg) -> tuple[Path, dict[str, str]]:
    """The story and the other producers' day (test_queries.mixed_events) in the configured log."""
    from tests.lineage.test_queries import mixed_events

    events, ids = mixed_events()
    path = Path(cfg.openlineage_log_paths()[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_log(path, events), ids


def test_datasets_are_given_as_namespace_slash_name_or_with_namespace(mixed_log, capsys):
    _, ids = mixed_log
    # A scheme, a port and a name with dots: the store knows where the namespace ends.
    impact = _json(capsys, "impact", "postgres://warehouse.internal:5432/analytics.public.events@12")
    assert [(s["namespace"], s["dataset"], s["version"]) for s in impact["seeds"]] == [
        ("postgres://warehouse.internal:5432", "analytics.public.events", "12")]
    model = [a for a in impact["artifacts"] if a["dataset"] == "analytics.public.users_model"]
    assert [(a["version"], a["synthetic"]) for a in model] == [(f"run:{ids['dbt']}", True)]
    assert [e["inferred"] for e in impact["edges"] if e["target"] == f"r:{ids['dbt']}"] == [True]
    same = _json(capsys, "impact", "analytics.public.events@12", "--namespace", "postgres://warehouse.internal:5432")
    assert same["artifacts"] == impact["artifacts"]
    # A name with "/" in an s3:// namespace, and the version after the last "@".
    down = _json(capsys, "downstream", "s3://partner-drops/events/ds=2026-01-02@3", "--depth", "1")
    assert {a["version"] for a in down["artifacts"]} == {"3", "12"}
    versions = _json(capsys, "versions", "events/ds=2026-01-02", "--namespace", "s3://partner-drops")
    assert [(v["namespace"], v["version"], v["external"]) for v in versions] == [("s3://partner-drops", "3", True)]
    # Tables name the namespace when an answer spans several, and say which reads were inferred.
    assert main(["impact", "curated.users_clean@C2", "--no-ingest"]) == 0
    table = capsys.readouterr().out
    assert "namespace" in table and "postgres://" in table and "(read by time)" in table
    assert "run:" in table


@pytest.mark.parametrize("argv, message", [
    (["versions", "analytics.public.events", "--namespace", "s3://nowhere"],
     "unknown dataset 'analytics.public.events' in namespace 's3://nowhere'"),
    (["impact", "postgres://warehouse.internal:5432/analytics.public.events@99"],
     "analytics.public.events has no version '99'"),
    (["as-of", "2026-03-02T00:00:00Z", "--as-of", "2026-03-01T00:00:00Z"], "as-of takes its time as TIME"),
    (["as-of", "2026-03-02T00:00:00Z", "--namespace", "dbt"], "give --dataset too"),
    (["check", "--as-of", "not a time"], "not an ISO date/time"),
    (["backfill", "curated.users_clean@C2", "--dry-run", "--as-of", "2026-03-01"], "--as-of is not supported"),
])
def test_bad_namespaces_and_refused_flags_exit_2(mixed_log, capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_check_strict_is_clean_when_every_event_also_reached_the_service(cfg, mixed_log, capsys):
    """The README's production wiring: a composite transport sends each event to lineage serve
    (spooled, then indexed into the configured store) and to the JSONL log, which every command
    ingests; an ingest from the start reads it all again."""
    from lineage.spool import Spool, index_spool, spool_folder
    from lineage.store import LineageStore

    log, _ = mixed_log
    lines = log.read_text().splitlines()
    store = LineageStore.from_config(cfg)
    spool = Spool(spool_folder(cfg), cfg.lineage.store_url)
    for line in lines:
        spool.append(json.dumps(json.loads(line), sort_keys=True).encode() + b"\n")
    index_spool(store, Path(spool_folder(cfg)), {})
    spool.close()
    assert store.counts()["events"] == len(lines)
    assert main(["ingest", "--from-start"]) == 0
    capsys.readouterr()
    check = _json(capsys, "check", "--strict")
    assert (check["problems"], check["conflicting_runs"], check["malformed_lines"]) == (0, [], [])
    assert store.counts()["events"] == len(lines)
    assert main(["check", "--strict"]) == 0
    assert "0 problem(s) in the lineage itself" in capsys.readouterr().out


def test_check_as_of_reports_the_lineage_as_it_stood_then(log, capsys):
    # Now: D4's ingest started and never ended; the spam report failed.
    now = _json(capsys, "check")
    assert [r["job_name"] for r in now["incomplete_runs"]] == ["beam_jobs.ingest"] and now["as_of"] is None
    assert [r["job_name"] for r in now["failed_runs"]] == ["beam_jobs.spam_report"]
    # The story's clock ticks a second per event from 2026-03-01T00:00:00Z: the 33rd event is the
    # START of D2's de-spam, whose COMPLETE is the 34th; the report had not run yet.
    before = _json(capsys, "check", "--as-of", "2026-03-01T00:00:33Z")
    assert before["as_of"] == "2026-03-01T00:00:33.000000Z"
    assert [(r["job_name"], r["state"]) for r in before["incomplete_runs"]] == [("beam_jobs.despam", "START")]
    assert before["failed_runs"] == [] and before["problems"] == 0
