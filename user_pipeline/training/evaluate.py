"""Error analysis by metadata: the job-seeker model's dev and test metrics per slice.

    python -m user_pipeline.training.evaluate --ds 2026-01-03 [--config ...] [--force] [lineage parent options]

Scores the dev and test rows of ``features.users_transformed`` ds=<ds> with the model trained on
them (``models.job_seeker``, the version this code trains for that date), through the serving
export on the clean records themselves, so the figures are what serving would answer. Joins each
row's metadata from ``curated.users_clean`` (the ``evaluation.slice_by`` columns) and commits
``evaluation.job_seeker_slices`` ds=<ds>: one row per split and slice with count, positives,
accuracy, precision, recall, ROC-AUC, log loss and the error gap against the whole split, worst
slices first (``transforms.slices``). The page for people is written to
``<data root>/<evaluation.reports_dir>/ds=<ds>/index.html`` with a chart of the error gaps.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from lineage.catalog import Catalog, Manifest
from transforms import slices
from transforms.features import ID_COLUMN, LABEL, SPLIT_COLUMN
from user_pipeline.reports import evaluation as evaluation_report
from user_pipeline.steps import models
from user_pipeline.steps.harness import Job, Plan, StepContext

NAME = "user_pipeline.training.evaluate"
CLEAN = "curated.users_clean"
SLICES = "evaluation.job_seeker_slices"
HELD_OUT = ("dev", "test")

log = logging.getLogger(NAME)


def held_out_records(catalog: Catalog, features: Manifest, slice_by: Sequence[str]) -> pa.Table:
    """The clean records of the dev and test rows of a features partition, with their split and label."""
    rows = catalog.read_table(models.FEATURES, features.partition.split("=", 1)[1],
                              columns=[ID_COLUMN, SPLIT_COLUMN, LABEL])
    rows = rows.filter(pc.is_in(rows.column(SPLIT_COLUMN), value_set=pa.array(HELD_OUT)))
    days = [ref["partition"].split("=", 1)[1] for ref in features.inputs if ref["dataset"] == CLEAN]
    # Latest day first: a person's training row is its latest day's (training_set.keep_latest), and
    # index_in takes the first match of a survivor record id that also names an earlier day's row.
    clean = pa.concat_tables([catalog.read_table(CLEAN, day) for day in sorted(days, reverse=True)])
    missing = [name for name in slice_by if name not in clean.column_names]
    if missing:
        raise ValueError(f"evaluation.slice_by names {missing}, which {CLEAN} does not have")
    position = pc.index_in(rows.column(ID_COLUMN), value_set=clean.column(ID_COLUMN))
    if pc.any(pc.is_null(position)).as_py():
        lost = rows.column(ID_COLUMN).filter(pc.is_null(position)).to_pylist()
        raise ValueError(f"{len(lost)} held-out ids are not in the clean partitions {days}, e.g. {lost[:5]}")
    records = clean.take(position)
    return records.append_column(SPLIT_COLUMN, rows.column(SPLIT_COLUMN)).append_column(
        f"_{LABEL}", rows.column(LABEL))


def plan(ctx: StepContext) -> Plan:
    """The model trained on the features of ``--ds``, those features and the clean days they span."""
    features = ctx.catalog.require(models.FEATURES, ctx.ds)
    model = models.job_seeker_for(ctx.catalog, ctx.cfg, ctx.ds)
    clean = [ctx.catalog.require(CLEAN, ref["partition"].split("=", 1)[1])
             for ref in features.inputs if ref["dataset"] == CLEAN]
    return Plan([model, features, *clean], [(SLICES, ctx.ds)])


def compute(ctx: StepContext) -> str:
    """Score the held-out rows through the serving export and commit the metrics per slice."""
    from user_pipeline.training import predict  # TensorFlow: only when a run needs the model

    model_manifest, features_manifest, *_ = ctx.plan.inputs
    settings = ctx.cfg.evaluation
    records = held_out_records(ctx.catalog, features_manifest, settings.slice_by)
    model_dir = models.committed_dir(ctx.catalog, models.JOB_SEEKER, model_manifest.version)
    scores = predict.predict(model_dir, records.drop_columns([SPLIT_COLUMN, f"_{LABEL}"]))
    scored = records.append_column("probability", scores.column("probability"))
    table = slices.slice_metrics(
        scored, label=f"_{LABEL}", probability="probability", slice_columns=settings.slice_by,
        split_column=SPLIT_COLUMN, threshold=settings.threshold, min_rows=settings.min_rows,
    )
    # The same rows and model as training's own evaluation: the serving path must agree with it.
    serving_accuracy = {split: _overall(table, split)["accuracy"] for split in HELD_OUT}
    manifest = ctx.write_table(SLICES, ctx.ds, table, extra={
        "model_version": model_manifest.version,
        "slice_by": list(settings.slice_by),
        "threshold": settings.threshold,
        "worst": {split: slices.worst(table, split) for split in HELD_OUT},
        "serving_accuracy": serving_accuracy,
        "training_accuracy": {split: model_manifest.extra.get(f"{split}_metrics", {}).get("accuracy")
                              for split in HELD_OUT},
    })
    page = evaluation_report.write(ctx.cfg, ctx.ds, table, manifest)
    for split in HELD_OUT:
        top = slices.worst(table, split, 1)
        log.info("%s: accuracy %s; worst slice %s", split, serving_accuracy[split],
                 f"{top[0]['slice_column']}={top[0]['slice_value']} (gap {top[0]['error_gap']:+.3f})" if top else "-")
    return f"committed {SLICES} ({table.num_rows} rows); serving accuracy {serving_accuracy}; report {page}"


def rewrite_report(ctx: StepContext, reused: list[Manifest]) -> str:
    """A skipped evaluation still (re)writes its page: the page is not part of the committed data."""
    page = evaluation_report.write(ctx.cfg, ctx.ds, ctx.catalog.read_table(SLICES, ctx.ds), reused[0])
    return f"unchanged, skipped ({SLICES}@{reused[0].version}); report {page}"


def _overall(table: pa.Table, split: str) -> dict:
    rows = [r for r in table.to_pylist() if r["split"] == split and r["slice_column"] == slices.ALL]
    return rows[0] if rows else {"accuracy": None}


JOB = Job(NAME, compute, plan=plan, on_skip=rewrite_report, integration="PYTHON")
run, main = JOB.run, JOB.main

if __name__ == "__main__":
    JOB.exit()
