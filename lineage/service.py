"""``lineage serve``: the lineage store over HTTP, for producers and for people (DESIGN §4).

    lineage serve [--host 127.0.0.1] [--port 5000]
    OPENLINEAGE_URL=http://127.0.0.1:5000 <any OpenLineage producer>

Write (what OpenLineage's ``http`` transport sends, so the Airflow provider, our jobs and other
integrations can point at it):

- ``POST /api/v1/lineage``: one RunEvent; ``POST /api/v1/lineage/batch``: a JSON array of them
  (or ``{"events": [...]}``). Every event is checked first; one bad event refuses the request
  with 400 saying which and why, and nothing of it is stored. Bodies above
  ``lineage.serve.max_body_bytes`` get 413; gzip bodies are accepted. With a write token
  configured (the environment variable named by ``lineage.serve.write_token_env``) a POST needs
  ``Authorization: Bearer <token>`` (compared in constant time, never logged), else 401.
- A request is answered once its events are appended to the spool (lineage/spool.py); an indexer
  process stores the spool in large batches. An acknowledged event survives the service being
  killed: a restarted service indexes what is left. Reads wait until everything acknowledged
  before they arrived is stored (read-your-writes); ``GET /api/v1/health`` says how far behind
  the indexer is.

Read: Marquez-compatible ``GET /api/v1/lineage?nodeId=dataset:NS:NAME&depth=N`` (the job and
dataset graph), ``GET /api/v1/namespaces/{ns}/datasets/{name}/versions`` and
``GET /api/v1/namespaces/{ns}/jobs/{job}/runs``; and the version-aware questions Marquez cannot
answer: ``/api/v1/impact``, ``/upstream``, ``/downstream`` (``?artifact=DATASET@VERSION``),
``/api/v1/versions/{dataset}``, ``/api/v1/check``, ``/api/v1/backfill/plan`` (dry run).
Unknown datasets or versions give 404 with the reason.

Web: ``/`` lists datasets with a search box; ``/view?artifact=D@V&query=impact`` draws the graph
(server-rendered SVG, no script and nothing fetched at view time) with the impact highlighted
(current vs superseded); ``/runs/{run_id}`` shows a run: its Airflow DAG run and task, inputs and
outputs with versions, and the gate results carried on its inputs.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hmac
import html
import io
import logging
import os
import time
from collections import defaultdict
from typing import Any

import orjson
import sqlalchemy as sa
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from lineage import backfill, graph_render, queries
from lineage.queries import LineageLookupError
from lineage.spool import Indexer, Spool
from lineage.store import (
    LineageStore,
    LineageUsageError,
    MalformedEvent,
    ParsedEvent,
    events,
    parse_event,
    run_inputs,
    run_outputs,
    runs,
)

log = logging.getLogger("lineage.service")
SINGLE_PATH, BATCH_PATH, HEALTH_PATH = "/api/v1/lineage", "/api/v1/lineage/batch", "/api/v1/health"
EVENT_TYPES = {"START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"}


class BadEvent(ValueError):
    """An event the service refuses (the message says which field and why)."""


def check_event(body: Any) -> ParsedEvent:
    """The parsed event, or BadEvent unless ``body`` is a RunEvent with the fields the OpenLineage
    spec requires."""
    if not isinstance(body, dict):
        raise BadEvent(f"expected a JSON object (a RunEvent), got {type(body).__name__}")
    for field in ("eventTime", "producer", "schemaURL"):
        if not isinstance(body.get(field), str) or not body[field]:
            raise BadEvent(f"{field} is required (a non-empty string)")
    run, job = body.get("run"), body.get("job")
    if not isinstance(run, dict) or not isinstance(job, dict):
        raise BadEvent("run and job are required objects (only RunEvents are accepted)")
    if not isinstance(run.get("runId"), str) or not run["runId"]:
        raise BadEvent("run.runId is required")
    for field in ("namespace", "name"):
        if not isinstance(job.get(field), str) or not job[field]:
            raise BadEvent(f"job.{field} is required")
    if body.get("eventType") is not None and str(body["eventType"]).upper() not in EVENT_TYPES:
        raise BadEvent(f"eventType {body['eventType']!r} is not one of {sorted(EVENT_TYPES)}")
    for side in ("inputs", "outputs"):
        datasets = body.get(side) or []
        if not isinstance(datasets, list):
            raise BadEvent(f"{side} must be a list")
        for i, dataset in enumerate(datasets):
            if not isinstance(dataset, dict) or not dataset.get("namespace") or not dataset.get("name"):
                raise BadEvent(f"{side}[{i}] needs a namespace and a name")
    try:
        return parse_event(body)
    except MalformedEvent as exc:
        raise BadEvent(str(exc)) from None


class RequestRefused(Exception):
    """A write the service answers with ``status`` and ``detail``; nothing of it is stored."""

    def __init__(self, status: int, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.headers = status, detail, headers or {}


class IngestRoutes:
    """``POST /api/v1/lineage`` and ``/batch`` as plain ASGI in front of the FastAPI app.

    Producers send one small request per event, so the per-request cost bounds throughput:
    FastAPI's routing, dependency solving and response encoding were about half the server's CPU
    per event (profiled). A write is checked, appended to the spool and answered; every other
    request waits until the indexer has stored what the spool held when it arrived
    (read-your-writes), then goes to the FastAPI app (lifespan included).
    """

    def __init__(self, app: FastAPI, spool: Spool, indexer: Indexer, *, max_body_bytes: int,
                 write_token: str | None, read_wait_s: float):
        self.app, self.spool, self.indexer = app, spool, indexer
        self.max_body_bytes, self.read_wait_s = max_body_bytes, read_wait_s
        self._expected = f"Bearer {write_token}".encode() if write_token else None
        self.state = app.state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = scope["path"].rstrip("/")
        if scope["method"] == "POST" and route in (SINGLE_PATH, BATCH_PATH):
            await self._write(route, scope, receive, send)
            return
        if route != HEALTH_PATH and not await self.wait_indexed(self.spool.end):
            await _send_json(send, 503, {"detail": f"the indexer is more than {self.read_wait_s:g} s behind the "
                                                   "acknowledged events; try again"}, {"retry-after": "5"})
            return
        await self.app(scope, receive, send)  # reads (GET /api/v1/lineage is Marquez's graph), pages

    async def _write(self, route: str, scope: dict, receive: Any, send: Any) -> None:
        headers = {k.decode("latin-1").lower(): v for k, v in scope["headers"]}
        try:
            self._authorise(headers)
            body = await self._read_json(headers, receive)
            parsed = _check_batch(body) if route == BATCH_PATH else [_check_single(body)]
        except RequestRefused as refused:
            await _send_json(send, refused.status, {"detail": refused.detail}, refused.headers)
            return
        if parsed:
            # The canonical JSON the store keeps: one line each (orjson escapes every newline).
            self.spool.append(b"".join(p.raw.encode() + b"\n" for p in parsed))
            self.indexer.wake()
        await _send_json(send, 201, {"accepted": len(parsed)})

    async def wait_indexed(self, position: int) -> bool:
        """Wait until the store holds everything up to spool ``position``; False after
        ``read_wait_s``."""
        deadline = time.monotonic() + self.read_wait_s
        while self.indexer.indexed.value < position:
            if time.monotonic() > deadline:
                return False
            self.indexer.ensure_running()
            await asyncio.sleep(0.002)
        return True

    def _authorise(self, headers: dict[str, bytes]) -> None:
        if self._expected is None:
            return
        if not hmac.compare_digest(headers.get("authorization", b""), self._expected):
            raise RequestRefused(401, "a valid 'Authorization: Bearer <token>' header is required to write",
                                 {"www-authenticate": "Bearer"})

    async def _read_json(self, headers: dict[str, bytes], receive: Any) -> Any:
        limit = self.max_body_bytes
        declared = headers.get("content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            raise RequestRefused(413, f"request body over {limit} bytes")
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise RequestRefused(400, "client disconnected before the body was complete")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestRefused(413, f"request body over {limit} bytes")
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if headers.get("content-encoding", b"").lower() == b"gzip":
            try:
                with gzip.GzipFile(fileobj=io.BytesIO(body)) as fh:
                    body = fh.read(limit + 1)
            except (OSError, EOFError) as exc:
                raise RequestRefused(400, f"body is not valid gzip: {exc}") from None
            if len(body) > limit:
                raise RequestRefused(413, f"decompressed body over {limit} bytes")
        if not body:
            raise RequestRefused(400, "empty body: expected a JSON RunEvent")
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise RequestRefused(400, f"malformed JSON: {exc}") from None


def _check_single(body: Any) -> ParsedEvent:
    try:
        return check_event(body)
    except BadEvent as exc:
        raise RequestRefused(400, f"not stored: {exc}") from None


def _check_batch(body: Any) -> list[ParsedEvent]:
    items = body.get("events") if isinstance(body, dict) else body
    if not isinstance(items, list):
        raise RequestRefused(400, "expected a JSON array of RunEvents (or {\"events\": [...]})")
    problems, parsed = [], []
    for i, item in enumerate(items):
        try:
            parsed.append(check_event(item))
        except BadEvent as exc:
            problems.append(f"[{i}] {exc}")
    if problems:
        raise RequestRefused(400, f"nothing stored: {len(problems)} of {len(items)} events refused: "
                                  + "; ".join(problems[:20]))
    return parsed


async def _send_json(send: Any, status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
    body = orjson.dumps(payload)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def create_app(store: LineageStore, spool_dir: str | os.PathLike[str], *, max_body_bytes: int = 10_000_000,
               write_token: str | None = None, read_wait_s: float = 30.0,
               spool_segment_bytes: int = 64 << 20) -> IngestRoutes:
    """The application ``lineage serve`` runs with uvicorn: the write endpoints (plain ASGI,
    appending to the spool in ``spool_dir``) in front of the FastAPI app that serves everything
    else; an indexer process stores the spool in ``store``."""
    url = store.engine.url
    spool = Spool(spool_dir, url.render_as_string(hide_password=True), spool_segment_bytes)
    indexer = Indexer(url.render_as_string(hide_password=False), spool.folder)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI):
        yield
        spool.close()
        await asyncio.to_thread(indexer.stop)  # store what was acknowledged before going

    app = FastAPI(title="lineage", summary=__doc__.splitlines()[0], lifespan=lifespan)

    @app.get(HEALTH_PATH)
    async def health(wait: bool = False) -> dict:
        """How far the indexer is behind the spool (``wait``: answer once it has caught up)."""
        end = spool.end
        if wait and not await routes.wait_indexed(end):
            raise HTTPException(503, "the indexer did not catch up in time")
        indexed = indexer.indexed.value
        return {"spooled": end, "indexed": indexed, "behind_bytes": max(0, end - indexed)}

    @app.exception_handler(LineageLookupError)
    def _not_found(_: Request, exc: LineageLookupError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(LineageUsageError)
    def _bad_usage(_: Request, exc: LineageUsageError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    # -- Marquez-compatible reads ---------------------------------------------------------------
    @app.get("/api/v1/lineage")
    def marquez_lineage(node_id: str = Query(alias="nodeId"), depth: int = Query(20, ge=0, le=100)) -> dict:
        return {"graph": job_dataset_graph(store, node_id, depth)}

    @app.get("/api/v1/namespaces/{ns}/datasets/{name}/versions")
    def dataset_versions(ns: str, name: str, limit: int = 100, offset: int = 0) -> dict:
        found = queries.versions(store, name)
        rows = [{"namespace": ns, "name": name, "version": v.version, "createdAt": v.first_committed or v.first_read,
                 "partition": v.partition, "current": v.current, "producers": v.producers}
                for v in sorted(found, key=lambda v: v.first_committed or v.first_read or "", reverse=True)]
        return {"versions": rows[offset:offset + limit], "totalCount": len(rows)}

    @app.get("/api/v1/namespaces/{ns}/jobs/{job}/runs")
    def job_runs(ns: str, job: str, limit: int = 100, offset: int = 0) -> dict:
        with store.connect() as conn:
            total = conn.execute(sa.select(sa.func.count()).select_from(runs).where(
                runs.c.job_name == job, runs.c.job_namespace == ns)).scalar_one()
            ids = conn.execute(sa.select(runs.c.run_id).where(runs.c.job_name == job, runs.c.job_namespace == ns)
                               .order_by(runs.c.start_time.desc()).limit(limit).offset(offset)).scalars().all()
            loaded = queries.load_runs(conn, ids)
        return {"runs": [_marquez_run(loaded[i]) for i in ids], "totalCount": total}

    # -- version-aware reads ---------------------------------------------------------------------
    def graph_of(query: str, artifact: str, depth: int, as_of: str | None) -> queries.LineageGraph:
        dataset, version = queries.parse_artifact(artifact)
        if query == "impact":
            return queries.impact(store, dataset, version or "", depth=depth, as_of=as_of)
        return getattr(queries, query)(store, dataset, version, depth=depth, as_of=as_of)

    for name in ("impact", "upstream", "downstream"):
        def endpoint(artifact: str, depth: int = Query(queries.DEFAULT_DEPTH, ge=0, le=100),
                     as_of: str | None = None, _query: str = name) -> dict:
            return graph_of(_query, artifact, depth, as_of).to_json()
        app.get(f"/api/v1/{name}", name=name)(endpoint)

    @app.get("/api/v1/versions/{dataset}")
    def versions(dataset: str) -> list[dict]:
        return [v.__dict__ for v in queries.versions(store, dataset)]

    @app.get("/api/v1/check")
    def check() -> dict:
        return queries.check(store).to_json()

    @app.get("/api/v1/backfill/plan")
    def backfill_plan(artifact: str | None = None, fixed: str | None = None) -> dict:
        if bool(artifact) == bool(fixed):
            raise HTTPException(400, "give artifact=DATASET@BAD_VERSION or fixed=DATASET")
        if fixed:
            return backfill.plan_fixed(store, fixed).to_json()
        dataset, version = queries.parse_artifact(artifact)
        if not version:
            raise HTTPException(400, f"give the bad version: {dataset}@VERSION")
        return backfill.plan_bad_version(store, dataset, version).to_json()

    # -- pages -------------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse)
    def home(q: str = "") -> str:
        with store.connect() as conn:
            names = [n for n in queries.known_datasets(conn) if q.lower() in n.lower()]
        rows = "".join(
            f"<li><a href='/versions/{html.escape(n)}'>{html.escape(n)}</a></li>" for n in names)
        return _page("lineage", f"""
