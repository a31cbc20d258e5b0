"""The pipeline's ``lineage`` console script: the lineage product's command with the backfill
executor of this orchestration layer (``user_pipeline.runner.backfill.run_backfill``), so
``lineage backfill`` without ``--dry-run`` recomputes through Airflow.

    lineage impact curated.users_clean@58ba0b20
    python -m user_pipeline.runner.lineage_command backfill --fixed reference.spam_labels
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from lineage.cli import main as lineage_main
from user_pipeline.runner.backfill import run_backfill


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``lineage`` command with Airflow as its backfill executor; returns the exit code."""
    return lineage_main(argv, executor=run_backfill)


if __name__ == "__main__":
    sys.exit(main())
