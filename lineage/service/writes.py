"""The write path of ``lineage serve``: ``POST /api/v1/lineage`` and ``/batch`` as plain ASGI in
front of the FastAPI app, appending checked events to the spool; reads wait for the indexer
(read-your-writes); ``GET /api/v1/health`` says how far behind it is and how many events were
set aside. Who may write, and what each check protects against: docs/threat-model.md."""

from __future__ import annotations

import asyncio
import gzip
import hmac
import io
import logging
import time
from collections.abc import Iterable
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, HTTPException

from lineage.spool import DeadLetterCount, Indexer, Spool
from lineage.store import MalformedEvent, ParsedEvent, parse_event
from user_pipeline.config import ServeConfig

log = logging.getLogger("lineage.service")
SINGLE_PATH, BATCH_PATH, HEALTH_PATH = "/api/v1/lineage", "/api/v1/lineage/batch", "/api/v1/health"
# The names the service answers to by default (any port): loopback only (docs/threat-model.md).
LOOPBACK_NAMES = tuple(ServeConfig.model_fields["allowed_hosts"].default)


class BadEvent(ValueError):
    """An event the service refuses (the message says which field and why)."""


def check_event(body: Any) -> ParsedEvent:
    """The parsed event, or BadEvent unless ``body`` is a RunEvent the store takes: the full check
    of ``lineage.store.validation`` (types, ranges, sizes, depth), the reason naming the field."""
    try:
        return parse_event(body)
    except MalformedEvent as exc:
        raise BadEvent(str(exc)) from None
    except Exception as exc:  # a bug of the checks must not answer 500, which producers retry forever
        log.exception("checking an event failed")
        raise BadEvent(f"the event could not be checked ({type(exc).__name__}); it was not stored") from None


def host_name(value: str) -> str:
    """The name part of a ``Host`` header or of an origin's authority (``[::1]:5000`` -> ``::1``)."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


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
                 write_token: str | None, read_wait_s: float, allowed_hosts: Iterable[str] = LOOPBACK_NAMES,
                 allowed_origins: Iterable[str] = LOOPBACK_NAMES):
        self.app, self.spool, self.indexer = app, spool, indexer
        self.max_body_bytes, self.read_wait_s = max_body_bytes, read_wait_s
        self._expected = f"Bearer {write_token}".encode() if write_token else None
        self.allowed_hosts = frozenset(host_name(h) for h in allowed_hosts)
        self.allowed_origins = frozenset(host_name(h) for h in allowed_origins)
        self.dead_letters = DeadLetterCount(spool.folder)
        self.state = app.state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = scope["path"].rstrip("/")
        refused = self._refuse_host(scope["headers"])
        if refused:
            await _send_json(send, 403, {"detail": refused})
            return
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
            self._check_origin(headers)
            self._authorise(headers)
            _check_content_type(headers)
            body = await self._read_json(headers, receive)
            parsed = _check_batch(body) if route == BATCH_PATH else [_check_single(body)]
            if parsed:
                # The canonical JSON the store keeps: one line each (orjson escapes every newline).
                self._append(b"".join(p.raw.encode() + b"\n" for p in parsed))
        except RequestRefused as refused:
            await _send_json(send, refused.status, {"detail": refused.detail}, refused.headers)
            return
        await _send_json(send, 201, {"accepted": len(parsed)})

    def _append(self, lines: bytes) -> None:
        try:
            self.spool.append(lines)
        except OSError as exc:  # a full disk: not the producer's fault, it should send again later
            log.error("could not append to the spool %s: %s", self.spool.folder, exc)
            raise RequestRefused(503, "the service cannot store events right now; try again",
                                 {"retry-after": "30"}) from None
        self.indexer.wake()

    def _refuse_host(self, raw_headers: list[tuple[bytes, bytes]]) -> str:
        """Why a request's ``Host`` is refused ("" if it is not): a name not configured is a DNS
        rebinding attempt, or a misconfigured deployment (docs/threat-model.md)."""
        if "*" in self.allowed_hosts:
            return ""
        for key, value in raw_headers:
            if key.lower() == b"host":
                name = host_name(value.decode("latin-1"))
                if name not in self.allowed_hosts:
                    return (f"Host {name!r} is not one this service answers to (lineage.serve.allowed_hosts, "
                            "lineage serve --allow-host)")
        return ""

    def _check_origin(self, headers: dict[str, bytes]) -> None:
        """A browser names the page that sends a request in ``Origin``: only configured origins
        may write (a producer sends none)."""
        origin = headers.get("origin")
        if origin is None or "*" in self.allowed_origins:
            return
        text = origin.decode("latin-1")
        authority = text.split("://", 1)[1] if "://" in text else ""
        if not authority or host_name(authority) not in self.allowed_origins:
            raise RequestRefused(403, f"writes from the web origin {text[:200]!r} are not allowed "
                                      "(lineage.serve.allowed_origins, lineage serve --allow-origin)")

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


def _check_content_type(headers: dict[str, bytes]) -> None:
    """Writes must say they are JSON: a browser sends a cross-site POST without asking first only
    with text/plain or a form type (a "simple" request), so requiring JSON refuses all of them."""
    declared = headers.get("content-type", b"").split(b";", 1)[0].strip().lower()
    if declared != b"application/json":
        shown = declared.decode("latin-1")[:100] or "none"
        raise RequestRefused(415, f"Content-Type must be application/json (got {shown})")


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



def health_router(routes: IngestRoutes) -> APIRouter:
    """``GET /api/v1/health``: how far the indexer of ``routes`` is behind the spool, and how many
    acknowledged events it set aside (the dead-letter file, lineage/spool.py)."""
    router = APIRouter()

    @router.get(HEALTH_PATH)
    async def health(wait: bool = False) -> dict:
        """How far the indexer is behind the spool (``wait``: answer once it has caught up)."""
        end = routes.spool.end
        if wait and not await routes.wait_indexed(end):
            raise HTTPException(503, "the indexer did not catch up in time")
        indexed = routes.indexer.indexed.value
        return {"spooled": end, "indexed": indexed, "behind_bytes": max(0, end - indexed),
                "dead_letters": routes.dead_letters.value, "dead_letter_file": str(routes.dead_letters.path)}

    return router
