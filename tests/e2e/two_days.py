"""Two dates of the daily DAG through the embedded runner, built once per test session (the
``two_days`` fixture, tests/e2e/conftest.py) and shared by the modules that start from them:
tests/e2e/test_user_pipeline_dag.py reads and extends them, then tests/e2e/test_backfill.py
repairs them from the state the runner first left (``TwoDays.restore``).

The runs' events go to a ``lineage serve`` over HTTP and to the JSONL log (composite transport), as
in production; the service lives for the session, with its spool and store apart from the data
root, so the backfill's events reach it too and restoring the data root does not touch it.
Under xdist the two modules are one unit of work, the DAG module first (tests/conftest.py).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

USERS_PER_DAY = 700
DATES = ["2026-01-01", "2026-01-02"]


@dataclass
class TwoDays:
    """The shared runs: the config, an environment pointing at it, the service's URL and store."""

    root: Path
    config: Path
    env: dict[str, str]
    url: str
    served_store: Path
    stdout: str  # the runner's output for the two dates

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def pristine(self) -> Path:
        return self.root / "pristine"

    def restore(self) -> None:
        """Put the data root (data, lineage log, Airflow's metadata) back as the two runs left it,
        at the same path: manifests, events and Airflow's runs name absolute paths."""
        shutil.rmtree(self.data_root)
        shutil.copytree(self.pristine, self.data_root, symlinks=True)


def run_local(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """``python -m user_pipeline.runner.local ARGS`` in ``env``."""
    return subprocess.run([sys.executable, "-m", "user_pipeline.runner.local", *args], env=env,
                          capture_output=True, text=True, timeout=1500)
