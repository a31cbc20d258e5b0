import codecs
import csv
import dataclasses
import io
import json
from datetime import UTC, date, datetime, timedelta, timezone

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms.ingest import (
    FIRST_DATE,
    LAST_DATE,
    SOURCES,
    Decoding,
    check_encoding,
    load_json,
    parse_records,
    records_of,
    split_records,
)
from transforms.schema import DEAD_LETTER, STAGED_USERS

DS = "2026-01-01"
WEB, MOBILE, PARTNER = SOURCES["web"], SOURCES["mobile"], SOURCES["partner"]
SIGNUP_TS = "2025-12-30T14:03:11+00:00"
WEB_VALUES = {"user_id": "W0000001", "first_name": "Ann", "last_name": "Lee", "email": "ann@example.com",
              "phone": "07700 900123", "birth_date": "1990-01-02", "country": "GB", "zip": "AB1 2CD",
              "signup_ts": "2025-12-30T14:03:11", "channel": "organic", "employment": "Employed",
              "tenure_months": "12", "job_views_7d": "3", "applications_30d": "1", "resume_updated_days": "4",
              "last_login_days": "5", "about": "hello"}
WEB_ROW = ",".join(WEB_VALUES.values())
PARTNER_ROW = "P1;Lee, Ann;a@x.com;0123;19900102;GB;AB1;2025-01-01;U;3;4;5;2025-12-01;2025-12-31;note"
OUT_OF_RANGE = "out of the representable range 1677-09-22..2262-04-11"


def web_row(**values) -> str:
    return ",".join({**WEB_VALUES, **values}.values())


def web_file(*rows: str, end: str = "\n", header: str = ",".join(WEB.columns)) -> str:
    return end.join([header, *rows]) + end


def ingest(fmt, text: str, problem: str = ""):
    """A file's text -> (users, dead letters), as the job reads it; checks the accounting."""
    header, found, records = records_of(fmt, io.StringIO(text, newline=""))
    records = list(records)
    users, dead = parse_records(fmt, header, records, ds=DS, run_id="r1", source_file="f",
                                problem=problem or found)
    assert users.num_rows + dead.num_rows == len(records)  # lines read = ingested + dead-lettered
    assert users.schema.equals(STAGED_USERS) and dead.schema.equals(DEAD_LETTER)
    return users, dead


def reasons(dead: pa.Table) -> dict[int, str]:
    return dict(zip(dead.column("line_number").to_pylist(), dead.column("reason").to_pylist(), strict=True))


def ids(users: pa.Table) -> list[str]:
    return users.column("source_record_id").to_pylist()


def mobile_file(*objects) -> str:
    return "".join((o if isinstance(o, str) else json.dumps(o)) + "\n" for o in objects)


# -- mapping ---------------------------------------------------------------------------------


def test_web_rows_map_to_the_typed_schema():
    users, dead = ingest(WEB, web_file(WEB_ROW))
    row = users.to_pylist()[0]
    assert row["source_record_id"] == "web:W0000001"
    assert row["date_of_birth"].isoformat() == "1990-01-02"
    assert row["signup_date"].isoformat() == "2025-12-30"
    assert row["signup_ts"].isoformat() == SIGNUP_TS  # to the second, in UTC (the burst signal needs it)
    assert (row["tenure_months"], row["source"], row["ds"], row["ingest_run_id"]) == (12, "web", DS, "r1")
    assert dead.num_rows == 0


def test_every_line_ends_in_exactly_one_output_with_a_reason():
    lines = [
        WEB_ROW,
        web_row(tenure_months="twelve"),      # wrong type
        "W0000003,too,few",                   # wrong field count
        web_row(birth_date="1990-31-02"),     # impossible date
        web_row(user_id=""),                  # no id
    ]
    users, dead = ingest(WEB, web_file(*lines))
    assert (ids(users), reasons(dead)) == (["web:W0000001"], {
        3: "tenure_months: not an integer: 'twelve'",
        4: "expected 17 fields, found 3",
        5: "birth_date: not a date (%Y-%m-%d): '1990-31-02'",
        6: "missing user_id",
    })
    assert dead.column("raw").to_pylist()[0] == lines[1]


