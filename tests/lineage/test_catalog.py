import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from lineage.catalog import COMMITS_DIR, MANIFEST, PENDING_PREFIX, Catalog, PartitionRef, Producer
from lineage.versioning import table_version
from tests.lineage import commit_faults

REPO = Path(__file__).resolve().parents[2]


def _table(n=5, offset=0):
    return pa.table({"id": [f"u{i}" for i in range(offset, offset + n)], "x": list(range(n))})


def test_write_and_read_back_with_manifest(cfg):
    catalog = Catalog(cfg)
    inputs = [PartitionRef("raw.users_web", "ds", "2026-01-01", "abc")]
    manifest = catalog.write_table("curated.users_clean", "2026-01-01", _table(),
                                   producer=Producer("job", "run-1"), inputs=inputs, code_version="c1")
    assert manifest.row_count == 5
    assert manifest.version == table_version(_table())
    assert manifest.inputs == [{"dataset": "raw.users_web", "partition": "ds=2026-01-01", "version": "abc"}]
    assert catalog.committed("curated.users_clean") == ["2026-01-01"]
    assert catalog.read_table("curated.users_clean", "2026-01-01").equals(_table())
    partition = catalog.partition_uri("curated.users_clean", "2026-01-01")
    on_disk = json.loads(Path(f"{partition}/{MANIFEST}").read_text())
    assert on_disk["schema"][0] == {"name": "id", "type": "string"}


def test_version_ignores_row_order_but_not_content():
    table = _table(50)
    shuffled = table.take(list(reversed(range(50))))
    assert table_version(table) == table_version(shuffled)
    changed = table.set_column(1, "x", pa.array([0] * 50))
    assert table_version(changed) != table_version(table)
    assert table_version(pa.concat_tables([table, table.slice(0, 1)])) != table_version(table)


def test_rewriting_a_partition_replaces_it_and_removes_old_files(cfg):
    catalog = Catalog(cfg)
    for run, table in [("r1", _table(5)), ("r2", _table(3, offset=10))]:
        catalog.write_table("curated.users_clean", "2026-01-01", table,
                            producer=Producer("job", run), inputs=[], code_version="c")
    assert catalog.read_table("curated.users_clean", "2026-01-01").num_rows == 3
    manifest = catalog.require("curated.users_clean", "2026-01-01")
    assert manifest.files == ["run=r2/part-00000-of-00001.parquet"]
    assert manifest.producer["run_id"] == "r2"


def test_a_crash_before_publish_leaves_nothing_committed(cfg):
    catalog = Catalog(cfg)
    staged = catalog.stage("curated.users_clean", "2026-01-02", "crashed-run")
    with catalog.fs.open(staged.path("part-0.parquet"), "wb") as fh:
        fh.write(b"half a file")
    assert catalog.manifest("curated.users_clean", "2026-01-02") is None
    assert catalog.committed("curated.users_clean") == []
    with pytest.raises(FileNotFoundError, match="no committed partition ds=2026-01-02"):
        catalog.read_table("curated.users_clean", "2026-01-02")


def test_a_crash_while_replacing_keeps_the_previous_version_readable(cfg):
    catalog = Catalog(cfg)
    first = catalog.write_table("curated.users_clean", "2026-01-01", _table(),
                                producer=Producer("job", "r1"), inputs=[], code_version="c")
    staged = catalog.stage("curated.users_clean", "2026-01-01", "r2")
    with catalog.fs.open(staged.path("part-0.parquet"), "wb") as fh:
        fh.write(b"garbage")
    assert catalog.require("curated.users_clean", "2026-01-01").version == first.version
    assert catalog.read_table("curated.users_clean", "2026-01-01").num_rows == 5


def test_seal_rejects_files_with_another_schema(cfg):
    catalog = Catalog(cfg)
    staged = catalog.stage("curated.users_clean", "2026-01-01", "r1")
    import pyarrow.parquet as pq

    pq.write_table(_table(), staged.path("part-0.parquet"))
    with pytest.raises(ValueError, match="does not match"):
        catalog.seal(staged, producer=Producer("j", "r1"), inputs=[], code_version="c",
                     schema=pa.schema([("id", pa.string())]))


def test_unknown_dataset_names_are_a_clear_error(cfg):
    with pytest.raises(KeyError, match="unknown dataset 'curated.nope'"):
        Catalog(cfg).dataset_uri("curated.nope")


