"""Spam scoring of user records: the text model, account signals, and the rule that combines them.

Pure functions over whole columns (no Beam, no I/O): ``user_pipeline.training.spam_filter`` fits the text
model defined here, ``beam_jobs.despam`` applies ``split_spam`` to each Arrow batch.

**Text model.** Word 1..n-gram TF-IDF + logistic regression (scikit-learn), on text normalised
by ``normalise_text``. Why scikit-learn and not TFT: the model learns from
``reference.spam_labels`` (SMS messages), not from the daily user features TFT analyses, so
it shares no vocabulary or statistics with the job-seeker model; it is served inside a Beam
DoFn on Arrow batches, where a pickled sklearn pipeline (vocabulary included) gives
training/serving parity by construction without importing TensorFlow (about 6 s, docs/architecture.md#stack-facts);
and a TF-IDF fit over a few thousand messages takes a second, so the cross-validated fits
label-noise detection needs stay cheap. Why TF-IDF and not hashed n-grams: the corpus is small
and fixed per labels version, a fitted vocabulary is inspectable (which n-grams say spam), and
it measured better on the held-out messages (F1 0.96 vs 0.90 with a 2**20 hashing space).
Word rather than character n-grams: about 8x faster to score (36k vs 4.4k bios/s measured)
for ~1 point of F1.

**Account signals** (each a boolean per user; thresholds in ``spam.signals`` of the config):

- ``signup_burst``: at least ``burst_min_signups`` signups in the same minute from the same
  channel (counted over the whole partition, see ``burst_keys``). Needs a signup time
  (``signup_ts``; partner records carry only a date, so they never count); without the column
  the de-spam job reports this signal as unavailable rather than firing it on whole days.
- ``disposable_email``: the e-mail domain (or a parent domain) is in ``DISPOSABLE_EMAIL_DOMAINS``.
- ``link_phone_density``: links and phone numbers / short codes per word of profile text at
  least ``min_link_phone_density``.
- ``incomplete_profile``: the share of ``PROFILE_FIELDS`` filled is below
  ``min_profile_completeness``.
- ``implausible_activity``: more job page views in 7 days or applications in 30 days than a
  person makes (``max_job_page_views_7d``, ``max_applications_30d``).

**Score rule** (noisy-OR, weights in ``spam.signal_weights``)::

    score = 1 - (1 - text_score) * prod(1 - weight[s] for each signal s that fired)

The text probability is the base; each fired signal independently "explains" the account as
spam with its weight. With the default weights one signal alone (< 0.5) never quarantines a user
whose text looks clean; two strong signals do. A user without profile text has text score 0
(no evidence either way), so only signals can flag it.

A user is quarantined when ``score >= spam.threshold`` and, if no signal fired, its text score
alone reaches ``spam.text_only_threshold``: the text model learns from SMS messages, so on
profile text it is out of its domain (ordinary "Customer service advisor in Leeds" bios score up
to 0.67, measured) and must be sure to act without corroboration. The quarantine row's
``spam_reason`` names the score, the text score and every signal that fired.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import partial

import numpy as np
import pandas as pd
import pyarrow as pa

from transforms.schema import SPAM_QUARANTINE, STAGED_USERS
from user_pipeline.config import SpamConfig, SpamModelConfig, SpamSignalsConfig

SIGNALS = ("signup_burst", "disposable_email", "link_phone_density", "incomplete_profile", "implausible_activity")
# The column ``signup_burst`` needs: a timestamp with at least minute resolution.
BURST_TIME_COLUMN = "signup_ts"
# Longer texts are cut here before scoring: SMS tops out near 1,000 characters, so a profile of
# megabytes is junk, and truncation keeps one huge text from stalling a whole batch.
MAX_TEXT_CHARS = 5000

# Throwaway-mailbox providers (well-known public services; subdomains match too).
DISPOSABLE_EMAIL_DOMAINS = frozenset({
    "10minutemail.com", "10minutemail.net", "20minutemail.com", "33mail.com", "anonbox.net",
    "burnermail.io", "discard.email", "dispostable.com", "emailondeck.com", "fakeinbox.com",
    "getairmail.com", "getnada.com", "grr.la", "guerrillamail.biz", "guerrillamail.com",
    "guerrillamail.de", "guerrillamail.info", "guerrillamail.net", "guerrillamail.org",
    "guerrillamailblock.com", "harakirimail.com", "incognitomail.org", "jetable.org", "mailcatch.com",
    "maildrop.cc", "mailinator.com", "mailinator.net", "mailnesia.com", "mintemail.com", "mohmal.com",
    "moakt.com", "mytemp.email", "mytrashmail.com", "nada.email", "sharklasers.com", "spam4.me",
    "spambox.us", "spamgourmet.com", "tempail.com", "temp-mail.io", "temp-mail.org", "tempmail.com",
    "tempmail.net", "tempmailo.com", "tempr.email", "throwawaymail.com", "trashmail.com",
    "trashmail.de", "trashmail.net", "yopmail.com", "yopmail.fr", "yopmail.net",
})

# Fields a real person fills in; identity and profile, not activity counters.
PROFILE_FIELDS = ("first_name", "last_name", "email", "phone", "date_of_birth", "country", "postcode",
                  "employment_status", "tenure_months", "resume_updated_days_ago", "profile_text")

# A token pattern that keeps currency signs and "!" (strong spam cues in SMS) besides words.
TOKEN_PATTERN = r"(?u)[£$€!]|\b\w+\b"
_DIGIT = re.compile(r"\d")
_LINK = r"(?:https?://\S+|www\.\S+|\b[\w-]+\.(?:com|net|org|biz|info|co\.uk|ly|io)\b)"
_PHONE = r"(?:\+?\d[\d\s().-]{3,}\d)"  # 5+ digits, optionally separated: numbers and short codes
_LINK_OR_PHONE = re.compile(f"{_LINK}|{_PHONE}", re.IGNORECASE)

# -- text -------------------------------------------------------------------------------------
def normalise_text(text: str | None, max_chars: int = MAX_TEXT_CHARS) -> str:
    """The text the model sees: NFKC (full-width and styled letters fold to plain ones), lower
    case, every digit as ``0`` (phone numbers and prices generalise by shape), cut to
    ``max_chars``. ``None`` is the empty string. Emoji and non-Latin scripts pass through."""
    if not text:
        return ""
    text = text[: max_chars * 2]  # bound the work of normalisation itself
    # Lone surrogates (from bytes decoded with surrogateescape) cannot be encoded: replace them.
    text = text.encode("utf-8", errors="replace").decode("utf-8")
    return _DIGIT.sub("0", unicodedata.normalize("NFKC", text).lower())[:max_chars]


def build_text_model(cfg: SpamModelConfig):
    """The unfitted text classifier (the "fixed model" of every experiment): TF-IDF of word
    1..``max_ngram``-grams (sublinear tf) -> logistic regression (liblinear, seeded)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    return Pipeline([
        ("tfidf", TfidfVectorizer(preprocessor=partial(normalise_text, max_chars=MAX_TEXT_CHARS),
                                  token_pattern=TOKEN_PATTERN, ngram_range=(1, cfg.max_ngram),
                                  sublinear_tf=True)),
        ("classifier", LogisticRegression(C=cfg.c, solver="liblinear", random_state=cfg.seed)),
    ])


