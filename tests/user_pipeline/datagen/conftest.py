from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from lineage.catalog import Catalog
from user_pipeline.config import PipelineConfig, load_config
from user_pipeline.datagen.generate import generate

SEED = 1234
START = "2026-01-01"
USERS = 300
# A higher malformed rate than the default so a 300-user day has several broken rows.
DATAGEN = {"malformed_rate": 0.03}


def small_config(root: Path, **datagen) -> PipelineConfig:
    return load_config(data_root=str(root), datagen={**DATAGEN, **datagen})


@dataclass
class Generated:
    cfg: PipelineConfig
    written: dict

    @property
    def catalog(self) -> Catalog:
        return Catalog(self.cfg)

    def raw(self, dataset: str, ds: str) -> bytes:
        cat = self.catalog
        (uri,) = cat.files(dataset, ds)
        with cat.fs.open(cat.fs_path(uri), "rb") as fh:
            return fh.read()

    def truth(self, ds: str) -> pd.DataFrame:
        return pq.read_table(f"{self.cfg.data_root}/ground_truth/ds={ds}/records.parquet").to_pandas()

    def table(self, dataset: str, value: str) -> pd.DataFrame:
        return self.catalog.read_table(dataset, value).to_pandas()


def run_generate(root: Path, days: int = 3, start: str = START, users: int = USERS, seed: int = SEED,
                 **kwargs) -> Generated:
    cfg = small_config(root)
    return Generated(cfg, generate(cfg, start, days, users_per_day=users, seed=seed, **kwargs))


@pytest.fixture(scope="session")
def three_days(tmp_path_factory) -> Generated:
    """Three days of 300 users, generated once for the read-only tests."""
    return run_generate(tmp_path_factory.mktemp("three_days"))
