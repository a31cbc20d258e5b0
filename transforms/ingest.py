"""Map each source's raw drop onto the one typed schema (``schema.STAGED_USERS``).

Each source has its own format and column names (``SOURCES``). A batch of raw lines becomes a
typed table plus a dead-letter table: a line is dead-lettered, with the reason, when it cannot
be parsed (wrong number of fields, not JSON), has no id, or holds a value of the wrong type
(``"twelve"`` in an integer column, ``"31/02/2026"`` as a date). Values of the right type but
out of range are kept: cleaning decides about them. A file whose header lacks a column of its
source's format is dead-lettered whole (``missing_columns``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa

from transforms.schema import DEAD_LETTER, STAGED_USERS

Line = tuple[int, str]  # (1-based line number in the file, text without newline)


@dataclass(frozen=True)
class SourceFormat:
    """How one source writes its drop."""

    name: str
    dataset: str
    kind: str  # "csv" or "jsonl"
    delimiter: str
    id_column: str
    columns: tuple[str, ...]  # the columns (CSV header / flattened JSON keys) the source sends
    to_staged: Callable[[pd.DataFrame, date], tuple[pd.DataFrame, pd.Series]]


# -- typed parsing helpers (vectorised; each returns values and a per-row error message) -------


def _blank(values: pd.Series) -> pd.Series:
    return values.isna() | (values.astype("string").str.strip() == "")


def _as_int(values: pd.Series, column: str) -> tuple[pd.Series, pd.Series]:
    text = values.astype("string").str.strip()
    parsed = pd.to_numeric(text, errors="coerce")
    whole = parsed.isna() | (parsed == np.floor(parsed))
    bad = ~_blank(values) & (parsed.isna() | ~whole)
    return parsed.where(~bad).round().astype("Int64"), _reason(bad, column, "not an integer", text)


def _as_float(values: pd.Series, column: str) -> tuple[pd.Series, pd.Series]:
    text = values.astype("string").str.strip()
    parsed = pd.to_numeric(text, errors="coerce")
    bad = ~_blank(values) & parsed.isna()
    return parsed.astype("Float64"), _reason(bad, column, "not a number", text)


def _as_date(values: pd.Series, column: str, fmt: str) -> tuple[pd.Series, pd.Series]:
    text = values.astype("string").str.strip()
    parsed = pd.to_datetime(text, format=fmt, errors="coerce")
    bad = ~_blank(values) & parsed.isna()
    return parsed.dt.date.where(~bad & parsed.notna(), None), _reason(bad, column, f"not a date ({fmt})", text)


def _as_timestamp(values: pd.Series, column: str, fmt: str) -> tuple[pd.Series, pd.Series]:
    """UTC timestamps (the sources send UTC) and a per-row error message."""
    text = values.astype("string").str.strip()
    parsed = pd.to_datetime(text, format=fmt, errors="coerce", utc=True)
    bad = ~_blank(values) & parsed.isna()
    return parsed, _reason(bad, column, f"not a timestamp ({fmt})", text)


def _reason(bad: pd.Series, column: str, what: str, text: pd.Series) -> pd.Series:
    out = pd.Series("", index=bad.index, dtype="string")
    if bad.any():
        out[bad] = column + ": " + what + ": '" + text[bad].fillna("").str.slice(0, 40) + "'"
    return out


def _text(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    return text.where(text != "", None)


def _days_before(ds: date, dates: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(dates, errors="coerce")
    return (pd.Timestamp(ds) - stamps).dt.days.astype("Int64")


def _join_reasons(parts: Sequence[pd.Series], index: pd.Index) -> pd.Series:
    joined = pd.Series("", index=index, dtype="string")
    for part in parts:
        has = part != ""
        joined = joined.where(~has, joined.where(joined == "", joined + "; ") + part)
    return joined


# -- per-source mappings ---------------------------------------------------------------------

_PARTNER_EMPLOYMENT = {"E": "employed", "U": "unemployed", "S": "student", "F": "self_employed",
                       "R": "retired"}


def _web_to_staged(raw: pd.DataFrame, ds: date) -> tuple[pd.DataFrame, pd.Series]:
    errors = []
    out = pd.DataFrame(index=raw.index)
    out["source_record_id"] = "web:" + raw["user_id"].astype("string").str.strip()
    for target, column in [("first_name", "first_name"), ("last_name", "last_name"), ("email", "email"),
                           ("phone", "phone"), ("country", "country"), ("postcode", "zip"),
                           ("signup_channel", "channel"), ("employment_status", "employment"),
                           ("profile_text", "about")]:
        out[target] = _text(raw[column])
    out["date_of_birth"], err = _as_date(raw["birth_date"], "birth_date", "%Y-%m-%d")
    errors.append(err)
    signup, err = _as_timestamp(raw["signup_ts"].astype("string").str.slice(0, 19), "signup_ts",
                                "%Y-%m-%dT%H:%M:%S")
    out["signup_ts"] = signup
    out["signup_date"] = signup.dt.date.where(signup.notna(), None)
    errors.append(err)
    for target, column in [("tenure_months", "tenure_months"), ("job_page_views_7d", "job_views_7d"),
                           ("applications_30d", "applications_30d"),
                           ("resume_updated_days_ago", "resume_updated_days"),
                           ("last_login_days_ago", "last_login_days")]:
        out[target], err = _as_int(raw[column], column)
        errors.append(err)
    return out, _join_reasons(errors, raw.index)


def _mobile_to_staged(raw: pd.DataFrame, ds: date) -> tuple[pd.DataFrame, pd.Series]:
    errors = []
    out = pd.DataFrame(index=raw.index)
    out["source_record_id"] = "mobile:" + raw["uid"].astype("string").str.strip()
    for target, column in [("first_name", "name.given"), ("last_name", "name.family"),
                           ("email", "contact.email"), ("phone", "contact.mobile"),
                           ("country", "country_code"), ("postcode", "postal_code"),
                           ("signup_channel", "channel"), ("employment_status", "employment_status"),
                           ("profile_text", "bio")]:
        out[target] = _text(raw[column])
    out["date_of_birth"], err = _as_date(raw["dob"], "dob", "%d/%m/%Y")
    errors.append(err)
    epoch_ms, err = _as_int(raw["signup_epoch_ms"], "signup_epoch_ms")
    errors.append(err)
    signup = pd.to_datetime(epoch_ms, unit="ms", errors="coerce", utc=True).dt.floor("s")
    out["signup_ts"] = signup
    out["signup_date"] = signup.dt.date.where(signup.notna(), None)
    tenure_years, err = _as_float(raw["tenure_years"], "tenure_years")
    errors.append(err)
    out["tenure_months"] = (tenure_years * 12).round().astype("Int64")
    for target, column in [("job_page_views_7d", "activity.job_views_7d"),
                           ("applications_30d", "activity.applications_30d"),
                           ("resume_updated_days_ago", "activity.resume_age_days"),
                           ("last_login_days_ago", "activity.last_seen_days")]:
        out[target], err = _as_int(raw[column], column)
        errors.append(err)
    return out, _join_reasons(errors, raw.index)


def _partner_to_staged(raw: pd.DataFrame, ds: date) -> tuple[pd.DataFrame, pd.Series]:
    errors = []
    out = pd.DataFrame(index=raw.index)
    out["source_record_id"] = "partner:" + raw["PARTNER_REF"].astype("string").str.strip()
    # "Last, First"; a name without a comma is kept whole as the last name.
    names = raw["FULL_NAME"].astype("string").str.split(",", n=1, expand=True).reindex(columns=[0, 1])
    has_comma = names[1].notna()
    out["last_name"] = _text(names[0])
    out["first_name"] = _text(names[1].where(has_comma, None))
    for target, column in [("email", "EMAIL_ADDR"), ("phone", "TEL"), ("country", "COUNTRY"),
                           ("postcode", "POSTCODE"), ("profile_text", "NOTES")]:
        out[target] = _text(raw[column])
    out["signup_channel"] = "partner"
    code = raw["EMP_STATUS"].astype("string").str.strip().str.upper()
    # Unknown codes are kept as sent: cleaning flags values outside the vocabulary.
    out["employment_status"] = _text(code.map(_PARTNER_EMPLOYMENT).fillna(code))
    out["date_of_birth"], err = _as_date(raw["DOB"], "DOB", "%Y%m%d")
    errors.append(err)
    out["signup_date"], err = _as_date(raw["REGISTERED"], "REGISTERED", "%Y-%m-%d")
    out["signup_ts"] = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")  # a date only
    errors.append(err)
    for target, column in [("tenure_months", "TENURE_M"), ("job_page_views_7d", "VIEWS7"),
                           ("applications_30d", "APPS30")]:
        out[target], err = _as_int(raw[column], column)
        errors.append(err)
    for target, column in [("resume_updated_days_ago", "CV_UPDATED"), ("last_login_days_ago", "LAST_ACTIVE")]:
        parsed, err = _as_date(raw[column], column, "%Y-%m-%d")
        out[target] = _days_before(ds, parsed)
        errors.append(err)
    return out, _join_reasons(errors, raw.index)


SOURCES: dict[str, SourceFormat] = {
    "web": SourceFormat(
        "web", "raw.users_web", "csv", ",", "user_id",
        ("user_id", "first_name", "last_name", "email", "phone", "birth_date", "country", "zip",
         "signup_ts", "channel", "employment", "tenure_months", "job_views_7d", "applications_30d",
         "resume_updated_days", "last_login_days", "about"),
        _web_to_staged,
    ),
    "mobile": SourceFormat(
        "mobile", "raw.users_mobile", "jsonl", "", "uid",
        ("uid", "name.given", "name.family", "contact.email", "contact.mobile", "dob", "country_code",
         "postal_code", "signup_epoch_ms", "channel", "employment_status", "tenure_years",
         "activity.job_views_7d", "activity.applications_30d", "activity.resume_age_days",
         "activity.last_seen_days", "bio"),
        _mobile_to_staged,
    ),
    "partner": SourceFormat(
        "partner", "raw.users_partner", "csv", ";", "PARTNER_REF",
        ("PARTNER_REF", "FULL_NAME", "EMAIL_ADDR", "TEL", "DOB", "COUNTRY", "POSTCODE", "REGISTERED",
         "EMP_STATUS", "TENURE_M", "VIEWS7", "APPS30", "CV_UPDATED", "LAST_ACTIVE", "NOTES"),
        _partner_to_staged,
    ),
}


# -- parsing lines -----------------------------------------------------------------------------


def read_header(fmt: SourceFormat, first_line: str) -> list[str]:
    """Column names from a CSV file's first line (JSON lines carry names in every record)."""
    if fmt.kind != "csv":
        return list(fmt.columns)
    return [c.strip() for c in next(csv.reader([first_line], delimiter=fmt.delimiter))]


