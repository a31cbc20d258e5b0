"""Train the spam filter's text model on a labels version and commit ``models.spam_filter``.

    python -m user_pipeline.training.spam_filter --labels-version v1 [--config ...] [--force] [--holdout PATH]
        [--ds D] [lineage parent options]

Reads ``reference.spam_labels`` version=<labels version> (validated, one label per message by
``transforms.labels.resolve_labels``), fits the text model of ``transforms.spam`` (why TF-IDF
+ logistic regression and not TFT: see that module), evaluates it on the held-out messages
(``<data_root>/ground_truth/spam_holdout.parquet``: never used for training; a text in both is an
error), and commits ``models.spam_filter`` version=<derivation of the labels version, the
training code and ``spam.model``> with two files: ``model.joblib`` (the fitted scikit-learn
pipeline) and ``metadata.json``; the held-out metrics are in the manifest's ``extra``.

The account signals and the score rule are not part of the model: they are de-spam's
(``beam_jobs.despam``), configured in ``spam.signal_weights`` / ``spam.signals``.

``--ds`` is accepted (and only used as the nominal time of the lineage run) so the DAG's
launcher, which passes every job ``--ds``, can run this one too. ``model.joblib`` is a pickle:
load it only from the pipeline's own catalog.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

import transforms.spam
from lineage.catalog import Catalog, Manifest
from transforms.labels import CLASSES, normalise_labels, resolve_labels, text_groups, validate_labels
from transforms.spam import build_text_model
from user_pipeline.config import PipelineConfig
from user_pipeline.steps.harness import Job, StepContext
from user_pipeline.steps.models import SPAM_FILTER

NAME = "user_pipeline.training.spam_filter"
LABELS = SPAM_FILTER.source
MODEL = SPAM_FILTER.dataset
HOLDOUT = "ground_truth/spam_holdout.parquet"
log = logging.getLogger(NAME)


# -- inputs ------------------------------------------------------------------------------------
def load_labels(catalog: Catalog, version: str) -> tuple[Manifest, pd.DataFrame]:
    """The committed labels version and its validated rows (``transforms.labels.validate_labels``)."""
    manifest = catalog.require(LABELS, version)
    return manifest, validate_labels(catalog.read_table(LABELS, version))


def load_holdout(catalog: Catalog, uri: str | None = None) -> tuple[pd.DataFrame, str]:
    """The held-out messages (``text``, ``label``) and the sha256 of the file."""
    import fsspec

    uri = uri or f"{catalog.root}/{HOLDOUT}"
    fs, path = fsspec.core.url_to_fs(uri)
    if not fs.exists(path):
        raise FileNotFoundError(f"held-out spam messages not found at {uri} "
                                "(user_pipeline.datagen.generate writes them; "
                                "or pass --holdout)")
    with fs.open(path, "rb") as fh:
        payload = fh.read()
    frame = pq.read_table(io.BytesIO(payload)).to_pandas()
    missing = [c for c in ("text", "label") if c not in frame.columns]
    if missing:
        raise ValueError(f"{uri} lacks column(s) {missing}")
    frame = pd.DataFrame({"text": frame["text"].astype("string").fillna("").astype(object),
                          "label": normalise_labels(frame["label"], "held-out label")})
    return frame, hashlib.sha256(payload).hexdigest()[:16]


def check_disjoint(train_texts: pd.Series, holdout_texts: pd.Series) -> None:
    """Refuse to evaluate on texts the model was trained on (after trimming and lower-casing)."""
    key = lambda s: set(s.astype("string").fillna("").str.strip().str.lower())  # noqa: E731
    shared = key(train_texts) & key(holdout_texts)
    if shared:
        raise ValueError(f"{len(shared)} held-out text(s) are also in the training labels, e.g. "
                         f"{sorted(shared)[:3]!r}: the evaluation would not be honest")


# -- fit and evaluate --------------------------------------------------------------------------
def fit_text_model(texts: Sequence[str], labels: Sequence[str], cfg: PipelineConfig):
    """Fit the text model on texts and ``ham``/``spam`` labels (both classes required)."""
    y = (np.asarray(labels, dtype=object) == "spam").astype(np.int64)
    if len(np.unique(y)) < 2:
        raise ValueError(f"training labels hold one class only ({CLASSES[int(y[0])] if len(y) else 'none'})")
    model = build_text_model(cfg.spam.model)
    with transforms.spam.one_thread():
        model.fit(list(texts), y)
    return model


def evaluation_metrics(labels: Sequence[str], probability: np.ndarray, threshold: float) -> dict[str, Any]:
    """Precision, recall, F1 at ``threshold``, ROC-AUC and average precision, with counts."""
    from sklearn import metrics as skm

    y = (np.asarray(labels, dtype=object) == "spam").astype(np.int64)
    predicted = (np.asarray(probability) >= threshold).astype(np.int64)
    both = len(np.unique(y)) == 2
    tn, fp, fn, tp = skm.confusion_matrix(y, predicted, labels=[0, 1]).ravel()
    return {
        "rows": int(len(y)), "spam": int(y.sum()), "threshold": float(threshold),
        "precision": float(skm.precision_score(y, predicted, zero_division=0)),
        "recall": float(skm.recall_score(y, predicted, zero_division=0)),
        "f1": float(skm.f1_score(y, predicted, zero_division=0)),
        "roc_auc": float(skm.roc_auc_score(y, probability)) if both else None,
        "average_precision": float(skm.average_precision_score(y, probability)) if both else None,
        "tp": int(tp), "fp": int(fp), "fn": int(fn), "tn": int(tn),
    }


def cross_validated_probability(texts: pd.Series, labels: pd.Series, cfg: PipelineConfig) -> np.ndarray:
    """Out-of-fold P(spam) per message (``spam.cv_folds`` folds, stratified, grouped by text so
    duplicates never straddle a fold): what label-noise detection ranks by."""
    from sklearn.model_selection import StratifiedGroupKFold, cross_val_predict

    y = (labels.to_numpy(dtype=object) == "spam").astype(np.int64)
    folds = StratifiedGroupKFold(n_splits=cfg.spam.cv_folds, shuffle=True, random_state=cfg.spam.model.seed)
    with transforms.spam.one_thread():
        probability = cross_val_predict(build_text_model(cfg.spam.model), texts.tolist(), y,
                                        groups=text_groups(texts), cv=folds, method="predict_proba")
    return probability[:, 1]


# -- the job -----------------------------------------------------------------------------------
def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--labels-version", help="reference.spam_labels version (default: spam.labels_version)")
    parser.add_argument("--holdout", help=f"held-out messages Parquet (default: <data_root>/{HOLDOUT})")


def compute(ctx: StepContext) -> str:
    """Train, evaluate on the held-out messages and commit the spam filter."""
    (labels_manifest,) = ctx.plan.inputs
    ((_, version),) = ctx.plan.outputs
    labels_version = labels_manifest.ref.value
    _, labels = load_labels(ctx.catalog, labels_version)
    resolved = resolve_labels(labels)
    holdout, holdout_digest = load_holdout(ctx.catalog, ctx.args.holdout)
    check_disjoint(resolved["text"], holdout["text"])
    model = fit_text_model(resolved["text"], resolved["label"], ctx.cfg)
    probability = transforms.spam.text_scores(model, holdout["text"])
    metrics = evaluation_metrics(holdout["label"], probability, ctx.cfg.spam.threshold)
    log.info("held-out metrics: %s", metrics)

    resolutions = resolved["resolution"].str.split(":").str[0].value_counts().to_dict()
    settings = ctx.cfg.spam.model.model_dump()
    metadata = {
        "version": version, "labels": labels_manifest.ref.to_json(), "model_config": settings,
        "classes": list(CLASSES), "positive_class": "spam", "train_messages": len(resolved),
        "train_label_rows": len(labels), "train_spam_share": float((resolved["label"] == "spam").mean()),
        "label_resolution": {k: int(v) for k, v in resolutions.items()},
        "holdout_sha256": holdout_digest, "holdout_metrics": metrics,
        "text_normalisation": "transforms.spam.normalise_text", "sklearn_version": _sklearn_version(),
    }
    SPAM_FILTER.commit(ctx, model, metadata, extra={
        "labels_version": labels_version, "holdout_metrics": metrics, "holdout_sha256": holdout_digest,
        "train_messages": len(resolved), "label_resolution": metadata["label_resolution"], "model_config": settings})
    return (f"{MODEL} version={version}: held-out precision {metrics['precision']:.3f} recall "
            f"{metrics['recall']:.3f} F1 {metrics['f1']:.3f} ROC-AUC {metrics['roc_auc']:.4f}")


def _sklearn_version() -> str:
    import sklearn

    return sklearn.__version__


JOB = Job(NAME, compute, plan=SPAM_FILTER.plan, arguments=arguments, ds_required=False, integration="PYTHON")
run, main = JOB.run, JOB.main

if __name__ == "__main__":
    JOB.exit()
