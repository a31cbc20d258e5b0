"""One day's source records, in canonical form, with their ground truth.

A day's records are the first records of the people of that day (``people.people_of_day``)
plus the second records of people of that day and the two days before who reappear in another
source (``duplicate_rate``, with typos). Per record this module draws signup time, channel,
behaviour (from the person's latent), bio, missing values, out-of-range values, the observed
(noisy) label, malformations and the source's id. ``sources`` then writes them in each
source's own format.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from user_pipeline.datagen import vocab
from user_pipeline.datagen.people import (
    SOURCES,
    STREAM_MALFORMED,
    STREAM_RECORDS,
    STREAM_TYPOS,
    behaviour_from_latent,
    day_ordinal,
    day_rng,
    people_of_day,
    sigmoid,
    spam_behaviour,
)
from user_pipeline.datagen.typos import apply_typos

ID_PREFIX = {"web": "W", "mobile": "M", "partner": "P"}
CHANNELS = ("organic", "search", "social", "referral")
CHANNEL_SHARES = (0.35, 0.30, 0.20, 0.15)
LABEL_NOISE = 0.05  # share of observed job-seeking labels that are flipped

# Share of missing values per optional field (3-8%).
MISSING_RATES = {
    "first_name": 0.01, "email": 0.03, "phone": 0.06, "date_of_birth": 0.04, "country": 0.03,
    "postcode": 0.05, "channel": 0.03, "employment": 0.05, "tenure_months": 0.07,
    "job_views_7d": 0.04, "applications_30d": 0.04, "resume_updated_days": 0.08,
    "last_login_days": 0.03, "profile_text": 0.08,
}
COUNT_FIELDS = ("job_views_7d", "applications_30d", "resume_updated_days", "last_login_days")

# Valid-but-wrong values cleaning must catch (rows stay valid; recorded as ``anomalies``).
ANOMALY_RATE = 0.02
ANOMALIES = ("dob_1850", "age_150", "count_negative", "count_999999", "signup_in_future")

# Broken rows per source (recorded as ``malformation``); ingest dead-letters them.
MALFORMATIONS = {
    "web": ("wrong_field_count", "non_numeric", "bad_date", "missing_id"),
    "mobile": ("invalid_json", "not_object", "non_numeric", "bad_date", "missing_id"),
    "partner": ("wrong_field_count", "non_numeric", "bad_date", "missing_id"),
}

# Phone styles per source (GB numbers; other countries always get an international style,
# since a national format is ambiguous without the country).
PHONE_STYLES = {
    "web": (("intl_spaced", 0.5), ("national_spaced", 0.3), ("intl_compact", 0.2)),
    "mobile": (("national_compact", 0.6), ("intl_compact", 0.4)),
    "partner": (("bare_trunk", 0.25), ("zero_zero_spaced", 0.35), ("intl_trunk", 0.4)),
}
INTERNATIONAL = {"intl_spaced", "intl_compact", "zero_zero_spaced", "intl_trunk"}


@dataclass(frozen=True)
class DayParams:
    """The sizes and rates that shape every day (the same for every day of a range)."""

    users_per_day: int
    duplicate_rate: float
    spam_rate: float
    malformed_rate: float

    @property
    def n_spammers(self) -> int:
        return round(self.users_per_day * self.spam_rate)

    @property
    def n_people(self) -> int:
        # Second records of earlier people fill the rest, so a day has about users_per_day rows.
        return round((self.users_per_day - self.n_spammers) / (1 + self.duplicate_rate))


def format_phone(country_code: str, nsn: str, style: str) -> str:
    """A mobile number written the way one system writes it (``+44 7700 900123``, ``07700900123``)."""
    if country_code == "34" and style == "intl_trunk":
        style = "intl_spaced"  # Spain has no trunk prefix to put in brackets
    if country_code == "44":
        spaced, dashed = f"{nsn[:4]} {nsn[4:]}", f"{nsn[:4]}-{nsn[4:7]}-{nsn[7:]}"
    else:
        spaced = dashed = f"{nsn[:3]} {nsn[3:6]} {nsn[6:]}"
    return {
        "intl_spaced": f"+{country_code} {spaced}",
        "intl_compact": f"+{country_code}{nsn}",
        "zero_zero_spaced": f"00{country_code} {spaced}",
        "intl_trunk": f"+{country_code} (0){spaced}",
        "national_spaced": f"0{spaced}",
        "national_compact": f"0{nsn}",
        "bare_trunk": f"(0){dashed}",
    }[style]


def _phones(rng: np.random.Generator, frame: pd.DataFrame) -> list[str]:
    n = len(frame)
    draw = rng.random(n)
    sources = frame["source"].to_numpy()
    gb = (frame["country"] == "GB").to_numpy()
    style = np.empty(n, dtype=object)
    for source, options in PHONE_STYLES.items():
        for domestic in (True, False):
            rows = (sources == source) & (gb == domestic)
            usable = [o for o in options if domestic or o[0] in INTERNATIONAL] or [("intl_spaced", 1.0)]
            names = np.asarray([o[0] for o in usable], dtype=object)
            cumulative = np.cumsum([o[1] for o in usable]) / sum(o[1] for o in usable)
            style[rows] = names[np.minimum(np.searchsorted(cumulative, draw[rows], side="right"), len(names) - 1)]
    codes = [vocab.PHONE_COUNTRY_CODES[c] for c in frame["country"]]
    return [format_phone(c, nsn, s) for c, nsn, s in zip(codes, frame["phone_nsn"], style, strict=True)]


def _bios(rng: np.random.Generator, looking: np.ndarray, employment: np.ndarray) -> np.ndarray:
    n = len(looking)
    roles = np.asarray(vocab.BIO_ROLES, dtype=object)[rng.integers(0, len(vocab.BIO_ROLES), n)]
    # The role agrees with the status: students study, retired people were something once.
    roles = np.where(employment == "student", "Student", roles)
    roles = np.where(employment == "retired", ["Retired " + r.lower() for r in roles], roles)
    roles = np.where(employment == "unemployed", ["Former " + r.lower() for r in roles], roles)
    places = np.asarray(vocab.BIO_PLACES, dtype=object)[rng.integers(0, len(vocab.BIO_PLACES), n)]
    interests = np.asarray(vocab.BIO_INTERESTS, dtype=object)[rng.integers(0, len(vocab.BIO_INTERESTS), n)]
    seeking = np.asarray(vocab.BIO_SEEKING, dtype=object)[rng.integers(0, len(vocab.BIO_SEEKING), n)]
    settled = np.asarray(vocab.BIO_SETTLED, dtype=object)[rng.integers(0, len(vocab.BIO_SETTLED), n)]
    says_seeking = rng.random(n) < np.where(looking == 1, 0.3, 0.06)
    tail = np.where(says_seeking, seeking, settled)
    bios = [" ".join(p for p in (f"{r} in {pl}.", i, t) if p) for r, pl, i, t in
            zip(roles, places, interests, tail, strict=True)]
    return np.asarray(bios, dtype=object)


def _assemble(seed: int, day: date, params: DayParams) -> pd.DataFrame:
    """First records of today's people + second records of people from today and two days back."""
    today = people_of_day(seed, day, params.n_people, params.n_spammers)
    firsts = today.assign(source=today["primary_source"], is_duplicate=False)
    seconds = []
    for lag in range(3):
        pool = today if lag == 0 else people_of_day(
            seed, day - timedelta(days=lag), params.n_people, params.n_spammers
        )
        chosen = (pool["duplicate_draw"] < params.duplicate_rate) & (pool["duplicate_lag"] == lag)
        seconds.append(pool[chosen])
    again = apply_typos(pd.concat(seconds, ignore_index=True), day_rng(seed, day, STREAM_TYPOS))
    again = again.assign(source=again["duplicate_source"], is_duplicate=True)
    return pd.concat([firsts, again], ignore_index=True)


