"""Where training finds its inputs and the serving model, and how the model version is named.

The link from the features to their transform_fn is explicit: the preprocess job writes the
transform_fn version into the features manifest (``extra.transform_fn_version``), and both
manifests list the same inputs (they come from one run over one training window).
"""

from __future__ import annotations

from lineage.catalog import Catalog, Manifest, PartitionRef
from lineage.versioning import derivation_version

FEATURES = "features.users_transformed"
TRANSFORM_FN = "models.transform_fn"
MODEL = "models.job_seeker"


def committed_dir(catalog: Catalog, dataset: str, value: str) -> str:
    """The folder holding a committed artifact's files (its committing run's ``run=<id>/``)."""
    manifest = catalog.require(dataset, value)
    folders = {name.split("/", 1)[0] for name in manifest.files}
    if len(folders) != 1:
        raise ValueError(f"{dataset} {manifest.partition}: expected one run folder, found {sorted(folders)}")
    return f"{catalog.partition_uri(dataset, value)}/{folders.pop()}"


def transform_fn_of(catalog: Catalog, features: Manifest) -> Manifest:
    """The committed transform_fn the features partition was transformed with."""
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


def model_version(inputs: list[PartitionRef], code: str, train_config: dict) -> str:
    """The version of the model trained from ``inputs`` by ``code`` with ``train_config``."""
    return derivation_version(inputs=[ref.to_json() for ref in inputs], code=code, train=train_config)
