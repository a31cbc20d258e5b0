from datetime import UTC, date, datetime

import pandas as pd
import pyarrow as pa

from transforms.clean import (
    clean_countries,
    clean_emails,
    clean_phones,
    clean_users,
    flag_counts,
    whole_years_between,
)
from transforms.schema import CLEAN_USERS, STAGED_USERS
from user_pipeline.config import CleanConfig


def _staged(**overrides):
    row = {name: None for name in STAGED_USERS.names}
    row.update(source_record_id="web:W1", source="web", first_name="  ann  marie ", last_name="LEE",
               email=" Ann@Example.COM ", phone="07700 900123", date_of_birth=date(1990, 6, 15),
               country="united kingdom", postcode="ab1  2cd", signup_date=date(2025, 12, 1),
               signup_channel="Organic", employment_status="Self-employed", tenure_months=12,
               job_page_views_7d=3, applications_30d=1, resume_updated_days_ago=4, last_login_days_ago=5,
               profile_text=" hello   there ", ds="2026-01-01", ingest_run_id="r1")
    row.update(overrides)
    return pa.Table.from_pylist([row], schema=STAGED_USERS)


def _clean(table):
    return clean_users(table, ds="2026-01-01", run_id="c1", cfg=CleanConfig()).to_pylist()[0]


def test_a_good_row_is_normalised_and_unflagged():
    row = _clean(_staged())
    assert (row["first_name"], row["last_name"]) == ("Ann Marie", "Lee")
    assert row["email"] == "ann@example.com"
    assert row["phone"] == "+447700900123"
    assert (row["country"], row["postcode"]) == ("GB", "AB1 2CD")
    assert (row["signup_channel"], row["employment_status"]) == ("organic", "self_employed")
    assert (row["age_years"], row["account_age_days"]) == (35, 31)
    assert row["profile_text"] == "hello there"
    assert row["clean_flags"] is None and row["clean_run_id"] == "c1"


def test_each_rule_nulls_the_bad_value_and_flags_it():
    row = _clean(_staged(email="not-an-email", phone="12", country="Narnia",
                         date_of_birth=date(1850, 1, 1), signup_date=date(2026, 3, 1),
                         signup_ts=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
                         employment_status="pirate", job_page_views_7d=-2, applications_30d=999999,
                         tenure_months=5000))
    for column in ("email", "phone", "country", "date_of_birth", "age_years", "signup_date", "signup_ts",
                   "account_age_days", "employment_status", "job_page_views_7d", "applications_30d",
                   "tenure_months"):
        assert row[column] is None, column
    assert set(row["clean_flags"].split(";")) == {
        "email_invalid", "phone_invalid", "country_unknown", "dob_out_of_range", "signup_in_future",
        "employment_status_unknown", "job_page_views_7d_out_of_range", "applications_30d_out_of_range",
        "tenure_out_of_range",
    }


def test_cleaning_keeps_every_row_and_the_schema():
    table = pa.concat_tables([_staged(), _staged(source_record_id="web:W2", email="bad")])
    cleaned = clean_users(table, ds="2026-01-01", run_id="c1", cfg=CleanConfig())
    assert cleaned.num_rows == 2 and cleaned.schema.equals(CLEAN_USERS, check_metadata=False)
    assert flag_counts(cleaned) == {"email_invalid": 1}


def test_phone_formats_of_one_number_agree():
    phones = pd.Series(["+44 7700 900123", "07700900123", "(0)7700-900-123", "0044 7700 900123",
                        "+44 (0)7700 900123", None], dtype="string")
    cleaned, invalid = clean_phones(phones, "44")
    assert cleaned.iloc[:5].unique().tolist() == ["+447700900123"]
    assert cleaned.iloc[5] is pd.NA and not invalid.any()


def test_emails_and_countries():
    emails, bad = clean_emails(pd.Series(["A.B@X.io", "a@b", None], dtype="string"))
    assert emails.tolist()[:1] == ["a.b@x.io"] and bad.tolist() == [False, True, False]
    countries, unknown = clean_countries(pd.Series(["gb", "UK", "Deutschland", "Atlantis"], dtype="string"))
    assert countries.tolist()[:3] == ["GB", "GB", "DE"] and unknown.tolist() == [False, False, False, True]


def test_age_counts_whole_years_only_after_the_birthday():
    born = pd.Series([date(2000, 1, 1), date(2000, 1, 2), date(2000, 12, 31)])
    assert whole_years_between(born, date(2026, 1, 1)).tolist() == [26, 25, 25]
