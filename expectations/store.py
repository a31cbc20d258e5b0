"""Where gate results live, written atomically.

- JSON, with the partition: ``<partition uri>/_gates/<content version>.json``. One file per
  validated version, so a result always names the data it judged; re-validating the same
  version replaces its file. The partition's manifest and content version are untouched (the
  manifest lists the ``run=`` files only, and the catalog's clean-up removes only old ``run=``
  folders), and readers of the data never see ``_gates/``.
- HTML, for people: ``<data root>/<gates.reports_dir>/<dataset>/<partition>.html`` (the latest
  validation of that partition).
"""

from __future__ import annotations

import json
import posixpath

import fsspec

from expectations.results import GateResult
from lineage.catalog import Catalog
from user_pipeline.config import PipelineConfig

GATES_DIR = "_gates"


def results_uri(catalog: Catalog, dataset: str, value: str, version: str) -> str:
    """The JSON result of one validated version of a partition."""
    return f"{catalog.partition_uri(dataset, value)}/{GATES_DIR}/{version}.json"


def report_uri(cfg: PipelineConfig, dataset: str, partition: str) -> str:
    """The HTML report of a partition (``partition`` is its label, ``ds=2026-01-01``)."""
    return f"{cfg.data_root}/{cfg.gates.reports_dir}/{dataset}/{partition}.html"


def put_atomic(uri: str, payload: bytes) -> None:
    """Write a temporary file next to ``uri``, then rename it: readers see the old file or the new one."""
    fs, path = fsspec.core.url_to_fs(uri)
    folder = posixpath.dirname(path)
    fs.makedirs(folder, exist_ok=True)
    tmp = f"{folder}/.{posixpath.basename(path)}.tmp"
    with fs.open(tmp, "wb") as fh:
        fh.write(payload)
    fs.mv(tmp, path)


def save_result(result: GateResult) -> None:
    """Store the JSON result at ``result.results_uri``."""
    put_atomic(result.results_uri, json.dumps(result.to_json(), indent=2).encode())


def load_result(cfg: PipelineConfig, dataset: str, value: str) -> GateResult | None:
    """The gate result of the partition's committed version, or None if that version was never gated."""
    catalog = Catalog(cfg)
    manifest = catalog.manifest(dataset, value)
    if manifest is None:
        return None
    fs, path = fsspec.core.url_to_fs(results_uri(catalog, dataset, value, manifest.version))
    if not fs.exists(path):
        return None
    with fs.open(path, "rb") as fh:
        return GateResult.from_json(json.load(fh))