<form action="/" method="get"><input name="q" value="{html.escape(q)}" placeholder="dataset name">
<button>search</button></form>
<form action="/view" method="get"><input name="artifact" size="50" placeholder="DATASET@VERSION">
<select name="query"><option>impact</option><option>upstream</option><option>downstream</option></select>
<button>show</button></form>
<h2>Datasets{f' matching “{html.escape(q)}”' if q else ''} ({len(names)})</h2><ul id="datasets">{rows}</ul>""")

    @app.get("/versions/{dataset}", response_class=HTMLResponse)
    def versions_page(dataset: str) -> str:
        rows = "".join(
            f"<tr class='{'current' if v.current else 'superseded'}'><td>{html.escape(v.partition)}</td>"
            f"<td><code>{html.escape(v.version)}</code></td><td>{'current' if v.current else 'superseded'}</td>"
            f"<td>{html.escape(v.last_committed or v.first_read or '')}</td>"
            f"<td><a href='/view?artifact={html.escape(dataset)}@{html.escape(v.version)}&query=impact'>impact</a> "
            f"<a href='/view?artifact={html.escape(dataset)}@{html.escape(v.version)}&query=upstream'>upstream</a>"
            f"</td></tr>" for v in queries.versions(store, dataset))
        return _page(dataset, f"<table><tr><th>partition</th><th>version</th><th>status</th><th>committed</th>"
                              f"<th></th></tr>{rows}</table>")

    @app.get("/view", response_class=HTMLResponse)
    def view(artifact: str, query: str = "impact", depth: int = Query(queries.DEFAULT_DEPTH, ge=0, le=100)) -> str:
        if query not in ("impact", "upstream", "downstream"):
            raise HTTPException(400, "query is impact, upstream or downstream")
        page = graph_render.to_html(graph_of(query, artifact, depth, None))
        links = "".join(f"<li><a href='/runs/{html.escape(r.run_id)}'>{html.escape(r.job)} "
                        f"{html.escape(r.logical_date or '')}</a></li>"
                        for r in graph_of(query, artifact, depth, None).runs)
        return page.replace("</body>", f"<h2>Run details</h2><ul id='runs'>{links}</ul><p><a href='/'>home</a></p>"
                                       "</body>")

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(run_id: str) -> str:
        return _page(f"run {run_id}", run_details_html(store, run_id))

    routes = IngestRoutes(app, spool, indexer, max_body_bytes=max_body_bytes, write_token=write_token,
                          read_wait_s=read_wait_s)
    return routes


def _marquez_run(run: queries.Run) -> dict:
    return {"id": run.run_id, "state": run.state, "startedAt": run.start_time, "endedAt": run.end_time,
            "createdAt": run.start_time, "updatedAt": run.end_time or run.start_time,
            "facets": {"airflow": {"dagId": run.dag_id, "dagRunId": run.dag_run_id, "taskId": run.task_id,
                                   "logicalDate": run.logical_date}}}


def _split_node_id(conn: Any, node_id: str) -> tuple[str, str, str]:
    """``dataset:NS:NAME`` / ``job:NS:NAME``; namespaces may hold ':' (s3://...), so the known
    namespaces of the store decide where the name starts."""
    kind, _, rest = node_id.partition(":")
    if kind not in ("dataset", "job") or not rest:
        raise LineageUsageError(f"nodeId must be dataset:NAMESPACE:NAME or job:NAMESPACE:NAME, got {node_id!r}")
    if kind == "dataset":
        known = {n for (n,) in conn.execute(sa.select(run_inputs.c.namespace).distinct())} | {
            n for (n,) in conn.execute(sa.select(run_outputs.c.namespace).distinct())}
    else:
        known = {n for (n,) in conn.execute(sa.select(runs.c.job_namespace).distinct())}
    for namespace in sorted((k for k in known if k), key=len, reverse=True):
        if rest.startswith(namespace + ":"):
            return kind, namespace, rest[len(namespace) + 1:]
    namespace, _, name = rest.rpartition(":")
    return kind, namespace, name


def job_dataset_graph(store: LineageStore, node_id: str, depth: int) -> list[dict]:
    """Marquez's lineage graph around a node: jobs and datasets (all versions folded), edges
    job -> dataset it wrote and dataset -> job that read it, ``depth`` hops both ways."""
    with store.connect() as conn:
        kind, namespace, name = _split_node_id(conn, node_id)
        start = f"{kind}:{namespace}:{name}"
        reads = defaultdict(set)   # dataset id -> job ids reading it
        writes = defaultdict(set)  # job id -> dataset ids it wrote
        read_by = defaultdict(set)  # job id -> dataset ids it read
        written_by = defaultdict(set)  # dataset id -> job ids writing it
        seen, frontier = {start}, {start}
        for _ in range(depth + 1):
            datasets = [n.split(":", 2)[2] for n in frontier if n.startswith("dataset:")]
            jobs = [n.split(":", 2)[2] for n in frontier if n.startswith("job:")]
            found: set[str] = set()
            for table, side in ((run_inputs, "in"), (run_outputs, "out")):
                query = sa.select(table.c.dataset, table.c.namespace, runs.c.job_name, runs.c.job_namespace).join(
                    runs, runs.c.run_id == table.c.run_id).distinct()
                conditions = []
                if datasets:
                    conditions.append(table.c.dataset.in_(datasets))
                if jobs:
                    conditions.append(runs.c.job_name.in_(jobs))
                if not conditions:
                    continue
                for dataset, ds_ns, job, job_ns in conn.execute(query.where(sa.or_(*conditions))):
                    d, j = f"dataset:{ds_ns or namespace}:{dataset}", f"job:{job_ns}:{job}"
                    if side == "in":
                        reads[d].add(j)
                        read_by[j].add(d)
                    else:
                        writes[j].add(d)
                        written_by[d].add(j)
                    found |= {d, j}
            frontier = found - seen
            seen |= found
            if not frontier:
                break
        if start not in seen or (len(seen) == 1 and not (reads or writes)):
            raise LineageLookupError(f"no {kind} {name!r} in namespace {namespace!r}")
    graph = []
    for node in sorted(seen):
        node_kind, ns, node_name = node.split(":", 2)
        if node_kind == "dataset":
            in_edges = [{"origin": j, "destination": node} for j in sorted(written_by[node])]
            out_edges = [{"origin": node, "destination": j} for j in sorted(reads[node])]
        else:
            in_edges = [{"origin": d, "destination": node} for d in sorted(read_by[node])]
            out_edges = [{"origin": node, "destination": d} for d in sorted(writes[node])]
        graph.append({"id": node, "type": node_kind.upper(), "data": {"namespace": ns, "name": node_name},
                      "inEdges": in_edges, "outEdges": out_edges})
    return graph


def run_details_html(store: LineageStore, run_id: str) -> str:
    """A run: job, state, Airflow DAG run and task, inputs and outputs with versions, and the gate
    results (``dataQualityAssertions``) its events carried on its inputs."""
    with store.connect() as conn:
        loaded = queries.load_runs(conn, [run_id])
        if run_id not in loaded:
            raise LineageLookupError(f"no run {run_id!r}")
        run = loaded[run_id]
        ins = conn.execute(sa.select(run_inputs).where(run_inputs.c.run_id == run_id)).mappings().all()
        outs = conn.execute(sa.select(run_outputs).where(run_outputs.c.run_id == run_id)).mappings().all()
        raws = conn.execute(sa.select(events.c.raw).where(events.c.run_id == run_id)).scalars().all()
    assertions = []
    for raw in raws:
        for dataset in orjson.loads(raw).get("inputs") or []:
            facet = ((dataset.get("inputFacets") or {}).get("dataQualityAssertions") or {})
            for a in facet.get("assertions") or []:
                assertions.append((dataset.get("name"), a))
    def link(row: Any) -> str:
        artifact = f"{row['dataset']}@{row['version']}"
        return (f"<tr><td><a href='/view?artifact={html.escape(artifact)}&query=upstream'>{html.escape(row['dataset'])}"
                f"</a></td><td>{html.escape(row['partition'])}</td><td><code>{html.escape(row['version'])}</code></td></tr>")
    gate_rows = "".join(
        f"<tr class='{'ok' if a.get('success') else 'failed'}'><td>{html.escape(str(d))}</td>"
        f"<td>{html.escape(str(a.get('assertion')))}</td><td>{html.escape(str(a.get('column') or ''))}</td>"
        f"<td>{'pass' if a.get('success') else 'FAIL'}</td><td>{html.escape(str(a.get('severity') or ''))}</td></tr>"
        for d, a in assertions)
    gates = ('<table id="gates"><tr><th>dataset</th><th>assertion</th><th>column</th><th>result</th>'
             f"<th>severity</th></tr>{gate_rows}</table>" if assertions else "<p>none carried by this run</p>")
    return f"""
<table id="run">
<tr><th>job</th><td>{html.escape(run.job)}</td></tr>
<tr><th>state</th><td>{html.escape(run.state)}{' (content-addressed skip)' if run.skipped else ''}</td></tr>
<tr><th>DAG / task</th><td>{html.escape(run.dag_id or '-')} / {html.escape(run.task_id or '-')}</td></tr>
<tr><th>DAG run</th><td>{html.escape(run.dag_run_id or '-')}</td></tr>
<tr><th>logical date</th><td>{html.escape(run.logical_date or '-')}</td></tr>
<tr><th>started / ended</th><td>{html.escape(run.start_time)} / {html.escape(run.end_time or '-')}</td></tr>
{f"<tr><th>error</th><td>{html.escape(run.error)}</td></tr>" if run.error else ''}
</table>
<h2>Inputs</h2><table id="inputs"><tr><th>dataset</th><th>partition</th><th>version</th></tr>
{''.join(link(r) for r in ins)}</table>
<h2>Outputs</h2><table id="outputs"><tr><th>dataset</th><th>partition</th><th>version</th></tr>
{''.join(link(r) for r in outs)}</table>
<h2>Gate results</h2>
{gates}"""


def _page(title: str, body: str) -> str:
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body {{ font-family: system-ui, sans-serif; margin: 1.5em; }} table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #e5e7eb; padding: 3px 8px; text-align: left; }} tr.superseded td {{ color: #6b7280; }}
tr.current td {{ background: #fffbeb; }} tr.failed td {{ background: #fef2f2; }}</style></head>
<body><h1>{html.escape(title)}</h1>{body}<p><a href="/">home</a></p></body></html>"""


def serve(cfg: Any, store: LineageStore, host: str | None = None, port: int | None = None) -> None:
    """Run the service with uvicorn until interrupted."""
    import uvicorn

    settings = cfg.lineage.serve
    token = os.environ.get(settings.write_token_env) or None
    spool_dir = settings.spool_dir.replace("{data_root}", cfg.data_root)
    if "://" in spool_dir:
        raise LineageUsageError(f"lineage.serve.spool_dir {spool_dir!r} is not a local folder: set it to one "
                                "(the spool is appended to on every write)")
    app = create_app(store, spool_dir, max_body_bytes=settings.max_body_bytes, write_token=token,
                     read_wait_s=settings.read_wait_s, spool_segment_bytes=settings.spool_segment_bytes)
    log.info("lineage service on http://%s:%s (writes %s)", host or settings.host, port or settings.port,
             "need a bearer token" if token else "open")
    uvicorn.run(app, host=host or settings.host, port=port or settings.port, log_level="info",
                access_log=False, timeout_graceful_shutdown=10)

