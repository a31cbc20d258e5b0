"""Small synthetic ``curated.users_clean`` + ``raw.job_outcomes`` partitions for TFT/training tests.

Vectorised numpy, deterministic per (seed, day). The label depends on the features (so a model
can learn something), a share of every feature is null, and some users have no outcome.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import yaml

from lineage.catalog import Catalog, Manifest, Producer
from transforms.schema import CLEAN_USERS, EMPLOYMENT_STATUSES, JOB_OUTCOMES, SIGNUP_CHANNELS, SOURCES
from user_pipeline.config import DEFAULT_CONFIG_PATH, PipelineConfig

COUNTRIES = ("GB", "IE", "FR", "DE", "ES", "NL", "PL", "IT")
WORDS = np.array(["python", "sales", "nurse", "driver", "open", "to", "work", "manager", "seeking", "role"])


def _with_nulls(values: np.ndarray, rng: np.random.Generator, share: float, arrow_type: pa.DataType) -> pa.Array:
    return pa.array(values, arrow_type, mask=rng.random(len(values)) < share)


def clean_users(day: str, n: int, *, seed: int = 0, null_share: float = 0.1) -> tuple[pa.Table, pa.Table]:
    """``n`` clean users of ``day`` and their outcomes (about 10% of users have none)."""
    rng = np.random.default_rng([seed, zlib.crc32(day.encode())])
    ids = np.array([f"{SOURCES[i % 3]}:{day}:{i:07d}" for i in range(n)])
    source = np.array(SOURCES)[np.arange(n) % 3]
    employment = rng.choice(np.array(EMPLOYMENT_STATUSES), n, p=[0.5, 0.2, 0.15, 0.1, 0.05])
    channel = rng.choice(np.array(SIGNUP_CHANNELS), n)
    country = rng.choice(np.array(COUNTRIES), n, p=[0.4, 0.1, 0.1, 0.1, 0.1, 0.1, 0.05, 0.05])
    age = rng.integers(16, 80, n)
    tenure = rng.integers(0, 240, n)
    views = rng.poisson(3, n)
    applications = rng.poisson(1, n)
    resume_days = rng.integers(0, 720, n)
    login_days = rng.integers(0, 90, n)
    account_age = rng.integers(1, 3000, n)
    text_len = rng.integers(1, 12, n)
    text = np.array([" ".join(rng.choice(WORDS, k)) for k in text_len])

    score = (
        1.5 * (employment == "unemployed") - 1.0 * (employment == "retired")
        + 0.4 * (views - 3) + 0.8 * (applications - 1) - resume_days / 360 - 0.01 * (tenure - 120)
    )
    label = (rng.random(n) < 1 / (1 + np.exp(-score))).astype(np.int64)

    ds = date.fromisoformat(day)
    columns = {
        "source_record_id": pa.array(ids, pa.string()),
        "source": pa.array(source, pa.string()),
        "first_name": pa.nulls(n, pa.string()),
        "last_name": pa.nulls(n, pa.string()),
        "email": pa.nulls(n, pa.string()),
        "phone": pa.nulls(n, pa.string()),
        "date_of_birth": pa.nulls(n, pa.date32()),
        "country": _with_nulls(country, rng, null_share, pa.string()),
        "postcode": pa.nulls(n, pa.string()),
        "signup_date": pa.nulls(n, pa.date32()),
        "signup_ts": pa.nulls(n, pa.timestamp("ms", tz="UTC")),
        "signup_channel": _with_nulls(channel, rng, null_share, pa.string()),
        "employment_status": _with_nulls(employment, rng, null_share, pa.string()),
        "tenure_months": _with_nulls(tenure, rng, null_share, pa.int64()),
        "job_page_views_7d": _with_nulls(views, rng, null_share, pa.int64()),
        "applications_30d": _with_nulls(applications, rng, null_share, pa.int64()),
        "resume_updated_days_ago": _with_nulls(resume_days, rng, null_share, pa.int64()),
        "last_login_days_ago": _with_nulls(login_days, rng, null_share, pa.int64()),
        "profile_text": _with_nulls(text, rng, null_share, pa.string()),
        "ds": pa.array([day] * n, pa.string()),
        "age_years": _with_nulls(age, rng, null_share, pa.int64()),
        "account_age_days": _with_nulls(account_age, rng, null_share, pa.int64()),
        "clean_flags": pa.array([""] * n, pa.string()),
        "ingest_run_id": pa.array(["synthetic"] * n, pa.string()),
        "id_merge_run_id": pa.array(["synthetic"] * n, pa.string()),
        "clean_run_id": pa.array(["synthetic"] * n, pa.string()),
        "merged_records": pa.array(np.ones(n, dtype=np.int64)),
    }
    columns["canonical_id"] = pa.array([f"u-{rid}" for rid in columns["source_record_id"].to_pylist()], pa.string())
    users = pa.table(columns).select(CLEAN_USERS.names).cast(CLEAN_USERS)
    has_outcome = rng.random(n) >= 0.1
    outcomes = pa.table(
        {
            "source_record_id": pa.array(ids[has_outcome], pa.string()),
            "looking_for_job": pa.array(label[has_outcome], pa.int64()),
            "observed_date": pa.array([ds] * int(has_outcome.sum()), pa.date32()),
        }
    ).cast(JOB_OUTCOMES)
    return users, outcomes


def commit_day(cfg: PipelineConfig, day: str, n: int, *, seed: int = 0) -> tuple[Manifest, Manifest]:
    """Commit one day of synthetic clean users and outcomes under ``cfg.data_root``."""
    catalog = Catalog(cfg)
    users, outcomes = clean_users(day, n, seed=seed)
    producer = Producer("tests.synthetic_users", f"synthetic-{day}")
    return (
        catalog.write_table("curated.users_clean", day, users, producer=producer, inputs=[], code_version="test"),
        catalog.write_table("raw.job_outcomes", day, outcomes, producer=producer, inputs=[], code_version="test"),
    )


def write_config(root: Path) -> Path:
    """A copy of conf/pipeline.yaml with its data root under ``root`` (returned: the YAML path)."""
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["data_root"] = str(root / "data")
    path = root / "pipeline.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


# The configuration must come from the test's YAML alone: these would redirect data or lineage.
ENVIRONMENT_OVERRIDES = ("PIPELINE_CONFIG", "PIPELINE_DATA_ROOT", "OPENLINEAGE_CONFIG", "OPENLINEAGE_URL")


@contextmanager
def isolated_environment() -> Iterator[None]:
    """Run without the pipeline and OpenLineage environment overrides (restored afterwards)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name in ENVIRONMENT_OVERRIDES or name.startswith("OPENLINEAGE__"):
                patch.delenv(name)
        yield