def test_csv_columns_are_mapped_by_header_name_not_position():
    header = ",".join(reversed(WEB.columns))
    users, _ = ingest(WEB, web_file(",".join(reversed(WEB_ROW.split(","))), header=header))
    expected, _ = ingest(WEB, web_file(WEB_ROW))
    assert users.equals(expected)


def test_partner_names_codes_and_dates_become_days_before_ds():
    users, dead = ingest(PARTNER, ";".join(PARTNER.columns) + "\n" + PARTNER_ROW + "\n")
    row = users.to_pylist()[0]
    assert (row["first_name"], row["last_name"], row["employment_status"]) == ("Ann", "Lee", "unemployed")
    assert (row["resume_updated_days_ago"], row["last_login_days_ago"]) == (31, 1)
    assert row["signup_channel"] == "partner"
    assert row["signup_date"].isoformat() == "2025-01-01" and row["signup_ts"] is None  # partners send a date
    assert dead.num_rows == 0


def test_mobile_json_lines_flatten_and_reject_non_objects():
    good = {"uid": "M1", "name": {"given": "Ann", "family": "Lee"}, "dob": "02/01/1990",
            "signup_epoch_ms": 1767225600000, "tenure_years": 2.5, "activity": {"job_views_7d": 7}}
    users, dead = ingest(MOBILE, mobile_file(good, "{not json", "[1, 2]", {"uid": 42}))
    row = users.to_pylist()[0]
    assert (row["first_name"], row["tenure_months"], row["job_page_views_7d"]) == ("Ann", 30, 7)
    assert row["date_of_birth"].isoformat() == "1990-01-02"
    assert row["signup_date"].isoformat() == "2026-01-01"
    assert row["signup_ts"].isoformat() == "2026-01-01T00:00:00+00:00"
    assert row["email"] is None  # absent keys are missing values, not errors
    assert ids(users) == ["mobile:M1", "mobile:42"]  # an integer id is an id
    assert reasons(dead) == {2: "invalid JSON: Expecting property name enclosed in double quotes at column 2",
                             3: "JSON value is an array, not an object"}


# -- files: headers, line endings, quoting ---------------------------------------------------------


def test_a_file_missing_a_column_is_dead_lettered_whole():
    header = ",".join(c for c in WEB.columns if c != "email")
    row = WEB_ROW.replace("ann@example.com,", "")
    users, dead = ingest(WEB, web_file(row, row, header=header))
    assert users.num_rows == 0
    assert reasons(dead) == dict.fromkeys([2, 3], "file header lacks column(s) ['email'] of the web format")


def test_a_header_repeating_a_column_dead_letters_the_file_whole():
    # Which of the two "email" columns would be meant? No row of such a file can be mapped.
    users, dead = ingest(WEB, web_file(WEB_ROW + ",b@example.com", header=",".join(WEB.columns) + ",email"))
    assert users.num_rows == 0
    assert reasons(dead) == {2: "file header repeats column(s) ['email']"}


def test_an_unreadable_header_dead_letters_the_file_whole():
    users, dead = ingest(WEB, web_file(WEB_ROW, WEB_ROW, header='user_id,"first_name'))
    assert users.num_rows == 0
    assert set(reasons(dead).values()) == {
        "unreadable header: malformed CSV: the quoted field opened on this line does not close into a "
        "valid record (unexpected end of data, lines 1-3)"}


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_lf_crlf_and_cr_only_line_endings_read_the_same_rows(end):
    users, dead = ingest(WEB, web_file(WEB_ROW, web_row(user_id="W2"), end=end) + end)  # and a blank line
    expected, _ = ingest(WEB, web_file(WEB_ROW, web_row(user_id="W2")))
    assert users.equals(expected) and dead.num_rows == 0


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_a_quoted_field_across_lines_is_one_record_numbered_by_its_first_line(end):
    about = f'"first line{end}second, with a comma{end}{end}and ""quotes"""'
    users, dead = ingest(WEB, web_file(web_row(about=about), web_row(user_id="W2", tenure_months="x"), end=end))
    assert users.column("profile_text").to_pylist() == [f'first line{end}second, with a comma{end}{end}and "quotes"']
    assert reasons(dead) == {6: "tenure_months: not an integer: 'x'"}  # the record after it: line 2 + 4 lines


