"""Output shared by the ``lineage`` commands."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console


def print_json(console: Console, data: Any) -> None:
    """``data`` as indented JSON on stdout (``--json``)."""
    # Plain print: rich would wrap and highlight; machines want the bytes as they are.
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
