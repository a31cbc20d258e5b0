"""Two good generated days, built once per session and copied into each test's data root."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.expectations.helpers import DAYS, build_day, generate_days
from user_pipeline.config import load_config


@pytest.fixture(scope="session")
def good_data_root(tmp_path_factory) -> Path:
    """A data root with DAYS generated (400 users a day), ingested, cleaned and transformed."""
    root = tmp_path_factory.mktemp("gates") / "data"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PIPELINE_DATA_ROOT", str(root))
        for key in [k for k in __import__("os").environ if k.startswith("OPENLINEAGE")]:
            patch.delenv(key)
        cfg = load_config()
        generate_days(cfg, DAYS[0], len(DAYS))
        for day in DAYS:
            build_day(cfg, day)
    return root


@pytest.fixture
def gated_cfg(cfg, good_data_root):
    """The ``cfg`` fixture's data root, filled with a copy of the good generated days."""
    shutil.copytree(good_data_root, cfg.data_root)
    return cfg
