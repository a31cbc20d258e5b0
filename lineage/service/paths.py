"""OpenLineage names in URL paths: namespaces like ``s3://bucket`` or ``postgres://host:5432`` and
dataset names with ``/`` travel as percent-encoded path segments (``s3%3A%2F%2Fbucket``), as
marquez-python and Marquez's web UI send them (``encodeURIComponent`` of each name).

The server decodes the whole path before routing, so an encoded ``/`` would become a separator
and ``/namespaces/s3%3A%2F%2Fb/datasets/raw%2Fevents`` would match nothing. ``EncodedSegments``
rebuilds the routed path from the raw one, each segment decoded but with its own ``/`` (and ``%``)
kept encoded; a route declares such a parameter as ``{name:segment}``, whose convertor decodes
it. Every path parameter of the service is declared that way."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

from starlette.convertors import Convertor, register_url_convertor


class SegmentConvertor(Convertor[str]):
    """One path segment, percent-decoded (``{name:segment}``)."""

    regex = "[^/]+"

    def convert(self, value: str) -> str:
        return unquote(value)

    def to_string(self, value: str) -> str:
        return quote(value, safe="")


register_url_convertor("segment", SegmentConvertor())


def _keep_encoded(segment: str) -> str:
    return segment.replace("%", "%25").replace("/", "%2F")


def routed_path(raw_path: bytes, decoded: str) -> str:
    """The path to route ``raw_path`` by: its segments decoded, each one's ``/`` and ``%`` kept
    encoded. ``decoded`` (what the server made of it) is kept unless it is the plain decoding of
    ``raw_path``: then nothing else (a root path, a proxy) rewrote it."""
    text = raw_path.decode("latin-1")
    if "%" not in text:
        return decoded
    segments = [unquote(s) for s in text.split("/")]
    if "/".join(segments) != decoded:
        return decoded
    return "/".join(_keep_encoded(s) for s in segments)


class EncodedSegments:
    """ASGI middleware: route by ``routed_path`` (see the module docstring)."""

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        raw = scope.get("raw_path") if scope["type"] in ("http", "websocket") else None
        if raw:
            path = routed_path(raw, scope["path"])
            if path != scope["path"]:
                scope = {**scope, "path": path}
        await self.app(scope, receive, send)


def segment(value: str) -> str:
    """``value`` as one path segment of a link (every reserved character encoded, ``/`` too)."""
    return quote(value, safe="")
