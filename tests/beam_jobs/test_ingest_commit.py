"""Ingest commits its two outputs in one commit: kill -9 at any point leaves a pair that adds up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import beam_jobs.ingest
from lineage.catalog import COMMITS_DIR, MANIFEST, PENDING_PREFIX, Catalog
from tests.beam_jobs.conftest import web_line
from tests.lineage import commit_faults

DS = "2026-01-01"
REPO = Path(__file__).resolve().parents[2]


def _pair(catalog):
    return catalog.require(beam_jobs.ingest.USERS, DS), catalog.require(beam_jobs.ingest.DEAD, DS)


@pytest.mark.parametrize("step, committed", [
    (commit_faults.COMMIT_POINT, False),      # killed just before the commit record
    (commit_faults.COMMIT_POINT + 3, True),   # killed between the two manifests
])
def test_ingest_killed_in_its_commit_leaves_both_outputs_old_or_both_new_and_a_rerun_recovers(
        cfg, commit_raw, step, committed):
    commit_raw(DS, web=[web_line(i) for i in range(3)] + ["W9,short"])
    beam_jobs.ingest.run(["--ds", DS])
    catalog = Catalog(cfg)
    old_users, old_dead = _pair(catalog)
    assert (old_users.row_count, old_dead.row_count) == (3, 1)

    commit_raw(DS, web=[web_line(i) for i in range(5)] + ["W9,short", "W10,short"], run_id="drop-2")
    killed = subprocess.run(
        [sys.executable, "-m", "tests.lineage.commit_faults", str(step), "job", "beam_jobs.ingest", "--ds", DS],
        env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]

    users, dead = _pair(catalog)
    if committed:
        # The dead letter's _MANIFEST.json is still the old one: its pending manifest is read instead.
        on_disk = json.loads(Path(catalog.partition_uri(beam_jobs.ingest.DEAD, DS), MANIFEST).read_text())
        assert on_disk["version"] == old_dead.version
        assert (users.row_count, dead.row_count) == (5, 2)
        assert users.producer["run_id"] == dead.producer["run_id"] != old_users.producer["run_id"]
    else:
        assert (users, dead) == (old_users, old_dead)
    # The pair a reader sees adds up and names each other's version.
    assert users.extra["lines_read"] == users.row_count + dead.row_count
    assert users.extra["dead_letter_version"] == dead.version
    assert catalog.read_table(beam_jobs.ingest.DEAD, DS).num_rows == dead.row_count

    rerun = beam_jobs.ingest.run(["--ds", DS])
    assert rerun.skipped is committed  # a committed pair is reused, an uncommitted one recomputed
    users, dead = _pair(catalog)
    assert (users.row_count, dead.row_count) == (5, 2)
    assert users.extra["dead_letter_version"] == dead.version
    root = Path(catalog.fs_path(catalog.root))
    assert list(root.rglob(f"{PENDING_PREFIX}*")) == [] and list((root / COMMITS_DIR).glob("*")) == []
