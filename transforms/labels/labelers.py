"""Labeler performance and label confidence without gold labels: the Dawid–Skene model.

Dawid & Skene (1979): each message has an unknown true class ``c`` (prior ``pi_c``); each
labeler ``l`` answers ``k`` with probability ``theta_l[c, k]`` (their confusion matrix),
independently of the other labelers given the true class. EM from the majority vote: the
E-step gives every message its posterior over the classes (label-wise confidence), the M-step
the priors and confusion matrices from the posteriors (with ``smoothing`` pseudo-counts, so a
labeler who never saw a class still gets a usable row: a labeler of ``n`` messages is pulled
towards ``accuracy_prior``). A labeler's accuracy is the expected share of their labels that
are right, ``mean_i P(true_i = their label_i)``; the set's expected accuracy is the mean
posterior of the class each message resolves to (``label``, the posterior's argmax).

A labeler is singled out (``outlier``) by the direction of their errors, not their overall
accuracy, on the messages labelled more than once (where the other labels, not the labeler's own
confusion matrix, decide the posterior: a labeler seen only alone would be judged by the
model's prior of them): for each error cell (true ``c``, said ``k != c``) their estimated rate
``sum_i P(c | i) [said k] / sum_i P(c | i)`` against the other labelers' pooled rate, by the
two-proportion z-test (``share_z_test``); an outlier errs more than the others in some cell with
``p < alpha``. A habit such as calling promotional ham spam touches few messages, so it hardly
moves the accuracy (on the generated labels the biased labeler's is 0.95 against 0.97-0.98,
within seed-to-seed variation) but stands out in its cell (z 4 to 9 over ten seeds; no other
labeler above 1.5).

Written here, not taken from crowd-kit (``crowdkit.aggregation.DawidSkene``): crowd-kit 1.4.2
installs transformers, tokenizers, huggingface-hub, hf-xet, safetensors, kernels and nltk with
it (11 new packages), for 60 lines of EM on two-class counts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from transforms.labels.agreement import share_z_test
from transforms.labels.validate import CLASSES


@dataclass
class LabelerModel:
    """What ``dawid_skene`` estimates from one labels table."""

    labelers: pd.DataFrame     # labeler_id, labels, accuracy, p_<true>_<said> (confusion), worst_error, ...
    messages: pd.DataFrame     # message_id, n_labels, label (posterior argmax), confidence, p_<class>
    priors: np.ndarray         # per class: the share of messages of that class
    iterations: int
    converged: bool

    @property
    def expected_accuracy(self) -> float:
        """Expected share of messages whose resolved label (``messages.label``) is right."""
        return float(self.messages["confidence"].mean()) if len(self.messages) else float("nan")

    def confusion(self, labeler: str) -> np.ndarray:
        """The labeler's confusion matrix: [true class, said class], rows sum to one."""
        row = self.labelers.set_index("labeler_id").loc[labeler]
        return np.array([[row[f"p_{t}_{s}"] for s in CLASSES] for t in CLASSES], dtype=np.float64)