def test_an_unclosed_quote_costs_its_line_only():
    rows = [WEB_ROW, web_row(user_id="W2", first_name='"Ann'), web_row(user_id="W3", about='"a, b"'),
            web_row(user_id="W4")]
    users, dead = ingest(WEB, web_file(*rows))
    assert ids(users) == ["web:W0000001", "web:W3", "web:W4"]
    assert reasons(dead) == {3: "malformed CSV: the quoted field opened on this line does not close into a "
                                "valid record (',' expected after '\"', lines 3-4)"}
    assert dead.column("raw").to_pylist() == [rows[1]]


def test_an_unclosed_quote_on_the_last_line():
    users, dead = ingest(WEB, web_file(WEB_ROW, web_row(user_id="W2", about='"never closed')))
    assert ids(users) == ["web:W0000001"]
    assert reasons(dead) == {3: "malformed CSV: unclosed quote at the end of the file"}


def test_a_field_over_the_csv_field_limit_is_dead_lettered_whole_and_the_rest_read():
    huge = "x" * (csv.field_size_limit() + 1)
    users, dead = ingest(WEB, web_file(web_row(about=huge), web_row(user_id="W2"),
                                       web_row(user_id="W3", about=f'"{huge}\n"'), web_row(user_id="W4")))
    assert ids(users) == ["web:W2", "web:W4"]
    assert reasons(dead) == {
        2: "malformed CSV: field larger than field limit (131072)",
        # The field is over the limit before its line ends; its closing quote, read on its own
        # line, opens a field that never closes into a record: that line only, W4 is read again.
        4: "malformed CSV: field larger than field limit (131072)",
        5: "malformed CSV: the quoted field opened on this line does not close into a valid record "
           "(unexpected end of data, lines 5-6)",
    }
    assert dead.column("raw").to_pylist()[0] == web_row(about=huge)  # nothing cut


def test_a_stray_quote_after_a_quoted_field_is_dead_lettered():
    users, dead = ingest(WEB, web_file(web_row(first_name='"Ann"x'), web_row(user_id="W2")))
    assert (ids(users), reasons(dead)) == (["web:W2"], {2: "malformed CSV: ',' expected after '\"'"})


def test_blank_lines_are_not_records():
    records = list(split_records(WEB, io.StringIO(web_file("", WEB_ROW, "   ", "", WEB_ROW), newline="")))
    assert [r[0] for r in records] == [1, 3, 6]


# -- JSON types ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("line", "reason"), [
    ('{"uid": ["M1"]}', "uid: expected a string or a number, got an array"),
    ('{"uid": true}', "uid: expected a string or a number, got a boolean"),
    ('{"uid": {"id": "M1"}}', "uid: expected a string or a number, got an object"),
    ('{"uid": 1.5}', "uid: expected a string or an integer, got 1.5"),
    ('{"uid": "M1", "name": "Ann Lee"}', "name: expected an object, got a string"),
    ('{"uid": "M1", "activity": {"job_views_7d": [1]}}',
     "activity.job_views_7d: expected a string or a number, got an array"),
    ('{"uid": "M1", "bio": "\\ud800"}', "bio: not valid Unicode (a lone surrogate)"),
    ('{"uid": "M1", "uid": "M2"}', "duplicate JSON key 'uid'"),
    ('{"uid": "M1", "name": {"given": "A", "given": "B"}}', "duplicate JSON key 'given'"),
    ('{"uid": "M1", "tenure_years": NaN}', "invalid JSON: NaN is not a JSON number"),
    ('{"uid": "M1", "tenure_years": -Infinity}', "invalid JSON: -Infinity is not a JSON number"),
    ('{"uid": "M1", "tenure_years": 1e400}', "invalid JSON: number 1e400 is out of range"),
    ("[" * 100_000 + "]" * 100_000, "invalid JSON: nested too deeply"),
    ('{"a": ' * 100_000 + "1" + "}" * 100_000, "invalid JSON: nested too deeply"),
    ('"M1"', "JSON value is a string, not an object"),
    ('{"uid": "M1"} trailing', "invalid JSON: Extra data at column 15"),
])
def test_json_that_is_not_a_record_of_scalars_is_dead_lettered(line, reason):
    users, dead = ingest(MOBILE, mobile_file({"uid": "M0"}, line))
    assert (ids(users), reasons(dead)) == (["mobile:M0"], {2: reason})


