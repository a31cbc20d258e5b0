"""Spam labels: validation, one label per message, labeler agreement, confident learning.

Pure functions over pandas / numpy (no I/O); the CLIs in ``labels/`` and
``user_pipeline.training.spam_filter`` call them.

**Validation** (``validate_labels``): a labels table must have ``message_id``, ``text``,
``label`` and ``labeler_id``. Labels are compared after trimming and lower-casing ("Spam " is
``spam``); any other value, a missing id or label, the same (message, labeler) twice, or one
message with two different texts is an error that lists what is wrong. A missing text is the
empty string (it is still a labelled message). Nothing is dropped.

**One label per message** (``resolve_labels``): the majority of its labels; a tie (in practice
two labelers who disagree) goes to the label of the more reliable labeler, reliability being
the labeler's agreement with the others on the double-labelled messages
(``labeler_reliability``), then the labeler id. The rule uses no gold labels, so it is the
same in production, and it stops one biased labeler from winning half the ties.

**Agreement** (over messages with two or more labels): observed agreement, specific
agreement per class (the generalisation of positive/negative agreement to many raters:
``sum_i n_ic (n_ic - 1) / sum_i n_ic (m_i - 1)``), Cohen's kappa per labeler pair, Fleiss'
kappa (when every message has the same number of labels) and Krippendorff's alpha (nominal,
any number of labels per message), per-labeler agreement and kappa with the others (the
leave-one-out majority: with two labels per message, the other labeler's label; messages whose
other labels tie are not counted).

**Confident learning** (``confident_learning``; Northcutt et al. 2021): given out-of-fold
predicted probabilities, class thresholds ``t_j`` = the mean probability of class ``j`` over
the examples labelled ``j``; an example is *confidently* of class ``j`` when ``p_j >= t_j``
(argmax among such classes); the confident joint counts (given label, confident class); the
off-diagonal examples are the likely label errors, ranked by self-confidence (the predicted
probability of the given label, lowest first).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from transforms.schema import AGREEMENT_STATS, REVIEWS

CLASSES = ("ham", "spam")
REQUIRED_COLUMNS = ("message_id", "text", "label", "labeler_id")


class LabelError(ValueError):
    """A labels (or reviews) table that cannot be used as it is; the message says why."""


def _examples(values, limit: int = 5) -> str:
    values = list(values)
    more = f" (+{len(values) - limit} more)" if len(values) > limit else ""
    return ", ".join(map(repr, values[:limit])) + more


def normalise_labels(labels: pd.Series, what: str = "label") -> pd.Series:
    """Trimmed, lower-cased labels; a clear error listing every value that is not a class."""
    clean = labels.astype("string").str.strip().str.lower()
    bad = clean.isna() | ~clean.isin(CLASSES)
    if bad.any():
        counts = labels[bad.to_numpy()].astype("string").fillna("<null>").value_counts()
        raise LabelError(
            f"{int(bad.sum())} {what} value(s) are not one of {list(CLASSES)}: "
            + ", ".join(f"{v!r} x{n}" for v, n in counts.items())
        )
    return clean.astype(object)


def validate_labels(table: pa.Table | pd.DataFrame) -> pd.DataFrame:
    """Check a ``reference.spam_labels`` table (see the module docstring) and return
    ``message_id, text, label, labeler_id`` as plain strings, sorted by message and labeler."""
    frame = table.to_pandas() if isinstance(table, pa.Table) else table.copy()
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise LabelError(f"labels lack column(s) {missing}; found {list(frame.columns)}")
    frame = frame[list(REQUIRED_COLUMNS)].copy()
    for column in ("message_id", "labeler_id"):
        null = frame[column].isna() | (frame[column].astype("string").str.strip() == "")
        if null.any():
            rows = _examples(np.flatnonzero(null))
            raise LabelError(f"{int(null.sum())} label row(s) have no {column} (rows {rows})")
        frame[column] = frame[column].astype(str)
    frame["label"] = normalise_labels(frame["label"])
    frame["text"] = frame["text"].astype("string").fillna("").astype(object)
    duplicated = frame.duplicated(["message_id", "labeler_id"], keep=False)
    if duplicated.any():
        pairs = frame.loc[duplicated, ["message_id", "labeler_id"]].drop_duplicates()
        raise LabelError(f"{len(pairs)} (message_id, labeler_id) pair(s) occur more than once: "
                         + _examples(map(tuple, pairs.to_numpy())))
    texts = frame.groupby("message_id")["text"].nunique()
    if (texts > 1).any():
        raise LabelError(f"{int((texts > 1).sum())} message_id(s) carry different texts: "
                         + _examples(texts.index[texts > 1]))
    return frame.sort_values(["message_id", "labeler_id"], kind="stable").reset_index(drop=True)


# -- counts and agreement measures -------------------------------------------------------------
def label_counts(labels: pd.DataFrame, min_labels: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(message ids, counts[n_messages, n_classes]) of messages with at least ``min_labels`` labels."""
    table = pd.crosstab(labels["message_id"], labels["label"]).reindex(columns=list(CLASSES), fill_value=0)
    table = table[table.sum(axis=1) >= min_labels]
    return table.index.to_numpy(dtype=object), table.to_numpy(dtype=np.int64)


