"""Model lookup, in one place: which model version a pin (or a features partition) derives to.

A model's version is a derivation: the version of what it was trained from, the code version of
the step that trains it (``user_pipeline.steps.code``) and its model settings. So a job that
scores with a model never asks for "the latest": it asks for the model the current training code
derives from the pinned reference version, and gets a clear error naming the command that
trains it when that model is not committed (docs/datasets-and-versions.md).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

from lineage.catalog import Catalog, Manifest, PartitionRef
from lineage.versioning import derivation_version
from user_pipeline.config import PipelineConfig
from user_pipeline.steps import registry
from user_pipeline.steps.code import config_part, step_code_version
from user_pipeline.steps.harness import Plan, StepContext

MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
FEATURES = "features.users_transformed"
TRANSFORM_FN = "models.transform_fn"
JOB_SEEKER = "models.job_seeker"


@dataclass(frozen=True)
class PinnedModel:
    """A model trained from one version of a reference dataset, chosen by a config pin. What it
    is trained from, its dataset, its pin and its settings are the training step's declaration."""

    trainer: tuple[str, str]  # (DAG, step) of the step that trains it
    source_key: str           # the source's name in the derivation (kept: it is part of every version id)

    def trainer_step(self):
        return registry.step(self.trainer[1], self.trainer[0])

    @property
    def dataset(self) -> str:
        """The model dataset (models.spam_filter): the trainer's output."""
        return self.trainer_step().writes[0]

    @property
    def source(self) -> str:
        """The reference dataset it is trained from (reference.spam_labels): the trainer's input."""
        return self.trainer_step().reads[0]

    @property
    def pin(self) -> str:
        """The config key naming the source version in use (spam.labels_version)."""
        return self.trainer_step().version_pin

    @property
    def settings(self) -> str:
        """The model's settings (spam.model): the trainer's config section, part of its version."""
        return self.trainer_step().config[0]

    def version(self, cfg: PipelineConfig, source: PartitionRef) -> str:
        """The version the current training code derives from this ``source`` version."""
        return derivation_version(**{self.source_key: source.to_json()},
                                  code=step_code_version(self.trainer_step(), cfg),
                                  model=config_part(cfg, (self.settings,))[self.settings])

    def pinned(self, cfg: PipelineConfig) -> str:
        """The source version the config pins."""
        return str(config_part(cfg, (self.pin,))[self.pin])

    def resolve(self, catalog: Catalog, cfg: PipelineConfig, source_version: str | None = None) -> Manifest:
        """The committed model derived from ``source_version`` (default: the pin) by the current
        code; a clear error naming the training command when it is not committed."""
        source_version = source_version or self.pinned(cfg)
        source = catalog.manifest(self.source, source_version)
        if source is None:
            raise FileNotFoundError(f"{self.source} version={source_version} ({self.pin}) is not committed")
        version = self.version(cfg, source.ref)
        model = catalog.manifest(self.dataset, version)
        if model is None:
            step = self.trainer_step()
            raise FileNotFoundError(
                f"no {self.dataset} version={version} (the model the current training code derives from "
                f"{self.source} version={source_version}); train it: "
                f"python -m {step.job} {step.version_flag} {source_version}")
        return model

    def plan(self, ctx: StepContext) -> Plan:
        """The training step's plan: the source version its version flag names (default: the pin),
        and the model version the current code derives from it."""
        given = getattr(ctx.args, self.trainer_step().version_flag.lstrip("-").replace("-", "_"), None)
        source = ctx.catalog.require(self.source, given or self.pinned(ctx.cfg))
        return Plan([source], [(self.dataset, self.version(ctx.cfg, source.ref))])

    def commit(self, ctx: StepContext, model: Any, metadata: dict[str, Any], extra: dict[str, Any]) -> Manifest:
        """Commit a fitted estimator (``model.joblib``) and its ``metadata.json`` as the planned version."""
        import joblib

        ((_, version),) = ctx.plan.outputs
        staged = ctx.stage(self.dataset, version)
        buf = io.BytesIO()
        joblib.dump(model, buf)
        for name, payload in ((MODEL_FILE, buf.getvalue()),
                              (METADATA_FILE, json.dumps(metadata, indent=2, sort_keys=True).encode())):
            with ctx.catalog.fs.open(ctx.catalog.fs_path(staged.path(name)), "wb") as fh:
                fh.write(payload)
        return ctx.commit(staged, version=version, extra=extra)


