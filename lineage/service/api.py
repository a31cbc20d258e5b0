"""The version-aware JSON reads of ``lineage serve`` (impact, upstream, downstream, versions, check,
backfill plan), the questions Marquez cannot answer; Marquez's own reads are in
``lineage.service.marquez``. The answers come from ``lineage.queries`` and ``lineage.backfill``."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query

from lineage import backfill, queries
from lineage.service import paths  # noqa: F401 - registers the "segment" path convertor
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

    # -- version-aware reads ---------------------------------------------------------------------
    def graph_endpoint(query: str):
        # A closure per query: a default argument would be a query parameter callers could set.
        def endpoint(artifact: str, depth: int = Query(queries.DEFAULT_DEPTH, ge=0, le=100),
                     as_of: str | None = None) -> dict:
            return graph_for(store, query, artifact, depth, as_of).to_json()
        return endpoint

    for name in ("impact", "upstream", "downstream"):
        router.get(f"/api/v1/{name}", name=name)(graph_endpoint(name))

    @router.get("/api/v1/versions/{dataset:segment}")
    def versions(dataset: str) -> list[dict]:
        return [v.__dict__ for v in queries.versions(store, dataset)]

    @router.get("/api/v1/check")
    def check() -> dict:
        return queries.check(store).to_json()

    @router.get("/api/v1/backfill/plan")
    def backfill_plan(artifact: str | None = None, fixed: str | None = None) -> dict:
        if bool(artifact) == bool(fixed):
            raise HTTPException(400, "give artifact=DATASET@BAD_VERSION or fixed=DATASET[@FIXED_VERSION]")
        if fixed:
            dataset, version = queries.parse_artifact(fixed)
            return backfill.plan_fixed(store, dataset, version=version).to_json()
        dataset, version = queries.parse_artifact(artifact)
        if not version:
            raise HTTPException(400, f"give the bad version: {dataset}@VERSION")
        return backfill.plan_bad_version(store, dataset, version).to_json()

    return router

