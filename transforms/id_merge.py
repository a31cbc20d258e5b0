"""ID-merge step logic: normalise person records, block, compare, cluster, assign stable ids.

Framework-free (DESIGN §2): ``beam_jobs.id_merge`` wires these functions; ``user_pipeline.training.id_matcher``
fits the matcher on ``reference.id_pairs``; ``bench.id_merge_febrl`` runs them on FEBRL.

Records are a DataFrame with the columns of ``FIELDS`` (any may be missing or null). The flow:

1. ``normalise`` -> lower-cased, accent-folded strings; digits-only phones; ISO dates.
2. ``blocking_keys`` -> one key column per pass (``BLOCKING_PASSES``); ``candidate_pairs`` takes
   every pair that shares a key in any pass, deduplicated across passes. Several passes because
   one typo in one field must not lose a true match (multi-pass blocking).
3. ``compare`` -> one row of similarity features per pair, vectorised over the pair arrays with
   ``rapidfuzz.process.cpdist`` (``prepare`` codes each record's values once; each distinct pair
   of values is scored once). A comparison with a missing side is NaN (not 0): "unknown" is
   not "different", and the matcher (a gradient-boosted tree) routes NaN explicitly.
4. ``cluster`` -> union-find over accepted pairs, strongest first, refusing any union that would
   exceed ``max_cluster_size`` (a giant cluster is split at its weakest links; refused links are
   reported). ``split_loose_clusters`` then scores every pair inside each cluster of three or
   more and re-clusters it by average linkage: a chain A-B-C where A and C are different people
   who both look like B (a record with few fields) is cut instead of merged by transitivity.
5. ``assign_ids`` -> canonical ids that survive re-runs and days: a cluster inherits the
   previous id of its members (the previous map), otherwise a hash of its smallest member id.
6. ``survivors`` -> one row per canonical user by the survivorship rules.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from rapidfuzz import fuzz, process
from rapidfuzz.distance import JaroWinkler, Levenshtein

from transforms.schema import USERS_MERGED

# The identifying fields a record may have. Our sources have the first six; FEBRL adds an
# address, a suburb and a social-security number (national_id). Missing columns are null.
FIELDS = ("first_name", "last_name", "email", "phone", "date_of_birth", "postcode",
          "address", "city", "national_id")

# Blocking passes: name -> the normalised columns the key is built from. A pair is a candidate
# when it shares the key of at least one pass; a key with an empty part is no key.
# Name keys are order-free (``initials``, ``names_sound`` sort the two names' parts) because
# first and last names arrive swapped between sources.
BLOCKING_PASSES: dict[str, tuple[str, ...]] = {
    "surname_sound_postcode": ("last_sound", "postcode"),
    # Local parts like "john.smith" are shared by strangers: alone they make blocks that grow
    # with the data, so the whole address, or the local part with the birth year.
    "email": ("email",),
    "email_local_year": ("email_local", "birth_year"),
    "phone": ("phone_tail",),
    "dob_initials": ("date_of_birth", "initials"),
    # Names alone make blocks that grow with the data (quadratic pairs): with the birth year.
    "names_sound": ("names_sound", "birth_year"),
    "national_id": ("national_id",),
    "first_sound_postcode_year": ("first_sound", "postcode", "birth_year"),
    "dob_postcode": ("date_of_birth", "postcode"),
    "dob_city": ("date_of_birth", "city"),
    "house_city": ("house", "city"),
    "house_street": ("house", "street"),
    "surname_sound_house": ("last_sound", "house"),
}

FEATURES = (
    "first_jw", "last_jw", "names_swapped_jw", "name_token_set", "first_lev",
    "last_lev", "email_exact", "email_local_jw", "phone_exact", "phone_tail_match",
    "dob_exact", "dob_parts", "postcode_exact", "postcode_jw", "address_token_set",
    "city_jw", "national_id_exact", "national_id_lev", "n_missing",
)

_NON_ALNUM = re.compile(r"[^0-9a-z@.+ ]+")
_SOUNDEX = str.maketrans("bfpvcgjkqsxzdtlmnr", "111122222222334556")


def _fold(text: str) -> str:
    """Lower case, accents removed (é -> e); non-Latin letters are kept as they are."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).lower()


def _clean_one(value: Any) -> str | None:
    # ASCII text is its own NFKD form with nothing to drop: lower() is the fold, much cheaper.
    text = str(value)
    text = text.lower() if text.isascii() else _fold(text)
    return " ".join(text.replace("-", " ").replace("'", "").split()) or None


