"""How datasets and jobs are named in OpenLineage events (the one place; docs/architecture.md#lineage).

A dataset is named by its logical name (``curated.users_clean``) in the pipeline's namespace;
the partition (``ds=2026-01-01``) travels in a ``partition`` facet and the content version in the
standard ``version`` facet, so a query can ask for "this dataset at this version" and still
know which partition the version belongs to. The physical location is a ``symlinks``-style
``storage`` facet so tools that think in files (Marquez, DataHub) can follow it too.
"""

from __future__ import annotations

from typing import ClassVar

import attr
from openlineage.client.generated.base import DatasetFacet, RunFacet

SCHEMA_BASE = "https://github.com/user-pipeline/lineage/facets/1-0-0"


@attr.define
class PartitionDatasetFacet(DatasetFacet):
    """Which partition of the logical dataset a version belongs to (``ds`` or ``version``)."""

    key: str
    value: str
    uri: str

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA_BASE}/PartitionDatasetFacet.json"


@attr.define
class ManifestDatasetFacet(DatasetFacet):
    """What the committed manifest says beyond the standard facets."""

    versionMethod: str  # noqa: N815 - OpenLineage facet fields are camelCase
    codeVersion: str  # noqa: N815
    committedAt: str  # noqa: N815
    skipped: bool = False

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA_BASE}/ManifestDatasetFacet.json"


@attr.define
class AirflowDagRunRunFacet(RunFacet):
    """The Airflow DAG run that launched this job run: what a backfill has to re-run."""

    dagId: str  # noqa: N815
    dagRunId: str  # noqa: N815
    taskId: str  # noqa: N815
    logicalDate: str  # noqa: N815
    tryNumber: int | None = None  # noqa: N815

    _additional_skip_redact: ClassVar[list[str]] = ["dagId", "dagRunId", "taskId"]

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA_BASE}/AirflowDagRunRunFacet.json"


@attr.define
class ContentAddressedSkipRunFacet(RunFacet):
    """The run did not recompute: its inputs and code equal those of a result already committed
    (docs/datasets-and-versions.md). Carried by runs that write nothing too (a gate reusing its stored result)."""

    reason: str
    reused: str = ""  # what was reused (a manifest or a stored result), for people

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA_BASE}/ContentAddressedSkipRunFacet.json"


@attr.define
class ReplacesRunFacet(RunFacet):
    """The run committed a corrected version of an upstream dataset (``user_pipeline.fix``): its
    output ``dataset@version [partition]`` replaces its input ``replaces`` of the same dataset, which
    is the bad version a backfill recomputes from (``lineage backfill --fixed DATASET@VERSION``)."""

    dataset: str
    partition: str
    version: str
    replaces: str  # the content version replaced
    replacesPartition: str  # noqa: N815 - its partition (version=v1 for v2; the same ds for a drop)
    reason: str = ""

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA_BASE}/ReplacesRunFacet.json"


def job_name(module: str) -> str:
    """OpenLineage job name of a step, its module path (``beam_jobs.ingest``): distinct from the
    Airflow task's own job (``user_pipeline.ingest``), which is its parent."""
    return module
