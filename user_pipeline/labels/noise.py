"""Label-noise detection (confident learning) and reviewed fixes of ``reference.spam_labels``.

Detect: rank the label rows most likely wrong and commit them for review::

    python -m user_pipeline.labels.noise --labels-version v1 [--config ...] [--force]

Out-of-fold P(spam) per message from the spam filter's own text model (``spam.cv_folds``
stratified folds, grouped by text so duplicates never straddle a fold), then confident learning
on every label row (``transforms.labels.confident_learning``). Commits
``reference.spam_label_reviews`` version=<labels version> (``transforms.schema.REVIEWS``, ranked,
best candidate first) and writes ``<data_root>/reports/labels/spam_label_reviews_<version>.csv``,
a template with an empty ``corrected_label`` column for reviewers.

Reviewed decisions on the candidates become a new labels version through
``python -m user_pipeline.labels.fix``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from transforms.labels import resolve_labels, review_candidates
from user_pipeline.config import PipelineConfig
from user_pipeline.labels.common import label_arguments, labels_plan, write_report
from user_pipeline.steps.harness import Job, StepContext
from user_pipeline.training.spam_filter import cross_validated_probability, load_labels

NAME = "user_pipeline.labels.noise"
REVIEWS = "reference.spam_label_reviews"
log = logging.getLogger(NAME)


def detect(labels: pd.DataFrame, cfg: PipelineConfig) -> tuple[pa.Table, pd.DataFrame]:
    """Ranked review candidates (``REVIEWS``) of validated labels, and the resolved labels."""
    resolved = resolve_labels(labels)
    probability = cross_validated_probability(resolved["text"], resolved["label"], cfg)
    return review_candidates(labels, resolved, probability), resolved


def compute(ctx: StepContext) -> str:
    """Commit the review candidates of one labels version and write the reviewers' template."""
    (labels_manifest,) = ctx.plan.inputs
    version = labels_manifest.ref.value
    _, labels = load_labels(ctx.catalog, version)
    candidates, _ = detect(labels, ctx.cfg)
    frame = candidates.to_pandas()
    per_labeler = frame["labeler_id"].value_counts().to_dict()
    rows_per_labeler = labels["labeler_id"].value_counts()
    extra = {
        "label_rows": len(labels), "candidates": len(frame),
        "candidates_per_labeler": {k: int(v) for k, v in per_labeler.items()},
        "candidate_rate_per_labeler": {k: round(per_labeler.get(k, 0) / int(n), 4)
                                       for k, n in rows_per_labeler.items()},
        "given_to_suggested": {f"{a}->{b}": int(n) for (a, b), n in
                               frame.groupby(["given_label", "suggested_label"]).size().items()},
        "cv_folds": ctx.cfg.spam.cv_folds,
    }
    ctx.write_table(REVIEWS, version, candidates, extra=extra)
    uri = write_report(ctx.catalog, f"spam_label_reviews_{version}.csv", frame.to_csv(index=False).encode())
    for r in frame.head(10).itertuples():
        print(f"  #{r.rank} {r.message_id} {r.labeler_id}: {r.given_label} -> {r.suggested_label} "
              f"(p given {r.self_confidence:.3f}) {r.text[:80]!r}")
    return (f"{REVIEWS} version={version}: {len(frame)} of {len(labels)} label rows look mislabelled "
            f"(per labeler: {extra['candidate_rate_per_labeler']}); review template: {uri}")


JOB = Job(NAME, compute, plan=labels_plan(REVIEWS), arguments=label_arguments, ds_required=False,
          integration="PYTHON")
run, main = JOB.run, JOB.main


def precision_at_k(ranked_keys: Sequence, wrong: set, k: int) -> float:
    """Share of the first ``k`` ranked candidates that are truly wrong (nan for k = 0)."""
    top = list(ranked_keys)[:k]
    return float(np.mean([key in wrong for key in top])) if top else float("nan")


if __name__ == "__main__":
    JOB.exit()
