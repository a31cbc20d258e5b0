"""Installing the project adds only its own, distinctively named top-level packages."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from user_pipeline.config import REPO_ROOT

# The design card's folders plus one package for everything else; never `conf`, `bench`,
# `runner`, `training` ... in someone's Airflow environment, and no tests or benchmarks.
EXPECTED_TOP_LEVEL = {"beam_jobs", "dags", "expectations", "lineage", "transforms", "user_pipeline"}


def test_the_wheel_installs_only_the_projects_own_top_level_packages(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(REPO_ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {n.split("/", 1)[0] for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
    assert top_level == EXPECTED_TOP_LEVEL
    assert not [n for n in names if "/bench" in n or n.endswith(".tsv")], "benchmarks and data sets are not installed"
