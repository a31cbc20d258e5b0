"""A corpus of damaged raw drops through the ingest job: every line that cannot be a row is a dead
letter with its file, line number and reason; nothing crashes; the rest of the day is committed;
``lines read = ingested + dead-lettered``; a drop whose files are not what its manifest committed is
refused before anything runs (issue 20)."""

from __future__ import annotations

import codecs
import csv
import json
import posixpath
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

import beam_jobs.ingest
from beam_jobs.ingest import DropRefused, IngestSources, drop_files
from lineage.catalog import MANIFEST, Catalog, Producer
from tests.beam_jobs.conftest import mobile_line, partner_line, web_line
from transforms.ingest import SOURCES

DS = "2026-01-01"
WEB_HEADER = ",".join(SOURCES["web"].columns)
PARTNER_HEADER = ";".join(SOURCES["partner"].columns)
OUT_OF_RANGE = "out of the representable range 1677-09-22..2262-04-11"
HUGE = "x" * (csv.field_size_limit() + 1)


def commit_drop(cfg, dataset: str, files: dict[str, bytes], run_id: str = "corpus") -> None:
    """Commit one raw partition of ``DS`` holding several files (each a case of the corpus)."""
    catalog = Catalog(cfg)
    staged = catalog.stage(dataset, DS, run_id)
    for name, payload in files.items():
        with catalog.fs.open(staged.path(name), "wb") as fh:
            fh.write(payload)
    catalog.commit(staged, producer=Producer("test-drop", run_id), inputs=[], code_version="test")


def web_csv(*rows: str, end: str = "\n", header: str = WEB_HEADER) -> str:
    return end.join([header, *rows]) + end


WEB_FILES = {
    "clean.csv": web_csv(web_line(1), web_line(2)).encode(),
    "cr_only.csv": web_csv(web_line(11), web_line(12), end="\r").encode(),
    "bom_crlf.csv": codecs.BOM_UTF8 + web_csv(web_line(21, first_name="Zoë"), end="\r\n").encode(),
    "utf16.csv": web_csv(web_line(31, first_name="José")).encode("utf-16"),
    "utf16_no_bom.csv": web_csv(web_line(41), web_line(42)).encode("utf-16-le"),
    "cp1252.csv": web_csv(web_line(51, first_name="Zoë"), web_line(52, first_name="François")).encode("cp1252"),
    "quoting.csv": web_csv(
        web_line(61, about='"first line\nsecond line, with a comma"'),   # lines 2-3: one valid record
        web_line(62, first_name='"Ann'),                                 # line 4: a quote never closed
        web_line(63, about='"a, b"'),                                    # line 5
        web_line(64, about=HUGE),                                        # line 6: over the field limit
        web_line(65),                                                    # line 7
    ).encode(),
    "values.csv": web_csv(
        web_line(71, signup_ts="2025-12-30T14:03:11+05:00"),             # line 2: kept, converted to UTC
        web_line(72, signup_ts="2025-12-30T14:03:11junk"),
        web_line(73, tenure_months="inf"),
        web_line(74, job_views_7d="9223372036854775808"),
        web_line(75, applications_30d="1e30"),
        web_line(76, birth_date="2300-01-01"),
        web_line(77, birth_date="0001-01-01"),
    ).encode(),
    "repeated_header.csv": web_csv(web_line(81) + ",x@example.com", header=WEB_HEADER + ",email").encode(),
}

MOBILE_FILES = {
    "hostile.jsonl": "\r\n".join([
        mobile_line(1),                                                  # line 1: kept
        '{"uid": ["M2"]}',
        '{"uid": true}',
        '{"uid": {"id": "M4"}}',
        '{"uid": "M5", "uid": "M5b"}',
        "[" * 100_000,
        '{"uid": "M7", "tenure_years": NaN}',
        '{"uid": "M8", "tenure_years": 1e30}',
        '{"uid": "M9", "activity": {"applications_30d": 9223372036854775808}}',
        '{"uid": "M10", "signup_epoch_ms": 100000000000000000}',
        "",                                                              # line 11: blank, not a record
        json.dumps({"uid": "M12", "dob": "01/01/2300"}),
    ]).encode(),
}

PARTNER_FILES = {"partner.csv": "\n".join([PARTNER_HEADER, partner_line(1),
                                           partner_line(2).replace("19800102", "00010101"), ""]).encode()}


