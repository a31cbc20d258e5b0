"""What the label jobs share: the labels version they work on, writing reports, reading a reviews CSV."""

from __future__ import annotations

import argparse
import io
from collections.abc import Callable

import fsspec
import pandas as pd

from lineage.catalog import Catalog
from transforms.labels import LabelError
from user_pipeline.steps.harness import Plan, StepContext
from user_pipeline.steps.models import SPAM_FILTER

REPORTS = "reports/labels"


LABELS = SPAM_FILTER.source


def label_arguments(parser: argparse.ArgumentParser) -> None:
    """``--labels-version`` (default: the ``spam.labels_version`` pin)."""
    parser.add_argument("--labels-version", help="reference.spam_labels version (default: spam.labels_version)")


def labels_plan(output: str) -> Callable[[StepContext], Plan]:
    """A plan reading one labels version and writing ``output`` at that version."""

    def plan(ctx: StepContext) -> Plan:
        labels = ctx.catalog.require(LABELS, ctx.args.labels_version or ctx.cfg.spam.labels_version)
        return Plan([labels], [(output, labels.ref.value)])

    return plan


def write_report(catalog: Catalog, name: str, payload: bytes) -> str:
    """Write ``<data_root>/reports/labels/<name>`` (any fsspec root) and return its URI."""
    uri = report_uri(catalog, name)
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


def sweep_page(version: str) -> str:
    """Name of the label-noise sweep's page of a labels version (``user_pipeline.labels.sweep``)."""
    return f"sweep_{version}.html"


def clean_or_collect_page(version: str) -> str:
    """Name of the "clean or collect" page of a labels version (``user_pipeline.labels.clean_or_collect``)."""
    return f"clean_or_collect_{version}.html"


def clean_or_collect_summary(version: str) -> str:
    """Name of the JSON of the "clean or collect" headlines that the run report shows."""
    return f"clean_or_collect_{version}.json"


def report_uri(catalog: Catalog, name: str) -> str:
    """Where ``write_report`` puts ``name``."""
    return f"{catalog.root}/{REPORTS}/{name}"
