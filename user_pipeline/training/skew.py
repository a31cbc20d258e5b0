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

import json
import posixpath

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from expectations.store import put_atomic
from lineage.quality import drift_assertions_facet
from transforms import features
from transforms.drift import FeatureDrift
from transforms.skew import FeatureSkew, compare_skew
from transforms.tft_inputs import conform_users, encode_examples
from user_pipeline.reports.statistics import drift_page
from user_pipeline.steps import models
from user_pipeline.steps.harness import Job, Plan, StepContext, StepRefused
from user_pipeline.training.predict import BATCH_ROWS

NAME = "user_pipeline.training.skew"
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


def _stored_report(folder: str, inputs: dict) -> dict | None:
    """The report written for exactly these inputs without a failure-severity skew, if any (a
    refusal is never reused: the run that refused must refuse again)."""
    try:
        with fsspec.open(posixpath.join(folder, "skew.json"), "rb") as f:
            saved = json.loads(f.read())
    except (FileNotFoundError, ValueError):
        return None
    if any(saved.get(k) != v for k, v in inputs.items()):
        return None
    if any(f["drift"]["severity"] == "failure" and f["flagged"] for f in saved.get("features", [])):
        return None
    return saved


def arguments(parser) -> None:
    parser.add_argument("--records-ds", help="date of the serving-time records (default: --ds)")
    parser.add_argument("--sample", type=int, default=2000, help="serving-time records to sample")


def plan(ctx: StepContext) -> Plan:
    """The training features of ``--ds`` and the serving-time records; nothing is committed."""
    return Plan([ctx.catalog.require(models.FEATURES, ctx.ds),
                 ctx.catalog.require(RECORDS, ctx.args.records_ds or ctx.ds)], [])


def _from_json(saved: dict) -> FeatureSkew:
    return FeatureSkew(FeatureDrift(**saved["drift"]), saved["joined_rows"], saved["mismatched_rows"])


def compute(ctx: StepContext) -> str:
    """Compare and report every feature's skew; refuses (exit 1) on a failure-severity skew.

    A report written for the same training features, serving records, model, sample and code
    (``ctx.code`` covers the config sections) is reused unless ``--force``: a content-addressed
    skip, so a backfill that left this date's features as they were does not compare them again."""
    features_manifest, records_manifest = ctx.plan.inputs
    cfg, catalog, ds = ctx.cfg, ctx.catalog, ctx.ds
    model = models.job_seeker_for(catalog, cfg, ds)
    folder = f"{cfg.data_root}/{cfg.statistics.reports_dir}/skew/ds={ds}"
    reference = f"{models.FEATURES}@{features_manifest.version} (train split)"
    inputs = {"training": reference, "serving_records": f"{RECORDS}@{records_manifest.version}",
              "model": f"{models.JOB_SEEKER}@{model.version}", "sample": ctx.args.sample, "seed": cfg.train.seed,
              "code": ctx.code}
    stored = None if ctx.args.force else _stored_report(folder, inputs)
    if stored is not None:
        found = [_from_json(f) for f in stored["features"]]
        ctx.run.skipped, ctx.run.reused = True, posixpath.join(folder, "skew.json")
        ctx.run.input_facets[features_manifest.ref] = {
            "dataQualityAssertions": drift_assertions_facet([s.drift for s in found])}
        ctx.result = found
        return (f"{len(found)} features compared on {stored['sampled_rows']} sampled records, "
                f"{sum(s.flagged for s in found)} flagged (warning), reused {ctx.run.reused}")
    training = catalog.read_table(models.FEATURES, ds)
    training = training.filter(pc.equal(training.column(features.SPLIT_COLUMN), "train"))
    served = serving_features(models.committed_dir(catalog, models.JOB_SEEKER, model.version),
                              sample(catalog.read_table(RECORDS, records_manifest.ref.value),
                                     ctx.args.sample, seed=cfg.train.seed))
    index = [features.index_name(n) for n in features.CATEGORICAL_FEATURES]
    found = compare_skew(training, served, cfg.drift, features=features.model_input_names(), categorical=index,
                         key=features.ID_COLUMN, num_buckets=cfg.statistics.num_buckets)
    put_atomic(posixpath.join(folder, "skew.json"), json.dumps(
        {**inputs, "sampled_rows": served.num_rows, "features": [s.to_json() for s in found]}, indent=1).encode())
    put_atomic(posixpath.join(folder, "skew.html"), drift_page(
        "serving features vs training features", f"ds={ds}", reference, [s.drift for s in found]).encode())
    ctx.run.input_facets[features_manifest.ref] = {
        "dataQualityAssertions": drift_assertions_facet([s.drift for s in found])}
    ctx.result = found
    flagged = [s for s in found if s.flagged]
    lines = [f"skew ({s.drift.severity}): {s.drift.feature} {s.drift.metric}={s.drift.value:.4g} "
             f"(threshold {s.drift.threshold}), {s.mismatched_rows}/{s.joined_rows} joined rows differ"
             for s in flagged]
    if any(s.drift.severity == "failure" for s in flagged):
        # The figures are on the FAIL event's input, the page is written: the refusal is the answer.
        raise StepRefused("\n".join(lines))
    for line in lines:
        print(line)
    return f"{len(found)} features compared on {served.num_rows} sampled records, {len(flagged)} flagged (warning)"


JOB = Job(NAME, compute, plan=plan, arguments=arguments, integration="TENSORFLOW")
run, main = JOB.run, JOB.main

if __name__ == "__main__":
    JOB.exit()
