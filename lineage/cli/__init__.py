"""The ``lineage`` command: ingest OpenLineage logs and ask version-aware questions (usage in
``lineage.cli.commands``). ``python -m lineage.cli`` runs it without a backfill executor."""

from lineage.cli.commands import main

__all__ = ["main"]