def day_records(seed: int, day: date, params: DayParams, spam_texts: list[str]) -> pd.DataFrame:
    """All records of ``day`` (every source), canonical values plus ground truth.

    Canonical columns: ``source``, ``local_id``, ``source_record_id``, ``seq`` (file order),
    names, ``email``, ``phone``, ``date_of_birth`` (datetime64[D]), ``country`` (as sent),
    ``country_iso``, ``postcode``, ``signup_ts`` (datetime64[s]), ``channel``, ``employment``,
    ``tenure_months`` and the four counts (float, NaN = missing), ``profile_text`` (None =
    missing). Ground truth: ``person_id``, ``is_duplicate``, ``is_spam``, ``looking_true``,
    ``looking_observed``, ``malformation`` (None if the row is well formed), ``anomaly``.
    """
    frame = _assemble(seed, day, params)
    rng = day_rng(seed, day, STREAM_RECORDS)
    n = len(frame)
    spam = frame["is_spam"].to_numpy(dtype=bool)

    # Signups: most today, some are updates of older accounts; spam arrives in bursts.
    offset_days = np.where(rng.random(n) < 0.65, 0, rng.integers(1, 900, n))
    seconds = rng.integers(0, 86400, n)
    burst_minutes = rng.integers(0, 1440, 3)
    in_burst = spam & (rng.random(n) < 0.8)
    burst_seconds = burst_minutes[rng.integers(0, 3, n)] * 60 + rng.integers(0, 60, n)
    seconds = np.where(in_burst, burst_seconds, seconds)
    offset_days = np.where(spam, 0, offset_days)
    frame["signup_ts"] = (np.datetime64(day, "s") - offset_days.astype("timedelta64[D]")
                          + seconds.astype("timedelta64[s]"))
    frame["channel"] = rng.choice(np.asarray(CHANNELS, dtype=object), n, p=CHANNEL_SHARES)

    behaviour = behaviour_from_latent(rng, np.nan_to_num(frame["latent"].to_numpy(dtype=float)))
    noise = spam_behaviour(rng, n)
    for name in COUNT_FIELDS:
        frame[name] = np.where(spam, noise[name], behaviour[name])
    frame["profile_text"] = np.where(
        spam, np.asarray(spam_texts, dtype=object)[rng.integers(0, len(spam_texts), n)],
        _bios(rng, frame["looking_true"].to_numpy(), frame["employment"].to_numpy()),
    )
    frame["phone"] = _phones(rng, frame)
    frame.loc[spam & (rng.random(n) < 0.4), "phone"] = None
    frame["country_iso"] = frame["country"]
    variant = (rng.random(n) < 0.08) & (frame["source"] != "mobile").to_numpy()
    pick = rng.integers(0, 100, n)
    frame.loc[variant, "country"] = [vocab.COUNTRY_VARIANTS[c][k % len(vocab.COUNTRY_VARIANTS[c])]
                                     for c, k in zip(frame.loc[variant, "country"], pick[variant], strict=True)]

    _blank_out(rng, frame)
    frame["anomaly"] = _inject_anomalies(rng, frame, day, spam)

    flip = rng.random(n) < LABEL_NOISE
    truth = frame["looking_true"].to_numpy()
    frame["looking_observed"] = np.where(spam, -1, np.where(flip, 1 - truth, truth))
    frame["propensity"] = sigmoid(frame["latent"].to_numpy(dtype=float))

    frame["malformation"] = _choose_malformed(day_rng(seed, day, STREAM_MALFORMED), frame, params)
    _assign_ids(rng, frame, day)
    return frame.sort_values(["source", "seq"], kind="stable").reset_index(drop=True)


