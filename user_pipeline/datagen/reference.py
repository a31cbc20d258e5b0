"""Versioned reference data: spam labels (from the real SMS Spam Collection) and labelled ID pairs.

Spam labels: the packaged UCI SMS Spam Collection (``datagen/data``, CC BY 4.0) is the gold
standard. A fifth of the distinct texts (per label, by a stable hash of the text, so repeated
texts never straddle the split) is held out for honest evaluation and never labelled. The rest
is labelled by simulated annotators: each message by one, a ~10% sample by two, and, as a
targeted quality-control sample, ~60% of the promotional messages by two (the class where
instructions are hardest to follow, so the one where a biased labeler shows). Most annotators
agree with the gold label ~97% of the time; ``BIASED_LABELER`` calls promotional-but-legitimate
ham (offers, free, discount, win...) spam about 60% of the time: the labelling inconsistency the
data-centric workflow is meant to find.

Label spec: the instructions the labelers follow, ``reference.spam_label_spec`` (``LABEL_SPEC``
rows: per class a definition, decision rules, positive and negative examples, known edge
cases). v1 lists promotional-but-legitimate messages as an open edge case; v2 adds the rule that
settles it (an offer the recipient asked for, or a friend's "free"/"win", is ham). Every label
row names the spec version it was labelled under (``spec_version``); under v2 the biased labeler
follows the new rule, so a round labelled under v2 (``spam_labels(..., spec_version="v2")``, the
same messages, labelers and draws) differs from v1 only where the rule applies.

ID pairs: labelled record pairs drawn from generated people. Matches are one person against a
re-typed copy of themselves (``typos``); non-matches include hard negatives (same surname, same
postcode, same household with alike first names or a twin's birth date, and namesakes: the same
first and last name, often the same e-mail local part or address and birth date or year). Fields
are missing as often as in the sources, so the matcher learns what a look-alike with a sparse
record is worth (measured with ``bench.id_merge_errors``: without namesakes, strangers sharing a
name-built e-mail were merged at scale).
"""

from __future__ import annotations

import hashlib
from datetime import date
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from transforms.labels.sweep import PROMOTIONAL
from transforms.schema import ID_PAIR_FIELDS, ID_PAIRS, LABEL_SPEC, SPAM_LABELS
from user_pipeline.datagen.people import STREAM_REFERENCE, draw_people, make_email
from user_pipeline.datagen.records import MISSING_RATES, format_phone
from user_pipeline.datagen.typos import apply_typos
from user_pipeline.datagen.vocab import COUNTRIES, PHONE_COUNTRY_CODES

HOLDOUT_FRACTION = 0.2
LABELERS = ("labeler_01", "labeler_02", "labeler_03", "labeler_04")
BIASED_LABELER = "labeler_03"
DOUBLE_LABEL_RATE = 0.10
PROMOTIONAL_DOUBLE_LABEL_RATE = 0.60
LABELER_ERROR = 0.03
BIAS_RATE = 0.60

# The label spec: (item_id, class, kind, text, pattern, settled_by), v2 = v1 + the promotional rule.
# Patterns carry their flags inline: the spec is data, read without this module.
_PROMOTIONAL_RULE = ("ham.rule.2", "ham", "rule",
                     "A message that mentions an offer, a prize, something free or a sale is ham when the "
                     "recipient knows the sender or asked for it (a shop they use, a friend, family) and it "
                     "does not ask them to call, text or claim from an unknown number. Only unsolicited mass "
                     "marketing that asks for such a reply is spam.", "(?i)" + PROMOTIONAL.pattern, None)
