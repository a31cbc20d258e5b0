"""Datasets, versions and provenance: naming, the catalog of committed partitions,
OpenLineage emission (DESIGN §3, §4)."""
