"""Version-aware lineage queries over the store (docs/architecture.md#lineage): the Python API behind ``lineage``.

    store = LineageStore.from_config(cfg)
    graph = impact(store, "curated.users_clean", "58ba0b20")      # a version or a unique prefix
    [a for a in graph.artifacts if a.status == "current"]          # still to recompute

The graph has two kinds of node: artifacts, a dataset version ``(dataset, partition, version)``
of the dataset ``namespace``/``dataset``, and runs. Edges are version edges: a run *read* an
artifact, a run *wrote* one (only COMPLETE events commit outputs). A read whose event named no
version is the version current when the run started (an *inferred* edge, linked at ingest:
``lineage.store.ingest``); an output whose event named none has its run's synthetic version.
A dataset is named by its name, by ``NAMESPACE/NAME`` or with ``namespace=`` (``find_dataset``).
Every traversal is one recursive CTE (``WITH RECURSIVE``, the subset
SQLite and PostgreSQL share), bounded by ``depth`` (run hops) and directed:

- ``downstream`` / ``impact``: artifact -> runs that read exactly that version -> what they
  wrote -> ... A content-addressed skip re-emits the versions it would have written, so it is
  followed like any other run.
- ``upstream``: artifact -> runs that committed it -> the versions they read -> ...

Each artifact also says whether it is **current**: the latest COMPLETE output (by eventTime) of
its slot, where the slot is the partition (``ds=...``) or, for ``version=`` datasets (models,
reference data, where every version is a partition of its own), the logical date of the
producing run. An artifact re-derived since is **superseded**. ``impact`` follows commits, not
only content versions: a version re-committed unchanged by a run from clean inputs (a backfill
whose output did not change) is superseded too, and what read that clean commit is not affected.
An artifact no recorded run committed (a raw drop written by datagen) is **external**.

``as_of`` (an ISO time) restricts every query to events with eventTime <= that time.

Modules: ``model`` (the answers' types), ``lookup`` (resolving names, loading rows), ``traversal``
(upstream / downstream / impact), ``currency`` (current or superseded), ``listings`` (versions,
snapshot, check, run details), ``marquez`` and ``marquez_graph`` (Marquez's API model and its job and
dataset graph, for Marquez-compatible clients).
"""

from lineage.queries.currency import current_of_slots, replaces
from lineage.queries.listings import CheckReport, RunDetails, Snapshot, check, run_details, snapshot, versions
from lineage.queries.lookup import (
    ambiguous_label,
    find_dataset,
    known_datasets,
    label_candidates,
    latest,
    load_runs,
    resolve,
    rows_for_runs,
)
from lineage.queries.model import (
    DEFAULT_DEPTH,
    Artifact,
    Edge,
    LineageGraph,
    LineageLookupError,
    Node,
    Run,
    VersionInfo,
    parse_artifact,
)
from lineage.queries.traversal import downstream, impact, impact_of, upstream

__all__ = [
    "DEFAULT_DEPTH", "Artifact", "CheckReport", "Edge", "LineageGraph", "LineageLookupError", "Node", "Run",
    "RunDetails", "Snapshot", "VersionInfo", "ambiguous_label", "check", "current_of_slots", "downstream",
    "find_dataset", "impact", "impact_of", "known_datasets", "label_candidates", "latest", "load_runs",
    "parse_artifact", "replaces", "resolve", "rows_for_runs", "run_details", "snapshot", "upstream", "versions",
]
