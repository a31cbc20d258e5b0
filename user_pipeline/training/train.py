"""Train the fixed model on a features partition and export the serving model.

    python -m user_pipeline.training.train --ds 2026-01-03 [--config ...] [--force] [lineage parent options]

Reads ``features.users_transformed`` ds=<ds> and the ``models.transform_fn`` its manifest names,
fits on the train split, evaluates on the dev and the test split (scikit-learn metrics into the
manifest: dev is what people compare models and data changes on, test is looked at last), and
commits ``models.job_seeker`` version=<derivation of inputs, code and train config>.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.features import SPLIT_COLUMN
from user_pipeline.config import PipelineConfig
from user_pipeline.steps import models
from user_pipeline.steps.harness import Job, Plan, StepContext

if TYPE_CHECKING:
    import tf_keras

# TensorFlow and Keras (seconds to import) load in fit/compute, not when the step skips.

NAME = "user_pipeline.training.train"
log = logging.getLogger(NAME)


def evaluation_metrics(y_true: np.ndarray, probability: np.ndarray) -> dict[str, float | int | None]:
    """ROC-AUC, accuracy, precision, recall (threshold 0.5) and log loss on a labelled split."""
    from sklearn import metrics as skm

    if len(y_true) == 0:
        return {"rows": 0}
    predicted = (probability >= 0.5).astype(np.int64)
    both_classes = len(np.unique(y_true)) == 2
    return {
        "rows": int(len(y_true)),
        "positive_rate": float(np.mean(y_true)),
        "roc_auc": float(skm.roc_auc_score(y_true, probability)) if both_classes else None,
        "accuracy": float(skm.accuracy_score(y_true, predicted)),
        "precision": float(skm.precision_score(y_true, predicted, zero_division=0)),
        "recall": float(skm.recall_score(y_true, predicted, zero_division=0)),
        "log_loss": float(skm.log_loss(y_true, probability, labels=[0, 1])),
    }


def fit(table: pa.Table, cfg: PipelineConfig) -> tf_keras.Model:
    """Fit the fixed model on the train rows of a features table (seeded)."""
    import tf_keras

    from user_pipeline.training import model

    tf_keras.utils.set_random_seed(cfg.train.seed)
    keras_model = model.build_model(cfg.train.learning_rate)
    keras_model.fit(
        model.model_inputs(table), model.labels(table),
        epochs=cfg.train.epochs, batch_size=cfg.train.batch_size, shuffle=True, verbose=0,
    )
    return keras_model


def plan(ctx: StepContext) -> Plan:
    """The features of ``--ds`` and their transform_fn; the model version derived from them."""
    features = ctx.catalog.require(models.FEATURES, ctx.ds)
    inputs = [features, models.transform_fn_of(ctx.catalog, features)]
    return Plan(inputs, [(models.JOB_SEEKER, models.job_seeker_version(ctx.cfg, [m.ref for m in inputs]))])


def compute(ctx: StepContext) -> str:
    """Train on the train split, measure dev and test, export the serving model and commit it."""
    from user_pipeline.training import model, serving

    _, transform_fn_manifest = ctx.plan.inputs
    ((_, version),) = ctx.plan.outputs
    table = ctx.catalog.read_table(models.FEATURES, ctx.ds)
    train_rows = table.filter(pc.equal(table.column(SPLIT_COLUMN), "train"))
    keras_model = fit(train_rows, ctx.cfg)
    held_out = {}
    for split in ("dev", "test"):
        rows = table.filter(pc.equal(table.column(SPLIT_COLUMN), split))
        probability = keras_model.predict(model.model_inputs(rows), batch_size=8192, verbose=0) if rows.num_rows \
            else np.empty(0)
        held_out[split] = evaluation_metrics(model.labels(rows), np.asarray(probability).reshape(-1))
        log.info("%s metrics: %s", split, held_out[split])

    staged = ctx.stage(models.JOB_SEEKER, version)
    serving.export_serving_model(
        keras_model,
        models.committed_dir(ctx.catalog, models.TRANSFORM_FN, transform_fn_manifest.version),
        staged.dir_uri,
    )
    ctx.commit(staged, version=version, extra={
        "features_ds": ctx.ds,
        "transform_fn_version": transform_fn_manifest.version,
        "train_rows": train_rows.num_rows,
        "dev_metrics": held_out["dev"],
        "test_metrics": held_out["test"],
        "train_config": ctx.cfg.train.model_dump(),
    })
    return f"committed {models.JOB_SEEKER} version={version} (dev accuracy {held_out['dev'].get('accuracy')})"


JOB = Job(NAME, compute, plan=plan, integration="TENSORFLOW")
run, main = JOB.run, JOB.main

if __name__ == "__main__":
    JOB.exit()
