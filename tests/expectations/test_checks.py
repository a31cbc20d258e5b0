"""How a gate process imports Great Expectations (``expectations.checks.gx``)."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from expectations.checks import GX_UNUSED_INTEGRATIONS, gx
gx()
hidden_from_gx = [name for name in GX_UNUSED_INTEGRATIONS if name in sys.modules]
from great_expectations.compatibility import sqlalchemy as gx_sqlalchemy
import sqlalchemy  # the rest of the process still imports it
print(hidden_from_gx, type(gx_sqlalchemy.sqlalchemy).__name__, sqlalchemy.__name__)
"""


def test_gx_is_imported_without_the_integrations_gates_never_use_and_they_stay_importable():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.split() == ["[]", "NotImported", "sqlalchemy"]
