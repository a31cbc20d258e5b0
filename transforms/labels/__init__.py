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
``sum_i n_ic (n_ic - 1) / sum_i n_ic (m_i - 1)``), Cohen's kappa per labeler pair
(scikit-learn), Fleiss' kappa (when every message has the same number of labels; our eight
lines, see ``fleiss_kappa``) and Krippendorff's alpha (nominal, any number of labels per
message; the ``krippendorff`` package), per-labeler agreement and kappa with the others (the
leave-one-out majority: with two labels per message, the other labeler's label; messages whose
other labels tie are not counted).

**Labeler performance and label confidence** (``dawid_skene``, ``transforms.labels.labelers``):
the Dawid–Skene model fitted by EM to all labels: each labeler's confusion matrix and expected
accuracy, each message's posterior over the classes, the expected accuracy of the set, and the
labeler whose errors in one direction stand out against the others' (z-test).

**Confident learning** (``confident_learning``; Northcutt et al. 2021, computed by cleanlab): given out-of-fold
predicted probabilities, class thresholds ``t_j`` = the mean probability of class ``j`` over
the examples labelled ``j``; an example is *confidently* of class ``j`` when ``p_j >= t_j``
(argmax among such classes); the confident joint counts (given label, confident class); the
off-diagonal examples are the likely label errors, ranked by self-confidence (the predicted
probability of the given label, lowest first).
"""

from __future__ import annotations

from transforms.labels.agreement import (
    AgreementReport,
    agreement_report,
    cohen_kappa,
    disagreements,
    fleiss_kappa,
    krippendorff_alpha_nominal,
    label_counts,
    labeler_reliability,
    labeler_stats,
    multi_labelled,
    observed_agreement,
    pair_stats,
    share_z_test,
    specific_agreement,
)
from transforms.labels.corrections import apply_corrections, reviewed_corrections, top_k_corrections
from transforms.labels.labelers import LabelerModel, dawid_skene
from transforms.labels.noise import ConfidentLearning, confident_learning, review_candidates, text_groups
from transforms.labels.resolve import resolve_labels
from transforms.labels.validate import CLASSES, REQUIRED_COLUMNS, LabelError, normalise_labels, validate_labels

__all__ = [
    "AgreementReport",
    "CLASSES",
    "ConfidentLearning",
    "LabelError",
    "LabelerModel",
    "REQUIRED_COLUMNS",
    "agreement_report",
    "apply_corrections",
    "cohen_kappa",
    "confident_learning",
    "dawid_skene",
    "disagreements",
    "fleiss_kappa",
    "krippendorff_alpha_nominal",
    "label_counts",
    "labeler_reliability",
    "labeler_stats",
    "multi_labelled",
    "normalise_labels",
    "observed_agreement",
    "pair_stats",
    "resolve_labels",
    "review_candidates",
    "reviewed_corrections",
    "share_z_test",
    "specific_agreement",
    "text_groups",
    "top_k_corrections",
    "validate_labels",
]
