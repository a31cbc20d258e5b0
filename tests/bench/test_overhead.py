"""The overhead benchmark reads task and job times from a lineage log the way the runner writes it."""

from __future__ import annotations

import json

from bench.overhead import task_times


def _event(run_id, job, kind, at, parent=None):
    facets = {"parent": {"run": {"runId": parent}, "job": {"namespace": "n", "name": "p"}}} if parent else {}
    return {"eventType": kind, "eventTime": f"2026-01-01T00:00:{at:06.3f}+00:00",
            "run": {"runId": run_id, "facets": facets}, "job": {"namespace": "n", "name": job}}


def test_task_wall_job_work_and_the_overhead_before_and_after(tmp_path):
    log = tmp_path / "events.jsonl"
    events = [
        _event("t1", "user_pipeline.clean", "START", 0.0),
        _event("j1", "beam_jobs.clean", "START", 1.5, parent="t1"),
        _event("j1", "beam_jobs.clean", "COMPLETE", 4.0, parent="t1"),
        _event("t1", "user_pipeline.clean", "COMPLETE", 4.75),
        # A task whose job records no lineage run (a report): wall only.
        _event("t2", "user_pipeline.run_report", "START", 5.0),
        _event("t2", "user_pipeline.run_report", "COMPLETE", 6.0),
        # Another DAG's task and a task that never ended are not counted.
        _event("t3", "spam_filter.train_spam_filter", "START", 0.0),
        _event("t3", "spam_filter.train_spam_filter", "COMPLETE", 9.0),
        _event("t4", "user_pipeline.evaluate", "START", 7.0),
    ]
    log.write_text("\n".join(json.dumps(e) for e in events) + "\n")

    rows = task_times(log, "user_pipeline")

    assert [r["task"] for r in rows] == ["clean", "run_report"]
    clean, report = rows
    assert clean["job"] == "beam_jobs.clean"
    assert (clean["wall"], clean["work"], clean["overhead"]) == (4.75, 2.5, 2.25)
    assert (clean["before"], clean["after"]) == (1.5, 0.75)
    assert report["wall"] == 1.0 and report["work"] is None and report["overhead"] is None


def test_a_second_run_of_the_same_date_is_read_from_its_own_events(tmp_path):
    """The provider derives task run ids from the date and try: a re-run re-uses them."""
    from datetime import datetime

    log = tmp_path / "events.jsonl"
    events = [
        _event("t1", "user_pipeline.clean", "START", 0.0),
        _event("j1", "beam_jobs.clean", "START", 1.0, parent="t1"),
        _event("j1", "beam_jobs.clean", "COMPLETE", 5.0, parent="t1"),
        _event("t1", "user_pipeline.clean", "COMPLETE", 6.0),
        _event("t1", "user_pipeline.clean", "START", 10.0),
        _event("j2", "beam_jobs.clean", "START", 11.0, parent="t1"),
        _event("j2", "beam_jobs.clean", "COMPLETE", 11.5, parent="t1"),
        _event("t1", "user_pipeline.clean", "COMPLETE", 12.0),
    ]
    log.write_text("\n".join(json.dumps(e) for e in events) + "\n")

    [again] = task_times(log, "user_pipeline", since=datetime.fromisoformat("2026-01-01T00:00:09+00:00"))

    assert (again["wall"], again["work"], again["before"], again["after"]) == (2.0, 0.5, 1.0, 0.5)