def _blank_out(rng: np.random.Generator, frame: pd.DataFrame) -> None:
    n = len(frame)
    for name, rate in MISSING_RATES.items():
        missing = rng.random(n) < rate
        if name == "date_of_birth":
            values = frame[name].to_numpy(dtype="datetime64[D]").copy()
            values[missing] = np.datetime64("NaT")
            frame[name] = values
        elif name in COUNT_FIELDS or name == "tenure_months":
            frame[name] = np.where(missing, np.nan, frame[name].to_numpy(dtype=float))
        else:
            frame.loc[missing, name] = None


def _inject_anomalies(rng: np.random.Generator, frame: pd.DataFrame, day: date, spam: np.ndarray) -> np.ndarray:
    n = len(frame)
    hit = (rng.random(n) < ANOMALY_RATE) & ~spam
    kind = np.asarray(ANOMALIES, dtype=object)[rng.integers(0, len(ANOMALIES), n)]
    anomaly = np.where(hit, kind, None)
    dob = frame["date_of_birth"].to_numpy(dtype="datetime64[D]").copy()
    month_day = np.datetime_as_string(dob, unit="D")
    for i in np.flatnonzero(hit & (kind == "dob_1850")):
        md = "06-15" if month_day[i] == "NaT" else month_day[i][5:].replace("02-29", "02-28")
        dob[i] = np.datetime64(f"1850-{md}", "D")
    age_150 = hit & (kind == "age_150")
    dob[age_150] = np.datetime64(day, "D") - np.timedelta64(int(150 * 365.25), "D")
    frame["date_of_birth"] = dob
    column = np.where(rng.random(n) < 0.5, "job_views_7d", "applications_30d")
    for value, name in ((-1 - rng.integers(0, 5, n), "count_negative"), (np.full(n, 999999), "count_999999")):
        for col in ("job_views_7d", "applications_30d"):
            rows = hit & (kind == name) & (column == col)
            frame.loc[rows, col] = value[rows].astype(float)
    future = hit & (kind == "signup_in_future")
    ts = frame["signup_ts"].to_numpy(dtype="datetime64[s]").copy()
    ts[future] = (np.datetime64(day, "s") + rng.integers(10, 60, n)[future].astype("timedelta64[D]")
                  + np.timedelta64(43200, "s"))
    frame["signup_ts"] = ts
    return anomaly


