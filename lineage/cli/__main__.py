"""``python -m lineage.cli``: the ``lineage`` command without a backfill executor (``backfill``
plans with ``--dry-run``; the pipeline's console script executes plans)."""

import sys

from lineage.cli.commands import main

sys.exit(main())
