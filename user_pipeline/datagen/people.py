"""The people behind the records: identities, employment and the latent job-seeking propensity.

Everything is drawn from a generator derived from ``(seed, day, stream)`` (``day_rng``), never
from a generator shared across days, so the people of a day are the same whether that day is
generated alone or as part of a range.

Job seeking: a latent score is built from employment status, tenure, age and noise; the true
label is ``Bernoulli(sigmoid(latent))`` (base rate about 30%). Behavioural fields (views,
applications, CV recency, last login) are drawn later per record *from* the latent, so they
are predictive but noisy (``behaviour_from_latent``).
"""

from __future__ import annotations

import unicodedata
from datetime import date
from functools import lru_cache

import numpy as np
import pandas as pd

from user_pipeline.datagen import vocab

EPOCH = date(2000, 1, 1)

# Independent random streams per day: adding draws to one never shifts another.
STREAM_PEOPLE = 1
STREAM_RECORDS = 2
STREAM_TYPOS = 3
STREAM_MALFORMED = 4
STREAM_BAD_DROP = 5
STREAM_REFERENCE = 6
STREAM_RENDER = 7

SOURCES = ("web", "mobile", "partner")
SOURCE_SHARES = np.array([0.45, 0.35, 0.20])
SPAM_SOURCE_SHARES = np.array([0.55, 0.35, 0.10])  # partners vet accounts a little
DUPLICATE_LAG_SHARES = np.array([0.5, 0.3, 0.2])  # second record same day / +1 day / +2 days

EMPLOYMENT = ("employed", "unemployed", "student", "self_employed", "retired")
EMPLOYMENT_SHARES = np.array([0.52, 0.13, 0.14, 0.10, 0.11])
# Contribution of each status to the latent job-seeking score (same order as EMPLOYMENT).
EMPLOYMENT_EFFECT = np.array([0.0, 3.0, 1.8, 0.3, -2.6])
LATENT_INTERCEPT = -1.6


def day_ordinal(day: date) -> int:
    """Days since 2000-01-01: the day's number in seeds and ids."""
    return (day - EPOCH).days


def day_rng(seed: int, day: date, stream: int, *sub: int) -> np.random.Generator:
    """The generator of one (seed, day, stream[, sub...]): independent of every other day and stream."""
    return np.random.default_rng([seed, day_ordinal(day), stream, *sub])


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@lru_cache(maxsize=4096)
def ascii_fold(text: str) -> str:
    """Lower-case ASCII letters of a name for e-mail local parts ("Müller" -> "muller")."""
    text = text.replace("ß", "ss")
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str], n: int) -> np.ndarray:
    return np.asarray(options, dtype=object)[rng.integers(0, len(options), n)]


def _digits(rng: np.random.Generator, n: int, width: int) -> list[str]:
    return [f"{v:0{width}d}" for v in rng.integers(0, 10**width, n)]


def make_email(first: str, last: str, pattern: int, number: int, domain: str) -> str:
    """One of the usual local-part patterns built from a person's names."""
    f, la = ascii_fold(first), ascii_fold(last)
    local = (f"{f}.{la}", f"{f}{la}", f"{f[:1]}.{la}", f"{f}_{la}", f"{f}.{la}{number % 100}",
             f"{la}.{f}", f"{f}{number}")[pattern % 7]
    return f"{local}@{domain}"


def _national_numbers(rng: np.random.Generator, countries: np.ndarray) -> np.ndarray:
    """Mobile numbers without country code or trunk prefix (the national significant number)."""
    tail = _digits(rng, len(countries), 9)
    lead = rng.integers(0, 10, len(countries))
    out = []
    for country, digits, k in zip(countries, tail, lead, strict=True):
        if country == "GB":
            out.append("7" + digits)  # 07xxx xxxxxx
        elif country == "IE":
            out.append("8" + "35679"[k % 5] + digits[:7])
        elif country == "DE":
            out.append("1" + "567"[k % 3] + digits)
        else:  # FR, NL, ES: 9 digits starting 6 (or 7)
            out.append(("6" if country == "NL" or k < 7 else "7") + digits[:8])
    return np.asarray(out, dtype=object)


