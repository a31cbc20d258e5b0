"""Train the ID matcher on labelled pairs and commit ``models.id_matcher``.

    python -m user_pipeline.training.id_matcher [--pairs-version v1] [--config ...] [--force] [--ds D]
        [lineage parent options]

Reads ``reference.id_pairs`` version=<pairs version> (default ``id_merge.pairs_version``), turns
each pair into the comparison features of ``transforms.id_merge.compare`` and fits a
``HistGradientBoostingClassifier`` (``id_merge.model``). The decision threshold is the one that
maximises F1 on out-of-fold probabilities (``id_merge.model.cv_folds`` stratified folds), and the
out-of-fold metrics are the model's reported quality.

Why supervised and not Fellegi-Sunter/EM: we have labelled pairs, and the features are
continuous similarities with NaN for "missing". Which classifier (``id_merge.model.kind``) was
chosen by measurement: gradient-boosted trees (NaN routed natively) and a logistic regression
(NaN -> 0 plus missing indicators) both separate the 2,000 generated pairs perfectly out of
fold, so the pairs cannot decide; on 100k generated users (reproducible with
``bench.id_merge_scale --users 100000``:
same blocking, each at its own out-of-fold threshold) the logistic regression merged with F1
0.985 (P 0.972, R 0.998) and the trees with 0.975 (P 0.955, R 0.996): the trees trust one exact
field (same date of birth) too much on pairs unlike the training pairs, the additive model
weighs all the evidence. Both are fitted and measured on every training (metadata). With the hard
negatives of ``reference.id_pairs`` (namesakes) re-measured at 200k users (``bench.id_merge_errors``):
logistic regression F1 0.9952, trees 0.9923; still the logistic regression.

Commits version=<derivation of the pairs version, the code and ``id_merge.model``> with
``model.joblib`` (the fitted classifier) and ``metadata.json`` (features, threshold, metrics);
the pairs version is the run's lineage input. ``model.joblib`` is a pickle: load it only from
the pipeline's own catalog.
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import pandas as pd

from transforms.id_merge import FEATURES, Matcher, pair_features
from user_pipeline.config import IdMatcherModelConfig
from user_pipeline.steps.harness import Job, StepContext
from user_pipeline.steps.models import ID_MATCHER

NAME = "user_pipeline.training.id_matcher"
PAIRS = ID_MATCHER.source
MODEL = ID_MATCHER.dataset
log = logging.getLogger(NAME)


def build_classifier(model: IdMatcherModelConfig):
    """The unfitted gradient-boosted trees (NaN = missing comparison, routed by the trees)."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(max_iter=model.max_iter, learning_rate=model.learning_rate,
                                          max_leaf_nodes=model.max_leaf_nodes, random_state=model.seed)


def _logistic_baseline():
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    return make_pipeline(SimpleImputer(strategy="constant", fill_value=0.0, add_indicator=True),
                         LogisticRegression(max_iter=2000))


def best_threshold(y: np.ndarray, probability: np.ndarray) -> float:
    """A probability cut that maximises F1: the median of all cuts reaching the best F1, so a
    perfectly separated training set does not push the cut to an edge (0.9997...)."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, cuts = precision_recall_curve(y, probability)
    f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
    best = cuts[f1 >= f1.max() - 1e-12]
    return float(np.clip(np.median(best), 1e-6, 1 - 1e-6))


def pair_metrics(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Pairwise precision, recall and F1 with counts."""
    tp = int(((predicted == 1) & (y == 1)).sum())
    fp = int(((predicted == 1) & (y == 0)).sum())
    fn = int(((predicted == 0) & (y == 1)).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def fit_matcher(features: pd.DataFrame, y: np.ndarray, model: IdMatcherModelConfig) -> tuple[Matcher, dict]:
    """Fit ``model.kind`` on all pairs; every kind's threshold and metrics from out-of-fold probabilities."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    # Only comparisons the pairs ever fill: our sources have no address, so those columns are all
    # NaN here (a constant column teaches nothing, and the tree binning refuses all-NaN columns).
    used = tuple(f for f in FEATURES if features[f].nunique(dropna=True) > 1)
    x = features[list(used)].to_numpy(np.float64)
    y = np.asarray(y, dtype=np.int64)
    if len(np.unique(y)) < 2:
        raise ValueError("labelled pairs hold one class only")
    folds = StratifiedKFold(n_splits=model.cv_folds, shuffle=True, random_state=model.seed)
    measured = {}
    for name, estimator in (("hist_gradient_boosting", build_classifier(model)),
                            ("logistic_regression", _logistic_baseline())):
        oof = cross_val_predict(estimator, x, y, cv=folds, method="predict_proba")[:, 1]
        cut = best_threshold(y, oof)
        measured[name] = {"threshold": cut, **pair_metrics(y, (oof >= cut).astype(np.int64))}
    classifier = (build_classifier(model) if model.kind == "hist_gradient_boosting" else _logistic_baseline()).fit(x, y)
    threshold = measured[model.kind]["threshold"]
    return Matcher(classifier, used, threshold), measured


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--pairs-version", help="reference.id_pairs version (default: id_merge.pairs_version)")


def compute(ctx: StepContext) -> str:
    """Train and commit the ID matcher."""
    (pairs_manifest,) = ctx.plan.inputs
    ((_, version),) = ctx.plan.outputs
    settings = ctx.cfg.id_merge.model
    pairs = ctx.catalog.read_table(PAIRS, pairs_manifest.ref.value).to_pandas()
    features = pair_features(pairs)
    matcher, measured = fit_matcher(features, pairs["is_match"].to_numpy(), settings)
    metrics = measured[settings.kind]
    metadata = {"version": version, "pairs": pairs_manifest.ref.to_json(), "features": list(matcher.features),
                "threshold": matcher.threshold, "out_of_fold": measured, "train_pairs": len(pairs),
                "match_share": float(pairs["is_match"].mean()), "model_config": settings.model_dump()}
    ID_MATCHER.commit(ctx, matcher, metadata, extra={
        "pairs_version": pairs_manifest.ref.value, "threshold": matcher.threshold, "out_of_fold": measured,
        "train_pairs": len(pairs), "model_config": settings.model_dump()})
    return (f"{MODEL} version={version}: out-of-fold precision {metrics['precision']:.4f} recall "
            f"{metrics['recall']:.4f} F1 {metrics['f1']:.4f} at threshold {matcher.threshold:.3f} "
            f"({settings.kind}; all measured: {measured})")


JOB = Job(NAME, compute, plan=ID_MATCHER.plan, arguments=arguments, ds_required=False, integration="PYTHON")
run, main = JOB.run, JOB.main

if __name__ == "__main__":
    JOB.exit()