_SPEC_V1 = (
    ("ham.definition.1", "ham", "definition", "A message the recipient would want: personal, work, service "
     "notices and messages they signed up for.", None, None),
    ("ham.rule.1", "ham", "rule", "A message from someone the recipient knows is ham, however informal or "
     "misspelled.", None, None),
    ("ham.positive_example.1", "ham", "positive_example", "Ok lar... Joking wif u oni...", None, None),
    ("ham.negative_example.1", "ham", "negative_example",
     "WINNER!! You have been selected to receive a £900 prize reward! To claim call 09061701461.", None, None),
    ("spam.definition.1", "spam", "definition", "Unsolicited bulk messages: advertising, prize and "
     "premium-rate scams, phishing.", None, None),
    ("spam.rule.1", "spam", "rule", "A message asking to call or text a premium or unknown number, or to "
     "claim a prize the recipient did not enter for, is spam.", None, None),
    ("spam.positive_example.1", "spam", "positive_example",
     "Free entry in 2 a wkly comp to win FA Cup final tkts. Text FA to 87121 to receive entry.", None, None),
    ("spam.negative_example.1", "spam", "negative_example",
     "Hey, the pizza place has a free dessert offer tonight, want to go?", None, None),
    ("spam.edge_case.1", "spam", "edge_case", "Promotional but legitimate: offers, prizes, free things and "
     "sales from a sender the recipient knows (a friend passing on a deal, a shop they use).",
     "(?i)" + PROMOTIONAL.pattern, None),
)
LABEL_SPECS = {
    "v1": _SPEC_V1,
    "v2": (*_SPEC_V1[:2], _PROMOTIONAL_RULE, *_SPEC_V1[2:-1], (*_SPEC_V1[-1][:5], _PROMOTIONAL_RULE[0])),
}

ID_PAIRS_DAY = date(2026, 1, 1)  # the "today" of ages in the pair pool: fixed, not the run's dates
PAIR_PHONE_STYLES = ("intl_spaced", "intl_compact", "zero_zero_spaced", "intl_trunk")
# Non-matches: same surname, same postcode (neighbours and family), namesakes (``_namesakes``);
# the rest are random strangers.
NON_MATCH_SHARES = (0.2, 0.25, 0.3)
# Missing values of a pair side, as often as in the source records (``user_pipeline.datagen.records``).
PAIR_MISSING_RATES = {field: MISSING_RATES.get(field, 0.0) for field in ID_PAIR_FIELDS}


def reference_rng(seed: int, part: int) -> np.random.Generator:
    """The generator of one reference artifact, independent of the daily streams."""
    return np.random.default_rng([seed, STREAM_REFERENCE, part])


