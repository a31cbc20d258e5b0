"""Independent strict readers of the three raw formats, written from the documented formats.

They do not use ``transforms.ingest``: they check the generator against its documentation.
Each returns (records, bad lines): records as one canonical DataFrame, bad lines as
``(line number, text, reason)``.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime

import pandas as pd

from user_pipeline.datagen.sources import PARTNER_COLUMNS, WEB_COLUMNS

CANONICAL = ("source_record_id", "first_name", "last_name", "email", "phone", "date_of_birth", "country",
             "postcode", "signup_date", "employment", "tenure_months", "job_views_7d", "applications_30d",
             "resume_updated_days", "last_login_days", "profile_text")
WEB_EMPLOYMENT = {"Employed": "employed", "employed": "employed", "Unemployed": "unemployed",
                  "unemployed": "unemployed", "Student": "student", "Self-employed": "self_employed",
                  "Retired": "retired"}
MOBILE_EMPLOYMENT = {"EMPLOYED": "employed", "UNEMPLOYED": "unemployed", "STUDENT": "student",
                     "SELF_EMPLOYED": "self_employed", "RETIRED": "retired"}
PARTNER_EMPLOYMENT = {"E": "employed", "U": "unemployed", "S": "student", "F": "self_employed", "R": "retired"}


class Bad(ValueError):
    pass


def _int(text: str | None) -> int | None:
    if text is None or text == "":
        return None
    if isinstance(text, bool) or not isinstance(text, int | str):
        raise Bad(f"not an integer: {text!r}")
    try:
        return int(text)
    except ValueError:
        raise Bad(f"not an integer: {text!r}") from None


def _date(text: str | None, fmt: str) -> date | None:
    if text is None or text == "":
        return None
    try:
        return datetime.strptime(text, fmt).date()
    except ValueError:
        raise Bad(f"not a date ({fmt}): {text!r}") from None


def _lines(data: bytes) -> list[str]:
    text = data.decode("utf-8")
    assert text.endswith("\n") or text == "", "files end with a newline"
    return text.split("\n")[:-1]


def read_web(data: bytes) -> tuple[pd.DataFrame, list[tuple[int, str, str]], list[str]]:
    lines = _lines(data)
    header = next(csv.reader([lines[0]]))
    records, bad = [], []
    for number, line in enumerate(lines[1:], start=2):
        fields = next(csv.reader([line]))
        try:
            if len(fields) != len(header):
                raise Bad(f"{len(fields)} fields")
            row = dict(zip(header, fields, strict=True))
            if not row["user_id"]:
                raise Bad("no user_id")
            records.append({
                "source_record_id": "web:" + row["user_id"],
                "first_name": row["first_name"] or None, "last_name": row["last_name"] or None,
                "email": row.get("email") or None, "phone": row["phone"] or None,
                "date_of_birth": _date(row["birth_date"], "%Y-%m-%d"),
                "country": row["country"] or None, "postcode": row["zip"] or None,
                "signup_date": datetime.strptime(row["signup_ts"], "%Y-%m-%dT%H:%M:%S").date(),
                "employment": WEB_EMPLOYMENT[row["employment"]] if row["employment"] else None,
                "tenure_months": _int(row["tenure_months"]),
                "job_views_7d": _int(row["job_views_7d"]), "applications_30d": _int(row["applications_30d"]),
                "resume_updated_days": _int(row["resume_updated_days"]),
                "last_login_days": _int(row["last_login_days"]),
                "profile_text": row["about"] or None,
            })
        except Bad as exc:
            bad.append((number, line, str(exc)))
    return pd.DataFrame(records, columns=list(CANONICAL)), bad, header


def read_mobile(data: bytes) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
    records, bad = [], []
    for number, line in enumerate(_lines(data), start=1):
        try:
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                raise Bad("invalid JSON") from None
            if not isinstance(obj, dict):
                raise Bad("not an object")
            if not obj.get("uid"):
                raise Bad("no uid")
            name, contact, activity = obj.get("name") or {}, obj.get("contact") or {}, obj.get("activity") or {}
            tenure = obj.get("tenure_years")
            records.append({
                "source_record_id": "mobile:" + obj["uid"],
                "first_name": name.get("given"), "last_name": name.get("family"),
                "email": contact.get("email"), "phone": contact.get("mobile"),
                "date_of_birth": _date(obj.get("dob"), "%d/%m/%Y"),
                "country": obj.get("country_code"), "postcode": obj.get("postal_code"),
                "signup_date": datetime.fromtimestamp(obj["signup_epoch_ms"] / 1000, UTC).date(),
                "employment": MOBILE_EMPLOYMENT[obj["employment_status"]] if obj.get("employment_status") else None,
                "tenure_months": None if tenure is None else round(tenure * 12),
                "job_views_7d": _int(activity.get("job_views_7d")),
                "applications_30d": _int(activity.get("applications_30d")),
                "resume_updated_days": _int(activity.get("resume_age_days")),
                "last_login_days": _int(activity.get("last_seen_days")),
                "profile_text": obj.get("bio"),
            })
        except Bad as exc:
            bad.append((number, line, str(exc)))
    return pd.DataFrame(records, columns=list(CANONICAL)), bad


def read_partner(data: bytes, ds: str) -> tuple[pd.DataFrame, list[tuple[int, str, str]], list[str]]:
    lines = _lines(data)
    header = next(csv.reader([lines[0]], delimiter=";"))
    assert tuple(header) == PARTNER_COLUMNS
    day = date.fromisoformat(ds)
    records, bad = [], []

    def days_before(text: str) -> int | None:
        found = _date(text, "%Y-%m-%d")
        return None if found is None else (day - found).days

    for number, line in enumerate(lines[1:], start=2):
        fields = next(csv.reader([line], delimiter=";"))
        try:
            if len(fields) != len(header):
                raise Bad(f"{len(fields)} fields")
            row = dict(zip(header, fields, strict=True))
            if not row["PARTNER_REF"]:
                raise Bad("no PARTNER_REF")
            last, _, first = row["FULL_NAME"].partition(", ")
            records.append({
                "source_record_id": "partner:" + row["PARTNER_REF"],
                "first_name": first or None, "last_name": last or None,
                "email": row["EMAIL_ADDR"] or None, "phone": row["TEL"] or None,
                "date_of_birth": _date(row["DOB"], "%Y%m%d"),
                "country": row["COUNTRY"] or None, "postcode": row["POSTCODE"] or None,
                "signup_date": _date(row["REGISTERED"], "%Y-%m-%d"),
                "employment": PARTNER_EMPLOYMENT[row["EMP_STATUS"]] if row["EMP_STATUS"] else None,
                "tenure_months": _int(row["TENURE_M"]),
                "job_views_7d": _int(row["VIEWS7"]), "applications_30d": _int(row["APPS30"]),
                "resume_updated_days": days_before(row["CV_UPDATED"]),
                "last_login_days": days_before(row["LAST_ACTIVE"]),
                "profile_text": row["NOTES"] or None,
            })
        except Bad as exc:
            bad.append((number, line, str(exc)))
    return pd.DataFrame(records, columns=list(CANONICAL)), bad, header


def read_source(source: str, data: bytes, ds: str) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
    """Parse one source's raw file strictly (the header must be the documented one)."""
    if source == "web":
        records, bad, header = read_web(data)
        assert tuple(header) == WEB_COLUMNS
        return records, bad
    if source == "mobile":
        return read_mobile(data)
    records, bad, _ = read_partner(data, ds)
    return records, bad
