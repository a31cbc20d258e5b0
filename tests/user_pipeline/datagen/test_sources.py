"""Every source file parses with its documented format; the data has the problems it should."""

from __future__ import annotations

import json
import re
from datetime import date

import pandas as pd
import pytest

from tests.user_pipeline.datagen.conftest import USERS
from tests.user_pipeline.datagen.readers import read_source
from user_pipeline.datagen.generate import RAW_DATASETS
from user_pipeline.datagen.sources import PARTNER_COLUMNS, WEB_COLUMNS

DATES = ("2026-01-01", "2026-01-02", "2026-01-03")
ID_PATTERN = {"web": r"W\d{11}", "mobile": r"M\d{11}", "partner": r"P\d{11}"}


@pytest.fixture(scope="module")
def parsed(three_days):
    """{(source, ds): (records, bad lines)} from the independent strict readers."""
    return {(s, ds): read_source(s, three_days.raw(RAW_DATASETS[s], ds), ds) for s in RAW_DATASETS for ds in DATES}


def test_headers_are_the_documented_ones(three_days):
    web = three_days.raw("raw.users_web", DATES[0]).decode("utf-8")
    partner = three_days.raw("raw.users_partner", DATES[0]).decode("utf-8")
    assert web.split("\n", 1)[0] == ",".join(WEB_COLUMNS)
    assert partner.split("\n", 1)[0] == ";".join(PARTNER_COLUMNS)
    first_mobile = json.loads(three_days.raw("raw.users_mobile", DATES[0]).decode("utf-8").split("\n", 1)[0])
    assert {"uid", "name", "contact", "signup_epoch_ms", "activity"} <= set(first_mobile)


def test_no_field_holds_a_newline_and_files_are_utf8(three_days):
    for dataset in RAW_DATASETS.values():
        for ds in DATES:
            text = three_days.raw(dataset, ds).decode("utf-8")
            assert "\r" not in text
            lines = text.split("\n")[:-1]
            truth = three_days.truth(ds)
            source = dataset.split("_")[-1]
            # One line per record (plus the CSV header): no record spans lines.
            assert len(lines) == (truth["source"] == source).sum() + (source != "mobile")


def test_well_formed_records_parse_and_match_ground_truth(three_days, parsed):
    for ds in DATES:
        truth = three_days.truth(ds)
        for source in RAW_DATASETS:
            records, bad = parsed[(source, ds)]
            mine = truth[truth["source"] == source]
            good_ids = set(mine.loc[~mine["is_malformed"], "source_record_id"])
            assert set(records["source_record_id"]) == good_ids, (source, ds)
            # Every line the strict reader rejects is a malformed record of the ground truth.
            assert len(bad) == mine["is_malformed"].sum(), (source, ds, bad)
            local = records["source_record_id"].str.split(":").str[1]
            assert local.str.fullmatch(ID_PATTERN[source]).all()


def test_malformed_rows_are_present_and_listed(three_days, parsed):
    kinds = pd.concat([three_days.truth(ds) for ds in DATES])
    malformed = kinds[kinds["is_malformed"]]
    assert len(malformed) >= 3 * round(0.03 * USERS) * 0.8
    assert not malformed["is_spam"].any()
    assert set(malformed["malformation"]) <= {"wrong_field_count", "non_numeric", "bad_date", "missing_id",
                                              "invalid_json", "not_object"}
    assert malformed["source"].nunique() == 3
    reasons = " ".join(r for (_, _), (_, bad) in parsed.items() for _, _, r in bad)
    assert "twelve" in reasons and "31/02/2026" in reasons


def test_ids_are_unique_per_source_across_days(parsed):
    for source in RAW_DATASETS:
        ids = pd.concat([parsed[(source, ds)][0]["source_record_id"] for ds in DATES])
        assert ids.is_unique


def test_source_shares_roughly_as_configured(three_days):
    truth = pd.concat([three_days.truth(ds) for ds in DATES])
    per_day = len(truth) / len(DATES)
    assert 0.9 * USERS <= per_day <= 1.1 * USERS
    shares = truth["source"].value_counts(normalize=True)
    assert abs(shares["web"] - 0.45) < 0.07
    assert abs(shares["mobile"] - 0.35) < 0.07
    assert abs(shares["partner"] - 0.20) < 0.06


def test_outcomes_cover_exactly_the_usable_records(three_days):
    for ds in DATES:
        truth = three_days.truth(ds)
        outcomes = three_days.table("raw.job_outcomes", ds)
        usable = truth[~truth["is_spam"] & ~truth["is_malformed"]]
        assert sorted(outcomes["source_record_id"]) == sorted(usable["source_record_id"])
        merged = outcomes.merge(usable, on="source_record_id")
        assert (merged["looking_for_job"] == merged["looking_for_job_observed"]).all()
        assert set(outcomes["looking_for_job"]) == {0, 1}
        assert (outcomes["observed_date"] == date.fromisoformat(ds)).all()


