"""``--bad-drop`` breaks the web drop of one date exactly as documented."""

from __future__ import annotations

import csv
import json

import pytest

from tests.user_pipeline.datagen.conftest import run_generate
from user_pipeline.datagen.generate import main
from user_pipeline.datagen.sources import BAD_DROPS, WEB_COLUMNS

DS = "2026-01-02"


def _rows(data: bytes) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(data.decode("utf-8").splitlines()))
    return rows[0], rows[1:]


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return run_generate(tmp_path_factory.mktemp("good"), days=2)


def _broken(tmp_path, kind):
    return run_generate(tmp_path, days=2, bad_drop=kind)


def test_only_the_last_date_and_only_web_is_broken(tmp_path, good):
    bad = _broken(tmp_path, "empty")
    assert bad.raw("raw.users_web", DS) != good.raw("raw.users_web", DS)
    assert bad.raw("raw.users_web", "2026-01-01") == good.raw("raw.users_web", "2026-01-01")
    for dataset in ("raw.users_mobile", "raw.users_partner"):
        assert bad.raw(dataset, DS) == good.raw(dataset, DS)
    note = json.loads(bad.catalog.fs.cat_file(f"{bad.cfg.data_root}/ground_truth/ds={DS}/bad_drop.json"))
    assert note["kind"] == "empty" and note["dataset"] == "raw.users_web"


def test_shuffled_columns_is_the_same_data_in_another_order(tmp_path, good):
    header, rows = _rows(_broken(tmp_path, "shuffled_columns").raw("raw.users_web", DS))
    good_header, good_rows = _rows(good.raw("raw.users_web", DS))
    assert sorted(header) == sorted(WEB_COLUMNS) and header != list(WEB_COLUMNS)
    as_dicts = [dict(zip(header, r, strict=True)) for r in rows if len(r) == len(header)]
    expected = [dict(zip(good_header, r, strict=True)) for r in good_rows if len(r) == len(good_header)]
    assert as_dicts == expected


def test_missing_column_drops_email(tmp_path, good):
    header, rows = _rows(_broken(tmp_path, "missing_column").raw("raw.users_web", DS))
    assert header == [c for c in WEB_COLUMNS if c != "email"]
    _, good_rows = _rows(good.raw("raw.users_web", DS))
    assert len(rows) == len(good_rows)
    assert sum(len(r) == len(header) for r in rows) >= 0.95 * len(rows)
    assert not any("@" in field for r in rows for field in r[:5])


def test_empty_is_the_header_only_and_leaves_no_web_truth(tmp_path):
    bad = _broken(tmp_path, "empty")
    assert bad.raw("raw.users_web", DS).decode("utf-8") == ",".join(WEB_COLUMNS) + "\n"
    truth = bad.truth(DS)
    assert "web" not in set(truth["source"])
    assert not bad.table("raw.job_outcomes", DS)["source_record_id"].str.startswith("web:").any()


def test_null_column_empties_employment(tmp_path, good):
    header, rows = _rows(_broken(tmp_path, "null_column").raw("raw.users_web", DS))
    col = header.index("employment")
    assert all(r[col] == "" for r in rows if len(r) == len(header))
    _, good_rows = _rows(good.raw("raw.users_web", DS))
    assert sum(r[col] != "" for r in good_rows if len(r) == len(header)) > 0.9 * len(good_rows)


def test_duplicate_ids_repeats_a_tenth_of_the_ids(tmp_path, good):
    header, rows = _rows(_broken(tmp_path, "duplicate_ids").raw("raw.users_web", DS))
    _, good_rows = _rows(good.raw("raw.users_web", DS))
    extra = len(rows) - len(good_rows)
    assert extra == round(0.1 * len(good_rows))
    ids = [r[0] for r in rows if r and r[0]]
    assert len(ids) - len(set(ids)) == extra
    assert rows[: len(good_rows)] == good_rows


def test_every_kind_is_documented_and_the_cli_accepts_it(tmp_path, capsys):
    assert set(BAD_DROPS) == {"shuffled_columns", "missing_column", "empty", "null_column", "duplicate_ids"}
    with pytest.raises(SystemExit):
        main(["--help"])
    usage = capsys.readouterr().out
    assert "--bad-drop {" + ",".join(sorted(BAD_DROPS)) + "}" in usage
    for kind, description in BAD_DROPS.items():
        assert f"  {kind}: {description}" in usage, kind
    code = main(["--data-root", str(tmp_path), "--start-date", DS, "--days", "1", "--users-per-day", "100",
                 "--seed", "5", "--bad-drop", "null_column", "--reference-version", "v7"])
    assert code == 0
    out = capsys.readouterr().out
    assert "broken on purpose: null_column" in out
    assert "reference.spam_labels version=v7" in out


def test_unknown_kind_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown bad drop"):
        run_generate(tmp_path, days=1, bad_drop="nonsense")
