"""Kill a process (SIGKILL, as ``kill -9`` would) at one step of the catalog's commit protocol.

    python -m tests.lineage.commit_faults <step> pair <run id> <rows>
    python -m tests.lineage.commit_faults <step> job <job module> [job arguments...]

Every put and every removal of a commit's files (``Catalog._atomic_put``, ``Catalog._remove``)
is a step, counted from 1; the process kills itself just before step ``<step>``. A kill cannot
be aimed that precisely from outside, hence this hook (tests only). ``pair`` commits PAIR
together, ``rows`` rows each; ``job`` runs a job module's ``main``.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys

import pyarrow as pa
import pyarrow.parquet as pq

from lineage.catalog import Catalog, Producer
from user_pipeline.config import load_config

PAIR = ("staging.users_ingested", "staging.ingest_dead_letter")
DS = "2026-01-01"
# The steps of a commit of two partitions: pending manifest A, pending B, the commit record (the
# commit point), then per partition: its manifest, removal of its pending; last, the record's removal.
PAIR_STEPS = 8
COMMIT_POINT = 3


def table(rows: int, run_id: str) -> pa.Table:
    """``rows`` rows whose content depends on the run (so each run commits another version)."""
    return pa.table({"id": [f"{run_id}-{i}" for i in range(rows)], "x": list(range(rows))})


def commit_pair(run_id: str, rows: int) -> None:
    """Commit a table into each dataset of PAIR on DS, in one commit."""
    catalog = Catalog(load_config())
    sealed = []
    for dataset in PAIR:
        staged = catalog.stage(dataset, DS, run_id)
        pq.write_table(table(rows, run_id), catalog.fs_path(staged.path("part-0.parquet")))
        sealed.append((staged, catalog.seal(staged, producer=Producer("tests", run_id), inputs=[], code_version="c",
                                            schema=table(rows, run_id).schema)))
    catalog.publish_together(sealed)


def kill_before(step: int) -> None:
    """Make the process kill itself just before the ``step``-th put or removal of a commit."""
    done = 0

    def counted(method):
        def wrapper(self, *args, **kwargs):
            nonlocal done
            done += 1
            if done == step:
                sys.stdout.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            return method(self, *args, **kwargs)
        return wrapper

    Catalog._atomic_put = counted(Catalog._atomic_put)
    Catalog._remove = counted(Catalog._remove)


if __name__ == "__main__":
    step, kind, *rest = sys.argv[1:]
    kill_before(int(step))
    if kind == "pair":
        commit_pair(rest[0], int(rest[1]))
        sys.exit(0)
    sys.exit(importlib.import_module(rest[0]).main(rest[1:]))
