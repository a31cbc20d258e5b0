"""Shared fixtures: a pipeline config on a temporary data root, in-memory lineage; and how
``make test`` splits the suite over pytest-xdist workers (``--dist loadfile``, see below)."""

from __future__ import annotations

import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.transport import Transport

from user_pipeline.config import load_config

# The modules under this folder share one real deployment (its session fixtures are in the folder's
# conftest.py): under xdist they are one unit of work, so it starts once.
SHARED_DEPLOYMENT = "tests/e2e/deployment/"


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile``, with the shared deployment's modules as one unit. (``loadgroup`` cannot
    do it: xdist 3.8 names groups by editing a node id pytest 9 no longer reads.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedDeploymentScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = super()._split_scope(nodeid)
            return SHARED_DEPLOYMENT if path.startswith(SHARED_DEPLOYMENT) else path

    return SharedDeploymentScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    """On xdist workers, the slowest units first (the deployment's, then the other end-to-end
    modules): a worker takes the next unit when it is almost done, so the long ones run side by
    side instead of one after the other at the end. Serial runs keep the collection order."""
    if not hasattr(config, "workerinput"):
        return

    def rank(item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return 0 if path.startswith(SHARED_DEPLOYMENT) else 1 if item.get_closest_marker("e2e") else 2

    items.sort(key=rank)  # stable: the order within a rank stays


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
