"""What the label CLIs share: the command line, writing reports, reading a reviews CSV."""

from __future__ import annotations

import argparse
import io

import fsspec
import pandas as pd

from lineage.catalog import Catalog
from lineage.emit import ParentRun
from transforms.labels import LabelError

REPORTS = "reports/labels"


def label_parser(description: str) -> argparse.ArgumentParser:
    """``--labels-version``, ``--config``, ``--force`` and the lineage parent options."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--labels-version", help="reference.spam_labels version (default: spam.labels_version)")
    parser.add_argument("--config", help="pipeline YAML (default: $PIPELINE_CONFIG or conf/pipeline.yaml)")
    parser.add_argument("--force", action="store_true", help="recompute even if the output is up to date")
    parser.add_argument("--ds", help="nominal date of the run (lineage only)")
    ParentRun.add_args(parser)
    return parser


def write_report(catalog: Catalog, name: str, payload: bytes) -> str:
    """Write ``<data_root>/reports/labels/<name>`` (any fsspec root) and return its URI."""
    uri = f"{catalog.root}/{REPORTS}/{name}"
    path = catalog.fs_path(uri)
    catalog.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with catalog.fs.open(path, "wb") as fh:
        fh.write(payload)
    return uri


def read_reviews_csv(uri: str) -> pd.DataFrame:
    """A reviewer's CSV as strings (nothing parsed as numbers or NaN); a clear error when it is
    missing, not UTF-8, or not a CSV."""
    fs, path = fsspec.core.url_to_fs(uri)
    if not fs.exists(path):
        raise FileNotFoundError(f"reviews file {uri} not found")
    with fs.open(path, "rb") as fh:
        payload = fh.read()
    try:
        text = payload.decode("utf-8-sig")  # a BOM from spreadsheet exports is fine
    except UnicodeDecodeError as exc:
        raise LabelError(f"{uri} is not UTF-8 (byte {exc.start}: {payload[exc.start:exc.start + 1]!r}); "
                         "save it as UTF-8 CSV") from None
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise LabelError(f"{uri} is not a readable CSV: {exc}") from None