def test_an_integer_of_more_digits_than_python_converts_is_dead_lettered():
    users, dead = ingest(MOBILE, mobile_file('{"uid": "M1", "signup_epoch_ms": 1' + "0" * 5000 + "}"))
    assert users.num_rows == 0
    assert reasons(dead)[1].startswith("invalid JSON: Exceeds the limit (4300 digits) for integer string conversion")


# -- numbers, timestamps, dates ------------------------------------------------------------------


@pytest.mark.parametrize(("text", "value", "reason"), [
    ("12", 12, None), ("12.0", 12, None), ("+7", 7, None), ("-3", -3, None), ("0000000000000000000000012", 12, None),
    ("9223372036854775807", 2**63 - 1, None), ("-9223372036854775808", -(2**63), None),
    ("9223372036854775808", None, "out of the int64 range"), ("-9223372036854775809", None, "out of the int64 range"),
    ("1" + "0" * 30, None, "out of the int64 range"),
    ("inf", None, "not an integer"), ("-inf", None, "not an integer"), ("nan", None, "not an integer"),
    ("1e30", None, "not an integer"), ("12.5", None, "not an integer"), ("٣", None, "not an integer"),
    ("0x10", None, "not an integer"),
])
def test_integers_are_range_checked_into_int64(text, value, reason):
    users, dead = ingest(WEB, web_file(web_row(tenure_months=text)))
    if reason is None:
        assert (users.column("tenure_months").to_pylist(), dead.num_rows) == ([value], 0)
    else:
        assert (users.num_rows, reasons(dead)) == (0, {2: f"tenure_months: {reason}: '{text[:40]}'"})


@pytest.mark.parametrize(("fields", "months", "reason"), [
    ({"tenure_years": 2.5, "activity": {"job_views_7d": 3.0}}, 30, None),
    ({"tenure_years": "inf"}, None, "tenure_years: not a finite number: 'inf'"),
    ({"tenure_years": "nan"}, None, "tenure_years: not a finite number: 'nan'"),
    ({"tenure_years": 1e30}, None, "tenure_years: out of the int64 range: '1e+30'"),
    ({"activity": {"job_views_7d": 2**63}}, None,
     "activity.job_views_7d: out of the int64 range: '9223372036854775808'"),
    ({"activity": {"job_views_7d": 1e30}}, None, "activity.job_views_7d: not an integer: '1e+30'"),
    ({"signup_epoch_ms": 10**17}, None, f"signup_epoch_ms: {OUT_OF_RANGE}: '100000000000000000'"),
    ({"signup_epoch_ms": -(10**17)}, None, f"signup_epoch_ms: {OUT_OF_RANGE}: '-100000000000000000'"),
])
def test_mobile_numbers_are_range_checked(fields, months, reason):
    users, dead = ingest(MOBILE, mobile_file({"uid": "M1", **fields}))
    if reason is None:
        assert (users.column("tenure_months").to_pylist(), users.column("job_page_views_7d").to_pylist()) == ([30], [3])
    else:
        assert (users.num_rows, reasons(dead)) == (0, {1: reason})


@pytest.mark.parametrize(("text", "utc"), [
    ("2025-12-30T14:03:11", "2025-12-30T14:03:11+00:00"),        # no offset: the sources send UTC
    ("2025-12-30T14:03:11Z", "2025-12-30T14:03:11+00:00"),
    ("2025-12-30T14:03:11+05:00", "2025-12-30T09:03:11+00:00"),  # not cut to 19 characters
    ("2025-12-30T14:03:11-0130", "2025-12-30T15:33:11+00:00"),
    ("2025-12-30T23:30:00-05:00", "2025-12-31T04:30:00+00:00"),  # the UTC date is the next day
    ("2025-12-30T14:03:11.999999+01:00", "2025-12-30T13:03:11+00:00"),
])
def test_timestamps_are_converted_to_utc_with_their_offsets(text, utc):
    users, dead = ingest(WEB, web_file(web_row(signup_ts=text)))
    row = users.to_pylist()[0]
    assert (row["signup_ts"].isoformat(), row["signup_date"].isoformat(), dead.num_rows) == (utc, utc[:10], 0)