def one_thread():
    """A context that runs numpy/scipy/sklearn native code on one thread. Fitting the text model
    measured 0.03 s this way and 0.1-3 s with the default two OpenBLAS/OpenMP threads on a
    busy two-core machine (idle pool threads spin and starve the solver)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def text_scores(model, texts: Iterable[str | None]) -> np.ndarray:
    """P(spam) of each text under a fitted text model, in one vectorised call; 0.0 for a
    missing or blank text (no evidence), never a model guess on nothing."""
    values = list(texts)
    # A plain loop, not a pandas string column: Python callers may pass lone surrogates, which
    # Arrow-backed strings reject; normalise_text replaces them.
    present = np.array([isinstance(t, str) and not t.isspace() and t != "" for t in values], dtype=bool)
    scores = np.zeros(len(values), dtype=np.float64)
    if present.any():
        spam_column = list(model.classes_).index(1)
        scores[present] = model.predict_proba([t for t, p in zip(values, present, strict=True) if p])[:, spam_column]
    return scores


# -- account signals --------------------------------------------------------------------------
def email_domains(emails: pd.Series) -> pd.Series:
    """Lower-cased domain of each e-mail address (null when there is none)."""
    return emails.astype("string").str.strip().str.lower().str.extract(r"@([^@\s]+)$", expand=False)


def is_disposable_email(emails: pd.Series) -> np.ndarray:
    """True where the e-mail domain, or a domain it is a subdomain of, is disposable."""
    domains = email_domains(emails).fillna("")
    hit = domains.isin(DISPOSABLE_EMAIL_DOMAINS).to_numpy(dtype=bool, copy=True)
    # Parent domains: "x.mailinator.com" -> "mailinator.com" (at most a few labels deep).
    parent = domains
    for _ in range(3):
        parent = parent.str.partition(".")[2]
        hit = hit | parent.isin(DISPOSABLE_EMAIL_DOMAINS).to_numpy(dtype=bool)
    return hit


def link_phone_density(texts: pd.Series) -> np.ndarray:
    """Links plus phone numbers / short codes per word of each text (0 for no text)."""
    text = texts.astype("string").fillna("").str.slice(0, MAX_TEXT_CHARS)
    hits = text.str.count(_LINK_OR_PHONE.pattern, flags=re.IGNORECASE).to_numpy(dtype=np.float64)
    words = text.str.split().str.len().fillna(0).to_numpy(dtype=np.float64)
    return np.divide(hits, np.maximum(words, 1.0))


def profile_completeness(frame: pd.DataFrame) -> np.ndarray:
    """Share of ``PROFILE_FIELDS`` that are filled (blank strings count as missing)."""
    filled = np.zeros(len(frame), dtype=np.float64)
    for name in PROFILE_FIELDS:
        column = frame[name]
        ok = column.notna().to_numpy(dtype=bool)
        if column.dtype == object or pd.api.types.is_string_dtype(column):
            ok = ok & (column.astype("string").fillna("").str.strip() != "").to_numpy()
        filled += ok
    return filled / len(PROFILE_FIELDS)


def implausible_activity(frame: pd.DataFrame, cfg: SpamSignalsConfig) -> np.ndarray:
    """More job page views or applications than a person makes in the window."""
    views = pd.to_numeric(frame["job_page_views_7d"], errors="coerce").fillna(0).to_numpy()
    applications = pd.to_numeric(frame["applications_30d"], errors="coerce").fillna(0).to_numpy()
    return (views > cfg.max_job_page_views_7d) | (applications > cfg.max_applications_30d)


def burst_keys(signup_times: pd.Series, channels: pd.Series) -> pd.Series:
    """``"<minute>|<channel>"`` per user (null without a signup time): the unit of a burst."""
    minute = pd.to_datetime(signup_times, errors="coerce").dt.floor("min")
    keys = minute.dt.strftime("%Y-%m-%dT%H:%M") + "|" + channels.astype("string").fillna("?")
    return keys.astype("string")


def count_keys(keys: pd.Series) -> Counter:
    """Signups per burst key in one batch; batches add up (``Counter`` is a commutative monoid)."""
    return Counter(keys.dropna().value_counts().to_dict())


def in_burst(keys: pd.Series, counts: Mapping[str, int], min_signups: int) -> np.ndarray:
    """True where the user's minute-and-channel had at least ``min_signups`` signups in the
    whole partition (``counts`` from all batches, not only this one)."""
    found = keys.map(lambda k: counts.get(k, 0) if isinstance(k, str) else 0)
    return found.to_numpy(dtype=np.int64) >= min_signups


def account_signals(frame: pd.DataFrame, cfg: SpamSignalsConfig,
                    burst_counts: Mapping[str, int] | None) -> pd.DataFrame:
    """One boolean column per signal in ``SIGNALS``. ``burst_counts`` None means the input has
    no signup time: ``signup_burst`` is then False for everyone (reported by the job)."""
    if burst_counts is None or BURST_TIME_COLUMN not in frame:
        burst = np.zeros(len(frame), dtype=bool)
    else:
        keys = burst_keys(frame[BURST_TIME_COLUMN], frame["signup_channel"])
        burst = in_burst(keys, burst_counts, cfg.burst_min_signups)
    return pd.DataFrame({
        "signup_burst": burst,
        "disposable_email": is_disposable_email(frame["email"]),
        "link_phone_density": link_phone_density(frame["profile_text"]) >= cfg.min_link_phone_density,
        "incomplete_profile": profile_completeness(frame) < cfg.min_profile_completeness,
        "implausible_activity": implausible_activity(frame, cfg),
    }, index=frame.index)


# -- combining --------------------------------------------------------------------------------
def check_weights(weights: Mapping[str, float]) -> None:
    """Every weight names a known signal and lies in [0, 1)."""
    unknown = sorted(set(weights) - set(SIGNALS))
    if unknown:
        raise ValueError(f"spam.signal_weights names unknown signals {unknown}; known: {list(SIGNALS)}")
    bad = {k: v for k, v in weights.items() if not 0 <= v < 1}
    if bad:
        raise ValueError(f"spam.signal_weights must lie in [0, 1): {bad}")


def combine_scores(text_score: np.ndarray, signals: pd.DataFrame, weights: Mapping[str, float]) -> np.ndarray:
    """The noisy-OR score rule of the module docstring."""
    check_weights(weights)
    keep = np.ones(len(signals), dtype=np.float64)
    for name, weight in weights.items():
        keep *= np.where(signals[name].to_numpy(dtype=bool), 1.0 - weight, 1.0)
    return 1.0 - (1.0 - np.asarray(text_score, dtype=np.float64)) * keep


def is_spam(score: np.ndarray, text_score: np.ndarray, signals: pd.DataFrame, cfg: SpamConfig) -> np.ndarray:
    """The quarantine decision of the module docstring."""
    corroborated = signals.to_numpy(dtype=bool).any(axis=1) | (np.asarray(text_score) >= cfg.text_only_threshold)
    return (np.asarray(score) >= cfg.threshold) & corroborated


def fired_signals(signals: pd.DataFrame) -> list[str]:
    """``;``-joined names of the signals that fired, per row ("" when none)."""
    names = np.asarray(signals.columns, dtype=object)
    matrix = signals.to_numpy(dtype=bool)
    return [";".join(names[row]) for row in matrix]


def spam_reasons(text_score: np.ndarray, score: np.ndarray, fired: list[str]) -> list[str]:
    """Human-readable reason per row: ``score 0.97 = text 0.91 + disposable_email, implausible_activity``."""
    return [
        f"score {s:.3f} = text {t:.3f}" + (" + " + f.replace(";", ", ") if f else " (no account signal)")
        for s, t, f in zip(score, text_score, fired, strict=True)
    ]


def split_spam(
    table: pa.Table, model, model_version: str, cfg: SpamConfig,
    burst_counts: Mapping[str, int] | None = None,
) -> tuple[pa.Table, pa.Table]:
    """Score one batch of staged users -> (kept rows as ``STAGED_USERS``, quarantined rows as
    ``SPAM_QUARANTINE``). Every input row is in exactly one of the two."""
    staged = table.select(STAGED_USERS.names).cast(STAGED_USERS)
    if table.num_rows == 0:
        return staged, SPAM_QUARANTINE.empty_table()
    columns = [*PROFILE_FIELDS, "signup_channel", "job_page_views_7d", "applications_30d"]
    if BURST_TIME_COLUMN in table.column_names:
        columns.append(BURST_TIME_COLUMN)
    frame = table.select(list(dict.fromkeys(columns))).to_pandas()
    text = text_scores(model, frame["profile_text"])
    signals = account_signals(frame, cfg.signals, burst_counts)
    score = combine_scores(text, signals, cfg.signal_weights)
    spam = is_spam(score, text, signals, cfg)
    kept = staged.filter(pa.array(~spam))
    removed = staged.filter(pa.array(spam))
    fired = [f for f, s in zip(fired_signals(signals), spam, strict=True) if s]
    quarantined = pa.Table.from_arrays(
        [*removed.columns,
         pa.array(score[spam], pa.float64()),
         pa.array(text[spam], pa.float64()),
         pa.array(fired, pa.string()),
         pa.array(spam_reasons(text[spam], score[spam], fired), pa.string()),
         pa.array([model_version] * int(spam.sum()), pa.string())],
        schema=SPAM_QUARANTINE,
    )
    return kept, quarantined