def stable_hash(text: str) -> int:
    """A hash that is the same in every process (Python's ``hash()`` is salted per process)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def sms_path(path: str | Path | None = None) -> Path:
    """Where the SMS Spam Collection is read from: ``path``, else ``datagen.sms_path`` of the
    configuration; a clear error naming the dataset when no copy is there."""
    if path is None:
        from user_pipeline.config import cached_config

        path = cached_config().datagen.sms_path
    found = Path(path)
    if not found.is_file():
        raise FileNotFoundError(
            f"the SMS Spam Collection (UCI Machine Learning Repository dataset 228, CC BY 4.0; "
            f"tab-separated label<TAB>text, 5,574 lines) is not at {found}: point datagen.sms_path in "
            f"the pipeline config at a copy of it"
        )
    return found


def load_sms(path: str | Path | None = None) -> pd.DataFrame:
    """The SMS Spam Collection: ``message_id`` (``sms-00001`` = line 1), ``gold_label``, ``text``."""
    return _load_sms(sms_path(path))


@lru_cache(maxsize=2)
def _load_sms(path: Path) -> pd.DataFrame:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            label, text = line.rstrip("\n").split("\t", 1)
            rows.append((f"sms-{number:05d}", label, text))
    frame = pd.DataFrame(rows, columns=["message_id", "gold_label", "text"])
    frame["is_promotional"] = frame["text"].str.contains(PROMOTIONAL)
    frame["in_holdout"] = holdout_mask(frame)
    return frame


def holdout_mask(sms: pd.DataFrame) -> np.ndarray:
    """Exactly ``HOLDOUT_FRACTION`` of the distinct texts of each label, ranked by stable hash."""
    key = sms["text"].str.strip().str.lower()
    held = set()
    for _, texts in key.groupby(sms["gold_label"]):
        distinct = sorted(set(texts), key=stable_hash)
        held.update(distinct[: round(HOLDOUT_FRACTION * len(distinct))])
    return key.isin(held).to_numpy()


def spam_texts(path: str | Path | None = None) -> list[str]:
    """Every spam message of the collection: what spam accounts put in their profiles."""
    sms = load_sms(path)
    return sms.loc[sms["gold_label"] == "spam", "text"].tolist()


def spam_label_spec(version: str) -> pa.Table:
    """``reference.spam_label_spec`` version ``version`` (``LABEL_SPECS``; see the module doc)."""
    if version not in LABEL_SPECS:
        raise ValueError(f"no label spec {version!r}; the generator knows {sorted(LABEL_SPECS)}")
    return pa.Table.from_pylist([dict(zip(LABEL_SPEC.names, row, strict=True)) for row in LABEL_SPECS[version]],
                                schema=LABEL_SPEC)


def spam_labels(seed: int, path: str | Path | None = None, spec_version: str = "v1") -> pa.Table:
    """``reference.spam_labels``: annotator labels of the non-held-out messages, labelled under
    the label spec ``spec_version`` (see module doc)."""
    if spec_version not in LABEL_SPECS:
        raise ValueError(f"no label spec {spec_version!r}; the generator knows {sorted(LABEL_SPECS)}")
    sms = load_sms(path)
    pool = sms[~sms["in_holdout"]].reset_index(drop=True)
    rng = reference_rng(seed, 1)
    n = len(pool)
    first = rng.integers(0, len(LABELERS), n)
    double = rng.random(n) < np.where(pool["is_promotional"].to_numpy(), PROMOTIONAL_DOUBLE_LABEL_RATE,
                                      DOUBLE_LABEL_RATE)
    second = (first + rng.integers(1, len(LABELERS), n)) % len(LABELERS)  # never the same labeler
    message = np.concatenate([np.arange(n), np.flatnonzero(double)])
    labeler = np.concatenate([first, second[double]])
    gold = pool["gold_label"].to_numpy()[message]
    promo_ham = (pool["is_promotional"].to_numpy() & (pool["gold_label"] == "ham").to_numpy())[message]
    # The habit shows while the spec leaves promotional messages open; a rule that settles them is followed.
    settled = any(row[0] == "spam.edge_case.1" and row[5] for row in LABEL_SPECS[spec_version])
    biased = (np.asarray(LABELERS)[labeler] == BIASED_LABELER) & (not settled)
    u = rng.random(len(message))
    flipped = np.where(gold == "spam", "ham", "spam")
    label = np.where(biased & promo_ham, np.where(u < BIAS_RATE, "spam", "ham"),
                     np.where(u < LABELER_ERROR, flipped, gold))
    frame = pd.DataFrame({
        "message_id": pool["message_id"].to_numpy()[message],
        "text": pool["text"].to_numpy()[message],
        "label": label,
        "labeler_id": np.asarray(LABELERS)[labeler],
        "is_double_labelled": double[message],
        "spec_version": spec_version,
    }).sort_values(["message_id", "labeler_id"], kind="stable")
    return pa.Table.from_pandas(frame, schema=SPAM_LABELS, preserve_index=False)


def spam_holdout(path: str | Path | None = None) -> pa.Table:
    """The held-out messages with their gold labels (ground truth, not a pipeline dataset)."""
    sms = load_sms(path)
    held = sms[sms["in_holdout"]]
    return pa.table({"message_id": held["message_id"].tolist(), "text": held["text"].tolist(),
                     "label": held["gold_label"].tolist()})


def spam_gold(path: str | Path | None = None) -> pa.Table:
    """Gold label of every message, whether it is promotional, and which side of the split it is."""
    sms = load_sms(path)
    return pa.Table.from_pandas(sms[["message_id", "gold_label", "is_promotional", "in_holdout"]],
                                preserve_index=False)


def _render_pair_side(people: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    n = len(people)
    styles = np.asarray(PAIR_PHONE_STYLES, dtype=object)[rng.integers(0, len(PAIR_PHONE_STYLES), n)]
    out = pd.DataFrame({
        "first_name": people["first_name"].to_numpy(),
        "last_name": people["last_name"].to_numpy(),
        "email": people["email"].to_numpy(),
        "phone": [format_phone(PHONE_COUNTRY_CODES[c], nsn, s) for c, nsn, s in
                  zip(people["country"], people["phone_nsn"], styles, strict=True)],
        "date_of_birth": np.datetime_as_string(people["date_of_birth"].to_numpy(dtype="datetime64[D]"),
                                               unit="D").astype(object),
        "postcode": people["postcode"].to_numpy(),
    })
    for field in ID_PAIR_FIELDS:  # gaps as often as in the sources: a look-alike is told apart by the
        out.loc[rng.random(n) < PAIR_MISSING_RATES[field], field] = None  # fields present on both sides
    return out


def _namesakes(pool: pd.DataFrame, a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Person ``b`` renamed to person ``a``'s first and last name: a different person who looks alike.

    With small name vocabularies strangers share a name, and then often an address pattern
    (``john.smith@gmail.com`` is built from the name) and a birth date or year. Half of them get
    the e-mail ``a`` has (same local part; same provider in most of those), a third ``a``'s birth
    date and another third ``a``'s birth year; what tells them apart is a field present on both
    sides: the phone, the postcode, the day of birth.
    """
    out = pool.iloc[b].copy()
    n = len(out)
    out["first_name"] = pool["first_name"].to_numpy()[a]
    out["last_name"] = pool["last_name"].to_numpy()[a]
    local = np.array([e.split("@", 1)[0] for e in pool["email"].to_numpy()[a]], dtype=object)
    domain = np.array([e.split("@", 1)[1] for e in out["email"]], dtype=object)
    own = np.array([make_email(f, la, p, k, d) for f, la, p, k, d in
                    zip(out["first_name"], out["last_name"], rng.integers(0, 7, n), rng.integers(1, 2000, n),
                        domain, strict=True)], dtype=object)
    email_draw = rng.random(n)
    out["email"] = np.where(email_draw < 0.35, pool["email"].to_numpy()[a],
                            np.where(email_draw < 0.5, local + "@" + domain, own))
    dob_draw = rng.random(n)
    dob_a = pool["date_of_birth"].to_numpy(dtype="datetime64[D]")[a]
    dob_b = out["date_of_birth"].to_numpy(dtype="datetime64[D]")
    year_shift = (dob_a.astype("datetime64[Y]") - dob_b.astype("datetime64[Y]")).astype(np.int64)
    same_year = np.array([_shift_years(d, k) for d, k in zip(dob_b, year_shift, strict=True)], dtype="datetime64[D]")
    out["date_of_birth"] = np.where(dob_draw < 1 / 3, dob_a, np.where(dob_draw < 2 / 3, same_year, dob_b))
    return out


