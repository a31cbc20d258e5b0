"""``python -m lineage.cli``: the ``lineage`` command."""

import sys

from lineage.cli.commands import main

sys.exit(main())
