"""The write-ahead spool of ``lineage serve``: appends, segments, and the indexer's passes."""

from __future__ import annotations

import logging

import orjson
import pytest

from lineage.spool import Progress, Spool, index_spool, segments
from lineage.store import LineageStore, LineageUsageError
from tests.lineage.test_service_faults import _events


def _lines(n_runs: int) -> list[bytes]:
    return [orjson.dumps(event) + b"\n" for event in _events(n_runs)]


@pytest.fixture
def store(tmp_path):
    return LineageStore(f"sqlite:///{tmp_path / 'lineage.db'}")


def test_the_indexer_stores_what_was_appended_and_drops_stored_segments(tmp_path, store):
    spool = Spool(tmp_path / "spool", "sqlite:///x", segment_bytes=4_000)  # a new segment every few events
    lines = _lines(20)
    offsets: dict = {}
    for line in lines[:10]:
        spool.append(line)
    assert len(segments(spool.folder)) > 1
    assert index_spool(store, spool.folder, offsets) == spool.end
    assert store.counts()["events"] == 10
    assert len(segments(spool.folder)) == 1  # stored and superseded: gone; the newest stays
    for line in lines[10:]:
        spool.append(line)
    assert index_spool(store, spool.folder, offsets) == spool.end == sum(map(len, lines))
    assert store.counts()["events"] == len(lines) == 40
    assert index_spool(store, spool.folder, offsets) == spool.end  # nothing new: nothing changes
    spool.close()


def test_a_restarted_spool_continues_after_a_torn_line_which_is_dropped(tmp_path, store, caplog):
    folder = tmp_path / "spool"
    spool = Spool(folder, "sqlite:///x")
    lines = _lines(3)
    for line in lines[:4]:
        spool.append(line)
    torn = lines[4][:50]  # a killed service's last, unanswered write
    spool.append(torn)
    spool.close()
    again = Spool(folder, "sqlite:///x")  # a new segment from where the old one ends
    assert again.end == sum(map(len, lines[:4])) + len(torn)
    again.append(lines[5])
    caplog.set_level(logging.WARNING)
    assert index_spool(store, folder, {}) == again.end
    assert store.counts()["events"] == 5
    assert "torn, unacknowledged write" in caplog.text
    assert [start for start, _ in segments(folder)] == [sum(map(len, lines[:4])) + len(torn)]
    again.close()


def test_one_service_per_spool_and_one_store_per_spool(tmp_path):
    folder = tmp_path / "spool"
    first = Spool(folder, "sqlite:///a.db")
    with pytest.raises(LineageUsageError, match="another lineage serve"):
        Spool(folder, "sqlite:///a.db")
    first.close()
    with pytest.raises(LineageUsageError, match="feeds the store"):
        Spool(folder, "sqlite:///b.db")


def test_progress_is_shared_through_the_mapped_file(tmp_path):
    writer, reader = Progress(tmp_path), Progress(tmp_path)
    assert reader.value == -1
    writer.value = 123_456_789_012
    assert reader.value == 123_456_789_012
    writer.close()
    reader.close()
