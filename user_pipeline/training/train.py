"""Train the fixed model on a features partition and export the serving model.

    python -m user_pipeline.training.train --ds 2026-01-03 [--config ...] [--force] [lineage parent options]

Reads ``features.users_transformed`` ds=<ds> and the ``models.transform_fn`` its manifest names,
fits on the train split, evaluates on the dev and the test split (scikit-learn metrics into the
manifest: dev is what people compare models and data changes on, test is looked at last), and
commits ``models.job_seeker`` version=<derivation of inputs, code and train config>.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tf_keras
from sklearn import metrics as skm

from lineage.catalog import Catalog, Manifest, Producer
from lineage.emit import ParentRun, step_run
from lineage.versioning import code_version
from transforms.features import SPLIT_COLUMN
from user_pipeline.config import PipelineConfig, load_config
from user_pipeline.training import artifacts, model, serving

JOB = "user_pipeline.training.train"
log = logging.getLogger(JOB)


def train_code_version(cfg: PipelineConfig) -> str:
    """Code version of training: the model, the export and this module, plus the train config."""
    return code_version(model, serving, sys.modules[__name__], config=cfg.train.model_dump())


def evaluation_metrics(y_true: np.ndarray, probability: np.ndarray) -> dict[str, float | int | None]:
    """ROC-AUC, accuracy, precision, recall (threshold 0.5) and log loss on a labelled split."""
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
    tf_keras.utils.set_random_seed(cfg.train.seed)
    keras_model = model.build_model(cfg.train.learning_rate)
    keras_model.fit(
        model.model_inputs(table), model.labels(table),
        epochs=cfg.train.epochs, batch_size=cfg.train.batch_size, shuffle=True, verbose=0,
    )
    return keras_model


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ds", required=True, help="date of the features partition YYYY-MM-DD")
    parser.add_argument("--config", help="pipeline YAML (default: $PIPELINE_CONFIG or conf/pipeline.yaml)")
    parser.add_argument("--force", action="store_true", help="retrain even if this model version is committed")
    ParentRun.add_args(parser)
    return parser


def run(argv: Sequence[str] | None = None) -> Manifest:
    """Train and export; returns the committed (or reused) ``models.job_seeker`` manifest."""
    args = parser().parse_args(argv)
    cfg = load_config(args.config)
    catalog = Catalog(cfg)
    features_manifest = catalog.require(artifacts.FEATURES, args.ds)
    transform_fn_manifest = artifacts.transform_fn_of(catalog, features_manifest)
    inputs = [features_manifest.ref, transform_fn_manifest.ref]
    code = train_code_version(cfg)
    version = artifacts.model_version(inputs, code, cfg.train.model_dump())
    parent = ParentRun.from_args(args)

    with step_run(cfg, JOB, inputs, parent=parent, nominal_date=args.ds) as run:
        reused = None if args.force else catalog.reusable([(artifacts.MODEL, version)], inputs, code)
        if reused:
            existing = reused[0]
            log.info("%s version=%s already trained from these inputs: skipping", artifacts.MODEL, version)
            run.skipped = True
            run.add_output(existing)
            return existing

        table = catalog.read_table(artifacts.FEATURES, args.ds)
        train_rows = table.filter(pc.equal(table.column(SPLIT_COLUMN), "train"))
        keras_model = fit(train_rows, cfg)
        held_out = {}
        for split in ("dev", "test"):
            rows = table.filter(pc.equal(table.column(SPLIT_COLUMN), split))
            probability = keras_model.predict(model.model_inputs(rows), batch_size=8192, verbose=0) if rows.num_rows \
                else np.empty(0)
            held_out[split] = evaluation_metrics(model.labels(rows), np.asarray(probability).reshape(-1))
            log.info("%s metrics: %s", split, held_out[split])

        staged = catalog.stage(artifacts.MODEL, version, run.run_id)
        serving.export_serving_model(
            keras_model,
            artifacts.committed_dir(catalog, artifacts.TRANSFORM_FN, transform_fn_manifest.version),
            staged.dir_uri,
        )
        manifest = catalog.commit(
            staged,
            producer=Producer.of(run.run_id, JOB, parent),
            inputs=inputs,
            code_version=code,
            version=version,
            extra={
                "features_ds": args.ds,
                "transform_fn_version": transform_fn_manifest.version,
                "train_rows": train_rows.num_rows,
                "dev_metrics": held_out["dev"],
                "test_metrics": held_out["test"],
                "train_config": cfg.train.model_dump(),
            },
        )
        run.add_output(manifest)
        log.info("committed %s version=%s", artifacts.MODEL, version)
        return manifest


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run()
