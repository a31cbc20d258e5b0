"""The ``lineage`` command: ingest OpenLineage logs and ask version-aware questions (usage in
``lineage.cli.commands``)."""

from lineage.cli.commands import main

__all__ = ["main"]
