"""Shared fixtures: a pipeline config on a temporary data root, in-memory lineage; and how
``make test`` splits the suite over pytest-xdist workers (``--dist loadfile``, see below)."""

from __future__ import annotations

import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.transport import Transport

from user_pipeline.config import load_config

# Modules that share session fixtures, in the order they must run: under xdist each group is one
# unit of work, so its fixtures are built once; on one process too, a group's later modules run
# after its earlier ones. The real deployment (tests/e2e/deployment/conftest.py): the repairs
# change the dates the deployment tests read. The two embedded dates (tests/e2e/conftest.py): the
# backfill restores them as the runner left them, after the DAG module's tests have read them.
SHARED_UNITS = {
    "tests/e2e/deployment/": ("tests/e2e/deployment/test_deployment.py", "tests/e2e/deployment/test_repairs.py"),
    "tests/e2e/two_days": ("tests/e2e/test_user_pipeline_dag.py", "tests/e2e/test_backfill.py"),
}
UNIT_OF = {module: (unit, position) for unit, modules in SHARED_UNITS.items()
           for position, module in enumerate(modules)}
DEPLOYMENT = "tests/e2e/deployment/"


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile``, with each group of ``SHARED_UNITS`` as one unit. (``loadgroup`` cannot
    do it: xdist 3.8 names groups by editing a node id pytest 9 no longer reads.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedUnitScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path = super()._split_scope(nodeid)
            return UNIT_OF.get(path, (path, 0))[0]

    return SharedUnitScheduling(config, log)


def pytest_collection_modifyitems(config, items):
    """A shared unit's modules in their order (``SHARED_UNITS``); on xdist workers also the slowest
    units first (the deployment's, then the other end-to-end modules): a worker takes the next unit
    when it is almost done, so the long ones run side by side instead of one after the other at
    the end."""
    on_worker = hasattr(config, "workerinput")

    def key(item) -> tuple[int, int]:
        path = item.nodeid.split("::", 1)[0]
        rank = 0 if path.startswith(DEPLOYMENT) else 1 if item.get_closest_marker("e2e") else 2
        return (rank if on_worker else 0, UNIT_OF.get(path, ("", 0))[1])

    items.sort(key=key)  # stable: the order within a key stays


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
