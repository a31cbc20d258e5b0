"""Cleaning rules: one documented rule per field, applied to whole columns at once.

Cleaning never drops a row. A value that breaks a rule is set to null and the rule's name is
added to the row's ``clean_flags`` (``;``-separated), so error analysis can slice by it and
nothing is lost silently. Rules (``CleanConfig`` holds the thresholds):

- names: Unicode NFKC, whitespace collapsed, title case; empty -> null.
- email: trimmed, lower-cased; not ``local@domain.tld`` -> null, flag ``email_invalid``.
- phone: to E.164 (``+<country><number>``): ``00`` -> ``+``, a national ``0`` prefix (and the
  ``(0)`` of international formats) -> the configured default country code; fewer than 8 or
  more than 15 digits -> null, flag ``phone_invalid``.
- country: ISO 3166 alpha-2, upper case; common names and ``UK`` mapped; anything else ->
  null, flag ``country_unknown``.
- postcode: upper case, single spaces.
- date_of_birth: an age (whole years at ``ds``) outside [min_age, max_age] -> null, flag
  ``dob_out_of_range``; ``age_years`` is derived from it.
- signup_date (and signup_ts): after ``ds`` -> null, flag ``signup_in_future``; ``account_age_days`` derived.
- employment_status / signup_channel: to the vocabulary in ``schema``; other -> null, flag.
- activity counts (views, applications, days since): negative or above
  ``max_activity_count`` -> null, flag ``<column>_out_of_range``.
- tenure_months: negative or above 600 (50 years) -> null, flag ``tenure_out_of_range``.
- profile_text: whitespace collapsed; empty -> null.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow as pa

from transforms.schema import CLEAN_USERS, EMPLOYMENT_STATUSES, SIGNUP_CHANNELS
from user_pipeline.config import CleanConfig

EMAIL_PATTERN = r"^[a-z0-9._%+'-]+@[a-z0-9.-]+\.[a-z]{2,}$"
MAX_TENURE_MONTHS = 600
COUNT_COLUMNS = ("job_page_views_7d", "applications_30d", "resume_updated_days_ago", "last_login_days_ago")

COUNTRY_CODES = frozenset({"GB", "IE", "DE", "FR", "NL", "ES", "IT", "BE", "PT", "PL", "SE", "DK", "AT", "CH",
                           "US", "CA"})
COUNTRY_NAMES = {
    "UK": "GB", "UNITED KINGDOM": "GB", "GREAT BRITAIN": "GB", "ENGLAND": "GB", "IRELAND": "IE",
    "GERMANY": "DE", "DEUTSCHLAND": "DE", "FRANCE": "FR", "NETHERLANDS": "NL", "THE NETHERLANDS": "NL",
    "HOLLAND": "NL", "SPAIN": "ES", "ESPANA": "ES", "ITALY": "IT", "BELGIUM": "BE", "PORTUGAL": "PT",
    "POLAND": "PL", "SWEDEN": "SE", "DENMARK": "DK", "AUSTRIA": "AT", "SWITZERLAND": "CH",
    "UNITED STATES": "US", "USA": "US", "CANADA": "CA",
}
EMPLOYMENT_ALIASES = {"self-employed": "self_employed", "self employed": "self_employed",
                      "freelance": "self_employed", "unemp": "unemployed"}


class _Flags:
    """Collects rule names per row without a Python loop over rows."""

    def __init__(self, index: pd.Index):
        self.values = pd.Series("", index=index, dtype="string")

    def add(self, mask: pd.Series, name: str) -> None:
        mask = mask.fillna(False).astype(bool)
        if mask.any():
            current = self.values[mask]
            self.values[mask] = current.where(current == "", current + ";") + name


def _collapse(text: pd.Series) -> pd.Series:
    out = text.astype("string").str.normalize("NFKC").str.replace(r"\s+", " ", regex=True).str.strip()
    return out.where(out != "", None)


def clean_names(names: pd.Series) -> pd.Series:
    """NFKC, collapsed whitespace, title case."""
    return _collapse(names).str.title()


def clean_emails(emails: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Lower-cased emails and the mask of present-but-invalid ones (set to null)."""
    text = _collapse(emails).str.lower()
    invalid = text.notna() & ~text.str.match(EMAIL_PATTERN).fillna(False)
    return text.where(~invalid, None), invalid


def clean_phones(phones: pd.Series, default_country_code: str) -> tuple[pd.Series, pd.Series]:
    """E.164 phone numbers and the mask of present-but-invalid ones (set to null)."""
    text = phones.astype("string").str.strip()
    plus = text.str.startswith("+").fillna(False)
    intl = plus | text.str.startswith("00").fillna(False)
    # "(0)" is the optional trunk prefix: dropped after a country code, a national "0" without.
    text = text.str.replace("(0)", "", regex=False).where(intl, text.str.replace("(0)", "0", regex=False))
    digits = text.str.replace(r"\D", "", regex=True)
    digits = digits.where(~(~plus & digits.str.startswith("00").fillna(False)), digits.str.slice(2))
    national = ~intl & digits.str.startswith("0").fillna(False)
    digits = digits.where(~national, default_country_code + digits.str.slice(1))
    length = digits.str.len()
    present = text.notna() & (text != "")
    invalid = present & ~((length >= 8) & (length <= 15)).fillna(False)
    return ("+" + digits).where(present & ~invalid, None), invalid


