"""The repair story's pieces that need no deployment (the story itself: tests/e2e/deployment/test_repairs.py)."""

from __future__ import annotations

import csv
import io

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml

from lineage.catalog import Catalog, Producer
from tests.user_pipeline.labels.helpers import SEED
from user_pipeline.datagen import reference
from user_pipeline.deploy import repairs
from user_pipeline.steps.registry import DAILY, steps

D = "2026-01-02"


def test_a_corrected_drop_withdraws_the_last_records_and_keeps_the_others_bytes(cfg, tmp_path):
    catalog = Catalog(cfg)
    rows = [["ID", "FULL_NAME"], ["P1", "Zoë Müller"], ["P2", 'Ann "Jo";Smith'],
            *[[f"P{i}", "x"] for i in range(3, 14)]]
    text = io.StringIO(newline="")
    csv.writer(text, delimiter=";", lineterminator="\r\n").writerows(rows)
    staged = catalog.stage(repairs.PARTNER, D, "test")
    with catalog.fs.open(catalog.fs_path(staged.path("users_partner.csv")), "wb") as fh:
        fh.write(text.getvalue().encode("utf-8"))
    catalog.commit(staged, producer=Producer("test", "test"), inputs=[], code_version="test")

    out = repairs.drop_without_last_records(catalog, D, tmp_path / "drop.csv", withdrawn=10)
    kept = out.read_bytes().decode("utf-8")
    assert list(csv.reader(io.StringIO(kept, newline=""), delimiter=";")) == rows[:-10]
    assert kept.endswith("\r\n") and "Zoë Müller" in kept


def test_corrected_pairs_relabel_non_matches_alike_by_surname(cfg, tmp_path):
    catalog = Catalog(cfg)
    original = reference.id_pairs(SEED)
    catalog.write_table(repairs.PAIRS, "v1", original, producer=Producer("test", "datagen"), inputs=[],
                        code_version="test")
    fixed = pq.read_table(repairs.corrected_pairs(catalog, "v1", tmp_path / "p.parquet", relabel=5))
    changed = pc.not_equal(fixed["is_match"], original["is_match"])
    assert pc.sum(changed).as_py() == 5
    picked = fixed.filter(changed)
    assert picked["left_last_name"] == picked["right_last_name"] and set(picked["is_match"].to_pylist()) == {1}


def test_moving_a_pin_changes_that_key_only(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"spam": {"labels_version": "v1", "threshold": 0.5}, "other": 1}))
    repairs.move_pin(str(path), "spam", "labels_version", "v2")
    assert yaml.safe_load(path.read_text()) == {"spam": {"labels_version": "v2", "threshold": 0.5}, "other": 1}


def test_clear_downstream_counts_the_first_planned_task_and_everything_after_it_in_the_dag():
    order = [s.name for s in steps(DAILY)]
    plan = {"steps": [{"dag_id": DAILY, "task_ids": ["run_report", "despam"]},
                      {"dag_id": DAILY, "task_ids": [order[-1]]}]}
    after_despam = {"despam"}
    for s in steps(DAILY):
        if set(s.after) & after_despam:
            after_despam.add(s.name)
    assert "ingest" not in after_despam and "clean" in after_despam
    last = {order[-1]} | {s.name for s in steps(DAILY) if order[-1] in s.after}
    assert repairs.clear_downstream(plan) == len(after_despam) + len(last)


def test_the_json_documents_a_command_printed_one_after_the_other():
    assert repairs._json_documents('{"a": {"b": 1}}\n{"c": "}"}\n') == [{"a": {"b": 1}}, {"c": "}"}]
    # a job's own lines in between, braces and all, are passed over
    noisy = 'ingest: {"rows": 3}\n{not json\n{"a": [1,\n 2]}\ndone {\n{"b": 2}'
    assert repairs._json_documents(noisy) == [{"a": [1, 2]}, {"b": 2}]


def test_an_unknown_fix_or_a_drop_fix_without_a_date_is_refused(cfg, tmp_path):
    with pytest.raises(ValueError, match="unknown fix"):
        repairs.prepare("labels", cfg, tmp_path)
    with pytest.raises(ValueError, match="date"):
        repairs.prepare("raw_drop", cfg, tmp_path)