SPAM_FILTER = PinnedModel((registry.SPAM_FILTER, "train_spam_filter"), "labels")
ID_MATCHER = PinnedModel((registry.ID_MATCHER, "train_id_matcher"), "pairs")


def model_file_uri(catalog: Catalog, manifest: Manifest) -> str:
    """URI of the pickled estimator (``model.joblib``) of a committed scikit-learn model."""
    found = [name for name in manifest.files if name.endswith(f"/{MODEL_FILE}")]
    if len(found) != 1:
        raise ValueError(f"{manifest.dataset} {manifest.partition} has no single {MODEL_FILE}: {manifest.files}")
    return f"{catalog.partition_uri(manifest.dataset, manifest.ref.value)}/{found[0]}"


def load_model_file(uri: str):
    """Unpickle a committed model (our own artifact: never load one from elsewhere)."""
    import fsspec
    import joblib

    with fsspec.open(uri, "rb") as fh:
        return joblib.load(fh)


# -- the job-seeker model: derived from a features partition and its transform_fn ------------
def committed_dir(catalog: Catalog, dataset: str, value: str) -> str:
    """The folder holding a committed artifact's files (its committing run's ``run=<id>/``)."""
    manifest = catalog.require(dataset, value)
    folders = {name.split("/", 1)[0] for name in manifest.files}
    if len(folders) != 1:
        raise ValueError(f"{dataset} {manifest.partition}: expected one run folder, found {sorted(folders)}")
    return f"{catalog.partition_uri(dataset, value)}/{folders.pop()}"


def transform_fn_of(catalog: Catalog, features: Manifest) -> Manifest:
    """The committed transform_fn the features partition was transformed with.

    The link is explicit: preprocess writes the transform_fn version into the features manifest
    (``extra.transform_fn_version``), and both list the same inputs (one run, one window)."""
    version = features.extra.get("transform_fn_version")
    if not version:
        raise ValueError(f"{FEATURES} {features.partition} names no transform_fn_version in its manifest")
    transform_fn = catalog.require(TRANSFORM_FN, version)
    if transform_fn.inputs != features.inputs:
        raise ValueError(
            f"{TRANSFORM_FN} version={version} was derived from other inputs than {FEATURES} "
            f"{features.partition}: re-run beam_jobs.preprocess for that date"
        )
    return transform_fn


def job_seeker_version(cfg: PipelineConfig, inputs: list[PartitionRef]) -> str:
    """The version of the model the current training code trains from ``inputs`` (features, transform_fn)."""
    train = registry.step("train")
    return derivation_version(inputs=[ref.to_json() for ref in inputs], code=step_code_version(train, cfg),
                              train=cfg.train.model_dump())


def job_seeker_for(catalog: Catalog, cfg: PipelineConfig, ds: str) -> Manifest:
    """The committed ``models.job_seeker`` the current code trains from the features of ``ds``."""
    features = catalog.require(FEATURES, ds)
    version = job_seeker_version(cfg, [features.ref, transform_fn_of(catalog, features).ref])
    model = catalog.manifest(JOB_SEEKER, version)
    if model is None:
        raise FileNotFoundError(
            f"no {JOB_SEEKER} trained by this code from {FEATURES} ds={ds} (expected version={version}): "
            f"run python -m {registry.step('train').job} --ds {ds}, or pass --model-version")
    return model