def clean_countries(countries: pd.Series) -> tuple[pd.Series, pd.Series]:
    """ISO alpha-2 codes and the mask of present-but-unknown values (set to null)."""
    text = _collapse(countries).str.upper()
    mapped = text.map(lambda v: COUNTRY_NAMES.get(v, v) if isinstance(v, str) else v).astype("string")
    unknown = mapped.notna() & ~mapped.isin(COUNTRY_CODES)
    return mapped.where(~unknown, None), unknown


def clean_vocabulary(values: pd.Series, vocabulary: tuple[str, ...],
                     aliases: dict[str, str] | None = None) -> tuple[pd.Series, pd.Series]:
    """Lower-cased, aliased values; anything outside the vocabulary -> null (mask returned)."""
    text = _collapse(values).str.lower()
    if aliases:
        text = text.replace(aliases)
    text = text.str.replace(r"[\s-]+", "_", regex=True)
    unknown = text.notna() & ~text.isin(vocabulary)
    return text.where(~unknown, None), unknown


def whole_years_between(born: pd.Series, day: date) -> pd.Series:
    """Age in whole years at ``day`` (birthday not yet reached this year counts one less)."""
    stamps = pd.to_datetime(born, errors="coerce")
    years = day.year - stamps.dt.year
    before_birthday = (stamps.dt.month > day.month) | (
        (stamps.dt.month == day.month) & (stamps.dt.day > day.day)
    )
    return (years - before_birthday.astype("Int64")).astype("Int64")


def clean_users(table: pa.Table, *, ds: str, run_id: str, cfg: CleanConfig) -> pa.Table:
    """Apply every cleaning rule to a batch of merged users (``USERS_MERGED`` -> ``CLEAN_USERS``).

    A ``STAGED_USERS`` batch (not through ID-merge) is cleaned too; its canonical-user columns
    come out null, which the ``curated.users_clean`` gate refuses."""
    day = date.fromisoformat(ds)
    frame = table.to_pandas(types_mapper={pa.string(): pd.StringDtype()}.get)
    flags = _Flags(frame.index)

    frame["first_name"] = clean_names(frame["first_name"])
    frame["last_name"] = clean_names(frame["last_name"])
    frame["email"], bad = clean_emails(frame["email"])
    flags.add(bad, "email_invalid")
    frame["phone"], bad = clean_phones(frame["phone"], cfg.default_phone_country_code)
    flags.add(bad, "phone_invalid")
    frame["country"], bad = clean_countries(frame["country"])
    flags.add(bad, "country_unknown")
    frame["postcode"] = _collapse(frame["postcode"]).str.upper()
    frame["profile_text"] = _collapse(frame["profile_text"])
    frame["employment_status"], bad = clean_vocabulary(
        frame["employment_status"], EMPLOYMENT_STATUSES, EMPLOYMENT_ALIASES
    )
    flags.add(bad, "employment_status_unknown")
    frame["signup_channel"], bad = clean_vocabulary(frame["signup_channel"], SIGNUP_CHANNELS)
    flags.add(bad, "signup_channel_unknown")

    age = whole_years_between(frame["date_of_birth"], day)
    bad = age.notna() & ((age < cfg.min_age) | (age > cfg.max_age))
    flags.add(bad, "dob_out_of_range")
    frame["date_of_birth"] = frame["date_of_birth"].where(~bad.fillna(False).to_numpy(), None)
    frame["age_years"] = age.where(~bad, pd.NA)

    signup = pd.to_datetime(frame["signup_date"], errors="coerce")
    account_age = (pd.Timestamp(day) - signup).dt.days.astype("Int64")
    bad = account_age.notna() & (account_age < 0)
    flags.add(bad, "signup_in_future")
    frame["signup_date"] = frame["signup_date"].where(~bad.fillna(False).to_numpy(), None)
    frame["signup_ts"] = frame["signup_ts"].where(~bad.fillna(False).to_numpy(), pd.NaT)
    frame["account_age_days"] = account_age.where(~bad, pd.NA)

    for column in COUNT_COLUMNS:
        values = frame[column]
        bad = values.notna() & ((values < 0) | (values > cfg.max_activity_count))
        flags.add(bad, f"{column}_out_of_range")
        frame[column] = values.where(~bad, pd.NA)
    tenure = frame["tenure_months"]
    bad = tenure.notna() & ((tenure < 0) | (tenure > MAX_TENURE_MONTHS))
    flags.add(bad, "tenure_out_of_range")
    frame["tenure_months"] = tenure.where(~bad, pd.NA)

    frame["clean_flags"] = flags.values.where(flags.values != "", None)
    frame["clean_run_id"] = run_id
    for column in ("date_of_birth", "signup_date"):
        frame[column] = frame[column].astype("object").where(frame[column].notna(), None)
    frame = frame.reindex(columns=CLEAN_USERS.names)
    return pa.Table.from_pandas(frame, schema=CLEAN_USERS, preserve_index=False)


def flag_counts(table: pa.Table) -> dict[str, int]:
    """How often each cleaning rule fired in a cleaned table (for manifests and reports)."""
    flags = table.column("clean_flags").to_pandas().dropna()
    if flags.empty:
        return {}
    counts = flags.str.split(";").explode().value_counts()
    return {str(k): int(v) for k, v in counts.sort_index().items()}

