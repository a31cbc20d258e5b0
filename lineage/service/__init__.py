"""``lineage serve``: the lineage store over HTTP (see ``lineage.service.app``).

- ``writes``: the OpenLineage write endpoints, in front of the app, and the indexer's health;
- ``marquez``: Marquez's API v1 reads (docs/lineage-api.md);
- ``api``: the version-aware JSON reads;
- ``paths``: OpenLineage names as percent-encoded path segments in every route;
- ``pages``: the web pages;
- ``app``: ``create_app``, which puts them together over a spool and its indexer, and ``serve``.
"""

from lineage.service.app import create_app, serve
from lineage.service.writes import BadEvent, check_event

__all__ = ["BadEvent", "check_event", "create_app", "serve"]