@pytest.mark.parametrize(("text", "reason"), [
    ("2025-12-30T14:03:11junk", "not an ISO 8601 timestamp"),
    ("2025-12-30T14:03:11+05:00 ", None),  # surrounding blanks are not part of the value
    ("2025-12-30 14:03:11", "not an ISO 8601 timestamp"),
    ("2025-12-30", "not an ISO 8601 timestamp"),
    ("2025-13-30T14:03:11", "not an ISO 8601 timestamp"),
    ("2300-01-01T00:00:00Z", OUT_OF_RANGE),
    ("0001-01-01T00:00:00", OUT_OF_RANGE),
])
def test_timestamps_with_trailing_text_or_out_of_range_are_dead_lettered(text, reason):
    users, dead = ingest(WEB, web_file(web_row(signup_ts=text)))
    if reason is None:
        assert (users.num_rows, dead.num_rows) == (1, 0)
    else:
        assert (users.num_rows, reasons(dead)) == (0, {2: f"signup_ts: {reason}: '{text}'"})


@pytest.mark.parametrize(("text", "kept"), [
    ("2300-01-01", False), ("0001-01-01", False), ("1677-09-21", False), ("2262-04-12", False),
    ("1677-09-22", True), ("2262-04-11", True),
])
def test_dates_outside_what_pandas_holds_are_dead_lettered_at_ingest(text, kept):
    users, dead = ingest(WEB, web_file(web_row(birth_date=text)))
    if kept:
        assert (users.column("date_of_birth").to_pylist(), dead.num_rows) == ([date.fromisoformat(text)], 0)
    else:
        assert (users.num_rows, reasons(dead)) == (0, {2: f"birth_date: {OUT_OF_RANGE}: '{text}'"})


def test_out_of_range_dates_of_every_source_are_dead_lettered():
    partner = PARTNER_ROW.replace("19900102", "23000101").replace("2025-01-01", "0001-01-01")
    _, dead = ingest(PARTNER, ";".join(PARTNER.columns) + "\n" + partner + "\n")
    assert reasons(dead) == {2: f"DOB: {OUT_OF_RANGE}: '23000101'; REGISTERED: {OUT_OF_RANGE}: '0001-01-01'"}
    _, dead = ingest(MOBILE, mobile_file({"uid": "M1", "dob": "01/01/2300"}))
    assert reasons(dead) == {1: f"dob: {OUT_OF_RANGE}: '01/01/2300'"}


# -- encodings ---------------------------------------------------------------------------------

NAMES = "user_id,first_name\nW1,Zoë\nW2,François Müller\nW3,José\n"


@pytest.mark.parametrize(("data", "declared", "encoding"), [
    (NAMES.encode(), "utf-8", "utf-8-sig"),
    (codecs.BOM_UTF8 + NAMES.encode(), "utf-8", "utf-8-sig"),
    (NAMES.encode("utf-16"), "utf-8", "utf-16"),          # the byte-order mark wins
    (NAMES.encode("utf-32"), "utf-8", "utf-32"),
    (NAMES.encode("cp1252"), "cp1252", "cp1252"),
    (NAMES.encode("latin-1"), "latin-1", "latin-1"),
])
def test_files_in_their_declared_or_marked_encoding_decode(data, declared, encoding):
    assert check_encoding(declared, [data]) == Decoding(encoding)
    assert codecs.decode(data, encoding) == NAMES


def test_ascii_is_valid_in_a_declared_single_byte_encoding():
    assert check_encoding("cp1252", [b"user_id\nW1\n"]) == Decoding("cp1252")


