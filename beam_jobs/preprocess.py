"""Split + TFT: analyse the training span, write the transformed features and the transform_fn.

    python -m beam_jobs.preprocess --ds 2026-01-03 [--config ...] [--force] [beam options]

Reads ``curated.users_clean`` and ``raw.job_outcomes`` for the ``preprocess.window_days`` days
up to and including ``--ds`` (days not committed are named in the log, the lineage and the
manifest; ``--ds`` itself must be committed), keeps users with an outcome, splits them
train/eval by a salted hash of ``source_record_id``, analyses the train split with TFT and
transforms both splits. Outputs:

- ``features.users_transformed`` ds=<ds>: transformed features + ``source_record_id`` + ``split``
  + label, Parquet. Its manifest ``extra.transform_fn_version`` names the transform_fn below.
- ``models.transform_fn`` version=<derivation of the inputs and this code>: the TFT output folder
  (``transform_fn/``, ``transformed_metadata/``, and the raw schema in ``metadata/``).
"""

from __future__ import annotations

import logging
import posixpath
import sys
from collections.abc import Iterator, Sequence

import apache_beam as beam
import attr
import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from openlineage.client.generated.base import RunFacet
from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io
from tfx_bsl.tfxio import tensor_representation_util
from tfx_bsl.tfxio.tensor_adapter import TensorAdapterConfig

from beam_jobs.common import job_parser, parse_job_args, pipeline_options, write_tables
from conf import PipelineConfig
from lineage.catalog import Catalog, Manifest, PartitionRef, Producer, StagedPartition
from lineage.emit import ParentRun, step_run
from lineage.naming import SCHEMA_BASE
from lineage.versioning import code_version, derivation_version
from transforms import features, tft_inputs, training_set
from transforms.features import ID_COLUMN, LABEL, SPLIT_COLUMN

JOB = "beam_jobs.preprocess"
CLEAN = "curated.users_clean"
OUTCOMES = "raw.job_outcomes"
FEATURES = "features.users_transformed"
TRANSFORM_FN = "models.transform_fn"

# The id and split ride along each row through TFT without being features.
PASSTHROUGH = (ID_COLUMN, SPLIT_COLUMN)
USER_COLUMNS = [ID_COLUMN, *features.RAW_FEATURES]
OUTCOME_COLUMNS = [ID_COLUMN, LABEL, "observed_date"]
OUTCOMES_SCHEMA = pa.schema([(ID_COLUMN, pa.string()), (LABEL, pa.int64()), ("observed_date", pa.date32())])

log = logging.getLogger(JOB)


def features_schema() -> pa.Schema:
    """Schema of ``features.users_transformed``: id, split, then the TFT outputs (with the label)."""
    return pa.schema(
        [pa.field(ID_COLUMN, pa.string()), pa.field(SPLIT_COLUMN, pa.string())]
        + list(features.transformed_arrow_schema())
    )


def preprocess_code_version(cfg: PipelineConfig) -> str:
    """Code version of this step: its modules, its config section and the TFT release."""
    return code_version(
        sys.modules[__name__], features, tft_inputs, training_set,
        config={"preprocess": cfg.preprocess.model_dump(), "tensorflow_transform": tft.__version__},
    )


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


