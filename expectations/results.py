"""Gate results: what each check found, a summary a person can act on, and their JSON form."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

# Severity is GX's own field (expectations.checks); the names live here, with the results, so that
# readers of gate results (reports, skew) do not import Great Expectations (seconds per process).
CRITICAL = "critical"
WARNING = "warning"
INFO = "info"
# The verdict of a gate that could not validate its partition (exit code 2, not 1: nothing was judged).
COULD_NOT_VALIDATE = "could not validate"


@dataclass
class CheckResult:
    """The outcome of one check on one partition."""

    name: str
    kind: str
    severity: str
    success: bool
    column: str | None
    expected: str
    expectation: dict[str, Any]            # the GX expectation: {"type": ..., "kwargs": ...}
    observed: Any = None                   # aggregate checks: the observed value
    element_count: int | None = None       # map checks: rows looked at ...
    missing_count: int | None = None       # ... of which null (not judged, except by not-null checks)
    unexpected_count: int | None = None    # ... and how many broke the expectation
    unexpected_percent: float | None = None
    examples: list[Any] = field(default_factory=list)      # bad values (partial_unexpected_list)
    example_ids: list[Any] = field(default_factory=list)   # ids of rows with bad values
    exception: str | None = None           # the check could not run (e.g. a column is missing)
    params: dict[str, Any] | None = None

    @property
    def observed_text(self) -> str:
        """What was found, in words: "12 of 410 values (2.9%)" or the observed aggregate."""
        if self.exception:
            return f"could not run: {self.exception}"
        if self.unexpected_count is not None:
            base = self.element_count or 0
            unit = "rows"
            if self.kind != "not_null" and self.missing_count:
                base -= self.missing_count
                unit = "present values"
            pct = f" ({self.unexpected_percent:.2f}%)" if self.unexpected_percent is not None else ""
            return f"{self.unexpected_count} of {base} {unit} unexpected{pct}"
        if self.kind == "row_count":
            return f"{short_value(self.observed)} rows"
        if isinstance(self.observed, str) and self.observed.startswith("missing "):
            return self.observed
        return f"observed {short_value(self.observed)}"


@dataclass
class GateResult:
    """Every check of one suite on one committed partition."""

    dataset: str
    partition: str                 # "ds=2026-01-01" or "version=v1"
    version: str                   # the content version validated
    row_count: int
    checks: list[CheckResult]
    metrics: dict[str, Any]        # rowCount and per-column nullCount, distinctCount, min, max
    validated_at: str
    seconds: float
    gx_version: str
    results_uri: str = ""
    report_uri: str = ""
    run_id: str = ""               # the gate's OpenLineage run, when it ran as a step
    # What the checks depended on besides the data: suite code, gate config, the previous
    # partition's version (row-count checks). Same version and fingerprint: same result.
    fingerprint: str = ""
    # Why the gate could not validate the partition (it then judged nothing): not a failed check.
    not_validated: str | None = None

    @property
    def critical_failures(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.success and c.severity == CRITICAL]

    @property
    def warnings(self) -> list[CheckResult]:
        return [c for c in self.checks if not c.success and c.severity == WARNING]

    @property
    def infos(self) -> list[CheckResult]:
        """Failed checks of severity info: in the report and the JSON, not in the summary."""
        return [c for c in self.checks if not c.success and c.severity == INFO]

    @property
    def success(self) -> bool:
        """The gate passes when it validated and no critical check failed (warnings are recorded, not fatal)."""
        return self.not_validated is None and not self.critical_failures

    @property
    def verdict(self) -> str:
        """passed | warnings | failed | could not validate."""
        if self.not_validated is not None:
            return COULD_NOT_VALIDATE
        return "failed" if self.critical_failures else "warnings" if self.warnings else "passed"

    def summary(self) -> str:
        """A summary for the task log: which check, which column, how many rows, examples, threshold."""
        if self.not_validated is not None:
            return "\n".join([
                f"GATE COULD NOT VALIDATE: {self.dataset} {self.partition} (version {self.version}, "
                f"{self.row_count} rows): {self.not_validated}",
                *([f"  report:  {self.report_uri}"] if self.report_uri else []),
                *([f"  results: {self.results_uri}"] if self.results_uri else []),
                "  No check was judged: the partition holds what the gate cannot read or compare. Fix the step "
                "that produced it (or the gate), then re-run the step and this gate.",
            ])
        status = "PASSED" if self.success else "FAILED"
        lines = [
            f"GATE {status}: {self.dataset} {self.partition} (version {self.version}, {self.row_count} rows): "
            f"{len(self.critical_failures)} critical failure(s), {len(self.warnings)} warning(s), "
            f"{len(self.checks)} checks in {self.seconds:.1f}s"
            + (f" ({len(self.infos)} info-level finding(s) in the report)" if self.infos else "")
        ]
        for check in self.critical_failures + self.warnings:
            column = f" [column {check.column}]" if check.column else ""
            lines.append(f"  {check.severity.upper()} {check.name}{column}: {check.observed_text}; "
                         f"expected {check.expected}")
            if check.examples:
                lines.append(f"      bad values, e.g.: {', '.join(short_value(v) for v in check.examples)}")
            if check.example_ids:
                lines.append(f"      rows, e.g.: {', '.join(str(v) for v in check.example_ids)}")
        if self.report_uri:
            lines.append(f"  report:  {self.report_uri}")
        if self.results_uri:
            lines.append(f"  results: {self.results_uri}")
        if not self.success:
            lines.append("  Fix the data (or the step that produced it) and re-run the step and this gate; "
                         "if a threshold is wrong, change it under gates: in the pipeline config "
                         f"(gates.overrides.{self.dataset}.<check name>).")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["success"] = self.success
        return jsonable(out)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GateResult:
        data = dict(data)
        data.pop("success", None)
        data["checks"] = [CheckResult(**c) for c in data["checks"]]
        return cls(**data)


def jsonable(value: Any) -> Any:
    """Plain JSON types: numpy scalars, NaN/NA, dates and timestamps converted."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | np.ndarray):
        return [jsonable(v) for v in value]
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, datetime):  # pd.Timestamp too: a midnight timestamp is a date
        stamp = pd.Timestamp(value)
        # Not stamp.date(): a year after 9999 is a valid Arrow date but no Python date.
        text = stamp.isoformat()
        return text.split("T", 1)[0] if stamp == stamp.normalize() else text
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool | int | str):
        return value
    return str(value)


def short_value(value: Any, limit: int = 60) -> str:
    """A value as a short readable text (whole floats as integers, long texts cut)."""
    value = jsonable(value)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, float):
        value = round(value, 6)
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


