import argparse
from pathlib import Path

import pyarrow as pa
import pytest
from openlineage.client.event_v2 import RunState

from lineage.catalog import Catalog, PartitionRef, Producer
from lineage.emit import LineageEmitter, ParentRun, step_run


def _parent_args(**extra):
    parser = argparse.ArgumentParser()
    ParentRun.add_args(parser)
    return parser.parse_args([
        "--ol_parent_id", "airflow-ns/user_pipeline.clean/0190aaaa-0000-7000-8000-000000000001",
        "--ol_root_parent_id", "airflow-ns/user_pipeline/0190aaaa-0000-7000-8000-000000000002",
        "--dag_run_id", "scheduled__2026-01-01T00:00:00+00:00", "--logical_date", "2026-01-01T00:00:00+00:00",
        "--try_number", "1",
    ])


def test_start_then_complete_with_versions_schema_and_parent(cfg, memory_lineage):
    client, transport = memory_lineage
    emitter = LineageEmitter(cfg, client=client)
    source = PartitionRef("staging.users_ingested", "ds", "2026-01-01", "v-in")
    parent = ParentRun.from_args(_parent_args())
    with step_run(cfg, "beam_jobs.clean", [source], parent=parent, nominal_date="2026-01-01",
                  emitter=emitter) as run:
        manifest = Catalog(cfg).write_table(
            "curated.users_clean", "2026-01-01", pa.table({"id": ["a", "b"]}),
            producer=Producer("beam_jobs.clean", run.run_id), inputs=[source], code_version="c",
        )
        run.add_output(manifest)
    start, complete = transport.events
    assert (start.eventType, complete.eventType) == (RunState.START, RunState.COMPLETE)
    assert start.run.runId == complete.run.runId == run.run_id
    assert start.inputs[0].name == "staging.users_ingested"
    assert start.inputs[0].facets["version"].datasetVersion == "v-in"
    assert start.inputs[0].facets["partition"].value == "2026-01-01"
    out = complete.outputs[0]
    assert out.facets["version"].datasetVersion == manifest.version
    assert out.outputFacets["outputStatistics"].rowCount == 2
    assert [f.name for f in out.facets["schema"].fields] == ["id"]
    parent_facet = start.run.facets["parent"]
    assert parent_facet.job.name == "user_pipeline.clean"
    assert parent_facet.run.runId == "0190aaaa-0000-7000-8000-000000000001"
    assert parent_facet.root.job.name == "user_pipeline"
    assert start.run.facets["airflowDagRun"].taskId == "clean"
    assert start.run.facets["nominalTime"].nominalStartTime == "2026-01-01T00:00:00Z"


def test_an_exception_emits_fail_with_the_error_and_propagates(cfg, memory_lineage):
    client, transport = memory_lineage
    with pytest.raises(ValueError, match="boom"), step_run(
        cfg, "beam_jobs.clean", [], emitter=LineageEmitter(cfg, client=client)
    ):
        raise ValueError("boom")
    assert [e.eventType for e in transport.events] == [RunState.START, RunState.FAIL]
    assert "ValueError: boom" in transport.events[1].run.facets["errorMessage"].message


def test_default_transport_appends_to_the_jsonl_log_under_the_data_root(cfg):
    with step_run(cfg, "beam_jobs.test", []):
        pass
    log = cfg.openlineage_client_config()["transport"]["log_file_path"]
    assert log.startswith(cfg.data_root)
    assert len(Path(log).read_text().splitlines()) == 2


def test_a_skip_reemits_its_outputs_and_says_so_on_the_run(cfg, memory_lineage):
    client, transport = memory_lineage
    source = PartitionRef("staging.users_ingested", "ds", "2026-01-01", "v-in")
    manifest = Catalog(cfg).write_table(
        "curated.users_clean", "2026-01-01", pa.table({"id": ["a"]}), producer=Producer("beam_jobs.clean", "r0"),
        inputs=[source], code_version="c")
    with step_run(cfg, "beam_jobs.clean", [source], emitter=LineageEmitter(cfg, client=client)) as run:
        run.skipped = True
        run.add_output(manifest)
    complete = transport.events[-1]
    assert complete.outputs[0].facets["manifest"].skipped is True
    skip = complete.run.facets["contentAddressedSkip"]
    assert skip.reused == f"curated.users_clean@{manifest.version} [ds=2026-01-01]"
