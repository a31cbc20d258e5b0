"""Job-seeking labels are learnable from the clean behavioural features, but not trivially."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_predict

from tests.user_pipeline.datagen.conftest import run_generate
from tests.user_pipeline.datagen.readers import read_source
from user_pipeline.datagen.generate import RAW_DATASETS

NUMERIC = ("tenure_months", "job_views_7d", "applications_30d", "resume_updated_days", "last_login_days")


def _features(records: pd.DataFrame) -> np.ndarray:
    """A simple encoding: employment one-hot, log counts (out-of-range -> missing), missing flags."""
    columns = [pd.get_dummies(records["employment"].fillna("missing")).astype(float)]
    for name in NUMERIC:
        values = pd.to_numeric(records[name]).astype(float)
        values = values.where((values >= 0) & (values <= 10000))
        columns.append(pd.DataFrame({f"{name}_missing": values.isna().astype(float),
                                     name: np.log1p(values.fillna(values.median()))}))
    return pd.concat(columns, axis=1).to_numpy()


def test_logistic_regression_learns_the_job_label(tmp_path):
    gen = run_generate(tmp_path, days=1, users=2000)
    ds = "2026-01-01"
    records = pd.concat([read_source(s, gen.raw(d, ds), ds)[0] for s, d in RAW_DATASETS.items()])
    data = records.merge(gen.truth(ds), on="source_record_id")
    data = data[~data["is_spam"]].reset_index(drop=True)
    assert len(data) > 1500
    X = _features(data)
    observed = data["looking_for_job_observed"].astype(int).to_numpy()
    truth = data["looking_for_job_true"].astype(int).to_numpy()
    # Trained on the observed (noisy) labels, as the pipeline is; scored out of fold.
    scores = cross_val_predict(LogisticRegression(max_iter=2000), X, observed, cv=5, method="predict_proba")[:, 1]
    auc_true = roc_auc_score(truth, scores)
    auc_observed = roc_auc_score(observed, scores)
    print(f"AUC vs true labels {auc_true:.3f}, vs observed {auc_observed:.3f}")
    assert auc_true > 0.75, auc_true
    assert auc_observed > 0.72, auc_observed
    assert auc_true < 0.95  # predictive, not a copy of the label
