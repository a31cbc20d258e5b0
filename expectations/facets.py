"""Gate results as OpenLineage facets on the input dataset of the gate's run (docs/architecture.md#lineage, #gates).

The OpenLineage GX action does not work with GX 1.x, so results are mapped here:

- ``dataQualityAssertions`` (input facet, spec 1-1-0): one assertion per check. ``assertion`` is
  the kind of check (``not_null``, ``unique``, ``row_count``...), ``name`` the check's name,
  ``column`` its column, ``severity`` the spec's ``error`` (our critical: fails the gate) or
  ``warn`` (our warning; ``info`` stays ``info``), ``expected``/``actual`` the threshold and what
  was found, ``content`` the GX expectation as JSON.
- ``dataQualityMetrics`` (input facet): rowCount and per-column nullCount, distinctCount, count,
  and min/max/sum of numeric columns.
- ``gate`` (custom dataset facet): the verdict (passed, warnings, failed, or could not validate,
  with the reason), and where the JSON result and HTML report are.

``attach`` puts those facets on the input of the gate step's COMPLETE or FAIL event (START is
emitted before validation and carries none).
"""

from __future__ import annotations

import json
from typing import Any

import attr
from openlineage.client.generated import (
    data_quality_assertions_dataset,
    data_quality_metrics_input_dataset,
)
from openlineage.client.generated.base import DatasetFacet

from expectations.results import GateResult
from lineage.catalog import PartitionRef
from lineage.emit import StepRun
from lineage.naming import SCHEMA_BASE

SEVERITY = {"critical": "error", "warning": "warn", "info": "info"}


@attr.define
class GateDatasetFacet(DatasetFacet):
    """The gate's verdict on this dataset version and where its results are."""

    success: bool
    checks: int
    criticalFailures: int  # noqa: N815 - OpenLineage facet fields are camelCase
    warnings: int
    resultsUri: str  # noqa: N815
    reportUri: str  # noqa: N815
    verdict: str = "passed"  # passed | warnings | failed | could not validate
    reason: str | None = None  # why it could not validate

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA_BASE}/GateDatasetFacet.json"


def assertions_facet(result: GateResult) -> data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet:
    """One assertion per check, in the order of the suite."""
    assertions = []
    for check in result.checks:
        params: dict[str, Any] = {}
        if check.unexpected_count is not None:
            params["unexpectedCount"] = check.unexpected_count
            params["unexpectedPercent"] = check.unexpected_percent
            params["elementCount"] = check.element_count
        if check.examples:
            params["examples"] = check.examples
        if check.example_ids:
            params["exampleIds"] = check.example_ids
        if check.params:
            params.update(check.params)
        assertions.append(data_quality_assertions_dataset.Assertion(
            assertion=check.kind,
            success=check.success,
            column=check.column,
            severity=SEVERITY.get(check.severity, check.severity),
            name=check.name,
            description=f"{check.column or 'table'}: {check.expected}",
            expected=check.expected,
            actual=check.observed_text,
            content=json.dumps(check.expectation, sort_keys=True),
            contentType="json",
            params=params,
        ))
    return data_quality_assertions_dataset.DataQualityAssertionsDatasetFacet(assertions=assertions)


def metrics_facet(result: GateResult) -> data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet:
    """Row count and per-column metrics of the validated partition."""
    columns = {
        name: data_quality_metrics_input_dataset.ColumnMetrics(
            nullCount=m.get("nullCount"), distinctCount=m.get("distinctCount"), count=m.get("count"),
            sum=m.get("sum"), min=m.get("min"), max=m.get("max"),
        )
        for name, m in result.metrics.get("columnMetrics", {}).items()
    }
    return data_quality_metrics_input_dataset.DataQualityMetricsInputDatasetFacet(
        columnMetrics=columns, rowCount=result.metrics.get("rowCount"),
    )


def gate_facet(result: GateResult) -> GateDatasetFacet:
    return GateDatasetFacet(
        success=result.success, checks=len(result.checks), criticalFailures=len(result.critical_failures),
        warnings=len(result.warnings), resultsUri=result.results_uri, reportUri=result.report_uri,
        verdict=result.verdict, reason=result.not_validated,
    )


def attach(step: StepRun, ref: PartitionRef, result: GateResult) -> None:
    """Put the gate's facets on the validated input of the step's COMPLETE or FAIL event."""
    step.input_dataset_facets[ref] = {"gate": gate_facet(result)}
    step.input_facets[ref] = {
        "dataQualityAssertions": assertions_facet(result),
        "dataQualityMetrics": metrics_facet(result),
    }
