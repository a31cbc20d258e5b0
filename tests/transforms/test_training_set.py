"""Which clean rows become training rows: one per person (its latest day), labels attached."""

import pyarrow as pa

from transforms.training_set import attach_labels, keep_latest, latest_days, latest_outcomes


def _users():
    # C1 seen on both days under two survivor record ids; C2 once; one row without a canonical id.
    return pa.table({
        "source_record_id": ["web:1", "mobile:7", "web:2", "web:3"],
        "canonical_id": ["C1", "C1", "C2", None],
        "ds": ["2026-01-01", "2026-01-02", "2026-01-01", "2026-01-01"],
    })


def test_each_person_trains_once_on_its_latest_day():
    users = _users()
    latest = latest_days(users)
    assert sorted(latest.to_pylist(), key=lambda r: r["canonical_id"]) == [
        {"canonical_id": "C1", "ds": "2026-01-02"}, {"canonical_id": "C2", "ds": "2026-01-01"}]
    kept = keep_latest(users, latest)
    # Row order is kept; the row without a canonical id has nobody to be deduplicated with.
    assert kept.column("source_record_id").to_pylist() == ["mobile:7", "web:2", "web:3"]


def test_a_person_latest_day_from_another_batch_drops_this_batch_row():
    users = _users()
    latest = latest_days(users)
    first_day = users.filter(pa.compute.equal(users.column("ds"), "2026-01-01"))
    assert keep_latest(first_day, latest).column("source_record_id").to_pylist() == ["web:2", "web:3"]


def test_labels_attach_by_record_id_latest_outcome_wins():
    outcomes = latest_outcomes(pa.table({
        "source_record_id": ["web:2", "web:2", "mobile:7"],
        "looking_for_job": [0, 1, None],
        "observed_date": pa.array([1, 2, 2], pa.int32()).cast(pa.date32()),
    }))
    labelled, unlabelled = attach_labels(_users(), outcomes)
    assert labelled.column("source_record_id").to_pylist() == ["web:2"]
    assert labelled.column("looking_for_job").to_pylist() == [1] and unlabelled == 3