def test_labels_have_the_planned_base_rate_and_noise(tmp_path):
    from tests.user_pipeline.datagen.conftest import run_generate

    truth = run_generate(tmp_path, days=1, users=4000).truth("2026-01-01")
    normal = truth[~truth["is_spam"] & ~truth["is_malformed"]]
    assert 0.24 < normal["looking_for_job_true"].mean() < 0.36
    flipped = (normal["looking_for_job_true"] != normal["looking_for_job_observed"]).mean()
    assert 0.03 < flipped < 0.07


def test_duplicates_are_the_same_person_in_another_source(three_days, parsed):
    truth = pd.concat([three_days.truth(ds) for ds in DATES])
    seconds = truth[truth["is_duplicate"]]
    assert 0.07 < len(seconds) / len(truth) < 0.2
    records = pd.concat([parsed[k][0] for k in parsed]).merge(truth, on="source_record_id")
    by_person = records.groupby("person_id")
    multi = by_person.filter(lambda g: len(g) > 1)
    assert len(multi) > 0
    # Never twice in the same source; the same birth year (day/month may be swapped).
    assert (multi.groupby("person_id")["source"].nunique() == multi.groupby("person_id").size()).all()
    years = multi.dropna(subset=["date_of_birth"]).assign(y=lambda f: f["date_of_birth"].map(lambda d: d.year))
    years = years[years["anomaly"].isna()]
    assert (years.groupby("person_id")["y"].nunique() == 1).all()
    # ...but the records differ somewhere (typos, formats).
    first = multi.sort_values("source_record_id").groupby("person_id").nth(0).set_index("person_id")
    second = multi.sort_values("source_record_id").groupby("person_id").nth(1).set_index("person_id")
    differs = (first[["first_name", "last_name", "email", "phone"]]
               != second.loc[first.index, ["first_name", "last_name", "email", "phone"]]).any(axis=1)
    assert differs.mean() > 0.9


def test_spam_accounts_look_like_spam(three_days, parsed):
    truth = pd.concat([three_days.truth(ds) for ds in DATES])
    records = pd.concat([parsed[k][0] for k in parsed]).merge(truth, on="source_record_id")
    spam = records[records["is_spam"]]
    normal = records[~records["is_spam"]]
    assert 0.03 < len(spam) / len(records) < 0.08
    disposable = spam["email"].fillna("").str.contains(r"@(?:mailinator|guerrillamail|10minutemail|yopmail|"
                                                        r"trashmail|sharklasers)\.")
    assert disposable.mean() > 0.9
    assert spam["job_views_7d"].median() > 50 * max(1, normal["job_views_7d"].median())


def test_spam_signups_come_in_bursts(three_days):
    text = three_days.raw("raw.users_web", DATES[0]).decode("utf-8").split("\n")[1:-1]
    truth = three_days.truth(DATES[0]).set_index("source_record_id")
    import csv

    minutes = []
    for row in csv.reader(text):
        if len(row) == len(WEB_COLUMNS) and row[0] and truth.loc["web:" + row[0], "is_spam"]:
            minutes.append(row[WEB_COLUMNS.index("signup_ts")][:16])
    assert pd.Series(minutes).value_counts().iloc[0] >= 3


def test_missing_and_out_of_range_values_are_present(three_days, parsed):
    records = pd.concat([parsed[k][0] for k in parsed])
    for column in ("phone", "date_of_birth", "postcode", "employment", "tenure_months", "job_views_7d",
                   "resume_updated_days", "profile_text"):
        share = records[column].isna().mean()
        assert 0.01 < share < 0.2, (column, share)
    truth = pd.concat([three_days.truth(ds) for ds in DATES])
    assert truth["anomaly"].notna().sum() >= 5
    years = records["date_of_birth"].dropna().map(lambda d: d.year)
    counts = records[["job_views_7d", "applications_30d"]]
    assert (years < 1900).any() or (counts == 999999).any().any() or (counts < 0).any().any()


def test_values_use_each_sources_vocabulary(three_days):
    web = three_days.raw("raw.users_web", DATES[0]).decode("utf-8")
    partner = three_days.raw("raw.users_partner", DATES[0]).decode("utf-8")
    mobile = three_days.raw("raw.users_mobile", DATES[0]).decode("utf-8")
    assert re.search(r",(?:Employed|employed|Unemployed|unemployed|Student|Self-employed|Retired),", web)
    assert re.search(r";[EUSFR];", partner)
    assert '"employment_status": "' in mobile and re.search(r'"dob": "\d\d/\d\d/\d{4}"', mobile)
    # Phones in several formats, countries sometimes as names.
    assert re.search(r"\+44 7\d{3} \d{6}", web) and re.search(r"\(0\)", partner)
    assert re.search(r'"mobile": "07\d{9}"', mobile)
