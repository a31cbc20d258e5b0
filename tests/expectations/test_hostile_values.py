"""Values a step accepted but pandas or JSON cannot hold as such (dates outside nanoseconds,
overflowed integers, NaN and infinity) are judged by the gate; a partition it cannot read is
reported as "could not validate" (exit code 2, a summary, a FAIL event saying why), never as a
failed check or a crash."""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from expectations import store
from expectations.gate import main, validate_partition
from expectations.results import COULD_NOT_VALIDATE
from lineage.catalog import Catalog
from tests.expectations.helpers import DAYS, check, commit, failed_names, read
from user_pipeline.reports import run_report

DAY = DAYS[1]
CLEAN = "curated.users_clean"
INGESTED = "staging.users_ingested"
FEATURES = "features.users_transformed"


def _with(table: pa.Table, column: str, values: list) -> pa.Table:
    """``table`` with the first rows of ``column`` replaced by ``values`` (same Arrow type)."""
    field = table.schema.field(column)
    kept = table.column(column).to_pylist()[len(values):]
    if pa.types.is_date(field.type) and any(isinstance(v, int) for v in values):  # days since 1970
        array = pa.array(values + [None if d is None else (d - datetime.date(1970, 1, 1)).days for d in kept],
                         pa.int32()).cast(pa.date32())
    else:
        array = pa.array(values + kept, field.type)
    return table.set_column(table.schema.get_field_index(column), field, array)


# dataset, column, values -> the failed check, its bad value as shown (None: the gate passes)
JUDGED = {
    "date after nanoseconds (year 2300)": (CLEAN, "signup_date", [datetime.date(2300, 1, 1)],
                                           "signup_date.not_after_ds", "2300-01-01"),
    "date after Python's (year 20040)": (CLEAN, "signup_date", [6_600_000], "signup_date.not_after_ds",
                                         "20040-03-09"),
    "date before nanoseconds (0001-01-01)": (CLEAN, "date_of_birth", [datetime.date(1, 1, 1)], None, None),
    "overflowed count (-2**63)": (CLEAN, "tenure_months", [-2**63], "tenure_months.range", -2**63),
    "NaN": (FEATURES, "age_years_z", [math.nan], "age_years_z.not_null", None),
    "infinity": (FEATURES, "age_years_z", [math.inf], "age_years_z.mean", None),
}


@pytest.mark.parametrize("case", sorted(JUDGED))
def test_values_outside_what_pandas_holds_are_judged_not_crashed_on(gated_cfg, case):
    dataset, column, values, failing, shown = JUDGED[case]
    commit(gated_cfg, dataset, DAY, _with(read(gated_cfg, dataset, DAY), column, values))
    result = validate_partition(gated_cfg, dataset, DAY)
    assert result.not_validated is None
    if failing is None:
        assert result.verdict == "passed", result.summary()
        return
    assert failed_names(result) == {failing}
    found = check(result, failing)
    if shown is not None:
        assert found.examples == [shown]
    if failing.endswith(".mean"):
        assert found.observed == "inf"
        assert f"CRITICAL {failing} [column {column}]: observed 'inf'" in result.summary()


def test_a_date_after_the_day_in_ingested_users_is_an_info_finding(gated_cfg):
    ingested = _with(read(gated_cfg, INGESTED, DAY), "signup_date", [datetime.date(2300, 1, 1)])
    commit(gated_cfg, INGESTED, DAY, ingested)
    result = validate_partition(gated_cfg, INGESTED, DAY)
    assert result.verdict == "passed"
    (found,) = [c for c in result.infos if c.column == "signup_date"]
    late = pc.sum(pc.greater(ingested.column("signup_date"), datetime.date.fromisoformat(DAY))).as_py()
    assert (found.name, found.unexpected_count, found.examples[0]) == ("signup_date.not_after_ds", late, "2300-01-01")


def test_the_sum_of_overflowing_integers_is_not_wrapped_around(gated_cfg):
    clean = read(gated_cfg, CLEAN, DAY)
    commit(gated_cfg, CLEAN, DAY, _with(clean, "tenure_months", [-2**63, -2**63]))
    metrics = validate_partition(gated_cfg, CLEAN, DAY).metrics["columnMetrics"]["tenure_months"]
    assert metrics["min"] == -2**63
    assert metrics["sum"] < -1.8e19  # Arrow's int64 sum wraps around to a small number


def _damage(cfg, dataset: str) -> str:
    """Cut the committed Parquet file of ``dataset``'s partition in half (a disk or copy gone wrong)."""
    (uri,) = Catalog(cfg).files(dataset, DAY)
    path = Path(uri)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return uri


def test_a_partition_the_gate_cannot_read_is_could_not_validate_with_exit_code_2(gated_cfg, capsys):
    commit(gated_cfg, CLEAN, DAY, read(gated_cfg, CLEAN, DAY))
    _damage(gated_cfg, CLEAN)
    manifest = Catalog(gated_cfg).require(CLEAN, DAY)

    assert main(["--dataset", CLEAN, "--ds", DAY]) == 2
    out, err = capsys.readouterr()
    first = err.splitlines()[0]
    assert first.startswith(f"GATE COULD NOT VALIDATE: {CLEAN} ds={DAY} (version {manifest.version}, "
                            f"{manifest.row_count} rows): ArrowInvalid: ")
    assert "Traceback" not in err and "GATE FAILED" not in err and out == ""

    event = [json.loads(line) for line in Path(
        gated_cfg.openlineage_client_config()["transport"]["log_file_path"]).read_text().splitlines()][-1]
    assert (event["eventType"], event["job"]["name"]) == ("FAIL", "expectations.gate")
    facet = event["inputs"][0]["facets"]["gate"]
    assert facet["verdict"] == COULD_NOT_VALIDATE and facet["success"] is False
    assert facet["reason"] == first.split("rows): ", 1)[1]
    assert "GateCouldNotValidate" in event["run"]["facets"]["errorMessage"]["message"]

    stored = store.load_result(gated_cfg, CLEAN, DAY)
    assert stored.verdict == COULD_NOT_VALIDATE and stored.checks == [] and stored.not_validated == facet["reason"]
    shown = {s.dataset: s.gate for s in run_report.collect(gated_cfg, DAY)}
    assert shown[CLEAN] == COULD_NOT_VALIDATE