@pytest.mark.parametrize(("data", "declared", "problem"), [
    (NAMES.encode("cp1252"), "utf-8",
     "not utf-8 text: byte 0xeb at line 2 does not decode (invalid continuation byte); charset detection guesses "),
    (NAMES.encode("utf-16-le"), "utf-8",
     "not utf-8 text: a NUL byte at line 1 (UTF-16 or UTF-32 without a byte-order mark?); "
     "charset detection guesses utf_16_le"),
    (NAMES.encode(), "cp1252",
     "declared cp1252, but the file is UTF-8: its non-ASCII bytes are valid UTF-8, which cp1252 would turn "
     "into other characters"),
    (NAMES.encode()[:-2], "utf-8", "not utf-8 text: the file ends inside a character (unexpected end of data)"),
    (codecs.BOM_UTF16_LE + NAMES.encode("utf-16-le")[:-1], "utf-8",
     "not utf-16 (by its byte-order mark) text: the file ends inside a character (truncated data)"),
])
def test_a_file_not_in_its_declared_encoding_is_refused_with_the_reason(data, declared, problem):
    assert check_encoding(declared, [data]).problem.startswith(problem)


def test_an_undecodable_file_is_dead_lettered_whole():
    users, dead = ingest(WEB, web_file(WEB_ROW, WEB_ROW), problem="not utf-8 text: ...")
    assert (users.num_rows, reasons(dead)) == (0, {2: "not utf-8 text: ...", 3: "not utf-8 text: ..."})


# -- properties ----------------------------------------------------------------------------------

# Characters that matter to the parsers, plus anything else.
_TRICKY = st.sampled_from(list(',;"\n\r {}[]:\\0123456789-+.eTZ'))
_FILE_TEXT = st.text(st.one_of(_TRICKY, st.characters()), max_size=300)
_FORMATS = st.sampled_from(sorted(SOURCES))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_FORMATS, _FILE_TEXT, st.booleans())
def test_any_file_text_parses_or_is_dead_lettered_never_raises(source, body, with_header):
    """Every record of any text ends in exactly one output (``ingest`` checks the count); a dead
    letter always says why."""
    fmt = SOURCES[source]
    header = fmt.delimiter.join(fmt.columns) + "\n" if fmt.kind == "csv" and with_header else ""
    users, dead = ingest(fmt, header + body)
    assert all(dead.column("reason").to_pylist())
    physical = io.StringIO(header + body, newline="").readlines()
    assert users.num_rows + dead.num_rows <= len([line for line in physical if line.strip()])


@settings(max_examples=300, deadline=None)
@given(st.one_of(_FILE_TEXT, st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
).map(json.dumps)))
def test_load_json_returns_an_object_or_a_reason(text):
    value, reason = load_json(text)
    assert (isinstance(value, dict) and reason == "") or (value is None and reason)


def _csv_line(values, delimiter: str) -> str:
    """One RFC 4180 record: a field with a delimiter, quote or line break is quoted."""
    def field(v: str) -> str:
        return f'"{v.replace(chr(34), chr(34) * 2)}"' if any(c in v for c in f'{delimiter}"\r\n') else v
    return delimiter.join(field(v) for v in values)


_NAME = st.text(st.characters(exclude_categories=["Cs", "Cc", "Zs", "Zl", "Zp"]) | st.sampled_from(list(',"\n\r ;')),
                min_size=1, max_size=20).filter(lambda s: s == s.strip() and s.strip())
_OFFSET = st.integers(-23 * 60 - 59, 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
_WEB_RECORD = st.fixed_dictionaries({
    "user_id": st.from_regex(r"W[0-9]{1,7}", fullmatch=True),
    "first_name": _NAME, "about": _NAME,
    "birth_date": st.dates(FIRST_DATE, LAST_DATE),
    "signup_ts": st.datetimes(datetime(1678, 1, 1), datetime(2261, 12, 31), timezones=_OFFSET),
    "tenure_months": st.integers(-(2**63), 2**63 - 1),
})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_WEB_RECORD, min_size=1, max_size=5, unique_by=lambda r: r["user_id"]),
       st.sampled_from(["\n", "\r\n", "\r"]))
