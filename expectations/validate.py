"""Run a suite's checks on an Arrow table with Great Expectations (ephemeral context, pandas).

How the partition is handed to GX, and why:

- Schema checks (column list, exact types) run on a zero-row frame of the partition's Arrow
  schema with ``pd.ArrowDtype`` columns, so ``int64`` is compared as ``int64[pyarrow]``, not as
  whatever pandas would widen it to.
- Value checks run on numpy-typed columns (numbers as float64 with NaN for null, dates as
  ``datetime64``): GX 1.24's pandas metrics take their vectorised paths only for those
  dtypes; on nullable or Arrow dtypes ``between`` applies a Python function per row. Dates are
  handed over in milliseconds, not nanoseconds, so that every date a step accepted (year 1 to
  9999) can be judged: nanoseconds end in 1677 and 2262. Integers beyond 2^53 (an overflowed
  count: -2^63) become the nearest float instead of an error: the checks' bounds are far inside
  that range, so their verdicts are unchanged.
- Checks are validated in groups of the columns they read, each group on a frame of only those
  columns. GX's pandas engine filters the whole batch frame for every map expectation and hashes
  the whole frame per batch; on a 1M-row, 24-column partition one frame for the whole suite took
  22 s, one frame per column group 4.6 s (measured, GX 1.24.1, pandas 3.1).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from expectations.checks import Check, CheckList, gx
from expectations.results import CheckResult, jsonable

log = logging.getLogger(__name__)


def new_context() -> Any:
    """An ephemeral GX context: stores in memory, no data docs site, no progress bars in task logs."""
    gx()  # imported the one way (expectations.checks.gx) before any of its modules
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False),
        analytics_enabled=False,
    )
    return gx().get_context(mode="ephemeral", project_config=config)


def to_series(column: pa.ChunkedArray | pa.Array) -> pd.Series:
    """An Arrow column as the pandas dtype GX's vectorised metrics expect (see module doc)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()  # one chunk: many small ones make every filter slow
    kind = column.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return pd.Series(pc.cast(column, pa.float64(), safe=False).to_numpy(zero_copy_only=False))
    if pa.types.is_date(kind):
        return pd.Series(pc.cast(column, pa.timestamp("ms")).to_pandas())
    if pa.types.is_timestamp(kind):
        return pd.Series(column.to_pandas())  # in the column's own unit: see the module's docstring
    return pd.Series(column.to_pandas())


def run_checks(table: pa.Table, checks: CheckList, *, examples: int = 5,
               id_column: str | None = None) -> list[CheckResult]:
    """Validate every check on ``table``; results in the order of the checks.

    ``examples`` bad values are kept per failed check; with ``id_column`` the ids of rows with
    bad values are kept as well (a null has no value to show, but its row has an id).
    """
    context = new_context()
    batch_definition = (
        context.data_sources.add_pandas("gate")
        .add_dataframe_asset(checks.dataset)
        .add_batch_definition_whole_dataframe("partition")
    )
    result_format = {"result_format": "SUMMARY", "partial_unexpected_count": examples}
    columns = _ColumnCache(table, checks.derived)
    schema_frame = table.schema.empty_table().to_pandas(types_mapper=pd.ArrowDtype)

    groups: dict[tuple[bool, tuple[str, ...]], list[Check]] = defaultdict(list)
    for check in checks.checks:
        groups[(check.on_schema, check.inputs)].append(check)

    by_name: dict[str, CheckResult] = {}
    for number, ((on_schema, inputs), group) in enumerate(groups.items()):
        frame = schema_frame if on_schema else columns.frame(inputs)
        name = f"{checks.dataset}[{number}:{'schema' if on_schema else ','.join(inputs) or 'table'}]"
        suite = context.suites.add(gx().ExpectationSuite(name=name))
        for check in group:
            suite.add_expectation(check.expectation)
        # A ValidationDefinition fetches the batch once; batch.validate() would fetch (and hash)
        # the frame a second time.
        definition = context.validation_definitions.add(
            gx().ValidationDefinition(name=name, data=batch_definition, suite=suite)
        )
        validation = definition.run(batch_parameters={"dataframe": frame}, result_format=result_format)
        checks_by_name = {check.name: check for check in group}
        for result in validation.results:
            check = checks_by_name[result.expectation_config.meta["check"]]
            by_name[check.name] = _check_result(check, result, table, id_column, examples)
    return [by_name[check.name] for check in checks.checks]


