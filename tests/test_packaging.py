"""Installing the project adds only its own, distinctively named top-level packages."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

from user_pipeline.config import REPO_ROOT

# The design card's folders plus one package for everything else; never `conf`, `bench`,
# `runner`, `training` ... in someone's Airflow environment, and no tests or benchmarks.
EXPECTED_TOP_LEVEL = {"beam_jobs", "dags", "expectations", "lineage", "transforms", "user_pipeline"}


def test_the_wheel_installs_only_the_projects_own_top_level_packages(tmp_path):
    # A copy without build/ and the environments: setuptools builds in the tree and would pack a
    # stale build/lib left by an earlier build.
    source = tmp_path / "source"
    shutil.copytree(REPO_ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".baselines-venv", "_data", "build", "*.egg-info", "__pycache__", ".*_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "wheel"), str(source)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "wheel").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert top_level == EXPECTED_TOP_LEVEL
    assert not [n for n in names if "/bench" in n or n.endswith(".tsv")], "benchmarks and data sets are not installed"
