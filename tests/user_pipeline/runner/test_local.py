"""The embedded runner's module (``user_pipeline.runner.local``)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_runner_does_not_import_airflow():
    """Airflow reads its settings once, at its first import: the runner sets AIRFLOW_HOME and the
    metadata database first, so nothing it imports at the top may import Airflow (it would use
    ~/airflow, whose database has no tables)."""
    probe = "import sys, user_pipeline.runner.local; print(sorted(m for m in sys.modules if m.startswith('airflow')))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"
