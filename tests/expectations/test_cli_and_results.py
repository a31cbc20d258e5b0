"""The command line's exit codes and summaries, and where results are stored."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from bench.gates import tile
from expectations import store
from expectations.gate import main
from expectations.results import GateResult
from lineage.catalog import MANIFEST, Catalog
from tests.expectations.helpers import DAYS, commit, read

DAY = DAYS[1]
CLEAN = "curated.users_clean"


def _events(cfg) -> list[dict]:
    path = cfg.openlineage_client_config()["transport"]["log_file_path"]
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_cli_exits_non_zero_with_a_readable_summary_on_a_critical_failure(gated_cfg, capsys):
    clean = read(gated_cfg, CLEAN, DAY)
    broken = clean.set_column(clean.schema.get_field_index("email"), "email",
                              pa.array(["not-an-email"] * 3 + clean.column("email").to_pylist()[3:], pa.string()))
    commit(gated_cfg, CLEAN, DAY, broken)
    code = main(["--dataset", CLEAN, "--ds", DAY])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith(f"GATE FAILED: {CLEAN} ds={DAY}")
    assert "CRITICAL email.format [column email]: 3 of" in err
    assert "bad values, e.g.: 'not-an-email', 'not-an-email', 'not-an-email'" in err
    assert "rows, e.g.: " in err and "expected matches ^[a-z0-9" in err
    assert "report:" in err and "gates.overrides.curated.users_clean.<check name>" in err
    fail = _events(gated_cfg)[-1]
    assert fail["eventType"] == "FAIL" and fail["job"]["name"] == "expectations.gate"


def test_cli_exits_zero_when_only_warnings_fail(gated_cfg, capsys):
    previous = Catalog(gated_cfg).require(CLEAN, DAYS[0]).row_count
    clean = read(gated_cfg, CLEAN, DAY)
    # a 4x jump: a warning
    commit(gated_cfg, CLEAN, DAY, tile(clean, 4 * previous, ("source_record_id", "canonical_id")))
    code = main(["--dataset", CLEAN, "--ds", DAY])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"GATE PASSED: {CLEAN} ds={DAY}" in out and "0 critical failure(s), 1 warning(s)" in out
    assert "WARNING table.row_count_growth" in out
    assert _events(gated_cfg)[-1]["eventType"] == "COMPLETE"


def test_cli_exit_code_2_when_the_partition_is_not_committed(gated_cfg, capsys):
    assert main(["--dataset", CLEAN, "--ds", "2030-01-01"]) == 2
    assert "has no committed partition" in capsys.readouterr().err


def test_cli_takes_a_version_for_reference_data(gated_cfg, capsys):
    assert main(["--dataset", "reference.spam_labels", "--version", "v1"]) == 0
    assert "GATE PASSED: reference.spam_labels version=v1" in capsys.readouterr().out


def test_results_are_stored_with_the_partition_without_changing_it(gated_cfg, capsys):
    catalog = Catalog(gated_cfg)
    partition = Path(catalog.partition_uri(CLEAN, DAY))
    manifest_bytes = (partition / MANIFEST).read_bytes()
    version = catalog.require(CLEAN, DAY).version
    assert main(["--dataset", CLEAN, "--ds", DAY]) == 0

    assert (partition / MANIFEST).read_bytes() == manifest_bytes
    assert catalog.require(CLEAN, DAY).version == version
    assert catalog.committed(CLEAN) == list(DAYS)
    stored = json.loads((partition / "_gates" / f"{version}.json").read_text())
    assert stored["version"] == version and stored["success"] is True
    loaded = store.load_result(gated_cfg, CLEAN, DAY)
    assert isinstance(loaded, GateResult) and len(loaded.checks) == len(stored["checks"])
    assert not list(partition.glob("_gates/.*.tmp"))

    html = Path(store.report_uri(gated_cfg, CLEAN, f"ds={DAY}")).read_text()
    assert html.startswith("<!DOCTYPE html>") and "PASSED" in html and "source_record_id.unique" in html
    assert "<script" not in html and "<link" not in html and "http" not in html  # nothing fetched at view time


def test_a_new_version_of_the_partition_has_no_gate_result_until_gated(gated_cfg, capsys):
    assert main(["--dataset", CLEAN, "--ds", DAY]) == 0
    first = store.load_result(gated_cfg, CLEAN, DAY)
    clean = read(gated_cfg, CLEAN, DAY)
    commit(gated_cfg, CLEAN, DAY, clean.slice(1))  # a new content version
    assert store.load_result(gated_cfg, CLEAN, DAY) is None
    main(["--dataset", CLEAN, "--ds", DAY])
    gated = store.load_result(gated_cfg, CLEAN, DAY)
    assert gated.version == Catalog(gated_cfg).require(CLEAN, DAY).version != first.version


def test_cli_takes_the_dag_date_alongside_a_version(gated_cfg, capsys):
    # The DAG's launcher passes --ds to every task; for reference data it is only the run's date.
    assert main(["--dataset", "reference.id_pairs", "--version", "v1", "--ds", DAY]) == 0
    complete = _events(gated_cfg)[-1]
    assert complete["run"]["facets"]["nominalTime"]["nominalStartTime"] == f"{DAY}T00:00:00Z"
    # a version is required for reference data: exit 2, the gate could not run
    assert main(["--dataset", "reference.id_pairs", "--ds", DAY]) == 2
    assert "use --version" in capsys.readouterr().err
