"""Training/serving skew of the job-seeker features (``transforms.skew``) through the serving export.

    python -m user_pipeline.training.skew --ds 2026-01-03 [--records-ds D] [--sample 2000] [--config PATH]

Training side: the train split of ``features.users_transformed`` ds=<ds> (what the model learnt
from, computed by the Beam/TFT job). Serving side: a seeded sample of ``curated.users_clean``
records of ``--records-ds`` (default: ds) sent, as a client would send them, through the
``transform_features`` signature of the serving model trained on those features. Per transformed
feature: L-infinity (index features) or JS (the rest) as in drift, with the ``drift:`` thresholds
and severities, and the share of records present on both sides whose features differ.

Writes ``skew.json`` and ``skew.html`` under ``<data root>/<statistics.reports_dir>/skew/ds=<ds>/``
and emits a lineage run (job ``user_pipeline.training.skew``) whose inputs carry the figures as
``dataQualityAssertions``. Exit codes: 0 no failure-severity skew (warnings printed), 1 a
failure-severity feature is skewed, 2 it could not run (nothing committed for that date).
"""

from __future__ import annotations

import argparse
import json
import posixpath
import sys
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

import user_pipeline.reports.statistics
from beam_jobs.statistics import assertions_facet
from expectations.store import put_atomic
from lineage.catalog import Catalog
from lineage.emit import ParentRun, step_run
from transforms import features
from transforms.skew import FeatureSkew, compare_skew
from transforms.tft_inputs import conform_users, encode_examples
from user_pipeline.config import PipelineConfig, load_config
from user_pipeline.training import artifacts
from user_pipeline.training.predict import BATCH_ROWS, model_dir_for

JOB = "user_pipeline.training.skew"
RECORDS = "curated.users_clean"


def serving_features(model_dir: str, records: pa.Table) -> pa.Table:
    """What the serving export computes for raw records: ``source_record_id`` + the model's inputs."""
    import tensorflow as tf

    users = conform_users(records)
    transform = tf.saved_model.load(model_dir).signatures["transform_features"]
    names = features.model_input_names()
    parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for start in range(0, users.num_rows, BATCH_ROWS):
        served = transform(examples=tf.constant(encode_examples(users.slice(start, BATCH_ROWS)), dtype=tf.string))
        for name in names:
            parts[name].append(served[name].numpy().reshape(-1))
    schema = features.transformed_arrow_schema()
    return pa.table({features.ID_COLUMN: users.column(features.ID_COLUMN),
                     **{n: pa.array(np.concatenate(parts[n]), schema.field(n).type) for n in names}})


def sample(table: pa.Table, rows: int, seed: int) -> pa.Table:
    """A seeded sample of ``rows`` rows (all of them when there are fewer), in the table's order."""
    if table.num_rows <= rows:
        return table
    picked = np.sort(np.random.default_rng(seed).choice(table.num_rows, rows, replace=False))
    return table.take(pa.array(picked))


def run_skew(cfg: PipelineConfig, ds: str, *, records_ds: str | None = None, rows: int = 2000,
             parent: ParentRun | None = None) -> list[FeatureSkew]:
    """Compare and report; returns every feature's skew (raises SystemExit(1) on a failure)."""
    catalog = Catalog(cfg)
    features_manifest = catalog.require(artifacts.FEATURES, ds)
    records_manifest = catalog.require(RECORDS, records_ds or ds)
    model_dir = model_dir_for(cfg, ds=ds)
    with step_run(cfg, JOB, [features_manifest.ref, records_manifest.ref], parent=parent, nominal_date=ds,
                  integration="TENSORFLOW") as step:
        training = catalog.read_table(artifacts.FEATURES, ds)
        training = training.filter(pc.equal(training.column(features.SPLIT_COLUMN), "train"))
        served = serving_features(model_dir, sample(catalog.read_table(RECORDS, records_manifest.ref.value),
                                                    rows, seed=cfg.train.seed))
        index = [features.index_name(n) for n in features.CATEGORICAL_FEATURES]
        found = compare_skew(training, served, cfg.drift, features=features.model_input_names(), categorical=index,
                             key=features.ID_COLUMN, num_buckets=cfg.statistics.num_buckets)
        folder = f"{cfg.data_root}/{cfg.statistics.reports_dir}/skew/ds={ds}"
        reference = f"{artifacts.FEATURES}@{features_manifest.version} (train split)"
        put_atomic(posixpath.join(folder, "skew.json"), json.dumps(
            {"training": reference, "serving_records": f"{RECORDS}@{records_manifest.version}",
             "sampled_rows": served.num_rows, "features": [s.to_json() for s in found]}, indent=1).encode())
        put_atomic(posixpath.join(folder, "skew.html"), user_pipeline.reports.statistics.drift_page(
            "serving features vs training features", f"ds={ds}", reference, [s.drift for s in found]).encode())
        step.input_facets[artifacts.FEATURES] = {"dataQualityAssertions": assertions_facet([s.drift for s in found])}
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see the module doc); returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ds", required=True, help="date of the training features (and model)")
    parser.add_argument("--records-ds", help="date of the serving-time records (default: --ds)")
    parser.add_argument("--sample", type=int, default=2000, help="serving-time records to sample")
    parser.add_argument("--config", help="pipeline YAML (default: $PIPELINE_CONFIG or conf/pipeline.yaml)")
    ParentRun.add_args(parser)
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    try:
        found = run_skew(cfg, args.ds, records_ds=args.records_ds, rows=args.sample, parent=ParentRun.from_args(args))
    except FileNotFoundError as missing:
        print(f"SKEW ERROR: {missing}", file=sys.stderr)
        return 2
    flagged = [s for s in found if s.flagged]
    for s in flagged:
        print(f"skew ({s.drift.severity}): {s.drift.feature} {s.drift.metric}={s.drift.value:.4g} "
              f"(threshold {s.drift.threshold}), {s.mismatched_rows}/{s.joined_rows} joined rows differ")
    return 1 if any(s.drift.severity == "failure" for s in flagged) else 0


if __name__ == "__main__":
    sys.exit(main())
