"""One check = one GX 1.x expectation plus what a person and the lineage need to know about it.

A suite (``expectations.suites``) is a list of ``Check``s built by a ``CheckList``. Every check
has a stable name, ``<column>.<what>`` or ``table.<what>`` (``email.format``,
``source_record_id.unique``, ``table.row_count_vs_previous``): the summary, the report and the
lineage facet show it, and ``gates.overrides.<dataset>.<name>`` in the config changes its
severity, ``mostly`` or bounds, or disables it, without editing Python.

Severity is GX's own field (``critical`` / ``warning`` / ``info``): a failed critical check fails
the gate; the others are recorded.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa

from expectations.results import CRITICAL, WARNING
from user_pipeline.config import CheckOverride

# Integrations GX imports if it finds them installed, which gates never use (they validate pandas
# frames): SQL engines and cloud stores. Other packages install them here (SQLAlchemy for Airflow
# and the lineage store, Google Cloud for Beam); seen as absent, they cut GX's import from ~3.0 s
# to ~2.4 s in every gate process (measured 2026-12-06, GX 1.24, 2 cores).
GX_UNUSED_INTEGRATIONS = ("sqlalchemy", "trino", "google.cloud.secretmanager", "google.cloud.storage",
                          "google.cloud.bigquery", "google.api_core", "google.auth", "google.oauth2")


def gx() -> Any:
    """The ``great_expectations`` module, imported when a suite is built: importing GX takes a
    process seconds, and a gate that re-uses its stored result, or a reader of results, needs none.

    The first import sees ``GX_UNUSED_INTEGRATIONS`` as not installed (a ``None`` entry in
    ``sys.modules`` makes ``import`` raise ImportError, which GX's compatibility modules catch);
    only modules not imported yet are hidden, and only while GX imports, so the rest of the
    process imports them as usual."""
    if "great_expectations" in sys.modules:
        return sys.modules["great_expectations"]
    hidden = [name for name in GX_UNUSED_INTEGRATIONS if name not in sys.modules]
    sys.modules.update(dict.fromkeys(hidden))
    try:
        import great_expectations
        import great_expectations.expectations  # noqa: F401 - the suites' classes
    finally:
        for name in hidden:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]
    return great_expectations


def gx_expectations() -> Any:
    """``great_expectations.expectations`` (``gx``)."""
    return gx().expectations


# A derived column: computed from the partition before validation (e.g. "id is in both splits").
Derive = Callable[[pa.Table], pa.Array | pa.ChunkedArray]


@dataclass(frozen=True)
class Check:
    """A named GX expectation with its severity, the column it is about, and its threshold in words."""

    name: str                      # stable: "<column>.<what>" or "table.<what>"
    kind: str                      # classification in the OpenLineage facet: not_null, unique, in_set, ...
    expectation: Any               # a gx_expectations().Expectation (severity and meta["check"] set)
    column: str | None             # the dataset column it is about; None = the whole table
    expected: str                  # the threshold, readable: "at least 80% present", "between 16 and 100"
    inputs: tuple[str, ...]        # frame columns GX reads: dataset columns and derived columns
    on_schema: bool = False        # validated on the schema (types, column list), not on the rows
    params: dict[str, Any] | None = None  # context for people and lineage (e.g. the previous partition)

    @property
    def severity(self) -> str:
        return _severity_value(self.expectation.severity)


def _severity_value(severity: Any) -> str:
    return str(getattr(severity, "value", severity))


class CheckList:
    """Builds the checks of one suite, applying the config overrides of its dataset."""

    def __init__(self, dataset: str, overrides: dict[str, CheckOverride] | None = None):
        self.dataset = dataset
        self.overrides = overrides or {}
        self.checks: list[Check] = []
        self.derived: dict[str, Derive] = {}

    def add(
        self,
        name: str,
        kind: str,
        expectation_type: type,
        *,
        severity: str,
        about: str | None,
        inputs: Iterable[str] = (),
        on_schema: bool = False,
        note: str = "",
        params: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Add one check; ``kwargs`` are the GX expectation's arguments (``mostly``, bounds, ...)."""
        override = self.overrides.get(name)
        if override is not None:
            if not override.enabled:
                return
            severity = override.severity or severity
            for key in ("mostly", "min_value", "max_value"):
                if getattr(override, key) is not None:
                    kwargs[key] = getattr(override, key)
        expectation = expectation_type(**kwargs, severity=severity, meta={"check": name, "dataset": self.dataset})
        expected = describe(expectation_type.__name__, kwargs) + (f" ({note})" if note else "")
        self.checks.append(Check(name, kind, expectation, about, expected, tuple(inputs), on_schema, params))

    def derive(self, name: str, fn: Derive) -> str:
        """Register a derived column (computed from the partition before validation); returns its name."""
        self.derived[name] = fn
        return name

    # -- the families of checks every suite uses ---------------------------------------------

    def schema(self, schema: pa.Schema, severity: str = CRITICAL) -> None:
        """Exactly these columns in this order, each of exactly its Arrow type (checked on the schema)."""
        E = gx_expectations()
        self.add("table.columns", "schema", E.ExpectTableColumnsToMatchOrderedList, severity=severity,
                 about=None, on_schema=True, column_list=list(schema.names))
        for field in schema:
            # The schema frame is the partition's Arrow schema as ArrowDtype columns, so the type
            # compared is the exact Arrow type ("int64[pyarrow]" is not "int32[pyarrow]").
            self.add(f"{field.name}.type", "column_type", E.ExpectColumnTypeToBe, severity=severity,
                     about=field.name, on_schema=True, inputs=[field.name], column=field.name,
                     type_=str(pd.ArrowDtype(field.type)))

    def not_null(self, columns: Iterable[str], severity: str = CRITICAL) -> None:
        """Required columns: never null."""
        for column in columns:
            self.add(f"{column}.not_null", "not_null", gx_expectations().ExpectColumnValuesToNotBeNull,
                     severity=severity, about=column, inputs=[column], column=column)

    def present(self, column: str, mostly: float, severity: str = CRITICAL) -> None:
        """Optional columns: present in at least ``mostly`` of the rows (a column gone null fails)."""
        self.add(f"{column}.present", "not_null", gx_expectations().ExpectColumnValuesToNotBeNull,
                 severity=severity, about=column, inputs=[column], column=column, mostly=mostly)

    def unique(self, column: str, severity: str = CRITICAL) -> None:
        self.add(f"{column}.unique", "unique", gx_expectations().ExpectColumnValuesToBeUnique,
                 severity=severity, about=column, inputs=[column], column=column)

    def unique_together(self, columns: list[str], severity: str = CRITICAL) -> None:
        self.add(f"{'+'.join(columns)}.unique", "unique", gx_expectations().ExpectCompoundColumnsToBeUnique,
                 severity=severity, about=columns[0], inputs=columns, column_list=columns)

    def between(self, column: str, min_value: Any = None, max_value: Any = None, severity: str = CRITICAL,
                name: str = "range", note: str = "") -> None:
        """Every present value within [min_value, max_value] (an open end is None)."""
        self.add(f"{column}.{name}", "between", gx_expectations().ExpectColumnValuesToBeBetween,
                 severity=severity, about=column, inputs=[column], note=note, column=column,
                 min_value=min_value, max_value=max_value)

    def in_set(self, column: str, values: Iterable[Any], severity: str = CRITICAL, name: str = "allowed",
               inputs: Iterable[str] | None = None, of: str | None = None) -> None:
        """Every present value one of ``values``; ``of`` names a derived column to test instead."""
        self.add(f"{column}.{name}", "in_set", gx_expectations().ExpectColumnValuesToBeInSet,
                 severity=severity, about=column, inputs=list(inputs or [of or column]),
                 column=of or column, value_set=list(values))

    def matches(self, column: str, regex: str, severity: str = CRITICAL, name: str = "format") -> None:
        """Every present value matches ``regex`` (anchored by the pattern itself)."""
        self.add(f"{column}.{name}", "regex", gx_expectations().ExpectColumnValuesToMatchRegex,
                 severity=severity, about=column, inputs=[column], column=column, regex=regex)

    def mean_between(self, column: str, bounds_min: float | None, bounds_max: float | None,
                     severity: str = CRITICAL, name: str = "mean", of: str | None = None,
                     where: tuple[str, Any] | None = None) -> None:
        """Mean of the present values within bounds; ``where=(column, value)`` restricts the rows."""
        target = of or column
        inputs = [target]
        extra: dict[str, Any] = {}
        note = ""
        if where is not None:
            inputs.append(where[0])
            from great_expectations.expectations.row_conditions import Column

            extra["row_condition"] = Column(where[0]) == where[1]
            note = f"rows where {where[0]} = {where[1]!r}"
        self.add(f"{column}.{name}", "mean_between", gx_expectations().ExpectColumnMeanToBeBetween,
                 severity=severity, about=column, inputs=inputs, note=note, column=target,
                 min_value=bounds_min, max_value=bounds_max, **extra)

    def all_null(self, column: str, of: str, severity: str = CRITICAL, name: str = "no_leakage",
                 kind: str = "no_leakage", note: str = "") -> None:
        """A derived column that must be null in every row (its non-null values are the bad rows)."""
        self.add(f"{column}.{name}", kind, gx_expectations().ExpectColumnValuesToBeNull, severity=severity,
                 about=column, inputs=[of], note=note, column=of)

    def contains(self, column: str, values: Iterable[Any], severity: str = WARNING, name: str = "all_present") -> None:
        """Every one of ``values`` occurs at least once (e.g. every source delivered)."""
        self.add(f"{column}.{name}", "contains_set", gx_expectations().ExpectColumnDistinctValuesToContainSet,
                 severity=severity, about=column, inputs=[column], column=column, value_set=list(values))

    def row_count(self, name: str, min_value: int | None, max_value: int | None, severity: str, note: str = "",
                  params: dict[str, Any] | None = None) -> None:
        self.add(f"table.{name}", "row_count", gx_expectations().ExpectTableRowCountToBeBetween,
                 severity=severity, about=None, note=note, params=params,
                 min_value=min_value, max_value=max_value)


def describe(expectation_type: str, kwargs: dict[str, Any]) -> str:
    """The threshold of an expectation in words (for summaries, reports and the facet's ``expected``)."""
    mostly = kwargs.get("mostly")
    share = f" in at least {mostly:.0%} of rows" if mostly is not None and mostly < 1 else ""
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if low is not None and high is not None:
        bounds = f"between {_text(low)} and {_text(high)}"
    elif low is not None:
        bounds = f">= {_text(low)}"
    elif high is not None:
        bounds = f"<= {_text(high)}"
    else:
        bounds = "any"
    texts = {
        "ExpectTableColumnsToMatchOrderedList": lambda: f"columns exactly {kwargs.get('column_list')}",
        "ExpectColumnTypeToBe": lambda: f"type {kwargs.get('type_')}",
        "ExpectColumnValuesToNotBeNull": lambda: "present" + share if share else "never null",
        "ExpectColumnValuesToBeNull": lambda: "null in every row",
        "ExpectColumnValuesToBeUnique": lambda: "no value repeated",
        "ExpectCompoundColumnsToBeUnique": lambda: f"no repeated combination of {kwargs.get('column_list')}",
        "ExpectColumnValuesToBeBetween": lambda: bounds + share,
        "ExpectColumnValuesToBeInSet": lambda: f"one of {_short(kwargs.get('value_set'))}" + share,
        "ExpectColumnValuesToMatchRegex": lambda: f"matches {kwargs.get('regex')}" + share,
        "ExpectColumnMeanToBeBetween": lambda: f"mean {bounds}",
        "ExpectColumnDistinctValuesToContainSet": lambda: f"each of {_short(kwargs.get('value_set'))} occurs",
        "ExpectTableRowCountToBeBetween": lambda: f"row count {bounds}",
    }
    return texts.get(expectation_type, lambda: expectation_type)()


def _text(value: Any) -> str:
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _short(values: Any, limit: int = 8) -> str:
    values = list(values or [])
    shown = ", ".join(repr(v) for v in values[:limit])
    return "{" + shown + (f", ... ({len(values)} values)" if len(values) > limit else "") + "}"