@pytest.fixture
def ingested(cfg):
    commit_drop(cfg, "raw.users_web", WEB_FILES)
    commit_drop(cfg, "raw.users_mobile", MOBILE_FILES)
    commit_drop(cfg, "raw.users_partner", PARTNER_FILES)
    outcome = beam_jobs.ingest.run(["--ds", DS])
    catalog = Catalog(cfg)
    users = catalog.read_table("staging.users_ingested", DS).to_pylist()
    dead = catalog.read_table("staging.ingest_dead_letter", DS).to_pylist()
    return outcome, catalog, {u["source_record_id"]: u for u in users}, {
        (posixpath.basename(d["source_file"]), d["line_number"]): d for d in dead}


def test_every_damaged_line_is_a_dead_letter_with_file_line_and_reason(ingested):
    _, _, _, dead = ingested
    reasons = {key: d["reason"] for key, d in dead.items()}
    cp1252 = reasons.pop(("cp1252.csv", 2)), reasons.pop(("cp1252.csv", 3))
    # (Read as UTF-8, the UTF-16 file's last "line" is the NUL after its last line feed.)
    no_bom = tuple(reasons.pop(("utf16_no_bom.csv", n)) for n in (2, 3, 4))
    assert reasons == {
        ("quoting.csv", 4): "malformed CSV: the quoted field opened on this line does not close into a valid "
                            "record (',' expected after '\"', lines 4-5)",
        ("quoting.csv", 6): "malformed CSV: field larger than field limit (131072)",
        ("values.csv", 3): "signup_ts: not an ISO 8601 timestamp: '2025-12-30T14:03:11junk'",
        ("values.csv", 4): "tenure_months: not an integer: 'inf'",
        ("values.csv", 5): "job_views_7d: out of the int64 range: '9223372036854775808'",
        ("values.csv", 6): "applications_30d: not an integer: '1e30'",
        ("values.csv", 7): f"birth_date: {OUT_OF_RANGE}: '2300-01-01'",
        ("values.csv", 8): f"birth_date: {OUT_OF_RANGE}: '0001-01-01'",
        ("repeated_header.csv", 2): "file header repeats column(s) ['email']",
        ("hostile.jsonl", 2): "uid: expected a string or a number, got an array",
        ("hostile.jsonl", 3): "uid: expected a string or a number, got a boolean",
        ("hostile.jsonl", 4): "uid: expected a string or a number, got an object",
        ("hostile.jsonl", 5): "duplicate JSON key 'uid'",
        ("hostile.jsonl", 6): "invalid JSON: nested too deeply",
        ("hostile.jsonl", 7): "invalid JSON: NaN is not a JSON number",
        ("hostile.jsonl", 8): "tenure_years: out of the int64 range: '1e+30'",
        ("hostile.jsonl", 9): "activity.applications_30d: out of the int64 range: '9223372036854775808'",
        ("hostile.jsonl", 10): f"signup_epoch_ms: {OUT_OF_RANGE}: '100000000000000000'",
        ("hostile.jsonl", 12): f"dob: {OUT_OF_RANGE}: '01/01/2300'",
        ("partner.csv", 3): f"DOB: {OUT_OF_RANGE}: '00010101'",
    }
    # A file in the wrong encoding is refused whole, with where it fails and what it looks like.
    assert set(cp1252) == {cp1252[0]} and cp1252[0].startswith(
        "not utf-8 text: byte 0xeb at line 2 does not decode (invalid continuation byte); charset detection guesses ")
    assert set(no_bom) == {no_bom[0]} and no_bom[0].startswith(
        "not utf-8 text: a NUL byte at line 1 (UTF-16 or UTF-32 without a byte-order mark?)")
    # Dead letters keep the line as it was: the wrong bytes escaped, never replaced.
    assert dead[("cp1252.csv", 2)]["raw"] == web_line(51, first_name="Zo\\xeb")
    assert dead[("quoting.csv", 6)]["raw"] == web_line(64, about=HUGE)


def test_the_rest_of_the_day_is_committed_with_its_values(ingested):
    outcome, _, users, _ = ingested
    assert sorted(users) == sorted(
        [f"web:W{i:07d}" for i in (1, 2, 11, 12, 21, 31, 61, 63, 65, 71)] + ["mobile:M0000001", "partner:P0000001"])
    assert users["web:W0000021"]["first_name"] == "Zoë"  # UTF-8 with a byte-order mark and CRLF
    assert users["web:W0000031"]["first_name"] == "José"  # UTF-16 with its mark
    assert users["web:W0000061"]["profile_text"] == "first line\nsecond line, with a comma"
    assert users["web:W0000063"]["profile_text"] == "a, b"
    assert users["web:W0000071"]["signup_ts"].isoformat() == "2025-12-30T09:03:11+00:00"
    texts = [v for u in users.values() for v in u.values() if isinstance(v, str)]
    assert not any("\ufffd" in t for t in texts)
    assert outcome.summary == "ingested 12 rows, dead-lettered 25 of 37 lines"


