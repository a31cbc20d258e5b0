"""``lineage serve``: the lineage store over HTTP, for producers and for people (docs/architecture.md#lineage).

    lineage serve [--host 127.0.0.1] [--port 5000]
    OPENLINEAGE_URL=http://127.0.0.1:5000 <any OpenLineage producer>

Write (what OpenLineage's ``http`` transport sends, so the Airflow provider, our jobs and other
integrations can point at it):

- ``POST /api/v1/lineage``: one RunEvent; ``POST /api/v1/lineage/batch``: a JSON array of them
  (or ``{"events": [...]}``). Every event is checked first; one bad event refuses the request
  with 400 saying which and why, and nothing of it is stored. Bodies above
  ``lineage.serve.max_body_bytes`` get 413; gzip bodies are accepted. With a write token
  configured (the environment variable named by ``lineage.serve.write_token_env``) a POST needs
  ``Authorization: Bearer <token>`` (compared in constant time, never logged), else 401. Writes
  must be ``Content-Type: application/json`` (else 415); a request whose ``Host`` is not in
  ``lineage.serve.allowed_hosts`` (loopback names by default), or a write from a browser whose
  ``Origin`` is not in ``allowed_origins``, gets 403 (docs/threat-model.md). An event the indexer
  still cannot store is set aside in the spool's dead-letter file (lineage/spool.py).
- A request is answered once its events are appended to the spool (lineage/spool.py); an indexer
  process stores the spool in large batches. An acknowledged event survives the service being
  killed: a restarted service indexes what is left. Reads wait until everything acknowledged
  before they arrived is stored (read-your-writes); ``GET /api/v1/health`` says how far behind
  the indexer is.

Read: Marquez's API v1 (``lineage.service.marquez``: namespaces, datasets and their versions, jobs,
their versions and runs, run facets, search, ``GET /api/v1/lineage?nodeId=dataset:NS:NAME&depth=N``
with full node data, the events), so marquez-python and Marquez's web UI can read the store; and
the version-aware questions Marquez cannot answer: ``/api/v1/impact``, ``/upstream``,
``/downstream`` (``?artifact=DATASET@VERSION``), ``/api/v1/versions/{dataset}``,
``/api/v1/check``, ``/api/v1/backfill/plan`` (dry run). What does not exist gives 404 with the
reason, a bad parameter 400. OpenLineage names (``s3://bucket``, ``postgres://host:5432``,
names with ``/``) go in paths percent-encoded, one segment each (``lineage.service.paths``).

Web: ``/`` lists datasets with a search box; ``/view?artifact=D@V&query=impact`` draws the graph
(server-rendered SVG, no script and nothing fetched at view time) with the impact highlighted
(current vs superseded); ``/runs/{run_id}`` shows a run: its Airflow DAG run and task, inputs and
outputs with versions, and the gate results carried on its inputs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from lineage.queries import LineageLookupError
from lineage.service.api import api_router
from lineage.service.marquez import marquez_router
from lineage.service.pages import pages_router
from lineage.service.paths import EncodedSegments
from lineage.service.writes import LOOPBACK_NAMES, IngestRoutes, health_router
from lineage.spool import Indexer, Spool, spool_folder
from lineage.store import LineageStore, LineageUsageError

log = logging.getLogger("lineage.service")


def create_app(store: LineageStore, spool_dir: str | os.PathLike[str], *, max_body_bytes: int = 10_000_000,
               write_token: str | None = None, read_wait_s: float = 30.0, spool_segment_bytes: int = 64 << 20,
               allowed_hosts: Sequence[str] = LOOPBACK_NAMES,
               allowed_origins: Sequence[str] = LOOPBACK_NAMES) -> IngestRoutes:
    """The application ``lineage serve`` runs with uvicorn: the write endpoints (plain ASGI,
    appending to the spool in ``spool_dir``) in front of the FastAPI app that serves everything
    else; an indexer process stores the spool in ``store``. ``allowed_hosts``: the ``Host`` names
    answered ("*": any); ``allowed_origins``: the browser origins (by host name) that may write."""
    url = store.engine.url
    spool = Spool(spool_dir, url.render_as_string(hide_password=True), spool_segment_bytes)
    indexer = Indexer(url.render_as_string(hide_password=False), spool.folder)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        spool.close()
        await asyncio.to_thread(indexer.stop)  # store what was acknowledged before going

    app = FastAPI(title="lineage", summary=__doc__.splitlines()[0], lifespan=lifespan)
    routes = IngestRoutes(app, spool, indexer, max_body_bytes=max_body_bytes, write_token=write_token,
                          read_wait_s=read_wait_s, allowed_hosts=allowed_hosts, allowed_origins=allowed_origins)
    app.include_router(health_router(routes))
    app.add_exception_handler(LineageLookupError, _not_found)
    app.add_exception_handler(LineageUsageError, _bad_usage)
    app.add_exception_handler(RequestValidationError, _bad_parameters)
    app.add_middleware(EncodedSegments)
    app.include_router(marquez_router(store))
    app.include_router(api_router(store))
    app.include_router(pages_router(store))
    return routes


def _not_found(_: Request, exc: LineageLookupError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=404)


def _bad_usage(_: Request, exc: LineageUsageError) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=400)


def _bad_parameters(_: Request, exc: RequestValidationError) -> JSONResponse:
    # 400 as Marquez answers (FastAPI's default is 422), saying which parameter and why.
    problems = ["{}: {}".format(".".join(str(p) for p in e.get("loc", ())[1:]) or "request", e.get("msg"))
                for e in exc.errors()]
    return JSONResponse({"detail": "; ".join(problems)}, status_code=400)


def serve(cfg: Any, store: LineageStore, host: str | None = None, port: int | None = None,
          allow_hosts: Sequence[str] = (), allow_origins: Sequence[str] = ()) -> None:
    """Run the service with uvicorn until interrupted. ``allow_hosts`` / ``allow_origins`` add to
    the configured ``lineage.serve.allowed_hosts`` / ``allowed_origins``; the address it listens
    on is answered to as well unless it is a wildcard (0.0.0.0, ::)."""
    import uvicorn

    settings = cfg.lineage.serve
    bind = host or settings.host
    hosts = [*settings.allowed_hosts, *allow_hosts, *([bind] if bind not in ("0.0.0.0", "::", "") else [])]
    token = os.environ.get(settings.write_token_env) or None
    spool_dir = spool_folder(cfg)
    app = create_app(store, spool_dir, max_body_bytes=settings.max_body_bytes, write_token=token,
                     read_wait_s=settings.read_wait_s, spool_segment_bytes=settings.spool_segment_bytes,
                     allowed_hosts=hosts, allowed_origins=[*settings.allowed_origins, *allow_origins])
    log.info("lineage service on http://%s:%s (writes %s; answers to Host %s)", bind, port or settings.port,
             "need a bearer token" if token else "open", ", ".join(hosts))
    uvicorn.run(app, host=bind, port=port or settings.port, log_level="info",
                access_log=False, timeout_graceful_shutdown=5)