def test_valid_web_records_round_trip(records, end):
    rows = [_csv_line(list({**WEB_VALUES, **r, "birth_date": r["birth_date"].isoformat(),
                            "signup_ts": r["signup_ts"].isoformat(timespec="seconds"),
                            "tenure_months": str(r["tenure_months"])}.values()), ",") for r in records]
    users, dead = ingest(WEB, web_file(*rows, end=end))
    assert reasons(dead) == {}
    got = users.select(["source_record_id", "first_name", "profile_text", "date_of_birth", "signup_ts",
                        "tenure_months"]).to_pylist()
    assert got == [{"source_record_id": f"web:{r['user_id']}", "first_name": r["first_name"],
                    "profile_text": r["about"], "date_of_birth": r["birth_date"],
                    "signup_ts": r["signup_ts"].replace(microsecond=0).astimezone(UTC),
                    "tenure_months": r["tenure_months"]} for r in records]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.fixed_dictionaries({
    "uid": st.one_of(st.text(st.characters(exclude_categories=["Cs", "Cc", "Zs", "Zl", "Zp"]), min_size=1, max_size=8),
                     st.integers(0, 2**63)),
    "bio": _NAME,
    "signup_epoch_ms": st.integers(-9 * 10**12, 9 * 10**12),  # pandas' nanosecond range: +-9.2e12 ms
    "activity": st.fixed_dictionaries({"job_views_7d": st.integers(-(2**63), 2**63 - 1)}),
}), min_size=1, max_size=5), st.booleans())
def test_valid_mobile_records_round_trip(objects, ascii_only):
    users, dead = ingest(MOBILE, "".join(json.dumps(o, ensure_ascii=ascii_only) + "\n" for o in objects))
    assert reasons(dead) == {}
    got = users.select(["source_record_id", "profile_text", "signup_ts", "job_page_views_7d"]).to_pylist()
    assert got == [{"source_record_id": f"mobile:{str(o['uid']).strip()}", "profile_text": o["bio"],
                    "signup_ts": datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=o["signup_epoch_ms"] // 1000),
                    "job_page_views_7d": o["activity"]["job_views_7d"]} for o in objects]


@settings(max_examples=200, deadline=None)
# (A UTF-16 text starting with NUL begins with the UTF-32 byte-order mark: ambiguous by nature.)
@given(st.text().filter(lambda t: not t.startswith("\x00")),
       st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32"]), st.integers(1, 9))
def test_any_unicode_text_decodes_whatever_its_chunking(text, encoding, size):
    data = text.encode(encoding)
    chunks = [data[i:i + size] for i in range(0, len(data), size)]
    decoding = check_encoding("utf-8", chunks)
    has_nul = "\x00" in text and encoding.startswith("utf-8")
    assert ("text: a NUL byte at line" in decoding.problem) if has_nul else decoding.problem == ""


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(["utf-8", "cp1252", "latin-1", "utf-16"]))
def test_any_bytes_are_decided_never_raise(data, declared):
    decoding = check_encoding(declared, [data])
    assert decoding.encoding and isinstance(decoding.problem, str)


def test_a_source_declares_its_encoding():
    cp1252 = dataclasses.replace(PARTNER, encoding="cp1252")
    data = (";".join(PARTNER.columns) + "\n" + PARTNER_ROW.replace("Ann", "Zoë") + "\n").encode("cp1252")
    decoding = check_encoding(cp1252.encoding, [data])
    users, _ = ingest(cp1252, codecs.decode(data, decoding.encoding))
    assert (decoding.problem, users.column("first_name").to_pylist()) == ("", ["Zoë"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.text(st.characters(exclude_categories=["Cs"]) | st.sampled_from(list(',"\r\n ')),
                                 max_size=6), min_size=2, max_size=4), min_size=1, max_size=6),
       st.sampled_from(["\n", "\r\n", "\r"]))
def test_csv_records_give_back_the_fields_they_were_written_with(rows, end):
    """Quoted or not, across lines or not: the fields of each record, numbered by its first line."""
    width = len(rows[0])
    rows = [(row + [""] * width)[:width] for row in rows]
    lines = [_csv_line(row, ",") for row in rows]
    records = list(split_records(WEB, io.StringIO(end.join(lines) + end, newline="")))
    # A record of one empty field is a blank line, not a record.
    assert [r[2] for r in records] == [row for row, line in zip(rows, lines, strict=True) if line.strip()]
    numbers, number = [], 1
    for line in lines:
        if line.strip():
            numbers.append(number)
        number += len(io.StringIO(line + end, newline="").readlines())
    assert [r[0] for r in records] == numbers