def _split_csv(fmt: SourceFormat, header: list[str], lines: Sequence[Line]):
    rows, bad = [], []
    width = len(header)
    for (number, text), fields in zip(lines, csv.reader([t for _, t in lines], delimiter=fmt.delimiter),
                                      strict=True):
        if len(fields) != width:
            bad.append((number, text, f"expected {width} fields, found {len(fields)}"))
        else:
            rows.append((number, text, fields))
    frame = pd.DataFrame([f for _, _, f in rows], columns=header, dtype="string")
    return frame, [(n, t) for n, t, _ in rows], bad


def _split_jsonl(fmt: SourceFormat, lines: Sequence[Line]):
    records, kept, bad = [], [], []
    for number, text in lines:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            bad.append((number, text, f"invalid JSON: {exc.msg} at column {exc.colno}"))
            continue
        if not isinstance(value, dict):
            bad.append((number, text, f"JSON value is a {type(value).__name__}, not an object"))
            continue
        records.append(value)
        kept.append((number, text))
    frame = pd.json_normalize(records) if records else pd.DataFrame()
    frame = frame.reindex(columns=list(fmt.columns)).astype("object")
    return frame, kept, bad


def parse_lines(
    fmt: SourceFormat,
    header: list[str],
    lines: Sequence[Line],
    *,
    ds: str,
    run_id: str,
    source_file: str,
) -> tuple[pa.Table, pa.Table]:
    """Parse a batch of raw lines of one source into (staged users, dead letters).

    Every input line ends in exactly one of the two tables.
    """
    day = date.fromisoformat(ds)
    missing = [c for c in fmt.columns if c not in header] if fmt.kind == "csv" else []
    if missing:
        reason = f"file header lacks column(s) {missing} of the {fmt.name} format"
        return _empty_users(), _dead(fmt, source_file, [(n, t, reason) for n, t in lines], ds, run_id)

    if fmt.kind == "csv":
        frame, kept, bad = _split_csv(fmt, header, lines)
    else:
        frame, kept, bad = _split_jsonl(fmt, lines)
    if not kept:
        return _empty_users(), _dead(fmt, source_file, bad, ds, run_id)

    staged, reasons = fmt.to_staged(frame, day)
    no_id = _blank(frame[fmt.id_column])
    reasons = reasons.where(~no_id, f"missing {fmt.id_column}")
    rejected = (reasons != "").to_numpy()
    for i in np.flatnonzero(rejected):
        bad.append((kept[i][0], kept[i][1], str(reasons.iloc[i])))
    staged = staged.loc[~rejected].copy()
    staged["source"] = fmt.name
    staged["ds"] = ds
    staged["ingest_run_id"] = run_id
    bad.sort()
    return _users_table(staged), _dead(fmt, source_file, bad, ds, run_id)


def _users_table(frame: pd.DataFrame) -> pa.Table:
    frame = frame.reindex(columns=STAGED_USERS.names)
    return pa.Table.from_pandas(frame, schema=STAGED_USERS, preserve_index=False)


def _empty_users() -> pa.Table:
    return STAGED_USERS.empty_table()


def _dead(fmt: SourceFormat, source_file: str, bad, ds: str, run_id: str) -> pa.Table:
    return pa.table(
        {
            "source": [fmt.name] * len(bad),
            "source_file": [source_file] * len(bad),
            "line_number": [n for n, _, _ in bad],
            "raw": [t for _, t, _ in bad],
            "reason": [r for _, _, r in bad],
            "ds": [ds] * len(bad),
            "run_id": [run_id] * len(bad),
        },
        schema=DEAD_LETTER,
    )
