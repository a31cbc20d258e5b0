import json

import pyarrow as pa

from transforms.ingest import SOURCES, parse_lines, read_header
from transforms.schema import DEAD_LETTER, STAGED_USERS

SIGNUP_TS = "2025-12-30T14:03:11+00:00"
WEB_ROW = ("W0000001,Ann,Lee,ann@example.com,07700 900123,1990-01-02,GB,AB1 2CD,2025-12-30T14:03:11,"
           "organic,Employed,12,3,1,4,5,hello")


def _parse(source, lines, header=None):
    fmt = SOURCES[source]
    return parse_lines(fmt, header or list(fmt.columns), lines, ds="2026-01-01", run_id="r1",
                       source_file=f"{source}.file")


def test_web_rows_map_to_the_typed_schema():
    users, dead = _parse("web", [(2, WEB_ROW)])
    assert users.schema.equals(STAGED_USERS) and dead.schema.equals(DEAD_LETTER)
    row = users.to_pylist()[0]
    assert row["source_record_id"] == "web:W0000001"
    assert row["date_of_birth"].isoformat() == "1990-01-02"
    assert row["signup_date"].isoformat() == "2025-12-30"
    assert row["signup_ts"].isoformat() == SIGNUP_TS  # to the second, in UTC (the burst signal needs it)
    assert (row["tenure_months"], row["source"], row["ds"], row["ingest_run_id"]) == (12, "web", "2026-01-01", "r1")
    assert dead.num_rows == 0


def test_every_line_ends_in_exactly_one_output_with_a_reason():
    lines = [
        (2, WEB_ROW),
        (3, WEB_ROW.replace(",12,", ",twelve,")),          # wrong type
        (4, "W0000003,too,few"),                            # wrong field count
        (5, WEB_ROW.replace("1990-01-02", "1990-31-02")),  # impossible date
        (6, WEB_ROW.replace("W0000001", "")),              # no id
    ]
    users, dead = _parse("web", lines)
    assert users.num_rows + dead.num_rows == len(lines)
    assert (users.num_rows, sorted(dead.column("line_number").to_pylist())) == (1, [3, 4, 5, 6])
    reasons = dict(zip(dead.column("line_number").to_pylist(), dead.column("reason").to_pylist(), strict=True))
    assert reasons[3] == "tenure_months: not an integer: 'twelve'"
    assert reasons[4] == "expected 17 fields, found 3"
    assert reasons[5].startswith("birth_date: not a date")
    assert reasons[6] == "missing user_id"
    assert dead.column("raw").to_pylist()[0] == lines[1][1]


def test_a_file_missing_a_column_is_dead_lettered_whole():
    header = [c for c in SOURCES["web"].columns if c != "email"]
    row = WEB_ROW.replace("ann@example.com,", "")
    users, dead = _parse("web", [(2, row), (3, row)], header=header)
    assert users.num_rows == 0 and dead.num_rows == 2
    assert "lacks column(s) ['email']" in dead.column("reason")[0].as_py()


def test_csv_columns_are_mapped_by_header_name_not_position():
    fmt = SOURCES["web"]
    header = list(reversed(fmt.columns))
    row = ",".join(reversed(WEB_ROW.split(",")))
    users, _ = _parse("web", [(2, row)], header=read_header(fmt, ",".join(header)))
    expected, _ = _parse("web", [(2, WEB_ROW)])
    assert users.equals(expected)


def test_mobile_json_lines_flatten_and_reject_non_objects():
    good = {"uid": "M1", "name": {"given": "Ann", "family": "Lee"}, "dob": "02/01/1990",
            "signup_epoch_ms": 1767225600000, "tenure_years": 2.5, "activity": {"job_views_7d": 7}}
    users, dead = _parse("mobile", [(1, json.dumps(good)), (2, "{not json"), (3, "[1, 2]")])
    row = users.to_pylist()[0]
    assert (row["first_name"], row["tenure_months"], row["job_page_views_7d"]) == ("Ann", 30, 7)
    assert row["date_of_birth"].isoformat() == "1990-01-02"
    assert row["signup_date"].isoformat() == "2026-01-01"
    assert row["signup_ts"].isoformat() == "2026-01-01T00:00:00+00:00"
    assert row["email"] is None  # absent keys are missing values, not errors
    assert dead.column("reason")[1].as_py() == "JSON value is a list, not an object"


def test_partner_names_codes_and_dates_become_days_before_ds():
    line = "P1;Lee, Ann;a@x.com;0123;19900102;GB;AB1;2025-01-01;U;3;4;5;2025-12-01;2025-12-31;note"
    users, dead = _parse("partner", [(2, line)])
    row = users.to_pylist()[0]
    assert (row["first_name"], row["last_name"], row["employment_status"]) == ("Ann", "Lee", "unemployed")
    assert (row["resume_updated_days_ago"], row["last_login_days_ago"]) == (31, 1)
    assert row["signup_channel"] == "partner"
    assert row["signup_date"].isoformat() == "2025-01-01" and row["signup_ts"] is None  # partners send a date
    assert dead.num_rows == 0
    assert isinstance(users, pa.Table)