def observed_agreement(counts: np.ndarray) -> float:
    """Share of agreeing ordered label pairs within messages (messages with >= 2 labels)."""
    counts = np.asarray(counts, dtype=np.float64)
    m = counts.sum(axis=1)
    counts, m = counts[m >= 2], m[m >= 2]
    pairs = (m * (m - 1)).sum()
    return float((counts * (counts - 1)).sum() / pairs) if pairs else float("nan")


def specific_agreement(counts: np.ndarray) -> np.ndarray:
    """Per class: given one label of the class, the chance another label of the same message
    agrees (``sum_i n_ic (n_ic - 1) / sum_i n_ic (m_i - 1)``; nan for an unused class)."""
    counts = np.asarray(counts, dtype=np.float64)
    m = counts.sum(axis=1, keepdims=True)
    keep = m[:, 0] >= 2
    counts, m = counts[keep], m[keep]
    numerator = (counts * (counts - 1)).sum(axis=0)
    denominator = (counts * (m - 1)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def cohen_kappa(a, b, classes=CLASSES) -> float:
    """Cohen's kappa of two raters' labels on the same items: (p_o - p_e) / (1 - p_e).
    1.0 when both raters use one and the same class only (perfect, no chance to correct)."""
    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    if len(a) != len(b):
        raise ValueError("cohen_kappa needs two label sequences of the same length")
    if len(a) == 0:
        return float("nan")
    p_o = float(np.mean(a == b))
    p_e = float(sum(np.mean(a == c) * np.mean(b == c) for c in classes))
    return 1.0 if p_e == 1 else (p_o - p_e) / (1 - p_e)


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa; every row (item) must hold the same number of ratings (>= 2)."""
    counts = np.asarray(counts, dtype=np.float64)
    m = counts.sum(axis=1)
    if len(counts) == 0 or m.min() < 2 or m.min() != m.max():
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of ratings for every item")
    n = m[0]
    p_i = ((counts * counts).sum(axis=1) - n) / (n * (n - 1))
    p_bar = p_i.mean()
    p_j = counts.sum(axis=0) / counts.sum()
    p_e = float((p_j * p_j).sum())
    return 1.0 if p_e == 1 else float((p_bar - p_e) / (1 - p_e))


def krippendorff_alpha_nominal(counts: np.ndarray) -> float:
    """Krippendorff's alpha for nominal data from per-item category counts (any number of
    ratings per item; items with fewer than two are not pairable and left out).

    Coincidences ``o_ck = sum_u n_uc (n_uk - [c == k]) / (m_u - 1)``, ``n_c = sum_k o_ck``,
    ``alpha = 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c n_k``.
    """
    counts = np.asarray(counts, dtype=np.float64)
    m = counts.sum(axis=1)
    counts, m = counts[m >= 2], m[m >= 2]
    if len(counts) == 0:
        return float("nan")
    coincidence = np.einsum("uc,uk->ck", counts / (m - 1)[:, None], counts)
    coincidence -= np.diag((counts / (m - 1)[:, None]).sum(axis=0))
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    disagree_observed = coincidence.sum() - np.trace(coincidence)
    disagree_expected = (np.outer(n_c, n_c).sum() - (n_c * n_c).sum())
    if disagree_expected == 0:
        return 1.0
    return float(1 - (n - 1) * disagree_observed / disagree_expected)


# -- per labeler, per pair -------------------------------------------------------------------
def multi_labelled(labels: pd.DataFrame) -> pd.DataFrame:
    """The label rows of messages with at least two labels."""
    sizes = labels.groupby("message_id")["label"].transform("size")
    return labels[sizes >= 2]


def pair_stats(labels: pd.DataFrame) -> pd.DataFrame:
    """Per labeler pair: messages both labelled, agreement, Cohen's kappa, confusion counts
    (``a_ham_b_spam`` = labeler a said ham where b said spam, ...)."""
    wide = multi_labelled(labels).pivot(index="message_id", columns="labeler_id", values="label")
    rows = []
    labelers = sorted(wide.columns)
    for i, a in enumerate(labelers):
        for b in labelers[i + 1:]:
            both = wide[[a, b]].dropna()
            row = {"labeler_a": a, "labeler_b": b, "n": len(both),
                   "agreement": float((both[a] == both[b]).mean()) if len(both) else float("nan"),
                   "cohen_kappa": cohen_kappa(both[a], both[b])}
            for ca in CLASSES:
                for cb in CLASSES:
                    row[f"a_{ca}_b_{cb}"] = int(((both[a] == ca) & (both[b] == cb)).sum())
            rows.append(row)
    return pd.DataFrame(rows, columns=["labeler_a", "labeler_b", "n", "agreement", "cohen_kappa",
                                       *[f"a_{ca}_b_{cb}" for ca in CLASSES for cb in CLASSES]])


def share_z_test(hits: int, n: int, other_hits: int, other_n: int) -> tuple[float, float]:
    """Two-proportion z-test (pooled): z and the two-sided p-value; nan when undefined."""
    pooled = (hits + other_hits) / (n + other_n) if n + other_n else float("nan")
    variance = pooled * (1 - pooled) * (1 / n + 1 / other_n) if n and other_n else 0.0
    if not variance > 0:
        return float("nan"), float("nan")
    z = (hits / n - other_hits / other_n) / math.sqrt(variance)
    return z, math.erfc(abs(z) / math.sqrt(2))


def labeler_stats(labels: pd.DataFrame) -> pd.DataFrame:
    """Per labeler: labels given; spam share against the other labelers' (z-test: messages are
    assigned to labelers at random, so a share that differs beyond chance is a labeling habit,
    seen even where few messages are shared); on multi-labelled messages, the agreement and
    Cohen's kappa with the leave-one-out majority of the other labels, and the direction of
    the disagreements (said spam where the others said ham, and the reverse)."""
    multi = multi_labelled(labels)
    ids, counts = label_counts(multi, min_labels=2)
    by_message = pd.DataFrame(counts, index=ids, columns=list(CLASSES))
    own = multi.join(by_message, on="message_id")
    others = {c: own[c] - (own["label"] == c) for c in CLASSES}
    other_ham, other_spam = others["ham"].to_numpy(), others["spam"].to_numpy()
    majority = np.where(other_spam > other_ham, "spam", np.where(other_ham > other_spam, "ham", None))
    own = own.assign(others_majority=majority)
    rows = []
    spam = labels["label"] == "spam"
    for labeler, group in labels.groupby("labeler_id"):
        mine = own[(own["labeler_id"] == labeler) & own["others_majority"].notna()]
        other = ~labels["labeler_id"].eq(labeler)
        z, p = share_z_test(int((group["label"] == "spam").sum()), len(group), int(spam[other].sum()), int(other.sum()))
        rows.append({
            "labeler_id": labeler, "labels": len(group), "spam_share": float((group["label"] == "spam").mean()),
            "spam_share_z": z, "spam_share_p": p, "n_compared": len(mine),
            "agreement_with_others": float((mine["label"] == mine["others_majority"]).mean()) if len(mine)
            else float("nan"),
            "kappa_with_others": cohen_kappa(mine["label"], mine["others_majority"]),
            "spam_where_others_ham": int(((mine["label"] == "spam") & (mine["others_majority"] == "ham")).sum()),
            "ham_where_others_spam": int(((mine["label"] == "ham") & (mine["others_majority"] == "spam")).sum()),
        })
    return pd.DataFrame(rows, columns=["labeler_id", "labels", "spam_share", "spam_share_z", "spam_share_p",
                                       "n_compared", "agreement_with_others", "kappa_with_others",
                                       "spam_where_others_ham", "ham_where_others_spam"])


def labeler_reliability(labels: pd.DataFrame) -> dict[str, float]:
    """Agreement with the others per labeler (0.5, a coin, for one never compared)."""
    stats = labeler_stats(labels)
    return {r.labeler_id: (0.5 if np.isnan(r.agreement_with_others) else r.agreement_with_others)
            for r in stats.itertuples()}


def disagreements(labels: pd.DataFrame) -> pd.DataFrame:
    """Messages whose labels differ: ``message_id, text, labels`` (``labeler=label;...``)."""
    multi = multi_labelled(labels)
    differ = multi.groupby("message_id")["label"].transform("nunique") > 1
    rows = multi[differ]
    joined = (rows["labeler_id"] + "=" + rows["label"]).groupby(rows["message_id"]).agg(";".join)
    texts = rows.groupby("message_id")["text"].first()
    return pd.DataFrame({"message_id": joined.index, "text": texts.loc[joined.index].to_numpy(),
                         "labels": joined.to_numpy()}).reset_index(drop=True)


def resolve_labels(labels: pd.DataFrame) -> pd.DataFrame:
    """One label per message by the rule of the module docstring: ``message_id, text, label,
    n_labels, resolution`` (``single``, ``unanimous``, ``majority`` or ``tie:<labeler>``)."""
    reliability = labeler_reliability(labels)
    ids, counts = label_counts(labels)
    frame = pd.DataFrame(counts, columns=list(CLASSES))
    frame.insert(0, "message_id", ids)
    n = counts.sum(axis=1)
    winner = np.asarray(CLASSES, dtype=object)[counts.argmax(axis=1)]
    tie = counts.max(axis=1) * 2 == n  # two classes: a tie is an even split
    resolution = np.where(n == 1, "single", np.where(counts.max(axis=1) == n, "unanimous", "majority")).astype(object)
    if tie.any():
        ranked = labels.assign(score=labels["labeler_id"].map(reliability))
        # Most reliable first; the labeler id breaks equal reliabilities deterministically.
        ranked = ranked.sort_values(["score", "labeler_id"], ascending=[False, True], kind="stable")
        top = ranked.drop_duplicates("message_id").set_index("message_id")
        tied_ids = ids[tie]
        winner[tie] = top.loc[tied_ids, "label"].to_numpy()
        resolution[tie] = ("tie:" + top.loc[tied_ids, "labeler_id"]).to_numpy()
    texts = labels.drop_duplicates("message_id").set_index("message_id")["text"]
    return pd.DataFrame({"message_id": ids, "text": texts.loc[ids].to_numpy(), "label": winner,
                         "n_labels": n.astype(np.int64), "resolution": resolution})


# -- the agreement report ----------------------------------------------------------------------


@dataclass
class AgreementReport:
    """Everything ``user_pipeline.labels.agreement`` reports about one labels version."""

    overall: dict[str, float | int | None]
    classes: pd.DataFrame
    labelers: pd.DataFrame
    pairs: pd.DataFrame
    disagreements: pd.DataFrame
    min_agreement: float

    @property
    def flags(self) -> list[str]:
        """What falls below ``min_agreement``: classes, labelers and labeler pairs."""
        out = [f"class {r.label}: specific agreement {r.specific_agreement:.3f}"
               for r in self.classes.itertuples() if r.below_min_agreement]
        out += [f"labeler {r.labeler_id}: kappa with the others {r.kappa_with_others:.3f}"
                for r in self.labelers.itertuples() if r.below_min_agreement]
        out += [f"pair {r.labeler_a}~{r.labeler_b}: Cohen's kappa {r.cohen_kappa:.3f} on {r.n} messages"
                for r in self.pairs.itertuples() if r.below_min_agreement]
        return out

    def to_table(self) -> pa.Table:
        """The long table committed as ``reference.spam_label_agreement`` (``AGREEMENT_STATS``)."""
        rows = []

        def add(section, subject, metric, value, n, below=False, text=None, labels=None):
            value = None if value is None or (isinstance(value, float) and np.isnan(value)) else float(value)
            rows.append((section, subject, metric, value, int(n), bool(below), text, labels))

        n_multi = int(self.overall["messages_multi_labelled"])
        for metric in ("observed_agreement", "krippendorff_alpha", "fleiss_kappa"):
            add("overall", "all", metric, self.overall[metric], n_multi)
        for key in ("messages", "messages_multi_labelled", "messages_in_disagreement"):
            add("overall", "all", key, self.overall[key], self.overall[key])
        for r in self.classes.itertuples():
            add("class", r.label, "specific_agreement", r.specific_agreement, r.labels, r.below_min_agreement)
        for r in self.labelers.itertuples():
            for metric in ("agreement_with_others", "kappa_with_others"):
                add("labeler", r.labeler_id, metric, getattr(r, metric), r.n_compared,
                    metric == "kappa_with_others" and r.below_min_agreement)
            add("labeler", r.labeler_id, "spam_share", r.spam_share, r.labels)
            add("labeler", r.labeler_id, "spam_share_z", r.spam_share_z, r.labels)
            add("labeler", r.labeler_id, "spam_share_p", r.spam_share_p, r.labels)
            add("labeler", r.labeler_id, "spam_where_others_ham", r.spam_where_others_ham, r.n_compared)
            add("labeler", r.labeler_id, "ham_where_others_spam", r.ham_where_others_spam, r.n_compared)
        for r in self.pairs.itertuples():
            subject = f"{r.labeler_a}~{r.labeler_b}"
            add("pair", subject, "agreement", r.agreement, r.n)
            add("pair", subject, "cohen_kappa", r.cohen_kappa, r.n, r.below_min_agreement)
            for ca in CLASSES:
                for cb in CLASSES:
                    add("confusion", subject, f"a_{ca}_b_{cb}", getattr(r, f"a_{ca}_b_{cb}"), r.n)
        for r in self.disagreements.itertuples():
            add("disagreement", r.message_id, "labels", None, len(r.labels.split(";")), False, r.text, r.labels)
        return pa.Table.from_pylist([dict(zip(AGREEMENT_STATS.names, row, strict=True)) for row in rows],
                                    schema=AGREEMENT_STATS)


def agreement_report(labels: pd.DataFrame, min_agreement: float) -> AgreementReport:
    """Agreement of a validated labels table (see the module docstring), flagged against
    ``min_agreement`` (kappa per labeler and pair, specific agreement per class)."""
    ids, counts = label_counts(labels, min_labels=2)
    sizes = counts.sum(axis=1)
    same_size = len(counts) > 0 and sizes.min() == sizes.max()
    overall = {
        "messages": int(labels["message_id"].nunique()),
        "messages_multi_labelled": len(ids),
        "messages_in_disagreement": int((counts.max(axis=1) < sizes).sum()) if len(ids) else 0,
        "observed_agreement": observed_agreement(counts) if len(ids) else None,
        "krippendorff_alpha": krippendorff_alpha_nominal(counts) if len(ids) else None,
        "fleiss_kappa": fleiss_kappa(counts) if same_size else None,
    }
    specific = specific_agreement(counts) if len(ids) else np.full(len(CLASSES), np.nan)
    classes = pd.DataFrame({"label": list(CLASSES), "labels": counts.sum(axis=0) if len(ids) else 0,
                            "specific_agreement": specific})
    classes["below_min_agreement"] = classes["specific_agreement"] < min_agreement
    labelers = labeler_stats(labels)
    labelers["below_min_agreement"] = labelers["kappa_with_others"] < min_agreement
    pairs = pair_stats(labels)
    pairs["below_min_agreement"] = pairs["cohen_kappa"] < min_agreement
    return AgreementReport(overall, classes, labelers, pairs, disagreements(labels), min_agreement)


# -- confident learning ------------------------------------------------------------------------
@dataclass
class ConfidentLearning:
    """Result of ``confident_learning`` (indices refer to the input rows)."""

    thresholds: np.ndarray          # per class: mean p_j over rows labelled j
    confident_joint: np.ndarray     # [given label, confident class] counts
    suggested: np.ndarray           # confident class per row (-1: confident in none)
    self_confidence: np.ndarray     # p of the given label
    issues: np.ndarray              # row indices off the diagonal, lowest self-confidence first


def confident_learning(given: np.ndarray, probabilities: np.ndarray) -> ConfidentLearning:
    """Confident learning on integer labels ``given`` and out-of-fold ``probabilities``
    ([n, k], rows sum to 1); see the module docstring."""
    given = np.asarray(given, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    n, k = probabilities.shape
    if len(given) != n:
        raise ValueError("given labels and probabilities differ in length")
    thresholds = np.array([probabilities[given == j, j].mean() if (given == j).any() else np.inf
                           for j in range(k)])
    above = probabilities >= thresholds[None, :]
    masked = np.where(above, probabilities, -np.inf)
    suggested = np.where(above.any(axis=1), masked.argmax(axis=1), -1)
    joint = np.zeros((k, k), dtype=np.int64)
    confident = suggested >= 0
    np.add.at(joint, (given[confident], suggested[confident]), 1)
    self_confidence = probabilities[np.arange(n), given]
    off = np.flatnonzero(confident & (suggested != given))
    order = off[np.lexsort((off, self_confidence[off]))]  # lowest self-confidence, then row order
    return ConfidentLearning(thresholds, joint, suggested, self_confidence, order)


def text_groups(texts: pd.Series) -> np.ndarray:
    """Group id per text, equal for texts that are the same after trimming and lower-casing,
    so cross-validation never scores a message with a model that saw its duplicate."""
    key = texts.astype("string").fillna("").str.strip().str.lower()
    return pd.factorize(key)[0]


def review_candidates(labels: pd.DataFrame, resolved: pd.DataFrame, spam_probability: np.ndarray) -> pa.Table:
    """Label rows confident learning flags, ranked (``REVIEWS``). ``spam_probability`` is the
    out-of-fold P(spam) of each message of ``resolved`` (same order); every label row of a
    message gets its message's probability."""
    p = pd.Series(np.asarray(spam_probability, dtype=np.float64), index=resolved["message_id"].to_numpy())
    rows = labels.reset_index(drop=True)
    p_spam = p.loc[rows["message_id"]].to_numpy()
    probabilities = np.column_stack([1 - p_spam, p_spam])
    given = (rows["label"] == "spam").to_numpy(dtype=np.int64)
    found = confident_learning(given, probabilities)
    idx = found.issues
    meta = resolved.set_index("message_id")
    flagged = rows.iloc[idx]
    return pa.table({
        "rank": np.arange(1, len(idx) + 1, dtype=np.int64),
        "message_id": flagged["message_id"].tolist(),
        "labeler_id": flagged["labeler_id"].tolist(),
        "text": flagged["text"].tolist(),
        "given_label": flagged["label"].tolist(),
        "suggested_label": [CLASSES[j] for j in found.suggested[idx]],
        "self_confidence": found.self_confidence[idx],
        "suggested_probability": probabilities[idx, found.suggested[idx]],
        "resolved_label": meta.loc[flagged["message_id"], "label"].tolist(),
        "n_labels": meta.loc[flagged["message_id"], "n_labels"].to_numpy(dtype=np.int64),
        "corrected_label": pa.nulls(len(idx), pa.string()),
    }, schema=REVIEWS)


