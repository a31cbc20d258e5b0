"""Statistics and drift of a committed partition: ``<dataset>`` -> its ``statistics.outputs`` dataset.

    python -m beam_jobs.statistics --dataset curated.users_clean --ds 2026-01-02
        [--reference ds=2026-01-01 | --reference-days N] [--force] [--config PATH]
        [--ol_parent_id ... lineage parent options set by the Airflow task]

Reads the committed partition through the catalog, computes per-column statistics
(``transforms.statistics``) and commits them as a partition of the statistics dataset
(``stats.users_clean``, ds=...): ``statistics.pb`` (binary ``DatasetFeatureStatisticsList``, what
TFDV's ``load_stats_binary`` reads), ``statistics.json`` (its JSON mapping) and ``drift.json``;
the manifest's inputs are the partition's version and the reference versions. Drift
(``transforms.drift``) is against the reference: ``--reference ds=...``, else the committed
partitions in the ``--reference-days`` (default ``drift.reference_days``) days before ``ds``; with
no reference partition nothing is compared (the first day). Pages for people go to
``<data root>/<statistics.reports_dir>/<dataset>/ds=<ds>/`` (``user_pipeline.reports.statistics``).

Lineage (``lineage.emit.step_run``): the analysed partition is an input whose COMPLETE/FAIL event
carries ``dataQualityMetrics`` (row count; per column count, nulls, distinct, min, max, sum,
quantiles), ``dataQualityAssertions`` (one per compared feature: ``drift_linf`` / ``drift_js``,
the figure as ``actual``, the threshold as ``expected``) and a ``drift`` facet with every figure
including PSI. Everything is computed in one process on Arrow (exact quantiles and distinct
counts need the whole partition; 1M rows x 30 columns take seconds, see bench/statistics.py).

Exit codes: 0 done (warnings printed), 1 a failure-severity drift fired (the statistics are
committed; the run's lineage is FAIL), 2 it could not run (input not committed, unknown dataset).
"""

from __future__ import annotations

import json
import logging
from datetime import date, timedelta
from typing import Any

import attr
import fsspec
import pyarrow as pa
from openlineage.client.generated import data_quality_metrics_input_dataset as dq_metrics
from openlineage.client.generated.base import DatasetFacet

import user_pipeline.reports.statistics as statistics_pages
from lineage.catalog import Catalog, Manifest
from lineage.emit import StepRun
from lineage.naming import SCHEMA_BASE
from lineage.quality import drift_assertions_facet
from transforms.drift import FeatureDrift, compare, failures, warnings
from transforms.schema import content_columns, with_roles
from transforms.statistics import DatasetFeatureStatisticsList, dataset_statistics, from_bytes, to_json
from user_pipeline.config import PipelineConfig
from user_pipeline.steps.harness import Job, Plan, StepContext, StepRefused

NAME = "beam_jobs.statistics"
STATS_BINARY, STATS_JSON, DRIFT_JSON = "statistics.pb", "statistics.json", "drift.json"
log = logging.getLogger(NAME)


class DriftFailed(StepRefused):
    """A drift of severity ``failure`` fired; the message names the features."""


@attr.define
class DriftDatasetFacet(DatasetFacet):
    """Every drift figure of this dataset version against its reference (incl. PSI)."""

    reference: str
    features: list[dict[str, Any]]

    @staticmethod
    def _get_schema() -> str:
        return f"{SCHEMA_BASE}/DriftDatasetFacet.json"


def reference_partitions(catalog: Catalog, dataset: str, ds: str, reference: str | None,
                         days: int) -> list[Manifest]:
    """The committed partitions drift is measured against (see the module doc)."""
    if reference:
        key, _, value = reference.partition("=")
        if key != "ds" or not value:
            raise ValueError(f"--reference must look like ds=YYYY-MM-DD, got {reference!r}")
        return [catalog.require(dataset, value)]
    start = (date.fromisoformat(ds) - timedelta(days=days)).isoformat()
    return [m for v in catalog.committed(dataset) if start <= v < ds and (m := catalog.manifest(dataset, v))]


def describe(table: pa.Table, name: str, cfg: PipelineConfig,
             dataset: str | None = None) -> DatasetFeatureStatisticsList:
    """The statistics of a table's content columns (run ids are not data; roles as declared for
    ``dataset``) with the configured quantiles, buckets and top values."""
    s = cfg.statistics
    return dataset_statistics(table, name=name, num_quantiles=s.num_quantiles, num_buckets=s.num_buckets,
                              top_k=s.top_k, columns=content_columns(with_roles(table.schema, dataset)))


def metrics_facet(stats: DatasetFeatureStatisticsList) -> dq_metrics.DataQualityMetricsInputDatasetFacet:
    """The standard metrics facet of the analysed partition."""
    columns = {}
    for row in statistics_pages.feature_rows(stats):
        numeric = "mean" in row
        quantiles = {}
        if numeric:
            n = len(row["quantiles"]) - 1
            quantiles = {f"{i / n:g}": q for i, q in enumerate(row["quantiles"])}
        columns[row["feature"]] = dq_metrics.ColumnMetrics(
            nullCount=row["missing"], distinctCount=int(row["distinct"]), count=row["count"],
            # the mean leaves NaNs out, the count does not: no sum rather than a wrong one
            sum=row["mean"] * row["count"] if numeric and not row["nan"] else None,
            min=row.get("min"), max=row.get("max"), quantiles=quantiles,
        )
    return dq_metrics.DataQualityMetricsInputDatasetFacet(
        columnMetrics=columns, rowCount=stats.datasets[0].num_examples)


