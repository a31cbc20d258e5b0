"""``make bench``: step timings on 100k users against plain pandas (not part of the tests)."""

import os
import tempfile
from pathlib import Path


def use_data_root(given: str | None, prefix: str) -> tuple[Path, dict[str, str]]:
    """Point this process and its children at ``given`` (or a new temporary folder) as the data
    root; return it and the children's environment."""
    root = Path(given or tempfile.mkdtemp(prefix=prefix))
    os.environ["PIPELINE_DATA_ROOT"] = str(root)
    return root, {**os.environ}
