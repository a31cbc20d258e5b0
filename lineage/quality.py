"""Drift figures as standard OpenLineage data-quality facets (statistics and skew both attach them)."""

from __future__ import annotations

from openlineage.client.generated import data_quality_assertions_dataset as dq_assertions

from transforms.drift import FeatureDrift

SEVERITY = {"failure": "error", "warning": "warn"}  # OpenLineage assertion severities


def drift_assertions_facet(drifts: list[FeatureDrift]) -> dq_assertions.DataQualityAssertionsDatasetFacet:
    """One assertion per compared feature: the drift stays at or below its threshold."""
    return dq_assertions.DataQualityAssertionsDatasetFacet(assertions=[
        dq_assertions.Assertion(
            assertion=f"drift_{d.metric}", success=not d.fired, column=d.feature, severity=SEVERITY[d.severity],
            name=f"{d.feature}.drift", expected=f"<= {d.threshold}", actual=f"{d.value:.6g}",
            params={"psi": d.psi, "detail": d.detail},
        ) for d in drifts])