class _ColumnCache:
    """Converts each column (or derived column) once, however many groups read it."""

    def __init__(self, table: pa.Table, derived: dict[str, Any]):
        self.table = table
        self.derived = derived
        self.series: dict[str, pd.Series] = {}

    def get(self, name: str) -> pd.Series | None:
        if name not in self.series:
            if name in self.derived:
                try:
                    self.series[name] = to_series(self.derived[name](self.table))
                except Exception as exc:  # noqa: BLE001 - the check then reports the column missing
                    log.warning("could not derive %s: %s", name, exc)
                    return None
            elif name in self.table.column_names:
                self.series[name] = to_series(self.table.column(name))
            else:
                return None  # GX reports the missing column as the check's failure
        return self.series[name]

    def frame(self, names: tuple[str, ...]) -> pd.DataFrame:
        present = {name: series for name in names if (series := self.get(name)) is not None}
        if present:
            return pd.DataFrame(present)
        # Table-level checks read no column: the frame only needs the right number of rows.
        return pd.DataFrame({"_row": np.zeros(self.table.num_rows, dtype=np.bool_)})


def _check_result(check: Check, result: Any, table: pa.Table, id_column: str | None,
                  examples: int) -> CheckResult:
    config = result.expectation_config
    found = dict(result.result or {})
    out = CheckResult(
        name=check.name,
        kind=check.kind,
        severity=check.severity,
        success=bool(result.success),
        column=check.column,
        expected=check.expected,
        expectation={"type": config.type, "kwargs": jsonable(_kwargs(config.kwargs))},
        params=jsonable(check.params) if check.params else None,
        exception=_exception_message(result.exception_info),
    )
    if "unexpected_count" in found:
        out.element_count = found.get("element_count")
        out.missing_count = found.get("missing_count")
        out.unexpected_count = found.get("unexpected_count")
        out.unexpected_percent = found.get("unexpected_percent")
        if not out.success:
            out.examples = jsonable(found.get("partial_unexpected_list") or [])[:examples]
            indices = found.get("partial_unexpected_index_list") or []
            # Rows are named by their id, unless the bad values already are ids.
            if id_column and id_column != check.column and id_column in table.column_names and indices:
                ids = table.column(id_column).take(pa.array(indices[:examples], pa.int64()))
                out.example_ids = jsonable(ids.to_pylist())
            if check.kind == "not_null":
                out.examples = []  # every example would be "null"; the row ids say which
    elif found.get("partial_missing_list") is not None:  # a set of values that should all occur
        out.observed = f"missing {jsonable(found['partial_missing_list'])}"
    else:
        observed = found.get("observed_value")
        # JSON has no infinity or NaN (jsonable makes them null): an infinite mean is shown as such.
        out.observed = str(float(observed)) if _non_finite(observed) else jsonable(observed)
        if not out.success and found.get("details"):
            out.params = {**(out.params or {}), "details": jsonable(found["details"])}
    if out.exception:
        out.success = False
    return out


def _non_finite(value: Any) -> bool:
    return isinstance(value, float | np.floating) and not np.isfinite(value)


def _kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The expectation's arguments, without GX's bookkeeping (row conditions as text)."""
    shown = {k: v for k, v in kwargs.items() if k not in ("batch_id", "result_format")}
    if "row_condition" in shown:
        shown["row_condition"] = str(shown["row_condition"])
    return shown


def _exception_message(info: Any) -> str | None:
    """GX keeps exceptions per expectation, or per metric nested one level down."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "exception")
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            return str(value.get("exception_message") or "exception")
    return None


def column_metrics(table: pa.Table) -> dict[str, Any]:
    """rowCount and, per column, nullCount, count, distinctCount, and min/max/sum where numeric.

    Computed with Arrow (a few ms per column) in the shape of OpenLineage's ``dataQualityMetrics``.
    """
    out: dict[str, Any] = {}
    for name in table.column_names:
        column = table.column(name)
        metrics: dict[str, Any] = {
            "nullCount": column.null_count,
            "count": len(column) - column.null_count,
            "distinctCount": pc.count_distinct(column, mode="only_valid").as_py(),
        }
        kind = column.type
        if (pa.types.is_integer(kind) or pa.types.is_floating(kind)) and metrics["count"]:
            bounds = pc.min_max(column)
            metrics["min"] = bounds["min"].as_py()
            metrics["max"] = bounds["max"].as_py()
            metrics["sum"] = _sum(column, metrics["min"], metrics["max"], metrics["count"])
        out[name] = jsonable(metrics)
    return {"rowCount": table.num_rows, "columnMetrics": out}


def _sum(column: pa.ChunkedArray, low: float, high: float, count: int) -> float | int:
    """The column's sum; of integers that could overflow int64 (Arrow's sum wraps around), as a float."""
    if pa.types.is_integer(column.type) and max(abs(low), abs(high)) * count >= 2**63:
        return pc.sum(pc.cast(column, pa.float64(), safe=False)).as_py()
    return pc.sum(column).as_py()
