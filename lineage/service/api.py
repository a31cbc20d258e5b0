"""The JSON reads of ``lineage serve``: Marquez-compatible (``/api/v1/lineage?nodeId=...``, a
dataset's versions, a job's runs) and the version-aware questions (impact, upstream, downstream,
versions, check, backfill plan). The answers come from ``lineage.queries`` and ``lineage.backfill``."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query

from lineage import backfill, queries
from lineage.store import LineageStore


def graph_for(store: LineageStore, query: str, artifact: str, depth: int, as_of: str | None) -> queries.LineageGraph:
    """The ``query`` (impact, upstream or downstream) graph of ``artifact`` (``DATASET[@VERSION]``)."""
    dataset, version = queries.parse_artifact(artifact)
    if query == "impact":
        return queries.impact(store, dataset, version or "", depth=depth, as_of=as_of)
    return getattr(queries, query)(store, dataset, version, depth=depth, as_of=as_of)


def api_router(store: LineageStore) -> APIRouter:
    """The JSON read endpoints over ``store``."""
    router = APIRouter()

    # -- Marquez-compatible reads ---------------------------------------------------------------
    @router.get("/api/v1/lineage")
    def marquez_lineage(node_id: str = Query(alias="nodeId"), depth: int = Query(20, ge=0, le=100)) -> dict:
        return {"graph": queries.job_dataset_graph(store, node_id, depth)}

    @router.get("/api/v1/namespaces/{ns}/datasets/{name}/versions")
    def dataset_versions(ns: str, name: str, limit: int = 100, offset: int = 0) -> dict:
        found = queries.versions(store, name)
        rows = [{"namespace": ns, "name": name, "version": v.version, "createdAt": v.first_committed or v.first_read,
                 "partition": v.partition, "current": v.current, "producers": v.producers}
                for v in sorted(found, key=lambda v: v.first_committed or v.first_read or "", reverse=True)]
        return {"versions": rows[offset:offset + limit], "totalCount": len(rows)}

    @router.get("/api/v1/namespaces/{ns}/jobs/{job}/runs")
    def job_runs(ns: str, job: str, limit: int = 100, offset: int = 0) -> dict:
        total, found = queries.job_runs(store, ns, job, limit=limit, offset=offset)
        return {"runs": [_marquez_run(run) for run in found], "totalCount": total}

    # -- version-aware reads ---------------------------------------------------------------------
    for name in ("impact", "upstream", "downstream"):
        def endpoint(artifact: str, depth: int = Query(queries.DEFAULT_DEPTH, ge=0, le=100),
                     as_of: str | None = None, _query: str = name) -> dict:
            return graph_for(store, _query, artifact, depth, as_of).to_json()
        router.get(f"/api/v1/{name}", name=name)(endpoint)

    @router.get("/api/v1/versions/{dataset}")
    def versions(dataset: str) -> list[dict]:
        return [v.__dict__ for v in queries.versions(store, dataset)]

    @router.get("/api/v1/check")
    def check() -> dict:
        return queries.check(store).to_json()

    @router.get("/api/v1/backfill/plan")
    def backfill_plan(artifact: str | None = None, fixed: str | None = None) -> dict:
        if bool(artifact) == bool(fixed):
            raise HTTPException(400, "give artifact=DATASET@BAD_VERSION or fixed=DATASET")
        if fixed:
            return backfill.plan_fixed(store, fixed).to_json()
        dataset, version = queries.parse_artifact(artifact)
        if not version:
            raise HTTPException(400, f"give the bad version: {dataset}@VERSION")
        return backfill.plan_bad_version(store, dataset, version).to_json()

    return router


def _marquez_run(run: queries.Run) -> dict:
    return {"id": run.run_id, "state": run.state, "startedAt": run.start_time, "endedAt": run.end_time,
            "createdAt": run.start_time, "updatedAt": run.end_time or run.start_time,
            "facets": {"airflow": {"dagId": run.dag_id, "dagRunId": run.dag_run_id, "taskId": run.task_id,
                                   "logicalDate": run.logical_date}}}
