"""Unit tests of one day's ID-merge around the steps: record positions, the prepared records in
Arrow batches, accepted links and ``merge_day`` (transforms.id_merge.positions, .compare, .merge)."""

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from transforms import id_merge as im
from transforms.id_merge.positions import everyone, record_ids
from transforms.schema import ID_MAP, STAGED_USERS, USERS_MERGED
from user_pipeline.config import IdMergeConfig

DS = "2026-01-03"


def staged(rows) -> pa.Table:
    frame = pd.DataFrame([{f.name: row.get(f.name) for f in STAGED_USERS} for row in rows])
    return pa.Table.from_pandas(frame, schema=STAGED_USERS, preserve_index=False)


def anchor(canonical_id: str, **fields) -> pd.DataFrame:
    """One prior canonical user (a ``USERS_MERGED`` row)."""
    row = {f.name: fields.get(f.name) for f in USERS_MERGED}
    row.update(canonical_id=canonical_id, merged_records=1, id_merge_run_id="earlier")
    return pa.Table.from_pandas(pd.DataFrame([row]), schema=USERS_MERGED, preserve_index=False).to_pandas()


def test_everyone_puts_anchors_after_today_under_their_canonical_handle():
    today = pd.DataFrame({"source_record_id": ["web:1", "web:2", "web:1"], "first_name": ["a", "b", "c"]})
    anchors = pd.DataFrame({"canonical_id": ["u-9"], "first_name": ["d"], "merged_records": [3],
                            "id_merge_run_id": ["r"], "source_record_id": ["mobile:4"]})
    rows = everyone(today, anchors)
    assert rows["source_record_id"].tolist() == ["web:1", "web:2", "web:1", im.ANCHOR_PREFIX + "u-9"]
    assert rows["first_name"].tolist() == ["a", "b", "c", "d"]
    assert {"canonical_id", "merged_records", "id_merge_run_id"}.isdisjoint(rows.columns)
    # A repeated record id is one record, at the position of its first row.
    assert record_ids(rows).tolist() == ["web:1", "web:2", im.ANCHOR_PREFIX + "u-9"]
    assert everyone(today, anchors.iloc[:0])["source_record_id"].tolist() == ["web:1", "web:2", "web:1"]


def test_comparison_records_one_row_of_fields_per_position():
    today = staged([{"source_record_id": "web:1", "first_name": "Ann", "email": "a@x"},
                    {"source_record_id": "web:2", "first_name": "Bob"},
                    {"source_record_id": "web:1", "first_name": "Annie"}])
    records = im.comparison_records(today, anchor("u-9", first_name="Cy", source_record_id="mobile:4"))
    assert records["first_name"].tolist() == ["Ann", "Bob", "Cy"]  # the repeated id keeps its first row
    assert set(records.columns) <= set(im.FIELDS)
    assert records.loc[0, "email"] == "a@x"


def test_split_batches_gives_each_batch_its_first_position():
    records = pd.DataFrame({"first_name": list("abcde")})
    batches = list(im.split_batches(records, 2))
    assert [start for start, _ in batches] == [0, 2, 4]
    assert [batch["first_name"].tolist() for _, batch in batches] == [["a", "b"], ["c", "d"], ["e"]]


def test_staged_table_casts_batches_to_the_staged_schema_and_handles_none():
    first = staged([{"source_record_id": "web:1"}])
    # As a reader may return a batch: another column order, an extra column, a narrower integer type.
    row = staged([{"source_record_id": "web:2", "tenure_months": 5}])
    second = pa.table({"extra": pa.array([1]), **{name: row.column(name) for name in reversed(STAGED_USERS.names)}})
    second = second.set_column(second.schema.get_field_index("tenure_months"), "tenure_months",
                               pa.array([5], pa.int32()))
    table = im.staged_table([first, second])
    assert table.schema == STAGED_USERS
    assert table.column("source_record_id").to_pylist() == ["web:1", "web:2"]
    assert table.column("tenure_months").to_pylist() == [None, 5]
    assert im.staged_table([]).schema == STAGED_USERS and im.staged_table([]).num_rows == 0