def _postcodes(rng: np.random.Generator, countries: np.ndarray) -> np.ndarray:
    n = len(countries)
    num = rng.integers(0, 100000, n).tolist()
    a, b, c, d = (col.tolist() for col in rng.integers(0, 1000, (4, n)))
    letters = "ABDEFGHJLNPQRSTUWXYZ"  # GB inward-code letters (no C I K M O V)
    alnum = "0123456789ACDEFHKNPRTVWXY"
    areas, keys = vocab.GB_POSTCODE_AREAS, vocab.IE_ROUTING_KEYS
    out = []
    for i, country in enumerate(countries.tolist()):
        if country == "GB":
            out.append(f"{areas[a[i] % len(areas)]}{1 + b[i] % 20} "
                       f"{c[i] % 10}{letters[d[i] % 20]}{letters[(d[i] // 20) % 20]}")
        elif country == "IE":
            code = alnum[b[i] % 25] + alnum[c[i] % 25] + alnum[d[i] % 25] + alnum[(a[i] // 7) % 25]
            out.append(f"{keys[a[i] % len(keys)]} {code}")
        elif country == "NL":
            out.append(f"{1000 + num[i] % 9000} {letters[b[i] % 20]}{letters[c[i] % 20]}")
        elif country == "ES":
            out.append(f"{1000 + num[i] % 51000:05d}")
        else:  # DE, FR
            out.append(f"{1000 + num[i] % 98000:05d}")
    return np.asarray(out, dtype=object)


def _random_strings(rng: np.random.Generator, n: int, alphabet: str, low: int, high: int) -> list[str]:
    """``n`` strings of ``low``..``high`` characters from ``alphabet`` (one vectorised draw)."""
    chars = np.asarray(list(alphabet))[rng.integers(0, len(alphabet), (n, high))]
    lengths = rng.integers(low, high + 1, n).tolist()
    return ["".join(row[:k]) for row, k in zip(chars.tolist(), lengths, strict=True)]


def _dates_from_ages(rng: np.random.Generator, day: date, ages: np.ndarray) -> np.ndarray:
    """Birth dates (datetime64[D]) of people ``ages`` whole years old on ``day``."""
    days_old = np.floor(ages * 365.25).astype(np.int64) + rng.integers(0, 365, len(ages))
    return np.datetime64(day, "D") - days_old.astype("timedelta64[D]")


def _identities(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    codes = list(vocab.COUNTRIES)
    weights = np.array([vocab.COUNTRIES[c][0] for c in codes])
    countries = np.asarray(codes, dtype=object)[rng.choice(len(codes), n, p=weights / weights.sum())]
    first_idx = rng.integers(0, 1000, n)
    last_idx = rng.integers(0, 1000, n)
    first = np.empty(n, dtype=object)
    last = np.empty(n, dtype=object)
    for code in codes:
        mask = countries == code
        firsts, lasts = vocab.COUNTRIES[code][1], vocab.COUNTRIES[code][2]
        first[mask] = np.asarray(firsts, dtype=object)[first_idx[mask] % len(firsts)]
        last[mask] = np.asarray(lasts, dtype=object)[last_idx[mask] % len(lasts)]
    pattern = rng.integers(0, 7, n)
    number = rng.integers(1, 2000, n)
    use_local = rng.random(n) < 0.35
    generic = _pick(rng, vocab.EMAIL_DOMAINS, n)
    local_pick = rng.integers(0, 100, n)
    domains = np.array([
        vocab.COUNTRY_EMAIL_DOMAINS[c][k % len(vocab.COUNTRY_EMAIL_DOMAINS[c])] if u else g
        for c, k, u, g in zip(countries, local_pick, use_local, generic, strict=True)
    ], dtype=object)
    email = np.array([make_email(f, la, p, k, d)
                      for f, la, p, k, d in zip(first, last, pattern, number, domains, strict=True)], dtype=object)
    return {
        "country": countries,
        "first_name": first,
        "last_name": last,
        "email": email,
        "phone_nsn": _national_numbers(rng, countries),
        "postcode": _postcodes(rng, countries),
    }


def draw_people(rng: np.random.Generator, day: date, n: int) -> pd.DataFrame:
    """Ordinary people: identity, employment, tenure, age and the job-seeking latent."""
    frame = pd.DataFrame(_identities(rng, n))
    status = rng.choice(len(EMPLOYMENT), n, p=EMPLOYMENT_SHARES)
    ages = np.where(
        status == 2, rng.integers(17, 30, n),  # students
        np.where(status == 4, rng.integers(58, 88, n), rng.integers(19, 66, n)),  # retired / others
    )
    # Months in the current status; short tenure in a job makes a move more likely.
    log_tenure = np.select(
        [status == 0, status == 3, status == 1, status == 2],
        [rng.normal(3.3, 1.0, n), rng.normal(3.5, 0.9, n), rng.normal(1.6, 0.9, n), rng.normal(2.6, 0.6, n)],
        rng.normal(3.6, 0.8, n),
    )
    tenure = np.minimum(np.round(np.exp(log_tenure)), np.maximum(ages - 16, 1) * 12)
    working = (status == 0) | (status == 3)
    latent = (
        LATENT_INTERCEPT
        + EMPLOYMENT_EFFECT[status]
        + np.where(working, -0.8 * (np.log1p(tenure) - 3.3), 0.0)
        - 0.02 * (ages - 35)
        + rng.normal(0.0, 0.9, n)
    )
    label = (rng.random(n) < sigmoid(latent)).astype(np.int64)
    frame["date_of_birth"] = _dates_from_ages(rng, day, ages)
    frame["employment"] = np.asarray(EMPLOYMENT, dtype=object)[status]
    frame["tenure_months"] = tenure.astype(float)
    frame["latent"] = latent
    frame["looking_true"] = label
    frame["is_spam"] = False
    return frame


def draw_spammers(rng: np.random.Generator, day: date, n: int) -> pd.DataFrame:
    """Throwaway accounts: gibberish or spammy names, disposable e-mail, no real life behind them."""
    frame = pd.DataFrame(_identities(rng, n))
    kind = rng.random(n)
    gibberish = _random_strings(rng, n, "abcdefghijklmnopqrstuvwxyz", 5, 8)
    gibberish2 = _random_strings(rng, n, "abcdefghijklmnopqrstuvwxyz", 4, 8)
    spammy = [vocab.SPAMMY_NAMES[k] for k in rng.integers(0, len(vocab.SPAMMY_NAMES), n)]
    first = np.where(kind < 0.5, [g.title() for g in gibberish],
                     np.where(kind < 0.75, [s[0] for s in spammy], frame["first_name"]))
    last = np.where(kind < 0.5, [g.title() for g in gibberish2],
                    np.where(kind < 0.75, [s[1] for s in spammy], frame["last_name"]))
    frame["first_name"] = first.astype(object)
    frame["last_name"] = last.astype(object)
    local = _random_strings(rng, n, "abcdefghijklmnopqrstuvwxyz0123456789", 8, 12)
    domain = _pick(rng, vocab.DISPOSABLE_DOMAINS, n)
    frame["email"] = [f"{loc}@{d}" for loc, d in zip(local, domain, strict=True)]
    frame["date_of_birth"] = _dates_from_ages(rng, day, rng.integers(18, 70, n))
    frame["employment"] = np.asarray(EMPLOYMENT, dtype=object)[rng.integers(0, len(EMPLOYMENT), n)]
    frame["tenure_months"] = np.where(rng.random(n) < 0.6, np.nan, 0.0)
    frame["latent"] = np.nan
    frame["looking_true"] = -1  # not defined for spam accounts
    frame["is_spam"] = True
    return frame


def people_of_day(seed: int, day: date, n_people: int, n_spammers: int) -> pd.DataFrame:
    """The people whose first record arrives on ``day``, with where and when they reappear.

    Columns: identity fields, ``date_of_birth`` (datetime64[D]), ``employment``,
    ``tenure_months``, ``latent``, ``looking_true`` (-1 for spam), ``is_spam``,
    ``primary_source``, ``duplicate_source``, ``duplicate_draw`` (uniform: the person has a
    second record when it is below the duplicate rate), ``duplicate_lag`` (days).
    Deterministic in ``(seed, day, n_people, n_spammers)`` alone.
    """
    # Cached: a range run needs each day's people three times (its own and two later days').
    return _people_of_day(seed, day, n_people, n_spammers).copy()


@lru_cache(maxsize=4)
def _people_of_day(seed: int, day: date, n_people: int, n_spammers: int) -> pd.DataFrame:
    rng = day_rng(seed, day, STREAM_PEOPLE)
    people = draw_people(rng, day, n_people)
    spammers = draw_spammers(rng, day, n_spammers)
    frame = pd.concat([people, spammers], ignore_index=True)
    n = len(frame)
    ordinal = day_ordinal(day)
    frame.insert(0, "person_id", [f"H{ordinal:05d}{i:06d}" for i in range(n)])
    spam = frame["is_spam"].to_numpy()
    primary = np.where(spam, rng.choice(3, n, p=SPAM_SOURCE_SHARES), rng.choice(3, n, p=SOURCE_SHARES))
    # The second source is one of the other two, weighted by their usual shares.
    other = rng.random(n)
    second = np.empty(n, dtype=np.int64)
    for src in range(3):
        rest = [s for s in range(3) if s != src]
        w = SOURCE_SHARES[rest] / SOURCE_SHARES[rest].sum()
        second[primary == src] = np.where(other[primary == src] < w[0], rest[0], rest[1])
    frame["primary_source"] = np.asarray(SOURCES, dtype=object)[primary]
    frame["duplicate_source"] = np.asarray(SOURCES, dtype=object)[second]
    # Stored as a per-person uniform so the duplicate rate can be applied without redrawing.
    frame["duplicate_draw"] = rng.random(n)
    frame["duplicate_lag"] = rng.choice(3, n, p=DUPLICATE_LAG_SHARES)
    frame.loc[spam, "duplicate_draw"] = 2.0  # spam accounts are one-offs
    return frame


def behaviour_from_latent(rng: np.random.Generator, latent: np.ndarray) -> dict[str, np.ndarray]:
    """Activity fields drawn from the latent with noise: predictive of the label, not a copy of it."""
    n = len(latent)
    z = np.clip(latent, -6, 6)
    return {
        "job_views_7d": rng.poisson(np.exp(0.9 + 0.5 * z + rng.normal(0, 0.5, n))).astype(float),
        "applications_30d": rng.poisson(np.exp(-0.7 + 0.6 * z + rng.normal(0, 0.5, n))).astype(float),
        # Capped at ten years: older CVs and logins are not kept by the sources.
        "resume_updated_days": np.minimum(np.round(np.exp(4.2 - 0.45 * z + rng.normal(0, 0.9, n))), 3650),
        "last_login_days": np.minimum(np.round(np.exp(1.4 - 0.35 * z + rng.normal(0, 0.9, n))), 3650),
    }


def spam_behaviour(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Implausible activity of throwaway accounts: hundreds of views and applications at once."""
    return {
        "job_views_7d": rng.integers(300, 5000, n).astype(float),
        "applications_30d": rng.integers(100, 2000, n).astype(float),
        "resume_updated_days": np.where(rng.random(n) < 0.5, 0.0, np.nan),
        "last_login_days": np.zeros(n),
    }
