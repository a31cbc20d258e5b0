"""Marquez's API v1 reads (its published OpenAPI spec), over the store: what marquez-python and
Marquez's web UI call. The answers are built by ``lineage.queries.marquez`` and
``lineage.queries.marquez_graph`` (how the store maps onto Marquez's model is said there).

Names travel as percent-encoded path segments (``lineage.service.paths``), so namespaces like
``s3://bucket`` and dataset names with ``/`` work in every route. What does not exist is 404
(an unknown namespace, dataset, version, job or run); a bad parameter (a negative or
non-integer ``limit`` / ``offset`` / ``depth``, a malformed ``nodeId``, an unknown ``type``) is 400.

Beyond the spec, for marquez-python 0.50: its ``list_events`` calls ``/events`` and
``/events/{namespace}``, which answer as ``/events/lineage`` (the second one filtered to the
jobs of that namespace; a namespace called ``lineage`` is shadowed there by Marquez's route).
"""

from __future__ import annotations

from fastapi import APIRouter, Query

from lineage.queries import marquez, marquez_graph
from lineage.service import paths  # noqa: F401 - registers the "segment" path convertor
from lineage.store import LineageStore

PREFIX = "/api/v1"
NS = "/namespaces/{namespace:segment}"
DATASET = NS + "/datasets/{dataset:segment}"
JOB = NS + "/jobs/{job:segment}"


def _limit(default: int = 100) -> int:
    return Query(default, ge=0, description="results to return from offset")


def _offset() -> int:
    return Query(0, ge=0, description="results to skip")


def marquez_router(store: LineageStore) -> APIRouter:
    """Marquez's read endpoints over ``store``."""
    router = APIRouter(prefix=PREFIX, tags=["Marquez API v1"])

    @router.get("/namespaces")
    def list_namespaces(limit: int = _limit(), offset: int = _offset()) -> dict:
        return marquez.namespaces(store, limit=limit, offset=offset)

    @router.get(NS)
    def get_namespace(namespace: str) -> dict:
        return marquez.namespace(store, namespace)

    @router.get(NS + "/datasets")
    def list_datasets(namespace: str, limit: int = _limit(), offset: int = _offset()) -> dict:
        return marquez.datasets(store, namespace, limit=limit, offset=offset)

    @router.get(DATASET)
    def get_dataset(namespace: str, dataset: str) -> dict:
        return marquez.dataset(store, namespace, dataset)

    @router.get(DATASET + "/versions")
    def list_dataset_versions(namespace: str, dataset: str, limit: int = _limit(), offset: int = _offset()) -> dict:
        return marquez.dataset_versions(store, namespace, dataset, limit=limit, offset=offset)

    @router.get(DATASET + "/versions/{version:segment}")
    def get_dataset_version(namespace: str, dataset: str, version: str) -> dict:
        return marquez.dataset_version(store, namespace, dataset, version)

    @router.get("/jobs")
    def list_all_jobs(limit: int = _limit(), offset: int = _offset()) -> dict:
        return marquez.jobs(store, None, limit=limit, offset=offset)

    @router.get(NS + "/jobs")
    def list_jobs(namespace: str, limit: int = _limit(), offset: int = _offset()) -> dict:
        return marquez.jobs(store, namespace, limit=limit, offset=offset)

    @router.get(JOB)
    def get_job(namespace: str, job: str) -> dict:
        return marquez.job(store, namespace, job)

    @router.get(JOB + "/versions")
    def list_job_versions(namespace: str, job: str, limit: int = _limit(), offset: int = _offset()) -> dict:
        return marquez.job_versions(store, namespace, job, limit=limit, offset=offset)

    @router.get(JOB + "/versions/{version:segment}")
    def get_job_version(namespace: str, job: str, version: str) -> dict:
        return marquez.job_version(store, namespace, job, version)

    @router.get(JOB + "/runs")
    def list_job_runs(namespace: str, job: str, limit: int = _limit(), offset: int = _offset()) -> dict:
        return marquez.job_runs(store, namespace, job, limit=limit, offset=offset)

    @router.get("/jobs/runs/{run_id:segment}")
    def get_run(run_id: str) -> dict:
        return marquez.run(store, run_id)

    @router.get("/jobs/runs/{run_id:segment}/facets")
    def get_run_facets(run_id: str, type: str = Query(description="run or job")) -> dict:  # noqa: A002 - Marquez's name
        return marquez.run_facets(store, run_id, type)

    @router.get("/lineage")
    def get_lineage(node_id: str = Query(alias="nodeId"), depth: int = Query(20, ge=0)) -> dict:
        return {"graph": marquez_graph.lineage_graph(store, node_id, depth)}

    @router.get("/search")
    def search(q: str, filter: str | None = None, sort: str = "NAME", limit: int = _limit(10),  # noqa: A002
               namespace: str | None = None, before: str | None = None, after: str | None = None) -> dict:
        return marquez.search(store, q, filter=filter, sort=sort, limit=limit, namespace_name=namespace,
                              before=before, after=after)

    @router.get("/tags")
    def list_tags(limit: int = _limit(), offset: int = _offset()) -> dict:
        return {"tags": []}  # the store keeps no tags

    def events(namespace: str | None, before: str | None, after: str | None, sort_direction: str, limit: int,
               offset: int) -> dict:
        return marquez.lineage_events(store, before=before, after=after, sort_direction=sort_direction,
                                      limit=limit, offset=offset, namespace_name=namespace)

    @router.get("/events/lineage")
    def lineage_events(before: str | None = None, after: str | None = None,
                       sort_direction: str = Query("desc", alias="sortDirection"), limit: int = _limit(),
                       offset: int = _offset()) -> dict:
        return events(None, before, after, sort_direction, limit, offset)

    @router.get("/events")
    def client_events(limit: int = _limit(), offset: int = _offset()) -> dict:
        return events(None, None, None, "desc", limit, offset)

    @router.get("/events/{namespace:segment}")
    def client_namespace_events(namespace: str, limit: int = _limit(), offset: int = _offset()) -> dict:
        return events(namespace, None, None, "desc", limit, offset)

    return router