def attach(step: StepRun, manifest: Manifest, stats: DatasetFeatureStatisticsList, reference: str,
           drifts: list[FeatureDrift]) -> None:
    """Put the figures on the analysed input of the step's COMPLETE or FAIL event."""
    step.input_facets[manifest.ref] = {"dataQualityMetrics": metrics_facet(stats),
                                           "dataQualityAssertions": drift_assertions_facet(drifts)}
    step.input_dataset_facets[manifest.ref] = {
        "drift": DriftDatasetFacet(reference=reference, features=[d.to_json() for d in drifts])}


def _write(uri: str, payload: bytes) -> None:
    with fsspec.open(uri, "wb") as fh:
        fh.write(payload)


def _read(uri: str) -> bytes:
    with fsspec.open(uri, "rb") as fh:
        return fh.read()


def _committed_file(catalog: Catalog, manifest: Manifest, name: str) -> str:
    base = catalog.partition_uri(manifest.dataset, manifest.ref.value)
    return next(f"{base}/{f}" for f in manifest.files if f.endswith(f"/{name}"))


def arguments(parser) -> None:
    parser.add_argument("--dataset", required=True, help="the analysed dataset, e.g. curated.users_clean")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--reference", help="drift reference partition, e.g. ds=2026-01-01")
    group.add_argument("--reference-days", type=int, help="reference: committed partitions in the N days before ds")


def plan(ctx: StepContext) -> Plan:
    """The analysed partition and its drift reference partitions; the statistics partition."""
    dataset, ds, cfg, catalog = ctx.args.dataset, ctx.ds, ctx.cfg, ctx.catalog
    if dataset not in cfg.statistics.outputs:
        raise KeyError(f"no statistics output for {dataset!r}: add it to statistics.outputs "
                       f"(configured: {sorted(cfg.statistics.outputs)})")
    target = cfg.statistics.outputs[dataset]
    if catalog.partition_key(dataset) != "ds" or catalog.partition_key(target) != "ds":
        raise ValueError(f"{dataset} -> {target}: statistics are per daily partition (ds=)")
    source = catalog.require(dataset, ds)
    refs = reference_partitions(catalog, dataset, ds, ctx.args.reference,
                                ctx.args.reference_days or cfg.drift.reference_days)
    return Plan([source, *refs], [(target, ds)], {"reference": ", ".join(f"{m.partition}@{m.version}" for m in refs)})


def compute(ctx: StepContext) -> str:
    """Compute, commit and report the statistics and drift of one partition (raises DriftFailed)."""
    source, *refs = ctx.plan.inputs
    ((target, ds),) = ctx.plan.outputs
    dataset, ref_label, cfg = source.dataset, ctx.plan.extra["reference"], ctx.cfg
    table = ctx.catalog.read_table(dataset, ds)
    stats = describe(table, f"{dataset}@{source.version}", cfg, dataset)
    drifts = []
    if refs:
        ref_table = pa.concat_tables([ctx.catalog.read_table(dataset, m.ref.value) for m in refs],
                                     promote_options="default")
        drifts = compare(stats, describe(ref_table, ref_label, cfg, dataset), cfg.drift, tables=(table, ref_table),
                         num_buckets=cfg.statistics.num_buckets, schema=with_roles(table.schema, dataset))
    staged = ctx.stage(target, ds)
    _write(staged.path(STATS_BINARY), stats.SerializeToString())
    _write(staged.path(STATS_JSON), to_json(stats).encode())
    _write(staged.path(DRIFT_JSON), json.dumps(
        {"dataset": dataset, "version": source.version, "reference": ref_label,
         "drifts": [d.to_json() for d in drifts]}, indent=1).encode())
    pages = statistics_pages.write(cfg, dataset, source.partition, source.version, stats, ref_label, drifts)
    manifest = ctx.commit(staged, extra={
        "analysed": f"{dataset}@{source.version}", "reference": ref_label,
        "drift_warnings": [d.feature for d in warnings(drifts)],
        "drift_failures": [d.feature for d in failures(drifts)],
        "reports": pages})
    return _report(ctx, manifest, stats, drifts)


def reuse(ctx: StepContext, reused: list[Manifest]) -> str:
    """A skipped run reports the stored figures (and refuses again on a stored failing drift)."""
    manifest = reused[0]
    stats = from_bytes(_read(_committed_file(ctx.catalog, manifest, STATS_BINARY)))
    saved = json.loads(_read(_committed_file(ctx.catalog, manifest, DRIFT_JSON)))
    return _report(ctx, manifest, stats, [FeatureDrift(**d) for d in saved["drifts"]])


def _report(ctx: StepContext, manifest: Manifest, stats: DatasetFeatureStatisticsList,
            drifts: list[FeatureDrift]) -> str:
    source = ctx.plan.inputs[0]
    ref_label = ctx.plan.extra["reference"]
    attach(ctx.run, source, stats, ref_label, drifts)
    fired = failures(drifts)
    if fired:
        raise DriftFailed("DRIFT FAILURE: drift above threshold (failure): " + "; ".join(
            f"{d.feature} {d.metric}={d.value:.4g} > {d.threshold}" for d in fired))
    for d in warnings(drifts):
        print(f"drift warning: {d.feature} {d.metric}={d.value:.4g} > {d.threshold}")
    return (f"statistics of {source.dataset} committed as {manifest.dataset}@{manifest.version}; "
            f"reference: {ref_label or 'none'}; report: {manifest.extra.get('reports', {}).get('statistics', '')}")


JOB = Job(NAME, compute, plan=plan, arguments=arguments, on_skip=reuse)
run, main = JOB.run, JOB.main

if __name__ == "__main__":
    JOB.exit()
