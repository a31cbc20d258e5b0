"""OpenLineage emission for every step run, in one place (docs/architecture.md#lineage).

    with step_run(cfg, "beam_jobs.clean", inputs=[...], parent=ParentRun.from_args(args)) as run:
        ...                       # START was emitted with the input versions
        run.add_output(manifest)  # COMPLETE will carry version, schema and row count
    # an exception emits FAIL with the error, then propagates

The transport is configuration (``lineage.openlineage`` in the pipeline config, or the
standard OPENLINEAGE_* environment), never code.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import platform
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated import (
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    nominal_time_run,
    output_statistics_output_dataset,
    parent_run,
    processing_engine_run,
    schema_dataset,
)
from openlineage.client.uuid import generate_new_uuid

from lineage.catalog import Catalog, Manifest, PartitionRef
from lineage.naming import (
    AirflowDagRunRunFacet,
    ContentAddressedSkipRunFacet,
    ManifestDatasetFacet,
    PartitionDatasetFacet,
)
from user_pipeline.config import PipelineConfig

PRODUCER = "https://github.com/user-pipeline/user-pipeline"


@dataclass(frozen=True)
class ParentRun:
    """The Airflow task run (and DAG run) that launched a job, as passed on its command line."""

    namespace: str
    job_name: str
    run_id: str
    root_namespace: str | None = None
    root_job_name: str | None = None
    root_run_id: str | None = None
    dag_run_id: str | None = None
    logical_date: str | None = None
    try_number: int | None = None

    @staticmethod
    def add_args(parser: argparse.ArgumentParser) -> None:
        """Command-line options a launcher (the DAG) fills from the OpenLineage macros."""
        group = parser.add_argument_group("lineage parent (set by the Airflow task)")
        group.add_argument("--ol_parent_id", help="namespace/job/run_id of the parent (Airflow task) run")
        group.add_argument("--ol_root_parent_id", help="namespace/job/run_id of the root (DAG) run")
        group.add_argument("--dag_run_id", help="Airflow DAG run id")
        group.add_argument("--logical_date", help="Airflow logical date (ISO)")
        group.add_argument("--try_number", type=int)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ParentRun | None:
        if not getattr(args, "ol_parent_id", None):
            return None
        namespace, job, run_id = _split_parent_id(args.ol_parent_id)
        root = _split_parent_id(args.ol_root_parent_id) if args.ol_root_parent_id else (None,) * 3
        return cls(
            namespace, job, run_id, *root,
            dag_run_id=args.dag_run_id, logical_date=args.logical_date, try_number=args.try_number,
        )

    def facets(self) -> dict[str, Any]:
        root = None
        if self.root_run_id:
            root = parent_run.Root(
                run=parent_run.RootRun(runId=self.root_run_id),
                job=parent_run.RootJob(namespace=self.root_namespace, name=self.root_job_name),
            )
        facets: dict[str, Any] = {
            "parent": parent_run.ParentRunFacet(
                run=parent_run.Run(runId=self.run_id),
                job=parent_run.Job(namespace=self.namespace, name=self.job_name),
                root=root,
            )
        }
        dag_id, _, task_id = self.job_name.partition(".")
        if self.dag_run_id:
            facets["airflowDagRun"] = AirflowDagRunRunFacet(
                dagId=dag_id, dagRunId=self.dag_run_id, taskId=task_id,
                logicalDate=self.logical_date or "", tryNumber=self.try_number,
            )
        return facets


def _split_parent_id(value: str) -> tuple[str, str, str]:
    # The provider's macro joins namespace/job/run_id with "/"; the namespace may contain "/".
    namespace, job, run_id = value.rsplit("/", 2)
    return namespace, job, run_id


def new_run_id() -> str:
    """A fresh OpenLineage run id (UUIDv7, time-ordered)."""
    return str(generate_new_uuid())


def make_client(cfg: PipelineConfig) -> OpenLineageClient:
    """The configured OpenLineage client: the standard env when present, else our config."""
    if cfg.lineage.use_openlineage_env:
        return OpenLineageClient()
    for log in cfg.openlineage_log_paths():
        # The file transport (alone or in a composite) appends but does not create the folder.
        Path(log).parent.mkdir(parents=True, exist_ok=True)
    return OpenLineageClient(config=cfg.openlineage_client_config())


@dataclass
class StepRun:
    """A running step: collects outputs for the COMPLETE event."""

    run_id: str
    job_name: str
    outputs: list[Manifest] = field(default_factory=list)
    skipped: bool = False
    reused: str = ""  # with skipped and no outputs: what was reused instead (a stored gate result)
    run_facets: dict[str, Any] = field(default_factory=dict)
    # Facets a step learns about its inputs while it runs (a gate's assertions), by the partition
    # they describe (a step may read several partitions of one dataset: a gate the previous one
    # too); they go on that input of the COMPLETE or FAIL event.
    input_facets: dict[PartitionRef, dict[str, Any]] = field(default_factory=dict)
    input_dataset_facets: dict[PartitionRef, dict[str, Any]] = field(default_factory=dict)
    integration: str = "APACHE_BEAM"

    def add_output(self, manifest: Manifest) -> None:
        self.outputs.append(manifest)


class LineageEmitter:
    """Builds and emits RunEvents for one pipeline configuration."""

    def __init__(self, cfg: PipelineConfig, client: OpenLineageClient | None = None):
        self.cfg = cfg
        self.catalog = Catalog(cfg)
        self.client = client or make_client(cfg)
        self.namespace = cfg.lineage.namespace

    def dataset_facets(self, ref: PartitionRef) -> dict[str, Any]:
        return {
            "version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=ref.version),
            "partition": PartitionDatasetFacet(
                key=ref.key, value=ref.value, uri=self.catalog.partition_uri(ref.dataset, ref.value)
            ),
        }

    def input_dataset(self, ref: PartitionRef, run: StepRun | None = None) -> InputDataset:
        extra = run.input_dataset_facets.get(ref, {}) if run else {}
        return InputDataset(
            namespace=self.namespace, name=ref.dataset, facets={**self.dataset_facets(ref), **extra},
            inputFacets=run.input_facets.get(ref, {}) if run else {},
        )

    def output_dataset(self, manifest: Manifest, skipped: bool = False) -> OutputDataset:
        facets = self.dataset_facets(manifest.ref)
        if manifest.schema:
            facets["schema"] = schema_dataset.SchemaDatasetFacet(
                fields=[schema_dataset.SchemaDatasetFacetFields(name=c["name"], type=c["type"])
                        for c in manifest.schema]
            )
        facets["manifest"] = ManifestDatasetFacet(
            versionMethod=manifest.version_method, codeVersion=manifest.code_version,
            committedAt=manifest.committed_at, skipped=skipped,
        )
        output_facets = {}
        if manifest.row_count is not None:
            output_facets["outputStatistics"] = (
                output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                    rowCount=manifest.row_count
                )
            )
        return OutputDataset(
            namespace=self.namespace, name=manifest.dataset, facets=facets, outputFacets=output_facets
        )

    def emit(
        self,
        state: RunState,
        run: StepRun,
        inputs: list[PartitionRef],
        outputs: list[OutputDataset] | None = None,
        extra_run_facets: dict[str, Any] | None = None,
    ) -> RunEvent:
        event = RunEvent(
            eventType=state,
            eventTime=datetime.now(UTC).isoformat(),
            run=Run(runId=run.run_id, facets={**run.run_facets, **(extra_run_facets or {})}),
            job=Job(
                namespace=self.namespace,
                name=run.job_name,
                facets={
                    "jobType": job_type_job.JobTypeJobFacet(
                        processingType="BATCH", integration=run.integration, jobType="JOB"
                    )
                },
            ),
            inputs=[self.input_dataset(ref, run) for ref in inputs],
            outputs=outputs or [],
            producer=PRODUCER,
        )
        self.client.emit(event)
        return event


# What runs a job, by its OpenLineage integration: the distribution whose release is the engine's
# version. Read from the installed metadata, not by importing the engine: importing Beam or
# Great Expectations only to name it costs a job that does not use it a second or more.
ENGINES = {
    "APACHE_BEAM": ("apache-beam", "Apache Beam"),
    "GREAT_EXPECTATIONS": ("great-expectations", "Great Expectations"),
    "TENSORFLOW": ("tensorflow", "TensorFlow"),
}


def engine_facet(integration: str) -> processing_engine_run.ProcessingEngineRunFacet:
    """The processing engine of a job of ``integration`` (plain Python for any other)."""
    if integration in ENGINES:
        distribution, name = ENGINES[integration]
        version = importlib.metadata.version(distribution)
    else:
        name, version = "Python", platform.python_version()
    return processing_engine_run.ProcessingEngineRunFacet(version=version, name=name, openlineageAdapterVersion="")


@contextmanager
def step_run(
    cfg: PipelineConfig,
    job_name: str,
    inputs: list[PartitionRef],
    *,
    parent: ParentRun | None = None,
    nominal_date: str | None = None,
    run_id: str | None = None,
    emitter: LineageEmitter | None = None,
    integration: str = "APACHE_BEAM",
) -> Iterator[StepRun]:
    """Emit START now, then COMPLETE with the registered outputs, or FAIL with the error.

    ``integration`` names what runs the step (default: Apache Beam), and so its engine facet.
    """
    owned = emitter is None
    emitter = emitter or LineageEmitter(cfg)
    facets: dict[str, Any] = {"processing_engine": engine_facet(integration)}
    if parent:
        facets.update(parent.facets())
    if nominal_date:
        facets["nominalTime"] = nominal_time_run.NominalTimeRunFacet(
            nominalStartTime=f"{nominal_date}T00:00:00Z"
        )
    run = StepRun(run_id=run_id or new_run_id(), job_name=job_name, run_facets=facets, integration=integration)
    try:
        emitter.emit(RunState.START, run, inputs)
        try:
            yield run
        except BaseException as exc:
            error = error_message_run.ErrorMessageRunFacet(
                message=f"{type(exc).__name__}: {exc}"[:2000],
                programmingLanguage="python",
                stackTrace="".join(traceback.format_exception(exc))[-8000:],
            )
            emitter.emit(RunState.FAIL, run, inputs, extra_run_facets={"errorMessage": error})
            raise
        outputs = [emitter.output_dataset(m, skipped=run.skipped) for m in run.outputs]
        extra = {}
        if run.skipped:
            reused = run.reused or ", ".join(f"{m.dataset}@{m.version} [{m.partition}]" for m in run.outputs)
            extra["contentAddressedSkip"] = ContentAddressedSkipRunFacet(reason="inputs and code unchanged",
                                                                         reused=reused)
        emitter.emit(RunState.COMPLETE, run, inputs, outputs=outputs, extra_run_facets=extra)
    finally:
        if owned:
            # An asynchronous transport sends from a queue: every event must be out before the
            # process exits (a job's process ends without interpreter teardown: harness.Job.exit).
            emitter.client.close()
