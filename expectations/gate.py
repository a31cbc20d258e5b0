"""The gate: validate a committed partition against its dataset's suite (DESIGN §5).

    python -m expectations.gate --dataset curated.users_clean --ds 2026-01-01 [--config PATH]
        [--ol_parent_id ... lineage parent options set by the Airflow task]
    python -m expectations.gate --dataset reference.spam_labels --version v1 [--ds 2026-01-01]

Reads the committed partition through the catalog, runs the suite in-process (ephemeral GX
context, pandas), stores the result with the partition (JSON) and as an HTML report, and emits
its own OpenLineage run (job ``expectations.gate``) whose input is the partition at its version;
the COMPLETE or FAIL event carries ``dataQualityAssertions`` and ``dataQualityMetrics`` on that
input. Exit codes: 0 passed (warnings are printed, not fatal), 1 a critical check failed (the
summary says which check, column, how many rows, examples and the threshold), 2 the gate could
not run (e.g. the partition is not committed).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import great_expectations as gx
from openlineage.client import OpenLineageClient

from expectations import report, store
from expectations.facets import attach, engine_facet
from expectations.results import GateResult
from expectations.suites import ID_COLUMNS, SUITES, SuiteContext, build_checks
from expectations.validate import column_metrics, run_checks
from lineage.catalog import Catalog, Manifest
from lineage.emit import LineageEmitter, ParentRun, step_run
from lineage.versioning import code_version
from user_pipeline.config import PipelineConfig, load_config

JOB = "expectations.gate"
log = logging.getLogger(JOB)


class GateFailed(RuntimeError):
    """A critical check failed; the message is the gate's summary."""

    def __init__(self, result: GateResult):
        super().__init__(result.summary())
        self.result = result


def previous_partition(catalog: Catalog, dataset: str, value: str) -> Manifest | None:
    """The committed partition before ``value`` (``Catalog.previous``)."""
    return catalog.previous(dataset, value)


def validate_partition(cfg: PipelineConfig, dataset: str, value: str, *, store_results: bool = True,
                       run_id: str = "") -> GateResult:
    """Validate the committed partition ``value`` of ``dataset``; store its JSON result and HTML report.

    Returns the result whether or not it passed (``result.success``); raises FileNotFoundError
    when the partition is not committed and KeyError when the dataset has no suite.
    """
    catalog = Catalog(cfg)
    manifest = catalog.require(dataset, value)
    return _validate(cfg, catalog, manifest, previous_partition(catalog, dataset, value),
                     store_results=store_results, run_id=run_id)


def fingerprint(cfg: PipelineConfig, manifest: Manifest, previous: Manifest | None) -> str:
    """What a gate result depends on besides the data: the suite code (this package), the gate
    config, and the previous partition's version (row-count checks compare against it)."""
    return code_version(str(Path(__file__).parent), config={
        "gates": cfg.gates.model_dump(), "dataset": manifest.dataset, "partition": manifest.partition,
        "previous": previous.version if previous else None})


def _validate(cfg: PipelineConfig, catalog: Catalog, manifest: Manifest, previous: Manifest | None, *,
              store_results: bool, run_id: str) -> GateResult:
    started = time.perf_counter()
    dataset, value = manifest.dataset, manifest.ref.value
    context = SuiteContext(cfg, dataset, value, manifest, previous)
    checks = build_checks(context)
    table = catalog.read_table(dataset, value)
    results = run_checks(table, checks, examples=cfg.gates.examples, id_column=ID_COLUMNS.get(dataset))
    result = GateResult(
        dataset=dataset,
        partition=manifest.partition,
        version=manifest.version,
        row_count=table.num_rows,
        checks=results,
        metrics=column_metrics(table),
        validated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        seconds=round(time.perf_counter() - started, 3),
        gx_version=gx.__version__,
        results_uri=store.results_uri(catalog, dataset, value, manifest.version),
        report_uri=store.report_uri(cfg, dataset, manifest.partition),
        run_id=run_id,
        fingerprint=fingerprint(cfg, manifest, previous),
    )
    if store_results:
        store.save_result(result)
        store.put_atomic(result.report_uri, report.render(result).encode())
    return result


def run_gate(cfg: PipelineConfig, dataset: str, value: str, *, parent: ParentRun | None = None,
             client: OpenLineageClient | None = None, nominal_date: str | None = None,
             force: bool = False) -> GateResult:
    """Validate as a pipeline step: with its own lineage run, raising GateFailed on a critical failure.

    The COMPLETE (passed) or FAIL (failed) event carries the results as facets of the input.
    ``nominal_date`` defaults to the partition date of a daily dataset.

    A passed result stored for the same version and fingerprint is reused (a content-addressed
    skip: the same data, suite, config and previous partition give the same result; a backfill
    that left a partition unchanged does not validate it again) unless ``force``.
    """
    catalog = Catalog(cfg)
    manifest = catalog.require(dataset, value)
    emitter = LineageEmitter(cfg, client=client)
    if nominal_date is None and manifest.ref.key == "ds":
        nominal_date = value
    with step_run(cfg, JOB, [manifest.ref], parent=parent, nominal_date=nominal_date, emitter=emitter,
                  engine=engine_facet(), integration="GREAT_EXPECTATIONS") as step:
        previous = previous_partition(catalog, dataset, value)
        stored = None if force else store.load_result(cfg, dataset, value)
        if (stored is not None and stored.success and stored.version == manifest.version
                and stored.fingerprint == fingerprint(cfg, manifest, previous)):
            step.skipped, step.reused = True, stored.results_uri
            attach(step, manifest.ref, stored)
            return stored
        result = _validate(cfg, catalog, manifest, previous, store_results=True, run_id=step.run_id)
        attach(step, manifest.ref, result)
        if not result.success:
            raise GateFailed(result)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see the module doc); returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", required=True, choices=sorted(SUITES), help="the dataset to validate")
    parser.add_argument("--ds", help="partition date YYYY-MM-DD of a daily dataset; with --version, the "
                                     "run's date (the DAG passes --ds to every task)")
    parser.add_argument("--version", help="version id of reference data")
    parser.add_argument("--config", help="pipeline YAML (default: $PIPELINE_CONFIG or conf/pipeline.yaml)")
    parser.add_argument("--force", action="store_true", help="validate even if this version already passed")
    ParentRun.add_args(parser)
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    key = cfg.dataset(args.dataset).partitioning
    value = args.ds if key == "ds" else args.version
    if value is None:
        parser.error(f"{args.dataset} is partitioned by {key}: use --{key}")
    try:
        result = run_gate(cfg, args.dataset, value, parent=ParentRun.from_args(args), nominal_date=args.ds,
                          force=args.force)
    except GateFailed as failed:
        # stderr: the Airflow task's error message is the tail of the job's stderr.
        print(failed.result.summary(), file=sys.stderr)
        return 1
    except FileNotFoundError as missing:
        print(f"GATE ERROR: {missing}", file=sys.stderr)
        return 2
    print(result.summary())
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