def test_lines_read_is_ingested_plus_dead_lettered(ingested):
    _, catalog, users, dead = ingested
    manifest = catalog.require("staging.users_ingested", DS)
    # web: 2 + 2 + 1 + 1 + 3 + 2 + 5 records (the two-line one counts once) + 7 + 1; mobile: 11 (not
    # the blank line); partner: 2.
    assert manifest.extra["lines_read"] == 37 == len(users) + len(dead)


def test_a_raw_file_changed_after_its_commit_is_refused(cfg, commit_raw):
    commit_raw(DS, web=[web_line(1)], mobile=[mobile_line(1)], partner=[partner_line(1)])
    beam_jobs.ingest.run(["--ds", DS])
    catalog = Catalog(cfg)
    committed = catalog.require("staging.users_ingested", DS)
    raw = catalog.require("raw.users_web", DS)
    Path(catalog.files("raw.users_web", DS)[0]).write_text(web_csv(web_line(1), web_line(2)))
    for argv in (["--ds", DS], ["--ds", DS, "--force"]):  # neither reused nor recomputed under the old version
        with pytest.raises(DropRefused, match=rf"raw.users_web ds={DS}: the files' bytes hash to \w+, not to the "
                                              rf"committed version {raw.version} \(run=test-drop/users_web.csv\): "
                                              "a file was changed after the drop was committed"):
            beam_jobs.ingest.run(argv)
    assert beam_jobs.ingest.main(["--ds", DS]) == 2
    assert Catalog(cfg).require("staging.users_ingested", DS) == committed


@pytest.mark.parametrize("entry", ["../../../../../../etc/passwd", "/etc/passwd", "run=test-drop/../../x.csv",
                                   "run=test-drop/./users_web.csv", ""])
def test_a_manifest_entry_outside_its_partition_is_refused(cfg, commit_raw, entry):
    commit_raw(DS, web=[web_line(1)], mobile=[mobile_line(1)], partner=[partner_line(1)])
    catalog = Catalog(cfg)
    path = Path(catalog.partition_uri("raw.users_web", DS)) / MANIFEST
    manifest = json.loads(path.read_text())
    manifest["files"] = [entry]
    path.write_text(json.dumps(manifest))
    with pytest.raises(DropRefused, match=f"raw.users_web ds={DS}: its manifest lists '{entry}', which is not a "
                                          "file inside the partition"):
        beam_jobs.ingest.run(["--ds", DS])
    assert catalog.manifest("staging.ingest_dead_letter", DS) is None


def test_ingest_sources_decodes_and_splits_records_of_damaged_files(cfg):
    commit_drop(cfg, "raw.users_web", {name: WEB_FILES[name] for name in ("cr_only.csv", "utf16.csv", "cp1252.csv")})
    catalog = Catalog(cfg)
    files = [("web", uri, digest) for uri, digest in drop_files(catalog, catalog.require("raw.users_web", DS))]
    with TestPipeline(runner="FnApiRunner") as p:
        out = p | IngestSources(files, DS, "run-1", batch_size=1)
        ids = out.users | beam.FlatMap(lambda t: t.column("source_record_id").to_pylist())
        dead = out.dead_letter | beam.FlatMap(lambda t: [(posixpath.basename(f), n) for f, n in zip(
            t.column("source_file").to_pylist(), t.column("line_number").to_pylist(), strict=True)])
        assert_that(ids, equal_to(["web:W0000011", "web:W0000012", "web:W0000031"]), label="ids")
        assert_that(dead, equal_to([("cp1252.csv", 2), ("cp1252.csv", 3)]), label="dead")


def test_a_file_that_changes_while_the_job_runs_fails_the_pipeline(cfg):
    commit_drop(cfg, "raw.users_web", {"clean.csv": WEB_FILES["clean.csv"]})
    catalog = Catalog(cfg)
    [(uri, _)] = drop_files(catalog, catalog.require("raw.users_web", DS))
    with pytest.raises(Exception, match="clean.csv changed while the job ran"), \
            TestPipeline(runner="FnApiRunner") as p:
        _ = p | IngestSources([("web", uri, "0" * 64)], DS, "run-1", batch_size=10)