def test_reusable_only_when_every_output_came_from_these_inputs_and_code(cfg):
    catalog = Catalog(cfg)
    source = PartitionRef("raw.users_web", "ds", "2026-01-01", "v-in")
    for dataset in ("staging.users_ingested", "staging.ingest_dead_letter"):
        catalog.write_table(dataset, "2026-01-01", _table(), producer=Producer("job", "r1"), inputs=[source],
                            code_version="c1")
    outputs = [("staging.users_ingested", "2026-01-01"), ("staging.ingest_dead_letter", "2026-01-01")]
    assert [m.producer["run_id"] for m in catalog.reusable(outputs, [source], "c1")] == ["r1", "r1"]
    assert catalog.reusable(outputs, [source], "c2") is None  # code changed
    changed = PartitionRef("raw.users_web", "ds", "2026-01-01", "v-new")
    assert catalog.reusable(outputs, [changed], "c1") is None  # input version changed
    assert catalog.reusable([*outputs, ("curated.users_clean", "2026-01-01")], [source], "c1") is None  # missing


# -- one commit for several partitions (lineage.catalog: publish_together) ----------------------------------

def _pair_state(catalog):
    """(producing run, rows) of each partition of the pair, as a reader sees it."""
    found = []
    for dataset in commit_faults.PAIR:
        manifest = catalog.manifest(dataset, commit_faults.DS)
        found.append((manifest.producer["run_id"], catalog.read_table(dataset, commit_faults.DS).num_rows))
    return found


def _leftovers(catalog):
    """Pending manifests and commit records left on disk."""
    root = Path(catalog.fs_path(catalog.root))
    return sorted(p.name for p in root.rglob(f"{PENDING_PREFIX}*")) + sorted(
        p.name for p in (root / COMMITS_DIR).glob("*"))


def _run_killed(step, *args):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "tests.lineage.commit_faults", str(step), *args], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("step", range(1, commit_faults.PAIR_STEPS + 1))
def test_a_kill_anywhere_in_a_commit_of_two_partitions_leaves_both_old_or_both_new(cfg, step):
    catalog = Catalog(cfg)
    commit_faults.commit_pair("r1", 5)
    killed = _run_killed(step, "pair", "r2", "3")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # Killed before the commit record: the previous commit, whole; after it: the new one, whole.
    expected = [("r1", 5), ("r1", 5)] if step <= commit_faults.COMMIT_POINT else [("r2", 3), ("r2", 3)]
    assert _pair_state(catalog) == expected
    assert catalog.committed("staging.users_ingested") == [commit_faults.DS]
    assert catalog.reusable([(d, commit_faults.DS) for d in commit_faults.PAIR], [], "c") == [
        catalog.manifest(d, commit_faults.DS) for d in commit_faults.PAIR]

    for dataset in commit_faults.PAIR:  # what the next run of the step does first
        catalog.recover(dataset, commit_faults.DS)
    assert _pair_state(catalog) == expected
    assert _leftovers(catalog) == []
    partition = Path(catalog.partition_uri("staging.users_ingested", commit_faults.DS))
    # A run killed before its commit point leaves its folder, uncommitted, until the next commit.
    runs = ["run=r1", "run=r2"] if step <= commit_faults.COMMIT_POINT else ["run=r2"]
    assert sorted(p.name for p in partition.iterdir()) == [MANIFEST, *runs]


def test_the_next_commit_finishes_a_killed_one_first_then_replaces_it(cfg):
    catalog = Catalog(cfg)
    commit_faults.commit_pair("r1", 5)
    assert _run_killed(commit_faults.COMMIT_POINT + 2, "pair", "r2", "3").returncode == -signal.SIGKILL
    assert _leftovers(catalog)  # the first partition rolled forward, the second still pending
    commit_faults.commit_pair("r3", 2)
    assert _pair_state(catalog) == [("r3", 2), ("r3", 2)]
    assert _leftovers(catalog) == []


def test_a_pending_manifest_without_its_commit_record_is_not_committed(cfg):
    catalog = Catalog(cfg)
    assert _run_killed(commit_faults.COMMIT_POINT, "pair", "r1", "4").returncode == -signal.SIGKILL
    assert [catalog.manifest(d, commit_faults.DS) for d in commit_faults.PAIR] == [None, None]
    assert catalog.committed("staging.users_ingested") == []
    commit_faults.commit_pair("r2", 1)
    assert _pair_state(catalog) == [("r2", 1), ("r2", 1)]
    assert _leftovers(catalog) == []


def test_a_partition_is_committed_once_per_commit(cfg):
    catalog = Catalog(cfg)
    staged = catalog.stage("curated.users_clean", "2026-01-01", "r1")
    sealed = catalog.seal(staged, producer=Producer("j", "r1"), inputs=[], code_version="c")
    with pytest.raises(ValueError, match="committed once per commit"):
        catalog.publish_together([(staged, sealed), (staged, sealed)])
