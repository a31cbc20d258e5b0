"""Synthetic OpenLineage events shaped like ours, for tests and the store benchmark.

``lineage.emit`` writes, per job run, a START (inputs with ``version`` and ``partition`` facets)
and a COMPLETE (inputs again; outputs with ``version``, ``partition``, ``manifest``, ``schema``
and ``outputStatistics``), or a FAIL with ``errorMessage``; run facets ``parent`` (the Airflow
task run, root = the DAG run), ``airflowDagRun``, ``nominalTime``, ``processing_engine``. The
Airflow provider adds its own task events (job ``<dag>.<task>``, an ``airflow`` run facet, no
datasets) to the same log. ``EventFactory`` builds the same JSON (as dicts) without running
anything; ``tests/lineage/test_store.py`` checks the shape against the real emitter.

    f = EventFactory()
    raw = ds("raw.users_web", "2026-01-01", "r1")
    events = f.run("beam_jobs.ingest", "ingest", "2026-01-01", [raw], [ds("staging.users_ingested", ...)])
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

OL_PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/client/python"
OUR_FACETS = "https://github.com/user-pipeline/lineage/facets/1-0-0"
SPEC = "https://openlineage.io/spec/facets"
AIRFLOW_PRODUCER = "https://github.com/apache/airflow/tree/providers-openlineage/2.20.3"
SCHEMA_FIELDS = [("source_record_id", "string"), ("source", "string"), ("first_name", "string"),
                 ("last_name", "string"), ("email", "string"), ("phone", "string"), ("date_of_birth", "date32[day]"),
                 ("country", "string"), ("postcode", "string"), ("signup_date", "date32[day]"),
                 ("employment_status", "string"), ("tenure_months", "int64"), ("job_page_views_7d", "int64"),
                 ("applications_30d", "int64"), ("profile_text", "string"), ("ds", "string")]


@dataclass(frozen=True)
class Ref:
    """A dataset partition at a version, as an event names it."""

    dataset: str
    key: str  # "ds" or "version"
    value: str
    version: str
    row_count: int | None = None

    @property
    def partition(self) -> str:
        return f"{self.key}={self.value}"


def ds(dataset: str, date: str, version: str, row_count: int | None = 100) -> Ref:
    """A daily partition ``ds=<date>`` at a content version."""
    return Ref(dataset, "ds", date, version, row_count)


def ver(dataset: str, version: str, value: str | None = None) -> Ref:
    """A ``version=<id>`` partition (models, reference data); the id is the version unless given."""
    return Ref(dataset, "version", value or version, version, None)


def _facet(schema: str, producer: str = OL_PRODUCER, **fields: Any) -> dict[str, Any]:
    return {"_producer": producer, "_schemaURL": schema, **fields}


class EventFactory:
    """Builds RunEvent dicts like ``lineage.emit`` (and the Airflow provider) write them.

    Event times come from a clock that advances ``step`` per event unless ``at`` is given, so a
    log is in time order like a real one; pass ``at`` to place an event anywhere."""

    def __init__(self, namespace: str = "user_pipeline", dag_id: str = "user_pipeline",
                 start: datetime = datetime(2026, 3, 1, tzinfo=UTC), step: timedelta = timedelta(seconds=1),
                 schema: bool = True, data_root: str = "/data"):
        self.namespace = namespace
        self.dag_id = dag_id
        self.clock = start
        self.step = step
        self.schema = schema
        self.data_root = data_root

    # One counter for every factory of the process: two factories never hand out the same id.
    _ids = itertools.count(1)

    def new_run_id(self) -> str:
        """A UUIDv7-shaped id, increasing like the emitter's (time-ordered) ids."""
        return str(uuid.UUID(f"01900000-0000-7000-8000-{next(self._ids):012x}"))

    def tick(self, at: datetime | str | None = None) -> str:
        if at is not None:
            return at if isinstance(at, str) else at.isoformat()
        self.clock += self.step
        return self.clock.isoformat()

    # -- datasets ------------------------------------------------------------------------------
    def _dataset_facets(self, ref: Ref) -> dict[str, Any]:
        uri = f"{self.data_root}/{ref.dataset.replace('.', '/')}/{ref.partition}"
        return {
            "partition": _facet(f"{OUR_FACETS}/PartitionDatasetFacet.json", key=ref.key, value=ref.value, uri=uri),
            "version": _facet(f"{SPEC}/1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
                              datasetVersion=ref.version),
        }

    def input_dataset(self, ref: Ref) -> dict[str, Any]:
        return {"namespace": self.namespace, "name": ref.dataset, "facets": self._dataset_facets(ref),
                "inputFacets": {}}

    def output_dataset(self, ref: Ref, *, skipped: bool, committed_at: str) -> dict[str, Any]:
        facets = self._dataset_facets(ref)
        facets["manifest"] = _facet(f"{OUR_FACETS}/ManifestDatasetFacet.json", codeVersion="c0de",
                                    committedAt=committed_at, skipped=skipped, versionMethod="rows-multiset-sha256")
        if self.schema:
            facets["schema"] = _facet(f"{SPEC}/1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
                                      fields=[{"fields": [], "name": n, "type": t} for n, t in SCHEMA_FIELDS])
        out_facets = {}
        if ref.row_count is not None:
            out_facets["outputStatistics"] = _facet(
                f"{SPEC}/1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet",
                rowCount=ref.row_count)
        return {"namespace": self.namespace, "name": ref.dataset, "facets": facets, "outputFacets": out_facets}

    # -- events ------------------------------------------------------------------------------
    def event(self, event_type: str, run_id: str, job: str, run_facets: dict[str, Any], *, inputs: list[Ref] = (),
              outputs: list[Ref] = (), skipped: bool = False, at: datetime | str | None = None,
              producer: str = OL_PRODUCER, job_facets: dict[str, Any] | None = None) -> dict[str, Any]:
        """One RunEvent dict."""
        time = self.tick(at)
        return {
            "eventTime": time,
            "eventType": event_type,
            "inputs": [self.input_dataset(r) for r in inputs],
            "job": {"facets": job_facets if job_facets is not None else {
                "jobType": _facet(f"{SPEC}/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet", producer,
                                  integration="APACHE_BEAM", jobType="JOB", processingType="BATCH")},
                    "name": job, "namespace": self.namespace},
            "outputs": [self.output_dataset(r, skipped=skipped, committed_at=time) for r in outputs],
            "producer": producer,
            "run": {"facets": run_facets, "runId": run_id},
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        }

    def job_run_facets(self, task_id: str | None, logical_date: str | None, *, task_run_id: str | None = None,
                       dag_run_id: str | None = None, dag_root_id: str | None = None,
                       try_number: int = 1) -> dict[str, Any]:
        """Run facets of one of our job runs launched by an Airflow task (``ParentRun.facets``)."""
        facets: dict[str, Any] = {
            "processing_engine": _facet(f"{SPEC}/1-1-1/ProcessingEngineRunFacet.json#/$defs/ProcessingEngineRunFacet",
                                        name="Apache Beam", openlineageAdapterVersion="", version="2.77.0"),
            # openlineage-python adds its own version as a tag to every run.
            "tags": _facet(f"{SPEC}/1-0-0/TagsRunFacet.json#/$defs/TagsRunFacet", tags=[
                {"key": "openlineage_client_version", "source": "OPENLINEAGE_CLIENT", "value": "1.54.0"}]),
        }
        if logical_date:
            facets["nominalTime"] = _facet(f"{SPEC}/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet",
                                           nominalStartTime=f"{logical_date[:10]}T00:00:00Z")
        if task_id and logical_date:
            logical = f"{logical_date[:10]}T00:00:00+00:00"
            facets["parent"] = _facet(
                f"{SPEC}/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet",
                job={"facets": {}, "name": f"{self.dag_id}.{task_id}", "namespace": self.namespace},
                run={"facets": {}, "runId": task_run_id or self.new_run_id()},
                root={"job": {"facets": {}, "name": self.dag_id, "namespace": self.namespace},
                      "run": {"facets": {}, "runId": dag_root_id or self.new_run_id()}},
            )
            facets["airflowDagRun"] = _facet(
                f"{OUR_FACETS}/AirflowDagRunRunFacet.json", dagId=self.dag_id,
                dagRunId=dag_run_id or f"scheduled__{logical}", logicalDate=logical, taskId=task_id,
                tryNumber=try_number)
        return facets

    def provider_task_facets(self, task_id: str, logical_date: str, dag_root_id: str,
                             dag_run_id: str | None = None) -> dict[str, Any]:
        """Run facets of the Airflow provider's own task run events (trimmed to what matters)."""
        logical = f"{logical_date[:10]}T00:00:00+00:00"
        return {
            "airflow": _facet("https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunFacet", AIRFLOW_PRODUCER,
                              dag={"dag_id": self.dag_id, "owner": "airflow", "timetable_summary": "0 0 * * *"},
                              dagRun={"dag_id": self.dag_id, "logical_date": logical,
                                      "run_id": dag_run_id or f"scheduled__{logical}", "run_type": "scheduled"},
                              task={"task_id": task_id, "operator_class": "_PythonDecoratedOperator"},
                              taskInstance={"try_number": 1}),
            "nominalTime": _facet(f"{SPEC}/1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet",
                                  AIRFLOW_PRODUCER, nominalStartTime=logical, nominalEndTime=logical),
            "parent": _facet(f"{SPEC}/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet", AIRFLOW_PRODUCER,
                             job={"facets": {}, "name": self.dag_id, "namespace": self.namespace},
                             run={"facets": {}, "runId": dag_root_id},
                             root={"job": {"facets": {}, "name": self.dag_id, "namespace": self.namespace},
                                   "run": {"facets": {}, "runId": dag_root_id}}),
        }

    def run(self, job: str, task_id: str | None, logical_date: str | None, inputs: list[Ref], outputs: list[Ref],
            *, skipped: bool = False, fail: str | None = None, complete: bool = True, run_id: str | None = None,
            try_number: int = 1, dag_root_id: str | None = None, provider_events: bool = False,
            dag_run_id: str | None = None) -> list[dict[str, Any]]:
        """The events of one job run: START, then COMPLETE (with ``outputs``), FAIL (``fail`` is
        the error), or nothing more (``complete=False``: a run that died without a word).

        ``provider_events`` wraps them in the Airflow provider's task START/COMPLETE."""
        run_id = run_id or self.new_run_id()
        task_run_id = self.new_run_id()
        root = dag_root_id or self.new_run_id()
        facets = self.job_run_facets(task_id, logical_date, task_run_id=task_run_id, dag_run_id=dag_run_id,
                                     dag_root_id=root, try_number=try_number)
        out: list[dict[str, Any]] = []
        provider = None
        if provider_events and task_id and logical_date:
            provider = self.provider_task_facets(task_id, logical_date, root, dag_run_id)
            out.append(self.event("START", task_run_id, f"{self.dag_id}.{task_id}", provider,
                                  producer=AIRFLOW_PRODUCER, job_facets={}))
        out.append(self.event("START", run_id, job, facets, inputs=inputs))
        if fail is not None:
            error = _facet(f"{SPEC}/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
                           message=fail, programmingLanguage="python", stackTrace=f"Traceback ...\n{fail}")
            out.append(self.event("FAIL", run_id, job, {**facets, "errorMessage": error}, inputs=inputs))
        elif complete:
            out.append(self.event("COMPLETE", run_id, job, facets, inputs=inputs, outputs=outputs, skipped=skipped))
        if provider is not None:
            state = "FAIL" if fail is not None else "COMPLETE"
            out.append(self.event(state, task_run_id, f"{self.dag_id}.{task_id}", provider,
                                  producer=AIRFLOW_PRODUCER, job_facets={}))
        return out