def _shift_years(day: np.datetime64, years: int) -> np.datetime64:
    """``day`` moved by whole years (29 February -> 28 February)."""
    y, m, d = (int(p) for p in str(day).split("-"))
    y += years
    d = min(d, 28) if m == 2 else d
    return np.datetime64(f"{y:04d}-{m:02d}-{d:02d}", "D")


def _similar_first_names(pool: pd.DataFrame, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each pair, ``b``'s first name, or the most similar other first name of ``a``'s country
    when one is close (Jaro-Winkler >= 0.8: Daniel/Daniela, Jan/Jana, Louis/Louise)."""
    from rapidfuzz import process
    from rapidfuzz.distance import JaroWinkler

    out = pool["first_name"].to_numpy()[b].copy()
    for i, (name, country) in enumerate(zip(pool["first_name"].to_numpy()[a], pool["country"].to_numpy()[a],
                                            strict=True)):
        options = [f for f in COUNTRIES[country][1] if f != name]
        best = process.extractOne(name, options, scorer=JaroWinkler.normalized_similarity, score_cutoff=0.8)
        if best is not None:
            out[i] = best[0]
    return out


def id_pairs(seed: int, n_pairs: int = 2000, match_share: float = 0.4) -> pa.Table:
    """``reference.id_pairs``: labelled pairs of person records (see module doc)."""
    rng = reference_rng(seed, 2)
    pool = draw_people(rng, ID_PAIRS_DAY, max(500, n_pairs))
    n_match = round(n_pairs * match_share)
    n_other = n_pairs - n_match
    n_surname, n_postcode, n_namesake = (round(s * n_other) for s in NON_MATCH_SHARES)
    n_random = n_other - n_surname - n_postcode - n_namesake

    left_idx = [rng.choice(len(pool), n_match, replace=False)]
    right_people = [pool.iloc[left_idx[0]]]
    # Same surname, different person.
    by_surname = pool.groupby("last_name").indices
    shared = [name for name, idx in by_surname.items() if len(idx) > 1]
    names = np.asarray(shared, dtype=object)[rng.integers(0, len(shared), n_surname)]
    pairs = [rng.choice(by_surname[name], 2, replace=False) for name in names]
    left_idx.append(np.array([p[0] for p in pairs]))
    right_people.append(pool.iloc[[p[1] for p in pairs]])
    # Same postcode: neighbours, and half of them family (same surname too; the family's first
    # names are often alike and a twin shares the birth date).
    a = rng.integers(0, len(pool), n_postcode)
    b = (a + rng.integers(1, len(pool), n_postcode)) % len(pool)
    neighbours = pool.iloc[b].copy()
    neighbours["postcode"] = pool["postcode"].to_numpy()[a]
    family = rng.random(n_postcode) < 0.5
    neighbours.loc[family, "last_name"] = pool["last_name"].to_numpy()[a][family]
    alike = family & (rng.random(n_postcode) < 0.5)
    neighbours.loc[alike, "first_name"] = _similar_first_names(pool, a[alike], b[alike])
    twin = family & (rng.random(n_postcode) < 0.15)
    neighbours.loc[twin, "date_of_birth"] = pool["date_of_birth"].to_numpy()[a][twin]
    left_idx.append(a)
    right_people.append(neighbours)
    # Namesakes: the same first and last name, often the same e-mail local part and birth date or year.
    a = rng.integers(0, len(pool), n_namesake)
    b = (a + rng.integers(1, len(pool), n_namesake)) % len(pool)
    left_idx.append(a)
    right_people.append(_namesakes(pool, a, b, rng))
    a = rng.integers(0, len(pool), n_random)
    b = (a + rng.integers(1, len(pool), n_random)) % len(pool)
    left_idx.append(a)
    right_people.append(pool.iloc[b])

    left = pool.iloc[np.concatenate(left_idx)].reset_index(drop=True)
    # Every right side is re-typed, matches or not, so typos alone do not give the answer away.
    right = apply_typos(pd.concat(right_people, ignore_index=True), rng)
    is_match = np.r_[np.ones(n_match, dtype=np.int64), np.zeros(n_other, dtype=np.int64)]
    frame = pd.concat([
        _render_pair_side(left, rng).add_prefix("left_"),
        _render_pair_side(right, rng).add_prefix("right_"),
    ], axis=1)
    frame["is_match"] = is_match
    frame = frame.iloc[rng.permutation(len(frame))].reset_index(drop=True)
    frame.insert(0, "pair_id", [f"pair-{i:05d}" for i in range(len(frame))])
    return pa.Table.from_pandas(frame, schema=ID_PAIRS, preserve_index=False)
