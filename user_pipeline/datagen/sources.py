"""Write a day's canonical records in each source's own raw format (and break drops on purpose).

Formats (one file per source and day, UTF-8, ``\\n`` line ends, no newline inside a field):

- web, ``users_web.csv``: comma CSV with header ``WEB_COLUMNS``; ``birth_date`` ``YYYY-MM-DD``,
  ``signup_ts`` ``YYYY-MM-DDTHH:MM:SS``, employment as free-ish text (``Employed``,
  ``self-employed``...), integers as digits, missing values as empty fields.
- mobile, ``users_mobile.jsonl``: one JSON object per line (see ``mobile_object``); ``dob``
  ``DD/MM/YYYY``, ``signup_epoch_ms`` UTC milliseconds, employment codes (``SELF_EMPLOYED``),
  ``tenure_years`` with one decimal; missing values are JSON null or an absent key.
- partner, ``users_partner.csv``: semicolon CSV with header ``PARTNER_COLUMNS``; ``FULL_NAME``
  ``Last, First``; ``DOB`` ``YYYYMMDD``; ``REGISTERED``, ``CV_UPDATED``, ``LAST_ACTIVE`` dates
  ``YYYY-MM-DD`` (the last two: ds minus the days since); ``EMP_STATUS`` one letter
  (``PARTNER_EMPLOYMENT``).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import numpy as np
import pandas as pd

from user_pipeline.datagen.people import SOURCES, STREAM_BAD_DROP, STREAM_RENDER, day_rng

WEB_COLUMNS = ("user_id", "first_name", "last_name", "email", "phone", "birth_date", "country", "zip",
               "signup_ts", "channel", "employment", "tenure_months", "job_views_7d", "applications_30d",
               "resume_updated_days", "last_login_days", "about")
PARTNER_COLUMNS = ("PARTNER_REF", "FULL_NAME", "EMAIL_ADDR", "TEL", "DOB", "COUNTRY", "POSTCODE", "REGISTERED",
                   "EMP_STATUS", "TENURE_M", "VIEWS7", "APPS30", "CV_UPDATED", "LAST_ACTIVE", "NOTES")
FILE_NAMES = {"web": "users_web.csv", "mobile": "users_mobile.jsonl", "partner": "users_partner.csv"}

# Canonical employment -> how each source writes it (web: several spellings, drawn at random).
WEB_EMPLOYMENT = {"employed": ("Employed", "employed"), "unemployed": ("Unemployed", "unemployed"),
                  "student": ("Student",), "self_employed": ("Self-employed",), "retired": ("Retired",)}
MOBILE_EMPLOYMENT = {"employed": "EMPLOYED", "unemployed": "UNEMPLOYED", "student": "STUDENT",
                     "self_employed": "SELF_EMPLOYED", "retired": "RETIRED"}
PARTNER_EMPLOYMENT = {"employed": "E", "unemployed": "U", "student": "S", "self_employed": "F", "retired": "R"}

BAD_DATE = "31/02/2026"
NOT_A_NUMBER = "twelve"

BAD_DROPS = {
    "shuffled_columns": "header order shuffled and every row's values shuffled the same way "
                        "(valid data, different column order)",
    "missing_column": "the email column is absent (header and rows)",
    "empty": "the header line only, no records",
    "null_column": "employment is empty in every row",
    "duplicate_ids": "10% of the rows are repeated with the same user_id but re-drawn activity counts "
                     "(a resend with conflicting content)",
}


def _int_text(values: pd.Series) -> list[str]:
    """Whole numbers as digits; NaN -> empty string."""
    arr = values.to_numpy(dtype=float)
    digits = np.nan_to_num(arr).astype(np.int64).astype(str)
    return np.where(np.isnan(arr), "", digits).tolist()


def _iso_dates(values: pd.Series | np.ndarray) -> np.ndarray:
    """datetime64 -> ``YYYY-MM-DD`` text; NaT -> empty string."""
    text = np.datetime_as_string(np.asarray(values, dtype="datetime64[D]"), unit="D")
    return np.where(text == "NaT", "", text).astype(object)


def _text(values: pd.Series) -> list[str]:
    """Text values; None / NaN -> empty string."""
    return ["" if v is None or v != v else v for v in values.to_numpy(dtype=object)]


def _days_before(day: date, days: pd.Series) -> np.ndarray:
    """The date ``days`` days before ``day`` (ISO text); missing -> empty."""
    arr = days.to_numpy(dtype=float)
    ok = ~np.isnan(arr)
    out = np.full(len(arr), "", dtype=object)
    stamps = np.datetime64(day, "D") - arr[ok].astype(np.int64).astype("timedelta64[D]")
    out[ok] = np.datetime_as_string(stamps, unit="D")
    return out


def _csv_bytes(header: list[str], rows: list[list[str]], delimiter: str) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _break_csv_row(row: list[str], kind: str, id_col: int, int_col: int, date_col: int) -> list[str]:
    row = list(row)
    if kind == "wrong_field_count":
        # Alternate between a stray extra field and a truncated row.
        return [*row, "EXTRA"] if sum(map(ord, row[id_col])) % 2 == 0 else row[:-2]
    if kind == "non_numeric":
        row[int_col] = NOT_A_NUMBER
    elif kind == "bad_date":
        row[date_col] = BAD_DATE
    elif kind == "missing_id":
        row[id_col] = ""
    return row


def web_rows(records: pd.DataFrame, rng: np.random.Generator) -> list[list[str]]:
    """Rows of the web CSV (``WEB_COLUMNS`` order), malformed rows already broken."""
    spelling = rng.integers(0, 2, len(records))
    employment = [WEB_EMPLOYMENT[e][k % len(WEB_EMPLOYMENT[e])] if isinstance(e, str) else ""
                  for e, k in zip(records["employment"], spelling, strict=True)]
    signup = np.datetime_as_string(records["signup_ts"].to_numpy(dtype="datetime64[s]"), unit="s")
    columns = [
        records["local_id"].tolist(), _text(records["first_name"]), _text(records["last_name"]),
        _text(records["email"]), _text(records["phone"]), _iso_dates(records["date_of_birth"]),
        _text(records["country"]), _text(records["postcode"]), signup, _text(records["channel"]), employment,
        _int_text(records["tenure_months"]),
        *(_int_text(records[c]) for c in ("job_views_7d", "applications_30d", "resume_updated_days",
                                          "last_login_days")),
        _text(records["profile_text"]),
    ]
    rows = [list(r) for r in zip(*columns, strict=True)]
    for i, kind in enumerate(records["malformation"]):
        if isinstance(kind, str):
            rows[i] = _break_csv_row(rows[i], kind, 0, WEB_COLUMNS.index("tenure_months"),
                                     WEB_COLUMNS.index("birth_date"))
    return rows


def partner_rows(records: pd.DataFrame, day: date, rng: np.random.Generator) -> list[list[str]]:
    """Rows of the partner CSV (``PARTNER_COLUMNS`` order), malformed rows already broken."""
    upper = rng.random(len(records)) < 0.05  # some partner systems shout surnames
    names = []
    for first, last, up in zip(records["first_name"], records["last_name"], upper, strict=True):
        last = last.upper() if up else last
        names.append(f"{last}, {first}" if isinstance(first, str) else last)
    dob = _iso_dates(records["date_of_birth"])
    columns = [
        records["local_id"].tolist(), names, _text(records["email"]), _text(records["phone"]),
        [d.replace("-", "") for d in dob], _text(records["country"]), _text(records["postcode"]),
        _iso_dates(records["signup_ts"].to_numpy(dtype="datetime64[D]")),
        [PARTNER_EMPLOYMENT.get(e, "") if isinstance(e, str) else "" for e in records["employment"]],
        _int_text(records["tenure_months"]), _int_text(records["job_views_7d"]),
        _int_text(records["applications_30d"]), _days_before(day, records["resume_updated_days"]),
        _days_before(day, records["last_login_days"]), _text(records["profile_text"]),
    ]
    rows = [list(r) for r in zip(*columns, strict=True)]
    for i, kind in enumerate(records["malformation"]):
        if isinstance(kind, str):
            rows[i] = _break_csv_row(rows[i], kind, 0, PARTNER_COLUMNS.index("TENURE_M"),
                                     PARTNER_COLUMNS.index("DOB"))
    return rows


def mobile_object(rec: dict, absent: bool) -> dict:
    """One mobile record as the app sends it; a missing value (None) is null, or absent if ``absent``."""
    def put(target: dict, key: str) -> None:
        value = rec[key]
        if value is not None or not absent:
            target[key] = value

    obj: dict = {"uid": rec["uid"], "name": {"given": rec["given"], "family": rec["family"]}}
    contact: dict = {}
    put(contact, "email")
    put(contact, "mobile")
    obj["contact"] = contact
    for key in ("dob", "country_code", "postal_code", "signup_epoch_ms", "channel", "employment_status",
                "tenure_years"):
        put(obj, key)
    activity: dict = {}
    for key in ("job_views_7d", "applications_30d", "resume_age_days", "last_seen_days"):
        put(activity, key)
    obj["activity"] = activity
    put(obj, "bio")
    return obj


def _or_none(values: pd.Series) -> list:
    return [None if v is None or v != v else v for v in values.to_numpy(dtype=object)]


def _counts_or_none(values: pd.Series) -> list:
    arr = values.to_numpy(dtype=float)
    ints = np.nan_to_num(arr).astype(np.int64).tolist()
    return [None if m else v for v, m in zip(ints, np.isnan(arr).tolist(), strict=True)]


def mobile_lines(records: pd.DataFrame, rng: np.random.Generator) -> list[str]:
    """JSON lines of the mobile drop, malformed lines already broken."""
    absent = (rng.random(len(records)) < 0.5).tolist()
    iso = _iso_dates(records["date_of_birth"])
    tenure = records["tenure_months"].to_numpy(dtype=float)
    columns = {
        "uid": records["local_id"].tolist(),
        "given": _or_none(records["first_name"]),
        "family": _or_none(records["last_name"]),
        "email": _or_none(records["email"]),
        "mobile": _or_none(records["phone"]),
        "dob": [f"{d[8:10]}/{d[5:7]}/{d[:4]}" if d else None for d in iso],
        "country_code": _or_none(records["country"]),
        "postal_code": _or_none(records["postcode"]),
        "signup_epoch_ms": records["signup_ts"].to_numpy(dtype="datetime64[ms]").astype(np.int64).tolist(),
        "channel": _or_none(records["channel"]),
        "employment_status": [MOBILE_EMPLOYMENT[e] if isinstance(e, str) else None for e in records["employment"]],
        "tenure_years": [None if m else v for v, m in zip(np.round(np.nan_to_num(tenure) / 12, 1).tolist(),
                                                          np.isnan(tenure).tolist(), strict=True)],
        "job_views_7d": _counts_or_none(records["job_views_7d"]),
        "applications_30d": _counts_or_none(records["applications_30d"]),
        "resume_age_days": _counts_or_none(records["resume_updated_days"]),
        "last_seen_days": _counts_or_none(records["last_login_days"]),
        "bio": _or_none(records["profile_text"]),
    }
    keys = list(columns)
    lines = []
    for i, (kind, values) in enumerate(zip(records["malformation"], zip(*columns.values(), strict=True),
                                           strict=True)):
        obj = mobile_object(dict(zip(keys, values, strict=True)), absent[i])
        if kind == "non_numeric":
            obj["activity"]["job_views_7d"] = NOT_A_NUMBER
        elif kind == "bad_date":
            obj["dob"] = BAD_DATE
        elif kind == "missing_id":
            del obj["uid"]
        text = json.dumps(obj, ensure_ascii=False)
        if kind == "invalid_json":
            text = text[: len(text) // 2]  # a truncated write: never a complete object
        elif kind == "not_object":
            text = json.dumps(list(obj.values()), ensure_ascii=False)
        lines.append(text)
    return lines


def render_source(source: str, records: pd.DataFrame, day: date, seed: int,
                  bad_drop: str | None = None) -> bytes:
    """The raw file of one source for one day (``records`` already in file order)."""
    rng = day_rng(seed, day, STREAM_RENDER, SOURCES.index(source))
    if source == "web":
        rows = web_rows(records, rng)
        header, rows = break_web_drop(bad_drop, list(WEB_COLUMNS), rows, day_rng(seed, day, STREAM_BAD_DROP))
        return _csv_bytes(header, rows, ",")
    if source == "partner":
        return _csv_bytes(list(PARTNER_COLUMNS), partner_rows(records, day, rng), ";")
    lines = mobile_lines(records, rng)
    return ("".join(line + "\n" for line in lines)).encode("utf-8")


def break_web_drop(kind: str | None, header: list[str], rows: list[list[str]],
                   rng: np.random.Generator) -> tuple[list[str], list[list[str]]]:
    """Break a web drop on purpose (``BAD_DROPS`` says what each kind does)."""
    if kind is None:
        return header, rows
    width = len(header)
    if kind == "shuffled_columns":
        order = rng.permutation(width)
        while list(order) == list(range(width)):
            order = rng.permutation(width)
        # Rows of the wrong width (malformed on purpose) stay as they are.
        return [header[i] for i in order], [[r[i] for i in order] if len(r) == width else r for r in rows]
    if kind == "missing_column":
        gone = header.index("email")
        return [h for h in header if h != "email"], [r[:gone] + r[gone + 1:] for r in rows]
    if kind == "empty":
        return header, []
    if kind == "null_column":
        col = header.index("employment")
        return header, [[("" if j == col else v) for j, v in enumerate(r)] if len(r) == width else r for r in rows]
    if kind == "duplicate_ids":
        usable = [i for i, r in enumerate(rows) if len(r) == width and r[0]]
        picked = sorted(rng.choice(usable, min(len(usable), round(0.1 * len(rows))), replace=False).tolist())
        views, login = header.index("job_views_7d"), header.index("last_login_days")
        copies = []
        for i in picked:
            copy = list(rows[i])
            copy[views] = str(int(rng.integers(0, 40)))
            copy[login] = str(int(rng.integers(0, 30)))
            copies.append(copy)
        # The repeats follow later in the file, as a resend would.
        return header, rows + copies
    raise ValueError(f"unknown bad drop {kind!r}; one of {sorted(BAD_DROPS)}")
