"""OpenLineage events shaped like other producers send them, for the store and query tests.

- Spark (openlineage-spark): datasets named by the naming spec (``s3://bucket`` + a path,
  ``postgres://host:5432`` + ``database.schema.table``); a version facet only where the source
  has versions (table formats), none for plain sources; an application run as the parent of each
  SQL execution's run, both named ``<app>.<...>`` (dots that are not an Airflow ``dag.task``).
- dbt (dbt-ol): a run per model with no version facet anywhere; its parent is the dbt invocation's
  run, which is never sent to this store.
- The Airflow provider (apache-airflow-providers-openlineage 2.20): a task run's ``airflow`` run
  facet nests ``dag``, ``dagRun``, ``task`` and ``taskInstance`` (snake_case fields, as its
  ``DagInfo`` / ``DagRunInfo`` / ``TaskInfo`` / ``TaskInstanceInfo`` encode them); its parent is
  the DAG run's job (named by the DAG id); Airflow 3 manual runs have no logical date.
"""

from __future__ import annotations

import uuid
from typing import Any

SPEC = "https://openlineage.io/spec"
SPARK = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/spark"
DBT = "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/dbt"
AIRFLOW = "https://github.com/apache/airflow/tree/providers-openlineage/2.20.3"
RUN_EVENT = f"{SPEC}/2-0-2/OpenLineage.json#/$defs/RunEvent"

S3 = "s3://partner-drops"
WAREHOUSE = "postgres://warehouse.internal:5432"
CRM = "postgres://crm.internal:5432"


def run_id() -> str:
    return str(uuid.uuid4())


def _facet(producer: str, schema: str, **fields: Any) -> dict[str, Any]:
    return {"_producer": producer, "_schemaURL": f"{SPEC}/facets/{schema}", **fields}


def dataset(producer: str, namespace: str, name: str, version: str | None = None,
            rows: int | None = None) -> dict[str, Any]:
    """An input or output dataset as the producer writes it (a version facet only if given)."""
    facets: dict[str, Any] = {
        "dataSource": _facet(producer, "1-0-1/DatasourceDatasetFacet.json", name=namespace, uri=namespace),
        "schema": _facet(producer, "1-1-1/SchemaDatasetFacet.json",
                         fields=[{"name": "user_id", "type": "string"}, {"name": "n", "type": "long"}]),
    }
    if version is not None:
        facets["version"] = _facet(producer, "1-0-1/DatasetVersionDatasetFacet.json", datasetVersion=version)
    out: dict[str, Any] = {"namespace": namespace, "name": name, "facets": facets}
    if rows is not None:
        out["outputFacets"] = {"outputStatistics": _facet(producer, "1-0-2/OutputStatisticsOutputDatasetFacet.json",
                                                          rowCount=rows)}
    return out


def parent(producer: str, namespace: str, job: str, parent_run: str,
           root: tuple[str, str, str] | None = None) -> dict[str, Any]:
    """The spec's ParentRunFacet: run.runId, job.namespace/name, and the root run if given."""
    facet = _facet(producer, "1-1-0/ParentRunFacet.json", run={"runId": parent_run},
                   job={"namespace": namespace, "name": job})
    if root is not None:
        facet["root"] = {"run": {"runId": root[2]}, "job": {"namespace": root[0], "name": root[1]}}
    return facet


def event(producer: str, event_type: str, at: str, run: str, namespace: str, job: str, *,
          run_facets: dict[str, Any] | None = None, inputs: list[dict] = (), outputs: list[dict] = ()) -> dict:
    return {"eventType": event_type, "eventTime": at, "producer": producer, "schemaURL": RUN_EVENT,
            "run": {"runId": run, "facets": run_facets or {}},
            "job": {"namespace": namespace, "name": job, "facets": {}},
            "inputs": list(inputs), "outputs": list(outputs)}


def spark_run(job: str, start: str, end: str, inputs: list[dict], outputs: list[dict], *, run: str | None = None,
              parent_run: tuple[str, str, str] | None = None) -> list[dict]:
    """START and COMPLETE of one Spark run (job namespace ``spark``); ``parent_run``:
    (namespace, job, run id) of its parent (the application run, or an Airflow task run)."""
    run = run or run_id()
    facets: dict[str, Any] = {"processing_engine": _facet(
        SPARK, "1-1-1/ProcessingEngineRunFacet.json", name="spark", version="3.5.1",
        openlineageAdapterVersion="1.54.0")}
    if parent_run is not None:
        facets["parent"] = parent(SPARK, *parent_run)
    return [event(SPARK, "START", start, run, "spark", job, run_facets=facets, inputs=inputs),
            event(SPARK, "COMPLETE", end, run, "spark", job, run_facets=facets, inputs=inputs, outputs=outputs)]


def dbt_run(model: str, start: str, end: str, inputs: list[dict], outputs: list[dict], *,
            invocation: str, run: str | None = None) -> list[dict]:
    """START and COMPLETE of one dbt model run (job namespace ``dbt``), child of the dbt
    invocation ``invocation`` (a run id this store never receives events of)."""
    run = run or run_id()
    facets = {"parent": parent(DBT, "dbt", "dbt-run-analytics", invocation),
              "dbt_version": _facet(DBT, "1-0-0/DbtVersionRunFacet.json", version="1.8.0")}
    return [event(DBT, "START", start, run, "dbt", model, run_facets=facets, inputs=inputs, outputs=outputs),
            event(DBT, "COMPLETE", end, run, "dbt", model, run_facets=facets, inputs=inputs, outputs=outputs)]


def airflow_task_run(dag_id: str, task_id: str, dag_run_id: str, start: str, end: str, *,
                     run: str, dag_run: str, try_number: int = 1, logical_date: str | None = None,
                     state: str = "COMPLETE") -> list[dict]:
    """The provider's START and terminal event of one task instance (job ``<dag_id>.<task_id>``
    in the provider's default namespace)."""
    facets = {
        "airflow": _facet(AIRFLOW, "2-0-2/OpenLineage.json#/$defs/RunFacet",
                          dag={"dag_id": dag_id, "owner": "airflow", "timetable_summary": "None"},
                          dagRun={"dag_id": dag_id, "run_id": dag_run_id, "logical_date": logical_date,
                                  "run_type": "manual", "clear_number": 0},
                          task={"task_id": task_id, "operator_class": "SparkSubmitOperator"},
                          taskInstance={"try_number": try_number, "pool": "default_pool"},
                          taskUuid=run),
        "parent": parent(AIRFLOW, "default", dag_id, dag_run, ("default", dag_id, dag_run)),
    }
    job = f"{dag_id}.{task_id}"
    return [event(AIRFLOW, "START", start, run, "default", job, run_facets=facets),
            event(AIRFLOW, state, end, run, "default", job, run_facets=facets)]
