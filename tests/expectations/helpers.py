"""Building gated partitions for the gate tests: generated days, cleaned and transformed without TF."""

from __future__ import annotations

import contextlib
import io
import logging

import pyarrow as pa

import beam_jobs.ingest
from bench.gates import synthetic_features
from expectations.results import CheckResult, GateResult
from lineage.catalog import Catalog, Manifest, Producer
from transforms.clean import clean_users
from transforms.id_merge import as_singletons
from transforms.schema import ID_MAP
from user_pipeline.config import PipelineConfig
from user_pipeline.datagen.generate import generate

DAYS = ("2026-01-01", "2026-01-02")
USERS_PER_DAY = 400
TEST_PRODUCER = Producer("tests.expectations", "test-run")


def generate_days(cfg: PipelineConfig, start: str, days: int, **kwargs) -> None:
    """datagen, quietly (it prints a line per dataset)."""
    with contextlib.redirect_stdout(io.StringIO()):
        generate(cfg, start, days, users_per_day=USERS_PER_DAY, **kwargs)


def build_day(cfg: PipelineConfig, day: str) -> None:
    """Ingest (the Beam job), de-spam and ID-merge (pass-through), clean and transform one generated day.

    Cleaning applies ``transforms.clean.clean_users``, the function the clean job runs: the gate
    only needs a committed ``curated.users_clean``. Features are ``synthetic_features`` (no TFT).
    """
    logging.getLogger("beam_jobs.ingest").setLevel(logging.WARNING)
    beam_jobs.ingest.run(["--ds", day])
    catalog = Catalog(cfg)
    staged = catalog.require("staging.users_ingested", day)
    users = catalog.read_table("staging.users_ingested", day)
    # The gate checks the de-spammed partition's shape and quarantine share, not the spam model:
    # a pass-through partition stands in for it (tests/beam_jobs/test_despam.py runs the job).
    commit(cfg, "staging.users_despammed", day, users, inputs=[staged],
           extra={"rows_read": users.num_rows, "quarantined": 0})
    # ID-merge likewise: every record its own canonical user (tests/beam_jobs/test_id_merge.py runs the job).
    merged_users = as_singletons(users, run_id="test-merge")
    merged = commit(cfg, "staging.users_merged", day, merged_users, inputs=[staged],
                    extra={"rows_read": users.num_rows})
    id_map = pa.table({
        "source_record_id": users.column("source_record_id"), "source": users.column("source"),
        "canonical_id": merged_users.column("canonical_id"),
        "match_score": pa.nulls(users.num_rows, pa.float64()),
        "cluster_size": pa.array([1] * users.num_rows, pa.int64()), "ds": users.column("ds"),
        "id_merge_run_id": merged_users.column("id_merge_run_id"),
    }, schema=ID_MAP)
    commit(cfg, "staging.id_map", day, id_map, inputs=[staged], extra={"rows_read": users.num_rows})
    cleaned = clean_users(merged_users, ds=day, run_id="test-clean", cfg=cfg.clean)
    clean = commit(cfg, "curated.users_clean", day, cleaned, inputs=[merged])
    outcomes = catalog.require("raw.job_outcomes", day)
    transformed = synthetic_features(cleaned, catalog.read_table("raw.job_outcomes", day), cfg=cfg, ds=day)
    commit(cfg, "features.users_transformed", day, transformed, inputs=[clean, outcomes])


def commit(cfg: PipelineConfig, dataset: str, value: str, table: pa.Table,
           inputs: list[Manifest] = (), extra: dict | None = None) -> Manifest:
    """Commit ``table`` as the partition (replacing what was there)."""
    return Catalog(cfg).write_table(dataset, value, table, producer=TEST_PRODUCER,
                                    inputs=[m.ref for m in inputs], code_version="test", extra=extra)


def read(cfg: PipelineConfig, dataset: str, value: str) -> pa.Table:
    return Catalog(cfg).read_table(dataset, value)


def check(result: GateResult, name: str) -> CheckResult:
    """The result of the check called ``name``."""
    found = [c for c in result.checks if c.name == name]
    assert found, f"no check {name!r} in {[c.name for c in result.checks]}"
    return found[0]


def failed_names(result: GateResult) -> set[str]:
    return {c.name for c in result.checks if not c.success}