class _EvalCutoffs(beam.CombineFn):
    """The per-label hash cutoffs of the exact, stable eval split over all labelled rows."""

    def __init__(self, eval_fraction: float):
        self.eval_fraction = eval_fraction

    def create_accumulator(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return []

    def add_input(self, acc, table: pa.Table):
        acc.append((table.column(LABEL).to_numpy(), table.column(training_set.SPLIT_HASH).to_numpy()))
        return acc

    def merge_accumulators(self, accs):
        return [pair for acc in accs for pair in acc]

    def extract_output(self, acc) -> dict[int, int | None]:
        if not acc:
            return {}
        labels = np.concatenate([labels for labels, _ in acc])
        hashes = np.concatenate([hashes for _, hashes in acc])
        return training_set.eval_cutoffs(labels, hashes, self.eval_fraction)


def _label_users(users: pa.Table, outcomes: pa.Table, salt: str) -> Iterator[pa.Table]:
    labelled, _ = training_set.attach_labels(users, outcomes)
    if labelled.num_rows:
        yield training_set.with_split_hash(labelled, salt)


def _to_tft_inputs(table: pa.Table, cutoffs: dict[int, int | None]) -> Iterator[beam.pvalue.TaggedOutput]:
    for split, part in training_set.split_parts(training_set.assign_split(table, cutoffs)):
        yield beam.pvalue.TaggedOutput(split, tft_inputs.raw_record_batch(part, passthrough=PASSTHROUGH))


def _to_features_table(element: tuple[pa.RecordBatch, dict]) -> pa.Table:
    batch, unary_passthrough = element
    # TFT sets aside passthrough values only when its output batch size differs from the input's,
    # which a row-wise preprocessing_fn never does.
    assert not unary_passthrough, unary_passthrough
    return tft_inputs.flatten_singletons(batch, features_schema())


class LabelAndSplitUsers(beam.PTransform):
    """Clean user tables -> {"train", "eval"} PCollections of TFT raw record batches."""

    def __init__(self, outcomes: beam.PCollection, eval_fraction: float, salt: str):
        super().__init__()
        self.outcomes = outcomes
        self.eval_fraction = eval_fraction
        self.salt = salt

    def expand(self, users):
        labelled = users | "AttachLabels" >> beam.FlatMap(
            _label_users, outcomes=beam.pvalue.AsSingleton(self.outcomes), salt=self.salt
        )
        cutoffs = labelled | "EvalCutoffs" >> beam.CombineGlobally(_EvalCutoffs(self.eval_fraction))
        return labelled | "SplitToRecordBatches" >> beam.FlatMap(
            _to_tft_inputs, cutoffs=beam.pvalue.AsSingleton(cutoffs)
        ).with_outputs(training_set.TRAIN, training_set.EVAL)


def _tensor_adapter_config() -> TensorAdapterConfig:
    return TensorAdapterConfig(
        tft_inputs.raw_arrow_schema(passthrough=PASSTHROUGH),
        tensor_representation_util.InferTensorRepresentationsFromSchema(features.raw_schema()),
    )


def build_pipeline(
    pipeline: beam.Pipeline,
    *,
    user_files: list[str],
    outcome_files: list[str],
    cfg: PipelineConfig,
    features_staged: StagedPartition,
    transform_fn_dir: str,
) -> None:
    """Wire the whole job: read, label, split, analyse + transform, write."""
    outcomes = (
        pipeline
        | "OutcomeFiles" >> beam.Create(outcome_files)
        | "ReadOutcomes" >> beam.io.ReadAllFromParquetBatched(columns=OUTCOME_COLUMNS, label="ReadOutcomeFiles")
        | "CombineOutcomes" >> beam.CombineGlobally(_ConcatOutcomes())
    )
    splits = (
        pipeline
        | "UserFiles" >> beam.Create(user_files)
        | "ReadUsers" >> beam.io.ReadAllFromParquetBatched(columns=USER_COLUMNS, label="ReadUserFiles")
        | "LabelAndSplit" >> LabelAndSplitUsers(
            outcomes, cfg.preprocess.eval_fraction, cfg.preprocess.split_salt
        )
    )
    adapter_config = _tensor_adapter_config()
    (train, _), transform_fn = (
        splits[training_set.TRAIN], adapter_config
    ) | "AnalyzeAndTransformTrain" >> tft_beam.AnalyzeAndTransformDataset(
        features.preprocessing_fn, output_record_batches=True
    )
    eval_, _ = (
        (splits[training_set.EVAL], adapter_config), transform_fn
    ) | "TransformEval" >> tft_beam.TransformDataset(output_record_batches=True)
    _ = transform_fn | "WriteTransformFn" >> tft_beam.WriteTransformFn(transform_fn_dir)
    _ = (
        (train, eval_)
        | "BothSplits" >> beam.Flatten()
        | "ToFeatureTables" >> beam.Map(_to_features_table)
        | write_tables(features_staged, features_schema(), "WriteFeatures")
    )


# -- the job -------------------------------------------------------------------------------


def _fs_path(uri: str) -> str:
    return fsspec.core.url_to_fs(uri)[1]


def _window_manifests(catalog: Catalog, dataset: str, days: list[str]) -> dict[str, Manifest | None]:
    return {day: catalog.manifest(dataset, day) for day in days}


def _split_counts(catalog: Catalog, staged: StagedPartition) -> dict[str, int]:
    split = catalog.read_staged(staged, columns=[SPLIT_COLUMN]).column(SPLIT_COLUMN)
    return {name: pc.sum(pc.equal(split, name)).as_py() or 0 for name in (training_set.TRAIN, training_set.EVAL)}


def run(argv: Sequence[str] | None = None) -> list[Manifest]:
    """Run the preprocess job; returns the committed (or reused) output manifests."""
    parser = job_parser(__doc__.splitlines()[0])
    args, cfg, beam_argv = parse_job_args(parser, argv)
    catalog = Catalog(cfg)
    days = training_set.training_window(args.ds, cfg.preprocess.window_days)
    users = _window_manifests(catalog, CLEAN, days)
    outcomes = _window_manifests(catalog, OUTCOMES, days)
    inputs: list[PartitionRef] = [m.ref for m in users.values() if m] + [m.ref for m in outcomes.values() if m]
    code = preprocess_code_version(cfg)
    transform_fn_version = derivation_version(inputs=[ref.to_json() for ref in inputs], code=code)

    parent = ParentRun.from_args(args)

    with step_run(cfg, JOB, inputs, parent=parent, nominal_date=args.ds) as run:
        if users[args.ds] is None:
            catalog.require(CLEAN, args.ds)  # raises, naming what is missing
        if not any(outcomes.values()):
            raise FileNotFoundError(f"{OUTCOMES} has no committed partition in the window {days}: no labels")
        window = TrainingWindowRunFacet(
            days=days,
            missingUsersDays=[day for day, m in users.items() if m is None],
            missingOutcomesDays=[day for day, m in outcomes.items() if m is None],
        )
        run.run_facets["trainingWindow"] = window
        if window.missingUsersDays or window.missingOutcomesDays:
            log.warning("training window %s..%s is incomplete: %s days missing %s, %s days missing %s",
                        days[0], days[-1], CLEAN, window.missingUsersDays, OUTCOMES, window.missingOutcomesDays)

        outputs = [(FEATURES, args.ds), (TRANSFORM_FN, transform_fn_version)]
        reused = None if args.force else catalog.reusable(outputs, inputs, code)
        if reused:
            log.info("outputs already derived from these inputs by this code: skipping")
            run.skipped = True
            window.unlabelledRows = reused[0].extra.get("unlabelled_rows")
            for manifest in reused:
                run.add_output(manifest)
            return reused

        producer = Producer.of(run.run_id, JOB, parent)
        features_staged = catalog.stage(FEATURES, args.ds, run.run_id)
        transform_fn_staged = catalog.stage(TRANSFORM_FN, transform_fn_version, run.run_id)
        # TFT's scratch space lives in the run's private folder: a crash leaves it with the
        # orphan folder the next commit removes.
        temp_dir = transform_fn_staged.path("_tft_tmp")
        pipeline = beam.Pipeline(options=pipeline_options(cfg, beam_argv))
        with tft_beam.Context(temp_dir=temp_dir, passthrough_keys=set(PASSTHROUGH)):
            build_pipeline(
                pipeline,
                user_files=[f for day, m in users.items() if m for f in catalog.files(CLEAN, day)],
                outcome_files=[f for day, m in outcomes.items() if m for f in catalog.files(OUTCOMES, day)],
                cfg=cfg,
                features_staged=features_staged,
                transform_fn_dir=transform_fn_staged.dir_uri,
            )
        pipeline.run().wait_until_finish()

        catalog.fs.rm(_fs_path(temp_dir), recursive=True)
        # WriteTransformFn writes transform_fn/ and transformed_metadata/ only; TFTransformOutput
        # reads the raw schema (serving's parsing spec) from metadata/.
        metadata_io.write_metadata(
            dataset_metadata.DatasetMetadata(features.raw_schema()),
            posixpath.join(transform_fn_staged.dir_uri, "metadata"),
        )
        counts = _split_counts(catalog, features_staged)
        user_rows = sum(m.row_count or 0 for m in users.values() if m)
        labelled_rows = counts[training_set.TRAIN] + counts[training_set.EVAL]
        window.unlabelledRows = user_rows - labelled_rows
        window_extra = {
            "window_days": days,
            "missing_days": {CLEAN: window.missingUsersDays, OUTCOMES: window.missingOutcomesDays},
        }
        transform_fn_manifest = catalog.commit(
            transform_fn_staged, producer=producer, inputs=inputs, code_version=code,
            version=transform_fn_version, extra={**window_extra, "train_rows": counts[training_set.TRAIN]},
        )
        features_manifest = catalog.commit(
            features_staged, producer=producer, inputs=inputs, code_version=code, schema=features_schema(),
            extra={
                **window_extra,
                "transform_fn_version": transform_fn_version,
                "user_rows": user_rows,
                "unlabelled_rows": window.unlabelledRows,
                "train_rows": counts[training_set.TRAIN],
                "eval_rows": counts[training_set.EVAL],
            },
        )
        log.info("committed %s ds=%s (%d train, %d eval, %d unlabelled) and %s version=%s",
                 FEATURES, args.ds, counts[training_set.TRAIN], counts[training_set.EVAL],
                 window.unlabelledRows, TRANSFORM_FN, transform_fn_version)
        run.add_output(features_manifest)
        run.add_output(transform_fn_manifest)
        return [features_manifest, transform_fn_manifest]


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run()