def _per_distinct(values: pd.Series, fn: Callable[[Any], Any]) -> pd.Series:
    """``fn`` of every non-null value, computed once per distinct value (names repeat a lot);
    null -> None. Object dtype, same index."""
    codes, uniques = pd.factorize(values.to_numpy(dtype=object), use_na_sentinel=True)
    mapped = np.empty(len(uniques) + 1, dtype=object)  # the last slot (code -1) stays None
    mapped[:len(uniques)] = [fn(v) for v in uniques]
    return pd.Series(mapped[codes], index=values.index, dtype=object)


def _clean_text(values: pd.Series) -> pd.Series:
    """Folded, whitespace-collapsed strings; empty -> None (missing is explicit)."""
    return _per_distinct(values, _clean_one)


def soundex(name: str | None) -> str | None:
    """American Soundex of the first word (``robert`` -> ``r163``); None for non-Latin/empty input."""
    if not name:
        return None
    word = "".join(ch for ch in name.split(" ")[0] if "a" <= ch <= "z")
    if not word:
        return None
    coded = word.translate(_SOUNDEX)
    out, last = [word[0]], coded[0]
    for ch, code in zip(word[1:], coded[1:], strict=True):
        if code.isdigit() and code != last:
            out.append(code)
        if ch not in "hw":
            last = code
    return ("".join(out) + "000")[:4]


def _digits(values: pd.Series) -> pd.Series:
    return values.astype("string").str.replace(r"\D", "", regex=True).replace("", pd.NA)


def _iso_date(values: pd.Series) -> pd.Series:
    """ISO date strings; FEBRL's ``19560513`` and real dates both accepted; absurd -> None."""
    text = values.astype("string").str.strip()
    compact = text.str.fullmatch(r"\d{8}", na=False)
    text = text.mask(compact, text.str[:4] + "-" + text.str[4:6] + "-" + text.str[6:8])
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601")
    ok = parsed.notna() & (parsed.dt.year >= 1900) & (parsed.dt.year <= 2100)
    return pd.Series(np.where(ok, parsed.dt.strftime("%Y-%m-%d"), None), index=values.index, dtype=object)


def normalise(records: pd.DataFrame) -> pd.DataFrame:
    """Comparison-ready columns of ``FIELDS`` plus the derived blocking parts; never raises on
    bad values (they become None) and keeps the input's row order and length."""
    out = pd.DataFrame(index=records.index)
    for name in FIELDS:
        column = records[name] if name in records.columns else pd.Series(None, index=records.index, dtype=object)
        if name == "phone" or name == "national_id":
            out[name] = _digits(column).astype(object).where(lambda s: s.notna(), None)
        elif name == "date_of_birth":
            out[name] = _iso_date(column)
        elif name == "postcode":
            out[name] = _clean_text(column).str.replace(" ", "", regex=False)
        else:
            out[name] = _clean_text(column)
    email = out["email"].where(out["email"].str.contains("@", na=False, regex=False), None)
    out["email"] = email
    out["email_local"] = _per_distinct(email, _email_local)
    phone = out["phone"]
    # The last 9 digits: national and international spellings of one number agree there.
    out["phone_tail"] = phone.str[-9:].where(phone.str.len() >= 7, None)
    out["phone"] = phone.str[-10:]
    out["first_sound"] = _per_distinct(out["first_name"], soundex)
    out["last_sound"] = _per_distinct(out["last_name"], soundex)
    first_initial, last_initial = out["first_name"].str[0], out["last_name"].str[0]
    out["initials"] = _sorted_join(first_initial, last_initial)
    out["names_sound"] = _sorted_join(out["first_sound"], out["last_sound"])
    # The house number (first token of the address): with the town, a household key.
    out["house"] = _per_distinct(out["address"], lambda address: address.split(" ")[0])
    out["street"] = _per_distinct(out["address"], _street)
    out["birth_year"] = out["date_of_birth"].str[:4]
    return out


def _email_local(email: str) -> str | None:
    """The local part without dots or +tags ("j.smith+jobs@x" and "jsmith@y" block together);
    None when shorter than 3 characters."""
    local = email.split("@")[0].replace(".", "").split("+")[0]
    return local if len(local) >= 3 else None


def _street(address: str) -> str | None:
    """The first 4 characters of the address's second token (the street name after the house
    number); None for a one-token address."""
    tokens = address.split(" ")
    return tokens[1][:4] if len(tokens) > 1 else None


def _sorted_join(a: pd.Series, b: pd.Series) -> pd.Series:
    """``a|b`` with the two in sorted order; None when either is missing."""
    a, b = a.astype("string"), b.astype("string")
    low, high = a.where(a <= b, b), b.where(a <= b, a)
    joined = low + "|" + high
    return joined.astype(object).where(joined.notna(), None)