def _choose_malformed(rng: np.random.Generator, frame: pd.DataFrame, params: DayParams) -> np.ndarray:
    """Break ``malformed_rate`` of the rows (at least one when the rate is positive); never spam."""
    n = len(frame)
    out = np.full(n, None, dtype=object)
    if params.malformed_rate <= 0 or n == 0:
        return out
    candidates = np.flatnonzero(~frame["is_spam"].to_numpy(dtype=bool))
    k = min(len(candidates), max(1, round(params.malformed_rate * n)))
    chosen = rng.choice(candidates, k, replace=False)
    pick = rng.integers(0, 1000, k)
    sources = frame["source"].to_numpy()
    for i, p in zip(chosen, pick, strict=True):
        kinds = MALFORMATIONS[sources[i]]
        out[i] = kinds[p % len(kinds)]
    return out


def _assign_ids(rng: np.random.Generator, frame: pd.DataFrame, day: date) -> None:
    """Per source, a random file order (first and second records interleaved) and ids by it."""
    ordinal = day_ordinal(day)
    seq = np.zeros(len(frame), dtype=np.int64)
    sources = frame["source"].to_numpy()
    for source in SOURCES:
        rows = np.flatnonzero(sources == source)
        if len(rows) >= 10**6:
            raise ValueError(f"{len(rows)} {source} records in a day: ids hold at most 999,999")
        seq[rows] = rng.permutation(len(rows))
    frame["seq"] = seq
    frame["local_id"] = [f"{ID_PREFIX[s]}{ordinal:05d}{q:06d}" for s, q in zip(sources, seq, strict=True)]
    frame["source_record_id"] = [f"{s}:{i}" for s, i in zip(sources, frame["local_id"], strict=True)]


def ground_truth(records: pd.DataFrame) -> pd.DataFrame:
    """The ground-truth table of a day: one row per record, including spam and malformed ones."""
    spam = records["is_spam"].to_numpy(dtype=bool)
    malformed = records["malformation"].notna().to_numpy()
    truth = pd.array(np.where(spam, 0, records["looking_true"]), dtype="Int64")
    truth[spam] = pd.NA
    observed = pd.array(np.where(spam, 0, records["looking_observed"]), dtype="Int64")
    observed[spam | malformed] = pd.NA  # no outcome row is written for these
    return pd.DataFrame({
        "source_record_id": records["source_record_id"].astype("string"),
        "person_id": records["person_id"].astype("string"),
        "source": records["source"].astype("string"),
        "is_duplicate": records["is_duplicate"].astype(bool),
        "is_spam": spam,
        "looking_for_job_true": truth,
        "looking_for_job_observed": observed,
        "job_propensity": records["propensity"].astype(float),
        "is_malformed": malformed,
        "malformation": records["malformation"].astype("string"),
        "anomaly": records["anomaly"].astype("string"),
    })
