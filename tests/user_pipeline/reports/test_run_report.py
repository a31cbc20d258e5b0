"""The run report lists each daily dataset with its change against yesterday and draws the lineage."""

import json
import re
from pathlib import Path

import pyarrow as pa
import pytest

from lineage.catalog import Catalog, Producer
from user_pipeline.reports import run_report

RAW, CLEAN = "staging.users_ingested", "curated.users_clean"


def _commit(catalog, dataset, ds, rows, inputs=()):
    table = pa.table({"user_id": [f"u{i}" for i in range(rows)], "age": list(range(rows))})
    return catalog.write_table(dataset, ds, table, producer=Producer(f"job.{dataset}", f"run-{dataset}-{ds}"),
                               inputs=list(inputs), code_version="c1")


def test_the_page_shows_versions_row_changes_missing_steps_and_lineage(cfg):
    catalog = Catalog(cfg)
    _commit(catalog, RAW, "2026-01-01", 100)
    _commit(catalog, CLEAN, "2026-01-01", 100)
    raw = _commit(catalog, RAW, "2026-01-02", 150)
    clean = _commit(catalog, CLEAN, "2026-01-02", 120, inputs=[raw.ref])

    page = Path(run_report.write(cfg, "2026-01-02"))

    text = page.read_text()
    data = json.loads(re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.S)
                      .group(1))
    assert data["datasets"][RAW] == {"version": raw.version, "rows": 150, "rows_change": 0.5, "gate": None}
    assert data["datasets"][CLEAN]["rows_change"] == pytest.approx(0.2)
    assert data["datasets"]["features.users_transformed"]["version"] is None  # not committed: listed, not hidden
    assert "not committed" in text
    # The lineage picture: the clean version, the run that wrote it and the raw version it read.
    svg = text[text.index("<svg"):text.index("</svg>")]
    assert clean.version[:8] in svg and raw.version[:8] in svg and f"job.{CLEAN}" in svg
    assert (page.parent / run_report.CHART).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_first_date_has_no_change_figures(cfg):
    catalog = Catalog(cfg)
    _commit(catalog, RAW, "2026-01-01", 10)
    statuses = {s.dataset: s for s in run_report.collect(cfg, "2026-01-01")}
    assert statuses[RAW].manifest.row_count == 10 and statuses[RAW].rows_change is None
    assert statuses[CLEAN].manifest is None


def test_the_report_job_records_what_the_page_shows_as_its_lineage_inputs(cfg, memory_lineage):
    """What brings the page into a backfill plan: its run read every version it shows (the date's
    and the previous partitions'), and wrote nothing."""
    from lineage.emit import LineageEmitter

    catalog = Catalog(cfg)
    raw1 = _commit(catalog, RAW, "2026-01-01", 100)
    raw2 = _commit(catalog, RAW, "2026-01-02", 150)
    clean2 = _commit(catalog, CLEAN, "2026-01-02", 120, inputs=[raw2.ref])
    client, transport = memory_lineage
    outcome = run_report.JOB.run(["--ds", "2026-01-02"], cfg=cfg, emitter=LineageEmitter(cfg, client=client))

    start, complete = transport.events
    assert (start.eventType.value, complete.eventType.value) == ("START", "COMPLETE")
    read = {(i.name, i.facets["partition"].value, i.facets["version"].datasetVersion) for i in start.inputs}
    assert read == {(RAW, "2026-01-02", raw2.version), (RAW, "2026-01-01", raw1.version),
                    (CLEAN, "2026-01-02", clean2.version)}
    assert complete.outputs == [] and outcome.outputs == [] and not outcome.skipped
    assert f"<code>{raw2.version}</code>" in Path(outcome.summary).read_text()  # the page shows what was read