# -- corrections -------------------------------------------------------------------------------


def reviewed_corrections(reviews: pd.DataFrame, labels: pd.DataFrame, decided_by: str) -> pd.DataFrame:
    """Reviewer decisions -> corrections (``transforms.schema.CORRECTIONS`` columns). ``reviews`` needs
    ``message_id``, ``labeler_id`` and ``corrected_label``; a blank ``corrected_label`` confirms
    the label as it is (no correction); ``reviewer`` and ``note`` are optional. Errors on unknown
    label values, duplicate keys, and keys that are not label rows of ``labels``."""
    missing = [c for c in ("message_id", "labeler_id", "corrected_label") if c not in reviews.columns]
    if missing:
        raise LabelError(f"reviews lack column(s) {missing}; found {list(reviews.columns)}")
    reviews = reviews.copy()
    for column in ("message_id", "labeler_id"):
        reviews[column] = reviews[column].astype("string").str.strip()
        if reviews[column].isna().any() or (reviews[column] == "").any():
            raise LabelError(f"reviews: {int(reviews[column].isna().sum())} row(s) without {column}")
    decided = reviews["corrected_label"].astype("string").str.strip().replace("", pd.NA).notna()
    reviews = reviews[decided.to_numpy()].copy()
    reviews["corrected_label"] = normalise_labels(reviews["corrected_label"], "corrected_label")
    dup = reviews.duplicated(["message_id", "labeler_id"], keep=False)
    if dup.any():
        keys = reviews.loc[dup, ["message_id", "labeler_id"]].drop_duplicates().to_numpy()
        raise LabelError("reviews decide the same label row more than once: " + _examples(map(tuple, keys)))
    current = labels.set_index(["message_id", "labeler_id"])["label"]
    keys = pd.MultiIndex.from_frame(reviews[["message_id", "labeler_id"]].astype(str))
    unknown = ~keys.isin(current.index)
    if unknown.any():
        raise LabelError(f"{int(unknown.sum())} reviewed row(s) are not label rows of this version: "
                         + _examples(keys[unknown]))
    old = current.loc[keys].to_numpy()
    change = old != reviews["corrected_label"].to_numpy()
    optional = {c: (reviews[c].astype("string").astype(object).where(reviews[c].notna(), None).to_numpy()
                    if c in reviews.columns else np.full(len(reviews), None, dtype=object))
                for c in ("reviewer", "note")}
    out = pd.DataFrame({
        "message_id": reviews["message_id"].astype(str).to_numpy(),
        "labeler_id": reviews["labeler_id"].astype(str).to_numpy(),
        "old_label": old, "new_label": reviews["corrected_label"].to_numpy(),
        "decided_by": decided_by, "reviewer": optional["reviewer"], "note": optional["note"],
    })
    return out[change].sort_values(["message_id", "labeler_id"]).reset_index(drop=True)


