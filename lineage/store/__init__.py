"""The lineage store: OpenLineage run events in an embedded SQL database (docs/architecture.md#lineage).

    store = LineageStore.from_config(cfg)        # lineage.store_url, SQLite by default
    store.ingest_file("/data/lineage/events.jsonl")
    store.ingest_events([event, ...])            # dicts or openlineage-python RunEvents

The JSONL log stays the source of truth; the store is a derived, rebuildable index of it. The
raw event JSON is kept, so facets this package does not know are not lost.

- ``schema``: the tables;
- ``validation``: the full check of an event before it is stored (types, ranges, sizes, depth);
- ``interpret``: what an event means (parsing, keys, the rows of a run), pure functions;
- ``ingest``: idempotent, order-independent, incremental ingest of logs and events;
- ``tuning``: SQLite pragmas and background WAL checkpoints;
- ``database``: ``LineageStore``, the engine that ties them together.
"""

from lineage.store.database import LineageStore, expand_store_url
from lineage.store.errors import LineageUsageError, MalformedEvent
from lineage.store.ingest import IngestReport, Issue
from lineage.store.interpret import TERMINAL_STATES, ParsedEvent, normalise_time, output_slot, parse_event
from lineage.store.schema import (
    events,
    ingest_files,
    ingest_issues,
    metadata,
    run_inputs,
    run_outputs,
    runs,
    store_meta,
    unversioned_inputs,
)
from lineage.store.validation import InvalidEvent, validate_event

__all__ = [
    "TERMINAL_STATES", "IngestReport", "InvalidEvent", "Issue", "LineageStore", "LineageUsageError", "MalformedEvent",
    "ParsedEvent",
    "events", "expand_store_url", "ingest_files", "ingest_issues", "metadata", "normalise_time", "output_slot",
    "parse_event", "run_inputs", "run_outputs", "runs", "store_meta", "unversioned_inputs", "validate_event",
]