def test_prepared_from_arrow_batches_compares_like_the_frame():
    norm = im.normalise(pd.DataFrame({"first_name": ["John", "Jon", None], "last_name": ["Smith", "Smith", "X"],
                                      "email": ["js@x.com", "js@x.com", None]}))
    batches = [im.compared_table(norm.iloc[:2].reset_index(drop=True)),
               im.compared_table(norm.iloc[2:].reset_index(drop=True))]
    assert all(field.type == pa.string() for field in batches[1].schema)
    pairs = np.array([[0, 1], [0, 2]])
    pd.testing.assert_frame_equal(im.compare_prepared(im.prepare_tables(batches), pairs), im.compare(norm, pairs))
    empty = im.prepare_tables([])
    assert all(len(codes) == 0 for codes in empty.codes.values())


def test_concat_links_stacks_accepted_pairs_and_scores():
    pairs, scores = im.concat_links([])
    assert pairs.shape == (0, 2) and scores.shape == (0,)
    pairs, scores = im.concat_links(iter([(np.array([[0, 1]], dtype=np.int32), np.array([0.9], dtype=np.float32)),
                                          (np.empty((0, 2)), np.empty(0)),
                                          (np.array([[2, 5], [3, 4]]), np.array([0.7, 0.8]))]))
    assert pairs.dtype == np.int64 and scores.dtype == np.float64
    assert pairs.tolist() == [[0, 1], [2, 5], [3, 4]]
    assert scores.tolist() == pytest.approx([0.9, 0.7, 0.8])


def test_merge_day_maps_every_record_and_keeps_an_anchor_id():
    ts = datetime(2026, 1, 3, 9, tzinfo=UTC)
    today = staged([
        {"source_record_id": "web:1", "source": "web", "first_name": "Jon", "email": None, "signup_ts": ts, "ds": DS},
        {"source_record_id": "mobile:1", "source": "mobile", "first_name": "John", "email": "j@x",
         "signup_date": date(2026, 1, 2), "ds": DS},
        {"source_record_id": "web:2", "source": "web", "first_name": "Ann", "ds": DS},
    ])
    # The anchor (position 3) was merged on an earlier day; today's record web:2 links to it.
    anchors = anchor("u-old", source_record_id="partner:7", source="partner", first_name="Anne",
                     signup_date=date(2026, 1, 1), ds="2026-01-01")
    previous = {im.ANCHOR_PREFIX + "u-old": "u-old"}
    pairs, scores = np.array([[0, 1], [2, 3]]), np.array([0.9, 0.8])
    id_map, users, report = im.merge_day(today, pairs, scores, anchors=anchors, previous=previous,
                                         cfg=IdMergeConfig(), ds=DS, run_id="run-1")

    assert id_map.schema == ID_MAP and id_map.num_rows == 3
    mapped = id_map.to_pandas()
    assert mapped["source_record_id"].tolist() == ["web:1", "mobile:1", "web:2"]
    assert mapped.loc[0, "canonical_id"] == mapped.loc[1, "canonical_id"] != "u-old"
    assert mapped.loc[2, "canonical_id"] == "u-old"
    assert mapped["cluster_size"].tolist() == [2, 2, 2]
    assert mapped["match_score"].tolist() == [0.9, 0.9, 0.8]
    assert (mapped["ds"] == DS).all() and (mapped["id_merge_run_id"] == "run-1").all()
    assert report == {"refused_links": 0, "clusters_split": 0, "loose_clusters_split": 0,
                      "links_accepted": 2, "anchors": 1}

    assert users.schema == USERS_MERGED
    merged = users.to_pandas().set_index("canonical_id")
    assert len(merged) == 2 and (merged["ds"] == DS).all()
    pair = merged.loc[mapped.loc[0, "canonical_id"]]
    # Survivorship: web:1 is the more recent (signup time), the email only mobile:1 has.
    assert (pair["source_record_id"], pair["first_name"], pair["email"]) == ("web:1", "Jon", "j@x")
    assert pair["merged_records"] == 2
    old = merged.loc["u-old"]
    # web:2 has no signup time or date, so the anchor's record survives under its real record id.
    assert (old["source_record_id"], old["first_name"]) == ("partner:7", "Anne")
    assert old["merged_records"] == 1  # today's records only