def dawid_skene(labels: pd.DataFrame, max_iterations: int = 500, tolerance: float = 1e-6,
                smoothing: float = 1.0, accuracy_prior: float = 0.9, alpha: float = 0.001) -> LabelerModel:
    """Fit the model of the module docstring to validated labels (``message_id, label,
    labeler_id``). ``smoothing`` pseudo-labels per class row are spread as ``accuracy_prior`` on
    the diagonal and the rest evenly; ``alpha`` singles labelers out (module docstring). EM stops
    when an iteration raises the log-likelihood of the labels by less than ``tolerance`` (nats,
    over the whole table)."""
    k = len(CLASSES)
    message_ids, item = np.unique(labels["message_id"].to_numpy(dtype=object), return_inverse=True)
    labeler_ids, who = np.unique(labels["labeler_id"].to_numpy(dtype=object), return_inverse=True)
    said = pd.Categorical(labels["label"], categories=list(CLASSES)).codes.astype(np.int64)
    if (said < 0).any():
        raise ValueError(f"labels must be one of {list(CLASSES)}")
    n_items, n_labelers = len(message_ids), len(labeler_ids)
    pseudo = smoothing * np.where(np.eye(k, dtype=bool), accuracy_prior, (1 - accuracy_prior) / max(k - 1, 1))

    posterior = np.zeros((n_items, k))
    theta = np.tile(pseudo / pseudo.sum(axis=1, keepdims=True), (n_labelers, 1, 1))
    np.add.at(posterior, (item, said), 1.0)
    posterior /= posterior.sum(axis=1, keepdims=True)  # start from the (soft) majority vote
    converged, iteration, likelihood = False, 0, -np.inf
    priors = np.full(k, 1.0 / k)
    counts = np.zeros((n_labelers, k, k))
    for iteration in range(1, max_iterations + 1 if n_items else 1):  # noqa: B007 (reported)
        priors = (posterior.sum(axis=0) + 1.0) / (n_items + k)
        counts = np.zeros((n_labelers, k, k))
        np.add.at(counts, (who, slice(None), said), posterior[item])  # counts[l, true, said]
        theta = counts + pseudo[None]
        theta /= theta.sum(axis=2, keepdims=True)
        log_post = np.tile(np.log(priors), (n_items, 1))
        np.add.at(log_post, item, np.log(theta[who, :, said]))
        top = log_post.max(axis=1, keepdims=True)
        posterior = np.exp(log_post - top)
        total = posterior.sum(axis=1, keepdims=True)
        posterior /= total
        previous, likelihood = likelihood, float((top + np.log(total)).sum())
        if likelihood - previous < tolerance:
            converged = True
            break

    right = posterior[item, said]  # P(the label is the true class), per label row
    per_labeler = np.bincount(who, minlength=n_labelers)
    labeler_frame = pd.DataFrame({"labeler_id": labeler_ids, "labels": per_labeler,
                                  "accuracy": np.bincount(who, weights=right, minlength=n_labelers)
                                  / np.maximum(per_labeler, 1)})
    for t, true in enumerate(CLASSES):
        for s, answer in enumerate(CLASSES):
            labeler_frame[f"p_{true}_{answer}"] = theta[:, t, s]
    shared = np.bincount(item, minlength=n_items)[item] > 1
    habits = np.zeros((n_labelers, k, k))
    np.add.at(habits, (who[shared], slice(None), said[shared]), posterior[item[shared]])
    labeler_frame = labeler_frame.join(_error_habits(habits, alpha))
    best = posterior.argmax(axis=1) if n_items else np.zeros(0, dtype=np.int64)
    message_frame = pd.DataFrame({"message_id": message_ids, "n_labels": np.bincount(item, minlength=n_items),
                                  "label": np.asarray(CLASSES, dtype=object)[best],
                                  "confidence": posterior[np.arange(n_items), best]})
    for c, name in enumerate(CLASSES):
        message_frame[f"p_{name}"] = posterior[:, c]
    return LabelerModel(labeler_frame, message_frame, priors, iteration, converged)


def _error_habits(counts: np.ndarray, alpha: float) -> pd.DataFrame:
    """Per labeler (rows of ``counts[l, true, said]``, expected counts): the error cell where they
    differ most from the other labelers (largest z), its rate, the others' rate, z, p, outlier."""
    k = counts.shape[1]
    rows = []
    for labeler in range(counts.shape[0]):
        others = counts.sum(axis=0) - counts[labeler]
        best = ("", float("nan"), float("nan"), float("nan"), float("nan"))
        for true in range(k):
            n, other_n = counts[labeler, true].sum(), others[true].sum()
            for said in range(k):
                if said == true:
                    continue
                z, p = share_z_test(counts[labeler, true, said], n, others[true, said], other_n)
                if not np.isnan(z) and (np.isnan(best[3]) or z > best[3]):
                    best = (f"{CLASSES[true]}->{CLASSES[said]}", counts[labeler, true, said] / n,
                            others[true, said] / other_n, z, p)
        rows.append(dict(zip(("worst_error", "error_rate", "others_error_rate", "z", "p"), best, strict=True)))
    frame = pd.DataFrame(rows, columns=["worst_error", "error_rate", "others_error_rate", "z", "p"])
    frame["outlier"] = (frame["z"] > 0) & (frame["p"] < alpha)
    return frame
