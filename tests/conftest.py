"""Shared fixtures: a pipeline config on a temporary data root, in-memory lineage."""

from __future__ import annotations

import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.transport import Transport

from user_pipeline.config import load_config


class MemoryTransport(Transport):
    """Keeps emitted events in a list (docs/architecture.md#layers: lineage tests use an in-memory transport)."""

    kind = "memory"

    def __init__(self):
        self.events = []

    def emit(self, event):
        self.events.append(event)


@pytest.fixture
def cfg(tmp_path, monkeypatch):
    """The real pipeline config, with its data root moved to a temporary folder."""
    monkeypatch.setenv("PIPELINE_DATA_ROOT", str(tmp_path / "data"))
    for key in [k for k in __import__("os").environ if k.startswith("OPENLINEAGE")]:
        monkeypatch.delenv(key)
    return load_config()


@pytest.fixture
def memory_lineage():
    """An OpenLineage client whose transport keeps events in memory."""
    transport = MemoryTransport()
    return OpenLineageClient(transport=transport), transport
