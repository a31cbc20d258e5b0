"""Fixing an upstream dataset (user_pipeline.fix): a corrected version, gated, committed with lineage
naming the version it replaces, announced on its asset; then retraining and backfill planning
follow that version, and versions answer to the labels users know."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import user_pipeline.fix
import user_pipeline.training.id_matcher
from bench.lineage_synth import EventFactory, ds
from lineage import backfill
from lineage.catalog import Catalog, Producer
from lineage.cli.commands import main as lineage_main
from lineage.queries import LineageLookupError, impact, resolve, upstream
from lineage.store import LineageStore
from tests.user_pipeline.labels.helpers import SEED
from user_pipeline.datagen import reference
from user_pipeline.runner.tasks import fix_event_extra, task_arguments
from user_pipeline.steps.harness import StepRefused
from user_pipeline.steps.models import ID_MATCHER
from user_pipeline.steps.registry import step

PAIRS = "reference.id_pairs"
PARTNER = "raw.users_partner"
D1, D2, D3 = "2026-01-01", "2026-01-02", "2026-01-03"


@dataclass
class _Event:  # an Airflow asset event as a task receives it (triggering_asset_events)
    extra: dict
    timestamp: datetime


def _events(cfg) -> list[dict]:
    path = Path(cfg.openlineage_client_config()["transport"]["log_file_path"])
    return [json.loads(line) for line in path.read_text().splitlines()]


def _corrected_pairs(path: Path, flip: int = 12) -> Path:
    """The generated pairs with the labels of the first ``flip`` pairs corrected (flipped)."""
    table = reference.id_pairs(SEED)
    labels = table.column("is_match").to_pylist()
    labels[:flip] = [1 - v for v in labels[:flip]]
    pq.write_table(table.set_column(table.schema.get_field_index("is_match"), "is_match", pa.array(labels)), path)
    return path


def _commit_pairs(cfg):
    return Catalog(cfg).write_table(PAIRS, "v1", reference.id_pairs(SEED), producer=Producer("test", "datagen"),
                                    inputs=[], code_version="test")


def test_fixing_id_pairs_commits_a_version_naming_the_replaced_one_and_the_matcher_dag_trains_a_candidate(
        cfg, tmp_path):
    v1 = _commit_pairs(cfg)
    assert cfg.id_merge.pairs_version == "v1"
    outcome = user_pipeline.fix.run(["--dataset", PAIRS, "--file", str(_corrected_pairs(tmp_path / "p.parquet")),
                                     "--new-version", "v2", "--reason", "12 pairs mislabelled"])
    v2 = outcome.output
    assert (v2.partition, v2.row_count, outcome.skipped) == ("version=v2", v1.row_count, False)
    assert v2.version != v1.version and v2.inputs == [v1.ref.to_json()]
    assert v2.extra["replaces"] == {"partition": "version=v1", "version": v1.version, "reason": "12 pairs mislabelled"}

    # One lineage run: the replaced version in, the new one out, and the facet saying so.
    (complete,) = [e for e in _events(cfg) if e["job"]["name"] == "user_pipeline.fix" and e["eventType"] == "COMPLETE"]
    assert [(d["name"], d["facets"]["partition"]["value"], d["facets"]["version"]["datasetVersion"])
            for d in complete["inputs"]] == [(PAIRS, "v1", v1.version)]
    assert [(d["name"], d["facets"]["partition"]["value"], d["facets"]["version"]["datasetVersion"])
            for d in complete["outputs"]] == [(PAIRS, "v2", v2.version)]
    replaces = complete["run"]["facets"]["replaces"]
    assert (replaces["replaces"], replaces["replacesPartition"], replaces["version"]) == (
        v1.version, "version=v1", v2.version)

    # The asset event its DAG emits names the new version and the one it replaces ...
    extra = fix_event_extra(cfg, PAIRS, "v2")
    assert extra == {"version": "v2", "partition": "version=v2", "content_version": v2.version,
                     "replaces": v1.version, "replaces_partition": "version=v1"}
    # ... so the id_matcher DAG run it triggers gates and trains on v2, while the pin stays v1.
    triggered = {PAIRS: [_Event(extra, datetime.now(UTC))]}
    train = step("train_id_matcher", "id_matcher")
    assert task_arguments(cfg, step("gate_id_pairs", "id_matcher"), None, triggered) == [
        "--dataset", PAIRS, "--version", "v2"]
    assert task_arguments(cfg, train, None, triggered) == ["--pairs-version", "v2"]
    assert task_arguments(cfg, train, None, None) == ["--pairs-version", "v1"]
    candidate = user_pipeline.training.id_matcher.run(task_arguments(cfg, train, None, triggered)).output
    assert candidate.inputs == [v2.ref.to_json()] and candidate.extra["pairs_version"] == "v2"
    assert candidate.version == ID_MATCHER.version(cfg, v2.ref) != ID_MATCHER.version(cfg, v1.ref)
    with pytest.raises(FileNotFoundError, match="version=v1"):
        ID_MATCHER.resolve(Catalog(cfg), cfg)  # the pinned matcher is not the candidate

    # Versions are immutable: the same content again is a no-op, other content under v2 is refused.
    again = user_pipeline.fix.run(["--dataset", PAIRS, "--file", str(tmp_path / "p.parquet"), "--new-version", "v2"])
    assert again.skipped and again.output.version == v2.version
    with pytest.raises(FileExistsError, match="immutable"):
        user_pipeline.fix.run(["--dataset", PAIRS, "--file", str(_corrected_pairs(tmp_path / "q.parquet", 3)),
                               "--new-version", "v2"])


def test_a_fix_its_gate_refuses_commits_nothing(cfg, tmp_path):
    _commit_pairs(cfg)
    table = reference.id_pairs(SEED)
    no_match = table.set_column(table.schema.get_field_index("is_match"), "is_match",
                                pc.multiply(table.column("is_match"), 0))
    pq.write_table(no_match, tmp_path / "bad.parquet")
    with pytest.raises(StepRefused, match="(?s)fix not committed: GATE FAILED.*is_match.match_share"):
        user_pipeline.fix.run(["--dataset", PAIRS, "--file", str(tmp_path / "bad.parquet"), "--new-version", "v2"])
    catalog = Catalog(cfg)
    assert catalog.manifest(PAIRS, "v2") is None
    assert list(Path(catalog.fs_path(catalog.partition_uri(PAIRS, "v2"))).glob("run=*")) == []


def test_a_file_that_is_not_the_dataset_or_a_dataset_that_is_not_upstream_is_refused(cfg, tmp_path):
    _commit_pairs(cfg)
    pq.write_table(reference.id_pairs(SEED).drop_columns(["is_match"]), tmp_path / "short.parquet")
    with pytest.raises(user_pipeline.fix.FixError, match=r"missing \['is_match'\]"):
        user_pipeline.fix.run(["--dataset", PAIRS, "--file", str(tmp_path / "short.parquet"), "--new-version", "v2"])
    with pytest.raises(LookupError, match="not an upstream dataset"):
        user_pipeline.fix.run(["--dataset", "curated.users_clean", "--ds", D1, "--file", str(tmp_path / "x.csv")])
    assert Catalog(cfg).manifest(PAIRS, "v2") is None


# -- a corrected raw drop, then the backfill plan -------------------------------------------------
def _commit_drop(catalog: Catalog, day: str, payload: bytes):
    staged = catalog.stage(PARTNER, day, f"datagen-{day}")
    with catalog.fs.open(catalog.fs_path(staged.path("users_partner.csv")), "wb") as fh:
        fh.write(payload)
    return catalog.commit(staged, producer=Producer("user_pipeline.datagen.generate", "datagen"), inputs=[],
                          code_version="test")


def _pipeline_lineage(cfg, drops: dict) -> None:
    """Ingest, ID-merge (anchored on the day before) and clean of three dates, as the DAG records them."""
    f = EventFactory(start=datetime.now(UTC) - timedelta(hours=1))
    events = []
    for i, day in enumerate((D1, D2, D3)):
        ingested, merged = ds("staging.users_ingested", day, f"I{i}"), ds("staging.users_merged", day, f"M{i}")
        anchors = [ds("staging.users_merged", (D1, D2)[i - 1], f"M{i - 1}")] if i else []
        events += f.run("beam_jobs.ingest", "ingest", day, [ds(PARTNER, day, drops[day].version)], [ingested])
        events += f.run("beam_jobs.id_merge", "id_merge", day, [ingested, *anchors], [merged])
        events += f.run("beam_jobs.clean", "clean", day, [merged], [ds("curated.users_clean", day, f"C{i}")])
    log = Path(cfg.openlineage_client_config()["transport"]["log_file_path"])
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as fh:
        fh.writelines(json.dumps(e) + "\n" for e in events)


def test_a_corrected_drop_is_recommitted_with_lineage_and_the_backfill_plans_only_that_date(cfg, tmp_path, capsys):
    catalog = Catalog(cfg)
    header = b"partner_id,first_name\n"
    drops = {day: _commit_drop(catalog, day, header + f"P{i},Ann\n".encode()) for i, day in enumerate((D1, D2, D3))}
    _pipeline_lineage(cfg, drops)
    corrected = tmp_path / "users_partner.csv"
    corrected.write_bytes(header + b"P1,Anne\n")

    fixed = user_pipeline.fix.run(["--dataset", PARTNER, "--ds", D2, "--file", str(corrected)]).output
    assert (fixed.partition, fixed.extra["replaces"]["version"]) == (f"ds={D2}", drops[D2].version)
    assert catalog.manifest(PARTNER, D2).version == fixed.version != drops[D2].version
    assert [f.rsplit("/", 1)[1] for f in fixed.files] == ["users_partner.csv"]
    assert fix_event_extra(cfg, PARTNER, D2)["replaces"] == drops[D2].version

    store = LineageStore.from_config(cfg)
    store.ingest_files(cfg.openlineage_log_paths())
    plan = backfill.plan_fixed(store, PARTNER, catalog=catalog)
    assert [(s.partition, s.version) for s in plan.seeds] == [(f"ds={D2}", drops[D2].version)]
    # That date's ingest and what follows it, and the next date's ID-merge, which anchors on it;
    # neither the other dates' ingests nor the fix itself.
    assert sorted((dag, logical[:10], task) for dag, _, logical, tasks in plan.airflow_steps() for task in tasks) == [
        ("user_pipeline", D2, "clean"), ("user_pipeline", D2, "id_merge"), ("user_pipeline", D2, "ingest"),
        ("user_pipeline", D3, "clean"), ("user_pipeline", D3, "id_merge")]

    assert lineage_main(["backfill", "--fixed", PARTNER, "--dry-run", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert [(dag, logical[:10], tasks) for dag, _, logical, tasks in printed["airflow_steps"]] == [
        ("user_pipeline", D2, ["ingest", "id_merge", "clean"]), ("user_pipeline", D3, ["id_merge", "clean"])]


def test_versions_answer_to_the_labels_users_know(cfg, tmp_path, capsys):
    catalog = Catalog(cfg)
    header = b"partner_id,first_name\n"
    drops = {day: _commit_drop(catalog, day, header + f"P{i},Ann\n".encode()) for i, day in enumerate((D1, D2, D3))}
    _pipeline_lineage(cfg, drops)
    v1 = _commit_pairs(cfg)
    user_pipeline.fix.run(["--dataset", PAIRS, "--file", str(_corrected_pairs(tmp_path / "p.parquet")),
                           "--new-version", "v2"])
    store = LineageStore.from_config(cfg)
    store.ingest_files(cfg.openlineage_log_paths())

    assert [(n.partition, n.version) for n in resolve(store, PAIRS, "v1")] == [("version=v1", v1.version)]
    assert resolve(store, PAIRS, "version=v1") == resolve(store, PAIRS, "v1")
    assert [n.version for n in resolve(store, PARTNER, f"ds={D2}")] == [drops[D2].version]
    assert resolve(store, PARTNER, D2) == resolve(store, PARTNER, f"ds={D2}")
    assert {a.version for a in impact(store, PARTNER, f"ds={D2}").artifacts} >= {"I1", "M1", "M2"}
    assert upstream(store, "staging.users_merged", f"ds={D3}").seeds[0].version == "M2"

    # After the drop of D2 is fixed, its date names two versions: an error listing both.
    corrected = tmp_path / "users_partner.csv"
    corrected.write_bytes(header + b"P1,Anne\n")
    fixed = user_pipeline.fix.run(["--dataset", PARTNER, "--ds", D2, "--file", str(corrected)]).output
    store.ingest_files(cfg.openlineage_log_paths())
    with pytest.raises(LineageLookupError, match="ambiguous") as error:
        resolve(store, PARTNER, f"ds={D2}")
    assert drops[D2].version in str(error.value) and fixed.version in str(error.value)

    html = tmp_path / "impact.html"
    assert lineage_main(["impact", f"{PAIRS}@v1", "--html", str(html), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["seeds"][0]["version"] == v1.version and html.stat().st_size > 0
    assert lineage_main(["impact", f"{PARTNER}@ds={D2}"]) == 2
    assert "ambiguous" in capsys.readouterr().err
