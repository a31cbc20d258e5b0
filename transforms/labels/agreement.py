"""Labeler agreement over messages with two or more labels, and the agreement report."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from transforms.labels.spec import compare_rounds, round_figures, spec_coverage
from transforms.labels.validate import CLASSES
from transforms.schema import AGREEMENT_STATS

if TYPE_CHECKING:
    from transforms.labels.labelers import LabelerModel


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
    """Cohen's kappa of two raters' labels on the same items (``sklearn.metrics.cohen_kappa_score``).
    1.0 when both raters use one and the same class only (perfect agreement, nothing for chance
    to explain; scikit-learn answers nan there); nan for no items."""
    from sklearn.metrics import cohen_kappa_score

    a, b = np.asarray(a, dtype=object), np.asarray(b, dtype=object)
    if len(a) != len(b):
        raise ValueError("cohen_kappa needs two label sequences of the same length")
    if len(a) == 0:
        return float("nan")
    if len(set(a) | set(b)) == 1:
        return 1.0
    return float(cohen_kappa_score(a, b, labels=list(classes)))


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa; every row (item) must hold the same number of ratings (>= 2).

    Written here rather than taken from ``statsmodels.stats.inter_rater.fleiss_kappa``, which gives
    the same values (the tests check both examples against it by hand) but would add statsmodels
    (65 MB, plus patsy, formulaic and interface-meta; 1.1 s to import) for these eight lines."""
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
    """Krippendorff's alpha for nominal data from per-item category counts (``krippendorff.alpha``;
    any number of ratings per item; items with fewer than two are not pairable and left out).
    nan without a pairable item; 1.0 when a single category is used throughout (no disagreement
    observed or expected; the library answers nan there)."""
    import krippendorff

    counts = np.asarray(counts, dtype=np.float64)
    counts = counts[counts.sum(axis=1) >= 2]
    if len(counts) == 0:
        return float("nan")
    if (counts.sum(axis=0) > 0).sum() < 2:
        return 1.0
    return float(krippendorff.alpha(value_counts=counts, level_of_measurement="nominal"))


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
    model: LabelerModel               # Dawid-Skene: each labeler's accuracy, each message's posterior
    spec_version: str | None = None   # the label spec the labels were labelled under (the latest, if several)
    coverage: pd.DataFrame | None = None    # per spec item: the disagreements it leaves (transforms.labels.spec)
    before_version: str | None = None       # the labels version under an earlier spec, compared with
    comparison: pd.DataFrame | None = None  # metric, before, after, change

    def figures(self) -> dict[str, float]:
        """The figures a before/after comparison sets side by side."""
        return round_figures({**self.overall, "expected_accuracy": self.model.expected_accuracy},
                             self.model.labelers, self.coverage)

    @property
    def flags(self) -> list[str]:
        """What falls below ``min_agreement``: classes, labelers and labeler pairs."""
        out = [f"class {r.label}: specific agreement {r.specific_agreement:.3f}"
               for r in self.classes.itertuples() if r.below_min_agreement]
        out += [f"labeler {r.labeler_id}: kappa with the others {r.kappa_with_others:.3f}"
                for r in self.labelers.itertuples() if r.below_min_agreement]
        out += [f"pair {r.labeler_a}~{r.labeler_b}: Cohen's kappa {r.cohen_kappa:.3f} on {r.n} messages"
                for r in self.pairs.itertuples() if r.below_min_agreement]
        out += [f"labeler {r.labeler_id}: {r.worst_error} rate {r.error_rate:.3f} against {r.others_error_rate:.3f} "
                f"for the others (z {r.z:+.1f}; Dawid-Skene estimates, accuracy {r.accuracy:.3f})"
                for r in self.model.labelers.itertuples() if r.outlier]
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
        add("overall", "all", "expected_accuracy", self.model.expected_accuracy, len(self.model.messages))
        for r in self.model.labelers.itertuples():
            add("labeler", r.labeler_id, "estimated_accuracy", r.accuracy, r.labels)
            add("labeler", r.labeler_id, f"error_rate_{r.worst_error}", r.error_rate, r.labels, r.outlier)
            add("labeler", r.labeler_id, f"error_rate_z_{r.worst_error}", r.z, r.labels, r.outlier)
            for true in CLASSES:
                for said in CLASSES:
                    add("labeler", r.labeler_id, f"p_{true}_{said}", getattr(r, f"p_{true}_{said}"), r.labels)
        for r in self.model.messages.itertuples():
            add("posterior", r.message_id, "p_spam", r.p_spam, r.n_labels, labels=r.label)
        for r in (self.coverage.itertuples() if self.coverage is not None else ()):
            add("spec", r.item_id, "disagreements", r.disagreements, r.disagreements, not r.settled, r.text, r.label)
        for r in (self.comparison.itertuples() if self.comparison is not None else ()):
            for side in ("before", "after"):
                add("comparison", f"{side}:{self.before_version if side == 'before' else 'this'}", r.metric,
                    getattr(r, side), 0)
        for r in self.disagreements.itertuples():
            add("disagreement", r.message_id, "labels", None, len(r.labels.split(";")), False, r.text, r.labels)
        return pa.Table.from_pylist([dict(zip(AGREEMENT_STATS.names, row, strict=True)) for row in rows],
                                    schema=AGREEMENT_STATS)


def agreement_report(labels: pd.DataFrame, min_agreement: float, spec: pd.DataFrame | None = None,
                     before: tuple[str, AgreementReport] | None = None) -> AgreementReport:
    """Agreement of a validated labels table (see the module docstring), flagged against
    ``min_agreement`` (kappa per labeler and pair, specific agreement per class). With the label
    ``spec`` (``transforms.labels.spec.validate_spec``) the disagreements it leaves per item; with
    ``before`` (a labels version and its report under an earlier spec), the two side by side."""
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
    from transforms.labels.labelers import dawid_skene  # labelers uses this module's z-test

    found = disagreements(labels)
    versions = sorted({v for v in labels.get("spec_version", pd.Series(dtype=object)) if v})
    report = AgreementReport(overall, classes, labelers, pairs, found, min_agreement, dawid_skene(labels),
                             versions[-1] if versions else None,
                             spec_coverage(spec, found) if spec is not None else None)
    if before is not None:
        report.before_version = before[0]
        report.comparison = compare_rounds(before[1].figures(), report.figures())
    return report