def top_k_corrections(candidates: pd.DataFrame, k: int) -> pd.DataFrame:
    """Accept the suggested label of the ``k`` best-ranked candidates (no human review)."""
    top = candidates.sort_values("rank").head(k)
    return pd.DataFrame({
        "message_id": top["message_id"].to_numpy(), "labeler_id": top["labeler_id"].to_numpy(),
        "old_label": top["given_label"].to_numpy(), "new_label": top["suggested_label"].to_numpy(),
        "decided_by": f"accept-top-{k}", "reviewer": None, "note": None,
    }).sort_values(["message_id", "labeler_id"]).reset_index(drop=True)


def apply_corrections(labels: pa.Table, corrections: pd.DataFrame) -> pa.Table:
    """The labels table with each corrected row's label replaced; schema and rows unchanged."""
    frame = labels.to_pandas()
    new = corrections.set_index(["message_id", "labeler_id"])["new_label"]
    keys = pd.MultiIndex.from_frame(frame[["message_id", "labeler_id"]].astype(str))
    hit = keys.isin(new.index)
    if int(hit.sum()) != len(new):
        raise LabelError(f"{len(new) - int(hit.sum())} correction(s) match no label row")
    frame.loc[hit, "label"] = new.loc[keys[hit]].to_numpy()
    return pa.Table.from_pandas(frame, schema=labels.schema, preserve_index=False)
