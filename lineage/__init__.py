"""Datasets, versions and lineage (docs/architecture.md#layers).

The core every job uses: ``catalog`` (logical datasets, manifests, the atomic commit),
``versioning`` (content and derivation versions), ``emit`` (OpenLineage runs), ``naming``
(custom facets), ``quality`` (drift as data-quality facets). The lineage product on top of it:
``store`` (events into SQL), ``queries`` (version-aware graph questions), ``backfill`` (plans,
handed an executor), ``service`` (``lineage serve``), ``cli`` (``lineage``), ``spool``,
``graph_render``.
"""
