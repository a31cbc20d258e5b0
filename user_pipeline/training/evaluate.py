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

import argparse
import logging
import sys
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from lineage.catalog import Catalog, Manifest, Producer
from lineage.emit import ParentRun, step_run
from lineage.versioning import code_version
from transforms import slices
from transforms.features import ID_COLUMN, LABEL, SPLIT_COLUMN
from user_pipeline.config import PipelineConfig, load_config
from user_pipeline.reports import evaluation as evaluation_report
from user_pipeline.training import artifacts

JOB = "user_pipeline.training.evaluate"
CLEAN = "curated.users_clean"
SLICES = "evaluation.job_seeker_slices"
HELD_OUT = ("dev", "test")

log = logging.getLogger(JOB)


def evaluate_code_version(cfg: PipelineConfig) -> str:
    """Code version of the evaluation: the slicing logic, this module and the evaluation config."""
    return code_version(slices, sys.modules[__name__], config=cfg.evaluation.model_dump())


def held_out_records(catalog: Catalog, features: Manifest, slice_by: Sequence[str]) -> pa.Table:
    """The clean records of the dev and test rows of a features partition, with their split and label."""
    rows = catalog.read_table(artifacts.FEATURES, features.partition.split("=", 1)[1],
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


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ds", required=True, help="date of the features partition YYYY-MM-DD")
    parser.add_argument("--config", help="pipeline YAML (default: $PIPELINE_CONFIG or conf/pipeline.yaml)")
    parser.add_argument("--force", action="store_true", help="evaluate again even if inputs and code are unchanged")
    ParentRun.add_args(parser)
    return parser


def run(argv: Sequence[str] | None = None) -> Manifest:
    """Evaluate per slice; returns the committed (or reused) ``evaluation.job_seeker_slices`` manifest."""
    from user_pipeline.training import predict  # TensorFlow: only when a run needs the model

    args = parser().parse_args(argv)
    cfg = load_config(args.config)
    settings = cfg.evaluation
    catalog = Catalog(cfg)
    features_manifest = catalog.require(artifacts.FEATURES, args.ds)
    model_manifest = catalog.require(artifacts.MODEL, predict.model_version_for(cfg, args.ds))
    clean_refs = [catalog.require(CLEAN, ref["partition"].split("=", 1)[1]).ref
                  for ref in features_manifest.inputs if ref["dataset"] == CLEAN]
    inputs = [model_manifest.ref, features_manifest.ref, *clean_refs]
    code = evaluate_code_version(cfg)
    parent = ParentRun.from_args(args)

    with step_run(cfg, JOB, inputs, parent=parent, nominal_date=args.ds, integration="PYTHON") as run:
        reused = None if args.force else catalog.reusable([(SLICES, args.ds)], inputs, code)
        if reused:
            log.info("%s ds=%s already evaluated from these inputs by this code: skipping", SLICES, args.ds)
            run.skipped = True
            run.add_output(reused[0])
            evaluation_report.write(cfg, args.ds, catalog.read_table(SLICES, args.ds), reused[0])
            return reused[0]

        records = held_out_records(catalog, features_manifest, settings.slice_by)
        model_dir = artifacts.committed_dir(catalog, artifacts.MODEL, model_manifest.version)
        scores = predict.predict(model_dir, records.drop_columns([SPLIT_COLUMN, f"_{LABEL}"]))
        scored = records.append_column("probability", scores.column("probability"))
        table = slices.slice_metrics(
            scored, label=f"_{LABEL}", probability="probability", slice_columns=settings.slice_by,
            split_column=SPLIT_COLUMN, threshold=settings.threshold, min_rows=settings.min_rows,
        )
        # The same rows and model as training's own evaluation: the serving path must agree with it.
        serving_accuracy = {split: _overall(table, split)["accuracy"] for split in HELD_OUT}
        manifest = catalog.write_table(
            SLICES, args.ds, table, producer=Producer.of(run.run_id, JOB, parent), inputs=inputs,
            code_version=code,
            extra={
                "model_version": model_manifest.version,
                "slice_by": list(settings.slice_by),
                "threshold": settings.threshold,
                "worst": {split: slices.worst(table, split) for split in HELD_OUT},
                "serving_accuracy": serving_accuracy,
                "training_accuracy": {split: model_manifest.extra.get(f"{split}_metrics", {}).get("accuracy")
                                      for split in HELD_OUT},
            },
        )
        run.add_output(manifest)
        page = evaluation_report.write(cfg, args.ds, table, manifest)
        for split in HELD_OUT:
            top = slices.worst(table, split, 1)
            log.info("%s: accuracy %s; worst slice %s", split, serving_accuracy[split],
                     f"{top[0]['slice_column']}={top[0]['slice_value']} (gap {top[0]['error_gap']:+.3f})"
                     if top else "-")
        log.info("committed %s ds=%s (%d rows); report %s", SLICES, args.ds, table.num_rows, page)
        return manifest


def _overall(table: pa.Table, split: str) -> dict:
    rows = [r for r in table.to_pylist() if r["split"] == split and r["slice_column"] == slices.ALL]
    return rows[0] if rows else {"accuracy": None}


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run()
