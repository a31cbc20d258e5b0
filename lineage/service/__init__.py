"""``lineage serve``: the lineage store over HTTP (see ``lineage.service.app``).

- ``writes``: the OpenLineage write endpoints, in front of the app, and the indexer's health;
- ``api``: the JSON reads, Marquez-compatible and version-aware;
- ``pages``: the web pages;
- ``app``: ``create_app``, which puts them together over a spool and its indexer, and ``serve``.
"""

from lineage.service.app import create_app, serve
from lineage.service.writes import BadEvent, check_event

__all__ = ["BadEvent", "check_event", "create_app", "serve"]