def blocking_keys(norm: pd.DataFrame, passes: dict[str, tuple[str, ...]] = BLOCKING_PASSES) -> pd.DataFrame:
    """One column per blocking pass: the joined key, or None when any of its parts is missing."""
    keys = pd.DataFrame(index=norm.index)
    for name, parts in passes.items():
        joined = norm[parts[0]].astype("string")
        for part in parts[1:]:
            joined = joined + "|" + norm[part].astype("string")  # NA in any part -> NA key
        keys[name] = joined.astype(object).where(joined.notna(), None)
    return keys


@dataclass
class BlockingReport:
    """What blocking did: candidate pairs per pass (before dedup) and blocks skipped as too big."""

    pairs_per_pass: dict[str, int] = field(default_factory=dict)
    oversized_blocks: dict[str, int] = field(default_factory=dict)
    candidate_pairs: int = 0


def block_pairs(members: np.ndarray, sides: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """All pairs (i < j) among the record indices of one block; with ``sides`` only pairs across
    the two sides (linkage) with the side-0 record first."""
    members = np.sort(np.asarray(members, dtype=np.int64))
    i, j = np.triu_indices(len(members), k=1)
    left, right = members[i], members[j]
    if sides is not None:
        across = sides[left] != sides[right]
        left, right = left[across], right[across]
        swap = sides[left] == 1
        left, right = np.where(swap, right, left), np.where(swap, left, right)
    return left, right


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique(values)`` by a sort: numpy 2's ``np.unique`` hashes integer arrays, which is
    tens of times slower than sorting on millions of values (measured: 6.2M pairs 11.8 s vs 0.2 s)."""
    ordered = np.sort(np.asarray(values).ravel())
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(ordered) else ordered


def pairs_within_blocks(codes: np.ndarray, members: np.ndarray,
                        max_block_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """All pairs ``(i, j)``, ``i < j``, of ``members`` (int64) sharing a block code (one row per
    member and block; a member listed twice in a block counts once), without a Python loop over
    blocks: blocks of one size are expanded together with that size's ``triu_indices``. Returns
    the left and right members and the number of blocks above ``max_block_size`` (skipped)."""
    codes, members = np.asarray(codes), np.asarray(members, dtype=np.int64)
    order = np.lexsort((members, codes))
    codes, members = codes[order], members[order]
    repeated = np.zeros(len(codes), dtype=bool)
    repeated[1:] = (codes[1:] == codes[:-1]) & (members[1:] == members[:-1])
    codes, members = codes[~repeated], members[~repeated]
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]]) if len(codes) else np.empty(0, np.int64)
    sizes = np.diff(np.r_[starts, len(codes)])
    lefts, rights = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
    for size in sorted_unique(sizes[(sizes >= 2) & (sizes <= max_block_size)]):
        i, j = np.triu_indices(size, k=1)
        first = starts[sizes == size][:, None]
        # Members are sorted within a block, so the earlier one is the smaller: i < j holds.
        lefts.append(members[(first + i).ravel()])
        rights.append(members[(first + j).ravel()])
    return np.concatenate(lefts), np.concatenate(rights), int((sizes > max_block_size).sum())


def unique_pairs(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The distinct ``(left, right)`` pairs as a sorted ``(n, 2)`` int64 array (positions < 2**31)."""
    packed = sorted_unique((np.asarray(left, dtype=np.int64) << 32) | np.asarray(right, dtype=np.int64))
    return np.stack([packed >> 32, packed & 0xFFFFFFFF], axis=1)


def candidate_pairs(keys: pd.DataFrame, *, max_block_size: int = 500, sides: np.ndarray | None = None,
                    report: BlockingReport | None = None) -> np.ndarray:
    """Unique candidate pairs (an ``(n, 2)`` int64 array of row positions, sorted) over all passes.

    Blocks larger than ``max_block_size`` are skipped and counted in ``report``: they are almost
    always a default value (the same postcode for everyone), and their pairs would be quadratic.
    """
    report = report if report is not None else BlockingReport()
    lefts, rights = [], []
    for name in keys.columns:
        column = keys[name]
        present = column.notna().to_numpy()
        codes, _ = pd.factorize(column[present])
        left, right, oversized = pairs_within_blocks(codes, np.flatnonzero(present), max_block_size)
        if sides is not None:  # linkage: only pairs across the two sides, side 0 first
            across = sides[left] != sides[right]
            left, right = left[across], right[across]
            swap = sides[left] == 1
            left, right = np.where(swap, right, left), np.where(swap, left, right)
        if oversized:
            report.oversized_blocks[name] = report.oversized_blocks.get(name, 0) + oversized
        report.pairs_per_pass[name] = len(left)
        lefts.append(left)
        rights.append(right)
    pairs = unique_pairs(np.concatenate(lefts), np.concatenate(rights)) if lefts else np.empty((0, 2), np.int64)
    report.candidate_pairs = len(pairs)
    return pairs


def keyed_pairs(keys: np.ndarray, members: np.ndarray, max_block_size: int) -> tuple[np.ndarray, int]:
    """Pairs ``(i, j)``, ``i < j``, of ``members`` (int64) sharing a key in ``keys`` (long format: one
    row per member and key; None = no key), unique; and the number of blocks skipped as oversized."""
    keys = np.asarray(keys)
    present = ~pd.isna(keys)
    codes, _ = pd.factorize(keys[present])
    left, right, oversized = pairs_within_blocks(codes, np.asarray(members, dtype=np.int64)[present],
                                                 max_block_size)
    return unique_pairs(left, right), oversized


# The normalised columns ``compare`` reads, in groups that share one code space (a feature compares
# first name against last name for swapped names).
_COMPARED = (("first_name", "last_name"), ("email",), ("email_local",), ("phone",), ("phone_tail",),
             ("date_of_birth",), ("postcode",), ("address",), ("city",), ("national_id",))
COMPARED_COLUMNS = tuple(name for group in _COMPARED for name in group)  # what ``prepare`` reads


@dataclass
class PreparedRecords:
    """What ``compare`` needs of each record, computed once per record instead of once per pair
    (a record takes part in many pairs): per column a code per record (-1 = missing) and the
    distinct values the codes index; columns compared with each other share their codes. Besides
    ``_COMPARED``: ``full_name`` (first and last joined), ``dob_year`` and ``dob_month``/``dob_day``
    (month and day share codes: a swapped day and month agree)."""

    codes: dict[str, np.ndarray]
    values: dict[str, np.ndarray]


def prepare(norm: pd.DataFrame) -> PreparedRecords:
    """``PreparedRecords`` of a ``normalise`` frame (row positions are kept). Derived columns are
    computed from the distinct values only."""
    n = len(norm)
    codes: dict[str, np.ndarray] = {}
    values: dict[str, np.ndarray] = {}

    def factorize(names: Sequence[str], arrays: Sequence[np.ndarray]) -> None:
        joint, distinct = pd.factorize(np.concatenate(arrays), use_na_sentinel=True)
        for k, name in enumerate(names):
            codes[name] = joint[k * n:(k + 1) * n].astype(np.int64)
            values[name] = np.asarray(distinct, dtype=object)

    def column(name: str) -> np.ndarray:
        return norm[name].to_numpy(dtype=object) if name in norm else np.full(n, None, dtype=object)

    for group in _COMPARED:
        factorize(group, [column(name) for name in group])

    first, last, names = codes["first_name"], codes["last_name"], values["first_name"]
    combos, combo_of = np.unique(((first + 1) << 32) | (last + 1), return_inverse=True)
    full = [" ".join(names[c] for c in (a, b) if c >= 0 and names[c]) or None
            for a, b in zip((combos >> 32) - 1, (combos & 0xFFFFFFFF) - 1, strict=True)]
    full_codes, full_values = pd.factorize(np.array(full, dtype=object), use_na_sentinel=True)
    codes["full_name"] = full_codes[combo_of.reshape(-1)].astype(np.int64)
    values["full_name"] = np.asarray(full_values, dtype=object)

    dob, dates = codes["date_of_birth"], pd.Series(values["date_of_birth"], dtype=object).str
    year_codes, year_values = pd.factorize(dates[0:4].to_numpy(dtype=object), use_na_sentinel=True)
    day_month, day_month_values = pd.factorize(
        np.concatenate([dates[5:7].to_numpy(dtype=object), dates[8:10].to_numpy(dtype=object)]), use_na_sentinel=True)
    k = len(values["date_of_birth"])
    for name, part_codes, part_values in (("dob_year", year_codes, year_values),
                                          ("dob_month", day_month[:k], day_month_values),
                                          ("dob_day", day_month[k:], day_month_values)):
        codes[name] = np.where(dob >= 0, np.append(part_codes, -1)[dob], -1).astype(np.int64)
        values[name] = np.asarray(part_values, dtype=object)
    return PreparedRecords(codes, values)


def compare_prepared(prepared: PreparedRecords, pairs: np.ndarray) -> pd.DataFrame:
    """The ``FEATURES`` of each pair of record positions of ``prepared``. NaN = at least one side
    missing."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    li, ri = pairs[:, 0], pairs[:, 1]

    def sides(a: str, b: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ca, cb = prepared.codes[a][li], prepared.codes[b][ri]
        return ca, cb, (ca >= 0) & (cb >= 0)

    def similar(scorer, a: str, b: str | None = None, scale: float = 1.0) -> np.ndarray:
        ca, cb, present = sides(a, b or a)
        # Each distinct pair of values is scored once: names repeat across many pairs.
        distinct, inverse = np.unique((ca[present] << 32) | cb[present], return_inverse=True)
        score = process.cpdist(prepared.values[a][distinct >> 32].tolist(),
                               prepared.values[b or a][distinct & 0xFFFFFFFF].tolist(),
                               scorer=scorer, dtype=np.float32, workers=1).astype(np.float64) / scale
        out = np.full(len(li), np.nan)
        out[present] = score[inverse.reshape(-1)]
        return out

    def exact(a: str, b: str | None = None) -> np.ndarray:
        ca, cb, present = sides(a, b or a)
        return np.where(present, (ca == cb).astype(np.float64), np.nan)

    jw = JaroWinkler.normalized_similarity
    lev = Levenshtein.normalized_similarity
    # Share of year/month/day that agree, with day and month swapped counted as agreeing.
    year = exact("dob_year")
    straight = (year + exact("dob_month") + exact("dob_day")) / 3
    swapped = (year + exact("dob_month", "dob_day") + exact("dob_day", "dob_month")) / 3
    out = {
        "first_jw": similar(jw, "first_name"),
        "last_jw": similar(jw, "last_name"),
        # First and last name swapped between sources (a common entry error).
        "names_swapped_jw": np.fmin(similar(jw, "first_name", "last_name"), similar(jw, "last_name", "first_name")),
        "name_token_set": similar(fuzz.token_set_ratio, "full_name", scale=100.0),
        "first_lev": similar(lev, "first_name"),
        "last_lev": similar(lev, "last_name"),
        "email_exact": exact("email"),
        "email_local_jw": similar(jw, "email_local"),
        "phone_exact": exact("phone"),
        "phone_tail_match": exact("phone_tail"),
        "dob_exact": exact("date_of_birth"),
        "dob_parts": np.where(np.isnan(exact("date_of_birth")), np.nan, np.fmax(straight, swapped)),
        "postcode_exact": exact("postcode"),
        "postcode_jw": similar(jw, "postcode"),
        "address_token_set": similar(fuzz.token_set_ratio, "address", scale=100.0),
        "city_jw": similar(jw, "city"),
        "national_id_exact": exact("national_id"),
        "national_id_lev": similar(lev, "national_id"),
    }
    frame = pd.DataFrame(out)
    frame["n_missing"] = frame.isna().sum(axis=1).astype(np.float64)
    return frame[list(FEATURES)]


def compare(norm: pd.DataFrame, pairs: np.ndarray, norm_right: pd.DataFrame | None = None) -> pd.DataFrame:
    """The ``FEATURES`` of each pair (rows of ``pairs`` index ``norm``; the second column indexes
    ``norm_right`` when given). NaN = at least one side missing. Only the records the pairs name
    are prepared; to score many batches against one frame, ``prepare`` it once and use
    ``compare_prepared``."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    if norm_right is None:
        rows = sorted_unique(pairs)
        return compare_prepared(prepare(norm.iloc[rows]), np.searchsorted(rows, pairs))
    left_rows, right_rows = sorted_unique(pairs[:, 0]), sorted_unique(pairs[:, 1])
    both = pd.concat([norm.iloc[left_rows], norm_right.iloc[right_rows]], ignore_index=True)
    local = np.stack([np.searchsorted(left_rows, pairs[:, 0]),
                      len(left_rows) + np.searchsorted(right_rows, pairs[:, 1])], axis=1)
    return compare_prepared(prepare(both), local)


def pair_side_frames(pairs: pd.DataFrame, fields: Sequence[str] = FIELDS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a labelled-pairs table (``left_<field>``, ``right_<field>``) into two record frames."""
    left = pd.DataFrame({f: pairs.get(f"left_{f}") for f in fields})
    right = pd.DataFrame({f: pairs.get(f"right_{f}") for f in fields})
    return left, right


def pair_features(pairs: pd.DataFrame) -> pd.DataFrame:
    """``FEATURES`` of a labelled-pairs table (one row per pair, in order)."""
    left, right = pair_side_frames(pairs)
    index = np.arange(len(pairs), dtype=np.int64)
    return compare(normalise(left), np.stack([index, index], axis=1), normalise(right))


@dataclass
class Matcher:
    """A fitted matcher: classifier, feature order, threshold. Pickled in ``models.id_matcher``,
    so it lives here (an importable module), not in a ``__main__``."""

    classifier: Any
    features: tuple[str, ...]
    threshold: float

    def score(self, features: pd.DataFrame) -> np.ndarray:
        """P(match) per row of a ``transforms.id_merge.compare`` frame."""
        if len(features) == 0:
            return np.empty(0)
        return self.classifier.predict_proba(features[list(self.features)].to_numpy(np.float64))[:, 1]


class UnionFind:
    """Disjoint sets over ``0..n-1`` with union by size and path halving."""

    def __init__(self, n: int):
        self.parent = np.arange(n, dtype=np.int64)
        self.size = np.ones(n, dtype=np.int64)

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return int(x)

    def union(self, a: int, b: int, max_size: int | None = None) -> bool:
        """Join the sets of ``a`` and ``b``; False (nothing joined) when the result would exceed
        ``max_size``. True also when they already share a set."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        if max_size is not None and self.size[ra] + self.size[rb] > max_size:
            return False
        if self.size[ra] < self.size[rb]:
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.size[ra] += self.size[rb]
        return True

    def labels(self) -> np.ndarray:
        """The root of every element (a cluster label)."""
        parent = self.parent.copy()
        while True:  # pointer jumping: every element's parent becomes its grandparent until all are roots
            grand = parent[parent]
            if np.array_equal(grand, parent):
                return parent
            parent = grand


@dataclass
class Clusters:
    """Cluster label per record, the score of the link that joined each record (NaN for a
    singleton or the first member), and the links refused by the size guard."""

    labels: np.ndarray
    join_score: np.ndarray
    refused: np.ndarray  # (k, 2) record positions of links not applied


def cluster(n: int, pairs: np.ndarray, scores: np.ndarray, threshold: float,
            max_cluster_size: int) -> Clusters:
    """Connected components of the pairs scoring at least ``threshold``, strongest links first.

    A link whose union would make a cluster larger than ``max_cluster_size`` is refused, so a
    would-be giant cluster ends split at its weakest links; refused links are returned.
    """
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    scores = np.asarray(scores, dtype=np.float64)
    accepted = scores >= threshold
    pairs, scores = pairs[accepted], scores[accepted]
    # Strongest first; ties by pair so the result does not depend on input order.
    order = np.lexsort((pairs[:, 1], pairs[:, 0], -scores))
    sets = UnionFind(n)
    join_score = np.full(n, np.nan)
    refused = []
    for k in order:
        a, b = int(pairs[k, 0]), int(pairs[k, 1])
        ra, rb = sets.find(a), sets.find(b)
        if ra == rb:
            continue
        if not sets.union(a, b, max_cluster_size):
            refused.append((a, b))
            continue
        for x in (a, b):
            if np.isnan(join_score[x]):
                join_score[x] = scores[k]
    return Clusters(sets.labels(), join_score, np.asarray(refused, dtype=np.int64).reshape(-1, 2))


def split_loose_clusters(labels: np.ndarray, pair_score: Callable[[np.ndarray], np.ndarray], threshold: float,
                         min_size: int = 3) -> tuple[np.ndarray, int]:
    """Clusters of at least ``min_size`` records re-clustered by average linkage (scipy) over the
    matcher scores of all their pairs (``pair_score``: ``(k, 2)`` record positions -> P(match)),
    cut where the mean score between two parts falls below ``threshold``. Single-link clusters
    (union-find) chain look-alikes through one sparse record; average linkage asks every member.
    Returns the new labels (a split-off part is labelled by its smallest member) and the number
    of clusters split."""
    from scipy.cluster.hierarchy import fcluster, linkage

    labels = np.asarray(labels, dtype=np.int64).copy()
    sizes = np.bincount(labels, minlength=len(labels))
    loose = np.flatnonzero(sizes[labels] >= min_size)
    if len(loose) == 0:
        return labels, 0
    members = [np.sort(group) for group in pd.Series(loose).groupby(labels[loose]).apply(np.asarray)]
    # Every pair of every such cluster, scored in one call; triu order is scipy's condensed order.
    within = [block_pairs(group) for group in members]
    all_pairs = np.concatenate([np.stack(p, axis=1) for p in within])
    scores = np.clip(np.asarray(pair_score(all_pairs), dtype=np.float64), 0.0, 1.0)
    split, start = 0, 0
    for group, (left, _) in zip(members, within, strict=True):
        distance = 1.0 - scores[start:start + len(left)]
        start += len(left)
        parts = fcluster(linkage(distance, method="average"), t=1.0 - threshold, criterion="distance")
        if parts.max() == 1:
            continue
        split += 1
        for part in sorted_unique(parts):
            labels[group[parts == part]] = group[parts == part].min()
    return labels, split


def pair_scorer(records: pd.DataFrame, matcher: Matcher) -> Callable[[np.ndarray], np.ndarray]:
    """``pairs (k, 2) of row positions of records -> P(match)``, normalising only the rows asked for."""
    def score(pairs: np.ndarray) -> np.ndarray:
        rows = sorted_unique(pairs)
        norm = normalise(records.iloc[rows].reset_index(drop=True))
        return matcher.score(compare(norm, np.searchsorted(rows, pairs)))
    return score


def new_canonical_id(member_ids: Sequence[str]) -> str:
    """A new canonical id: a hash of the smallest member id (deterministic across re-runs)."""
    return "u-" + hashlib.sha256(min(member_ids).encode("utf-8")).hexdigest()[:16]


def assign_ids(record_ids: Sequence[str], labels: np.ndarray, previous: dict[str, str]) -> np.ndarray:
    """Canonical id per record: a cluster keeps the previous id most of its members held
    (``previous``: record id -> canonical id, from yesterday's map or prior anchors); a previous
    id is given to one cluster only (the one with most members holding it, then smallest member),
    so a split cluster keeps its id on its larger part and the rest get new ids."""
    rids = np.asarray(record_ids, dtype=object)
    clusters, cluster_of = np.unique(np.asarray(labels, dtype=np.int64), return_inverse=True)
    # The smallest member id of each cluster, from the record ids' sorted ranks (no per-cluster loop).
    rank, sorted_ids = pd.factorize(rids, sort=True)
    smallest = np.full(len(clusters), len(sorted_ids), dtype=np.int64)
    np.minimum.at(smallest, cluster_of, rank)
    first = np.asarray(sorted_ids, dtype=object)[smallest]
    prev = pd.Series(rids, dtype=object).map(previous).to_numpy(dtype=object) if previous else None
    taken: dict[int, str] = {}
    if prev is not None:
        held = ~pd.isna(prev)
        votes = (pd.DataFrame({"cluster": cluster_of[held], "prev": prev[held]})
                 .groupby(["cluster", "prev"]).size().rename("n").reset_index())
        votes["first"] = first[votes["cluster"].to_numpy()]
        votes = votes.sort_values(["n", "first", "prev"], ascending=[False, True, True], kind="stable")
        used: set[str] = set()
        for cluster_no, prev_id in zip(votes["cluster"], votes["prev"], strict=True):
            if cluster_no in taken or prev_id in used:
                continue
            taken[cluster_no] = prev_id
            used.add(prev_id)
    ids = np.array([taken.get(k) or new_canonical_id([smallest_id]) for k, smallest_id in enumerate(first)],
                   dtype=object)
    return ids[cluster_of]


def survivors(records: pd.DataFrame, canonical_ids: np.ndarray, *, fields: Sequence[str],
              recency: str, source_priority: Sequence[str]) -> pd.DataFrame:
    """One row per canonical id. Survivorship: per field, the most recent non-null value
    (``recency`` column, later wins); ties go to the source earlier in ``source_priority``, then
    the smallest ``source_record_id``. ``merged_records`` counts the records merged."""
    canonical_ids = np.asarray(canonical_ids, dtype=object)
    group, _ = pd.factorize(canonical_ids)
    alone = np.bincount(group)[group] == 1
    # A canonical id with one record survives as that record: only the merged ones need the rules.
    frame = records.loc[~alone].copy()
    frame["canonical_id"] = canonical_ids[~alone]
    rank = {s: i for i, s in enumerate(source_priority)}
    frame["_priority"] = frame["source"].map(rank).fillna(len(rank)) if "source" in frame else 0
    frame = frame.sort_values(["canonical_id", recency, "_priority", "source_record_id"],
                              ascending=[True, False, True, True], na_position="last", kind="stable")
    grouped = frame.groupby("canonical_id", sort=True)
    # GroupBy.first takes the first non-null value of each column: the survivorship rule.
    merged = grouped[list(fields)].first()
    merged["merged_records"] = grouped.size().astype(np.int64)
    single = records.loc[alone, list(fields)].set_axis(pd.Index(canonical_ids[alone], name="canonical_id"))
    single["merged_records"] = np.int64(1)
    out = pd.concat([merged, single]) if len(merged) else single
    return out.sort_index(kind="stable").reset_index()


def as_singletons(records: pa.Table, *, run_id: str) -> pa.Table:
    """``STAGED_USERS`` records as ``USERS_MERGED`` rows, each its own canonical user, with the id
    ID-merge gives a record it links to nothing: for step tests and benchmarks that start after
    ID-merge without running it."""
    ids = records.column("source_record_id").to_pylist()
    columns = {
        "canonical_id": pa.array([new_canonical_id([rid]) for rid in ids], pa.string()),
        **{name: records.column(name) for name in records.column_names if name in USERS_MERGED.names},
        "merged_records": pa.array(np.ones(records.num_rows, dtype=np.int64)),
        "id_merge_run_id": pa.array([run_id] * records.num_rows, pa.string()),
    }
    return pa.table(columns).select(USERS_MERGED.names).cast(USERS_MERGED)


ANCHOR_PREFIX = "canonical:"  # record id of a prior canonical user taking part in today's merge


def score_pairs(norm: pd.DataFrame, pairs: np.ndarray, matcher: Matcher, batch_size: int = 50000) -> np.ndarray:
    """P(match) of every candidate pair, compared and scored ``batch_size`` pairs at a time."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    prepared = prepare(norm)
    out = np.empty(len(pairs))
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        out[start:start + len(chunk)] = matcher.score(compare_prepared(prepared, chunk))
    return out


@dataclass
class MergeResult:
    """The outcome of one merge: per record its canonical id and the score that put it there
    (NaN for a record alone or first in its cluster), plus what the size guard refused."""

    canonical_id: np.ndarray
    match_score: np.ndarray
    cluster_size: np.ndarray
    refused_links: int
    clusters_split: int
    loose_clusters_split: int = 0  # by ``split_loose_clusters``


def merge(record_ids: Sequence[str], n: int, pairs: np.ndarray, scores: np.ndarray, *, threshold: float,
          max_cluster_size: int, previous: dict[str, str],
          pair_score: Callable[[np.ndarray], np.ndarray] | None = None,
          linkage_threshold: float | None = None) -> MergeResult:
    """Cluster ``n`` records from their scored pairs and give every cluster its canonical id
    (``assign_ids`` with the previous map, which also covers prior anchors). With ``pair_score``
    clusters of three or more are re-clustered by average linkage at ``linkage_threshold``
    (default ``threshold``; see ``split_loose_clusters``)."""
    found = cluster(n, pairs, scores, threshold, max_cluster_size)
    labels, join_score, loose = found.labels, found.join_score, 0
    if pair_score is not None:
        labels, loose = split_loose_clusters(labels, pair_score,
                                             threshold if linkage_threshold is None else linkage_threshold)
    sizes = np.bincount(labels, minlength=n)[labels]
    if loose:
        join_score = np.where(sizes > 1, join_score, np.nan)  # alone after the split: joined by nothing
    ids = assign_ids(record_ids, labels, previous)
    split = len({int(found.labels[a]) for a, _ in found.refused}) if len(found.refused) else 0
    return MergeResult(ids, join_score, sizes.astype(np.int64), len(found.refused), split, loose)


def resolve(records: pd.DataFrame, matcher: Matcher, *, threshold: float | None = None,
            max_block_size: int = 500, max_cluster_size: int = 20, batch_size: int = 50000,
            sides: np.ndarray | None = None, previous: dict[str, str] | None = None,
            report: BlockingReport | None = None,
            linkage: str = "average") -> tuple[MergeResult, np.ndarray, np.ndarray]:
    """The whole merge in memory (benchmarks, small data): normalise, block, score, cluster.

    ``records`` needs ``source_record_id`` and any of ``FIELDS``; ``linkage`` ``"average"`` re-checks
    clusters of three or more (``split_loose_clusters``), ``"single"`` keeps the union-find
    components. Returns the merge result, the
    candidate pairs and their scores. ``beam_jobs.id_merge`` runs the same steps in Beam.
    """
    norm = normalise(records)
    pairs = candidate_pairs(blocking_keys(norm), max_block_size=max_block_size, sides=sides, report=report)
    scores = score_pairs(norm, pairs, matcher, batch_size)
    result = merge(records["source_record_id"].astype(str).tolist(), len(records), pairs, scores,
                   threshold=matcher.threshold if threshold is None else threshold,
                   max_cluster_size=max_cluster_size, previous=previous or {},
                   pair_score=pair_scorer(records, matcher) if linkage == "average" else None)
    return result, pairs, scores
