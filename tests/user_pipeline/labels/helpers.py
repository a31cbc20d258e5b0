"""Spam labels, the held-out messages and a trained spam filter on a test data root."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.parquet as pq

import user_pipeline.training.spam_filter
from lineage.catalog import Catalog, Manifest, Producer
from user_pipeline.datagen import reference

SEED = 20261125


def commit_spam_labels(cfg, version: str = "v1", table: pa.Table | None = None) -> Manifest:
    """Commit ``reference.spam_labels`` (default: the generator's labels) and write the held-out
    messages where training looks for them."""
    catalog = Catalog(cfg)
    manifest = catalog.write_table("reference.spam_labels", version,
                                   table if table is not None else reference.spam_labels(SEED),
                                   producer=Producer("test", "test-labels"), inputs=[], code_version="test")
    buf = io.BytesIO()
    pq.write_table(reference.spam_holdout(), buf)
    path = catalog.fs_path(f"{catalog.root}/{user_pipeline.training.spam_filter.HOLDOUT}")
    catalog.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with catalog.fs.open(path, "wb") as fh:
        fh.write(buf.getvalue())
    return manifest


def train_spam_filter(cfg, version: str = "v1") -> Manifest:
    """Commit the labels (if needed) and train the spam filter on them."""
    if Catalog(cfg).manifest("reference.spam_labels", version) is None:
        commit_spam_labels(cfg, version)
    return user_pipeline.training.spam_filter.run(["--labels-version", version]).output


def write_gold(cfg) -> None:
    """Write the generator's gold labels where the experiments look for them."""
    import user_pipeline.labels.experiment

    catalog = Catalog(cfg)
    buf = io.BytesIO()
    pq.write_table(reference.spam_gold(), buf)
    path = catalog.fs_path(f"{catalog.root}/{user_pipeline.labels.experiment.GOLD}")
    catalog.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with catalog.fs.open(path, "wb") as fh:
        fh.write(buf.getvalue())
