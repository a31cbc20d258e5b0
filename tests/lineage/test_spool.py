"""The write-ahead spool of ``lineage serve``: appends, segments, the indexer's passes, the events
it sets aside (dead letters), and its end when the service goes."""

from __future__ import annotations

import json
import logging
import os
import threading
import time

import orjson
import pytest

from lineage import queries
from lineage.spool import DeadLetterCount, Progress, Spool, dead_letter_path, index_spool, run_indexer, segments
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


def test_a_spooled_event_the_store_refuses_is_set_aside_in_the_dead_letter_file_and_the_rest_stored(tmp_path, store):
    """A spool written by a service before the validator may hold a poison event: the indexer
    sets it aside with its reason and stores the events after it."""
    spool = Spool(tmp_path / "spool", "sqlite:///x")
    lines = _lines(2)
    poison = orjson.loads(lines[1])
    poison["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] = 2**63
    spool.append(lines[0])
    spool.append(json.dumps(poison).encode() + b"\n")
    spool.append(b"".join(lines[2:]))
    assert index_spool(store, spool.folder, {}) == spool.end
    assert store.counts()["events"] == 3
    (letter,) = [json.loads(line) for line in dead_letter_path(spool.folder).read_text().splitlines()]
    assert (letter["line"], letter["kind"]) == (2, "malformed")
    assert letter["reason"].startswith("outputs[0].outputFacets.outputStatistics.rowCount: 9223372036854775808 is "
                                       "outside the signed 64-bit")
    assert json.loads(letter["event"]) == poison and letter["source"] == str(segments(spool.folder)[0][1])
    assert DeadLetterCount(spool.folder).value == 1
    spool.close()


def test_an_event_that_passes_the_checks_but_fails_to_store_is_set_aside_alone(tmp_path, store, monkeypatch):
    """Whatever fails in the store for one event (simulated: the run summary raises for one run)
    costs that event only: it is found by halving the batch, set aside as unstorable, and the
    other events of the batch and after it are stored."""
    from lineage.store import ingest as ingest_module

    lines = _lines(40)
    bad_run = orjson.loads(lines[31])["run"]["runId"]
    real = ingest_module.summarise_run

    def summarise(run_id, parsed):
        if run_id == bad_run:
            raise OverflowError("Python int too large to convert to SQLite INTEGER")
        return real(run_id, parsed)

    monkeypatch.setattr(ingest_module, "summarise_run", summarise)
    spool = Spool(tmp_path / "spool", "sqlite:///x")
    spool.append(b"".join(lines))
    assert index_spool(store, spool.folder, {}) == spool.end
    assert store.counts()["events"] == len(lines) - 2
    letters = [json.loads(line) for line in dead_letter_path(spool.folder).read_text().splitlines()]
    assert [(d["line"], d["kind"]) for d in letters] == [(31, "unstorable"), (32, "unstorable")]
    assert letters[0]["reason"] == ("passed the checks but could not be stored: OverflowError: Python int too large "
                                    "to convert to SQLite INTEGER")
    assert [orjson.loads(d["event"]) for d in letters] == [orjson.loads(line) for line in lines[30:32]]
    assert [(i["line"], i["kind"]) for i in queries.check(store).malformed_lines] == [
        (31, "unstorable"), (32, "unstorable")]
    spool.close()


def test_the_indexer_retrying_a_database_that_is_down_still_stops_when_its_service_goes(tmp_path, monkeypatch):
    """The loop that kept an orphan alive after kill -9: a pass that fails must still watch the
    pipe from the service, and end on its end of file."""
    from lineage import spool as spool_module

    def failing(store, folder, offsets):
        raise RuntimeError("the database is down")

    monkeypatch.setattr(spool_module, "index_spool", failing)
    read_end, write_end = os.pipe()
    indexer = threading.Thread(target=run_indexer, args=(f"sqlite:///{tmp_path / 'l.db'}", tmp_path, read_end))
    indexer.start()
    time.sleep(1.5)  # at least one failed pass and one retry
    assert indexer.is_alive()
    started = time.monotonic()
    os.close(write_end)  # what a killed service's end of the pipe does
    indexer.join(timeout=10)
    assert not indexer.is_alive() and time.monotonic() - started < 3
    os.close(read_end)
