"""Split + TFT: analyse the training span, write the transformed features and the transform_fn.

    python -m beam_jobs.preprocess --ds 2026-01-03 [--config ...] [--force] [beam options]

Reads ``curated.users_clean`` and ``raw.job_outcomes`` for the ``preprocess.window_days`` days
up to and including ``--ds`` (days not committed are named in the log, the lineage and the
manifest; ``--ds`` itself must be committed), keeps each person's (``canonical_id``) row of its
latest day in the window, keeps those with an outcome, splits them
train/dev/test (``transforms.splits``: an id keeps the split it was first given, new ids fill each
stratum's quotas), analyses the train split with TFT and transforms all three. Outputs:

- ``features.users_transformed`` ds=<ds>: transformed features + ``source_record_id`` + ``split``
  + label, Parquet. Its manifest ``extra.transform_fn_version`` names the transform_fn below.
- ``models.transform_fn`` version=<derivation of the inputs and this code>: the TFT output folder
  (``transform_fn/``, ``transformed_metadata/``, and the raw schema in ``metadata/``).
- ``features.split_assignments`` ds=<ds>: every id's split up to ``--ds`` (the previous
  partition's assignments, read as an input, plus today's new ids). Its manifest and the features
  manifest carry the split report: counts and label rates per split against the stated tolerance.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Iterator, Sequence

import apache_beam as beam
import attr
import pyarrow as pa
import pyarrow.compute as pc
from openlineage.client.generated.base import RunFacet

from beam_jobs.common import write_tables
from lineage.catalog import Catalog, Manifest, StagedPartition
from lineage.naming import SCHEMA_BASE
from lineage.versioning import derivation_version
from transforms import features, splits, tft_inputs, training_set
from transforms.features import ID_COLUMN, SPLIT_COLUMN
from transforms.schema import JOB_OUTCOMES, USERS_TRANSFORMED
from user_pipeline.config import PipelineConfig
from user_pipeline.steps.harness import Job, Plan, StepContext

NAME = "beam_jobs.preprocess"
CLEAN = "curated.users_clean"
OUTCOMES = "raw.job_outcomes"
FEATURES = "features.users_transformed"
TRANSFORM_FN = "models.transform_fn"
SPLIT_ASSIGNMENTS = "features.split_assignments"

# The id and split ride along each row through TFT without being features.
PASSTHROUGH = (ID_COLUMN, SPLIT_COLUMN)
USER_COLUMNS = [ID_COLUMN, training_set.PERSON_COLUMN, training_set.DAY_COLUMN, *features.RAW_FEATURES]
OUTCOMES_SCHEMA = JOB_OUTCOMES
OUTCOME_COLUMNS = JOB_OUTCOMES.names

log = logging.getLogger(NAME)


@attr.define
class TrainingWindowRunFacet(RunFacet):
    """The days the training span asked for, the ones it had, and how many rows were unlabelled."""

    days: list[str]
    missingUsersDays: list[str]  # noqa: N815 - OpenLineage facet fields are camelCase
    missingOutcomesDays: list[str]  # noqa: N815
    unlabelledRows: int | None = None  # noqa: N815

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA_BASE}/TrainingWindowRunFacet.json"


# -- Beam wiring (the logic is in transforms.training_set / transforms.tft_inputs) ------------


class _ConcatOutcomes(beam.CombineFn):
    """All outcome batches of the window as one table with one (latest) outcome per id."""

    def create_accumulator(self) -> list[pa.Table]:
        return []

    def add_input(self, acc: list[pa.Table], table: pa.Table) -> list[pa.Table]:
        acc.append(table.select(OUTCOME_COLUMNS).cast(OUTCOMES_SCHEMA))
        return acc

    def merge_accumulators(self, accs: Sequence[list[pa.Table]]) -> list[pa.Table]:
        return [table for acc in accs for table in acc]

    def extract_output(self, acc: list[pa.Table]) -> pa.Table:
        return training_set.latest_outcomes(pa.concat_tables([OUTCOMES_SCHEMA.empty_table(), *acc]))


def _label_users(users: pa.Table, outcomes: pa.Table, latest: pa.Table) -> Iterator[pa.Table]:
    labelled, _ = training_set.attach_labels(training_set.keep_latest(users, latest), outcomes)
    if labelled.num_rows:
        yield labelled


def _to_tft_inputs(table: pa.Table, assignments: pa.Table) -> Iterator[beam.pvalue.TaggedOutput]:
    for split, part in splits.split_parts(splits.apply(table, assignments)):
        yield beam.pvalue.TaggedOutput(split, tft_inputs.raw_record_batch(part, passthrough=PASSTHROUGH))


def _to_features_table(element: tuple[pa.RecordBatch, dict]) -> pa.Table:
    batch, unary_passthrough = element
    # TFT sets aside passthrough values only when its output batch size differs from the input's,
    # which a row-wise preprocessing_fn never does.
    assert not unary_passthrough, unary_passthrough
    return tft_inputs.flatten_singletons(batch, USERS_TRANSFORMED)


class LabelAndSplitUsers(beam.PTransform):
    """Clean user tables -> {"train", "dev", "test"} PCollections of TFT raw record batches."""

    def __init__(self, outcomes: beam.PCollection, assignments: beam.PCollection, latest: beam.PCollection):
        super().__init__()
        self.outcomes = outcomes
        self.assignments = assignments
        self.latest = latest  # (canonical_id, ds): each person's latest day in the window

    def expand(self, users):
        labelled = users | "LatestRowPerPersonWithLabels" >> beam.FlatMap(
            _label_users, outcomes=beam.pvalue.AsSingleton(self.outcomes),
            latest=beam.pvalue.AsSingleton(self.latest),
        )
        return labelled | "SplitToRecordBatches" >> beam.FlatMap(
            _to_tft_inputs, assignments=beam.pvalue.AsSingleton(self.assignments)
        ).with_outputs(*splits.SPLITS)


def _tensor_adapter_config():
    from tfx_bsl.tfxio import tensor_representation_util
    from tfx_bsl.tfxio.tensor_adapter import TensorAdapterConfig

    return TensorAdapterConfig(
        tft_inputs.raw_arrow_schema(passthrough=PASSTHROUGH),
        tensor_representation_util.InferTensorRepresentationsFromSchema(features.raw_schema()),
    )


def build_pipeline(
    pipeline: beam.Pipeline,
    *,
    user_files: list[str],
    outcome_files: list[str],
    assignments: pa.Table,
    latest: pa.Table,
    features_staged: StagedPartition,
    transform_fn_dir: str,
) -> None:
    """Wire the whole job: read, label, split (by ``assignments``), analyse + transform, write."""
    # TensorFlow Transform (seconds to import) only when the job computes, not when it skips.
    import tensorflow_transform.beam as tft_beam

    outcomes = (
        pipeline
        | "OutcomeFiles" >> beam.Create(outcome_files)
        | "ReadOutcomes" >> beam.io.ReadAllFromParquetBatched(columns=OUTCOME_COLUMNS, label="ReadOutcomeFiles")
        | "CombineOutcomes" >> beam.CombineGlobally(_ConcatOutcomes())
    )
    split = (
        pipeline
        | "UserFiles" >> beam.Create(user_files)
        | "ReadUsers" >> beam.io.ReadAllFromParquetBatched(columns=USER_COLUMNS, label="ReadUserFiles")
        | "LabelAndSplit" >> LabelAndSplitUsers(outcomes, pipeline | "Assignments" >> beam.Create([assignments]),
                                                pipeline | "LatestDays" >> beam.Create([latest]))
    )
    adapter_config = _tensor_adapter_config()
    (train, _), transform_fn = (
        split[splits.TRAIN], adapter_config
    ) | "AnalyzeAndTransformTrain" >> tft_beam.AnalyzeAndTransformDataset(
        features.preprocessing_fn, output_record_batches=True
    )
    # dev and test are transformed with what was analysed on train only.
    holdout = (split[splits.DEV], split[splits.TEST]) | "Holdout" >> beam.Flatten()
    held_out, _ = ((holdout, adapter_config), transform_fn) | "TransformHoldout" >> tft_beam.TransformDataset(
        output_record_batches=True
    )
    _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(transform_fn_dir)
    _ = (
        (train, held_out)
        | "AllSplits" >> beam.Flatten()
        | "ToFeatureTables" >> beam.Map(_to_features_table)
        | write_tables(features_staged, USERS_TRANSFORMED, "WriteFeatures")
    )


def assign_splits(catalog: Catalog, cfg: PipelineConfig, ds: str, users: dict[str, Manifest | None],
                  outcomes: dict[str, Manifest | None], previous: Manifest | None
                  ) -> tuple[pa.Table, dict, pa.Table, int]:
    """Every split assignment up to ``ds`` (the previous partition's plus the window's new labelled
    ids), the split report of the window's labelled rows, each person's latest day in the window
    (``training_set.latest_days``: the rows that become training rows) and how many rows that is."""
    settings = cfg.preprocess
    columns = list(dict.fromkeys([ID_COLUMN, training_set.PERSON_COLUMN, training_set.DAY_COLUMN,
                                  *settings.stratify_by]))
    window_users = pa.concat_tables([catalog.read_table(CLEAN, day, columns=columns)
                                     for day, m in users.items() if m])
    latest = training_set.latest_days(window_users)
    window_users = training_set.keep_latest(window_users, latest)
    window_outcomes = pa.concat_tables([catalog.read_table(OUTCOMES, day, columns=OUTCOME_COLUMNS).cast(OUTCOMES_SCHEMA)
                                        for day, m in outcomes.items() if m])
    labelled, _ = training_set.attach_labels(window_users, training_set.latest_outcomes(window_outcomes))
    before = catalog.read_table(SPLIT_ASSIGNMENTS, previous.partition.split("=", 1)[1]) if previous else None
    assignments = splits.assign(before, labelled, fractions=settings.split_fractions, salt=settings.split_salt,
                                stratify_by=settings.stratify_by, ds=ds)
    report = splits.report(splits.apply(labelled, assignments), settings.split_fractions, settings.stratify_by,
                           slack_rows=2)
    return assignments, report, latest, window_users.num_rows


# -- the job -------------------------------------------------------------------------------


def _window_manifests(catalog: Catalog, dataset: str, days: list[str]) -> dict[str, Manifest | None]:
    return {day: catalog.manifest(dataset, day) for day in days}


def _split_counts(catalog: Catalog, staged: StagedPartition) -> dict[str, int]:
    split = catalog.read_staged(staged, columns=[SPLIT_COLUMN]).column(SPLIT_COLUMN)
    return {name: pc.sum(pc.equal(split, name)).as_py() or 0 for name in splits.SPLITS}


def plan(ctx: StepContext) -> Plan:
    """The clean users and outcomes of the training window (and yesterday's split assignments);
    the features and assignments of ``--ds`` and the transform_fn derived from those inputs."""
    days = training_set.training_window(ctx.ds, ctx.cfg.preprocess.window_days)
    users = _window_manifests(ctx.catalog, CLEAN, days)
    outcomes = _window_manifests(ctx.catalog, OUTCOMES, days)
    previous_assignments = ctx.catalog.previous(SPLIT_ASSIGNMENTS, ctx.ds)
    inputs = [m for m in users.values() if m] + [m for m in outcomes.values() if m]
    if previous_assignments:  # ids keep the split they were given: yesterday's assignments are an input
        inputs.append(previous_assignments)
    transform_fn_version = derivation_version(inputs=[m.ref.to_json() for m in inputs], code=ctx.code)
    window = TrainingWindowRunFacet(
        days=days,
        missingUsersDays=[day for day, m in users.items() if m is None],
        missingOutcomesDays=[day for day, m in outcomes.items() if m is None],
    )
    return Plan(inputs, [(FEATURES, ctx.ds), (TRANSFORM_FN, transform_fn_version), (SPLIT_ASSIGNMENTS, ctx.ds)],
                {"users": users, "outcomes": outcomes, "previous_assignments": previous_assignments,
                 "window": window})


def _start_window(ctx: StepContext) -> TrainingWindowRunFacet:
    users, outcomes, window = (ctx.plan.extra[k] for k in ("users", "outcomes", "window"))
    if users[ctx.ds] is None:
        ctx.catalog.require(CLEAN, ctx.ds)  # raises, naming what is missing
    if not any(outcomes.values()):
        raise FileNotFoundError(f"{OUTCOMES} has no committed partition in the window {window.days}: no labels")
    ctx.run.run_facets["trainingWindow"] = window
    if window.missingUsersDays or window.missingOutcomesDays:
        log.warning("training window %s..%s is incomplete: %s days missing %s, %s days missing %s", window.days[0],
                    window.days[-1], CLEAN, window.missingUsersDays, OUTCOMES, window.missingOutcomesDays)
    return window


def reuse(ctx: StepContext, reused: list[Manifest]) -> str:
    """A skipped run still reports its training window (with the unlabelled rows it found)."""
    window = _start_window(ctx)
    window.unlabelledRows = reused[0].extra.get("unlabelled_rows")
    return "outputs already derived from these inputs by this code: skipped"


def compute(ctx: StepContext) -> str:
    """Split, analyse and transform the window with TFT; commit features, transform_fn, assignments."""
    import tensorflow_transform.beam as tft_beam
    from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io

    window = _start_window(ctx)
    users, outcomes = ctx.plan.extra["users"], ctx.plan.extra["outcomes"]
    (_, ds), (_, transform_fn_version), _ = ctx.plan.outputs
    cfg, catalog = ctx.cfg, ctx.catalog
    assignments, split_report, latest, person_rows = assign_splits(catalog, cfg, ds, users, outcomes,
                                                                   ctx.plan.extra["previous_assignments"])
    if not split_report["within_tolerance"]:
        log.warning("split label rates outside the stated tolerance: %s", split_report["splits"])
    features_staged = ctx.stage(FEATURES, ds)
    transform_fn_staged = ctx.stage(TRANSFORM_FN, transform_fn_version)
    # TFT's scratch space lives in the run's private folder: a crash leaves it with the
    # orphan folder the next commit removes.
    temp_dir = transform_fn_staged.path("_tft_tmp")
    pipeline = beam.Pipeline(options=ctx.pipeline_options())
    with tft_beam.Context(temp_dir=temp_dir, passthrough_keys=set(PASSTHROUGH)):
        build_pipeline(
            pipeline,
            user_files=[f for day, m in users.items() if m for f in catalog.files(CLEAN, day)],
            outcome_files=[f for day, m in outcomes.items() if m for f in catalog.files(OUTCOMES, day)],
            assignments=assignments,
            latest=latest,
            features_staged=features_staged,
            transform_fn_dir=transform_fn_staged.dir_uri,
        )
    pipeline.run().wait_until_finish()

    catalog.fs.rm(catalog.fs_path(temp_dir), recursive=True)
    # WriteTransformFn writes transform_fn/ and transformed_metadata/ only; TFTransformOutput
    # reads the raw schema (serving's parsing spec) from metadata/.
    metadata_io.write_metadata(
        dataset_metadata.DatasetMetadata(features.raw_schema()),
        posixpath.join(transform_fn_staged.dir_uri, "metadata"),
    )
    counts = _split_counts(catalog, features_staged)
    user_rows = sum(m.row_count or 0 for m in users.values() if m)
    labelled_rows = sum(counts.values())
    window.unlabelledRows = person_rows - labelled_rows
    window_extra = {
        "window_days": window.days,
        "missing_days": {CLEAN: window.missingUsersDays, OUTCOMES: window.missingOutcomesDays},
    }
    transform_fn = ctx.seal(transform_fn_staged, version=transform_fn_version,
                            extra={**window_extra, "train_rows": counts[splits.TRAIN]})
    assigned_staged, assigned = ctx.seal_table(SPLIT_ASSIGNMENTS, ds, assignments, extra={
        "assigned_today": pc.sum(pc.equal(assignments.column("assigned_ds"), ds)).as_py() or 0,
        "report": splits.report(assignments, cfg.preprocess.split_fractions)})
    features_manifest = ctx.seal(features_staged, schema=USERS_TRANSFORMED, extra={
        **window_extra,
        "transform_fn_version": transform_fn_version,
        "user_rows": user_rows,
        # a person seen on several days of the window trains once, on its latest row
        "person_rows": person_rows,
        "unlabelled_rows": window.unlabelledRows,
        **{f"{name}_rows": counts[name] for name in splits.SPLITS},
        "split_report": split_report,
    })
    # One commit: features, transform_fn and split assignments of one run, or none (the main output first).
    ctx.publish_together((features_staged, features_manifest), (transform_fn_staged, transform_fn),
                         (assigned_staged, assigned))
    return (f"committed {FEATURES} ({counts}, {window.unlabelledRows} unlabelled; split label rates within "
            f"tolerance: {split_report['within_tolerance']}), {TRANSFORM_FN} version={transform_fn_version} "
            f"and {SPLIT_ASSIGNMENTS}")


JOB = Job(NAME, compute, plan=plan, on_skip=reuse, integration="APACHE_BEAM")
run, main = JOB.run, JOB.main

if __name__ == "__main__":
    JOB.exit()
