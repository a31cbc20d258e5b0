"""The gate: validate a committed partition against its dataset's suite (docs/architecture.md#gates).

    python -m expectations.gate --dataset curated.users_clean --ds 2026-01-01 [--config PATH]
        [--ol_parent_id ... lineage parent options set by the Airflow task]
    python -m expectations.gate --dataset reference.spam_labels --version v1 [--ds 2026-01-01]

Reads the committed partition through the catalog, runs the suite in-process (ephemeral GX
context, pandas), stores the result with the partition (JSON) and as an HTML report, and emits
its own OpenLineage run (job ``expectations.gate``) whose input is the partition at its version;
the COMPLETE or FAIL event carries ``dataQualityAssertions`` and ``dataQualityMetrics`` on that
input. Exit codes: 0 passed (warnings are printed, not fatal), 1 a critical check failed (the
summary says which check, column, how many rows, examples and the threshold), 2 the gate could
not validate (the partition is not committed, or holds values the gate cannot read or compare:
the summary, the stored result and the FAIL event's ``gate`` facet say why; no traceback).
"""

from __future__ import annotations

import importlib.metadata
import logging
import time
from datetime import UTC, datetime

from openlineage.client import OpenLineageClient

from expectations import report, store
from expectations.facets import attach
from expectations.results import GateResult
from expectations.suites import SUITES, SuiteContext, build_checks, id_column
from expectations.validate import column_metrics, run_checks
from lineage.catalog import Catalog, Manifest
from lineage.emit import LineageEmitter, ParentRun
from lineage.versioning import derivation_version
from user_pipeline.config import PipelineConfig
from user_pipeline.steps import registry
from user_pipeline.steps.code import step_code_version
from user_pipeline.steps.harness import Job, Plan, StepContext, StepCouldNotRun, StepRefused

NAME = "expectations.gate"
log = logging.getLogger(NAME)


class GateFailed(StepRefused):
    """A critical check failed; the message is the gate's summary."""

    def __init__(self, result: GateResult):
        super().__init__(result.summary())
        self.result = result


class GateCouldNotValidate(StepCouldNotRun):
    """The gate could not validate the partition (``GateResult.not_validated`` says why); the
    message is the gate's summary."""

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


def validate_staged(cfg: PipelineConfig, manifest: Manifest, table, previous: Manifest | None, *,
                    run_id: str = "") -> GateResult:
    """Validate a sealed, not yet committed partition (``manifest``, its rows ``table``) against its
    dataset's suite, storing nothing: a fix is gated before its commit, so a refused one commits
    nothing. KeyError when the dataset has no suite."""
    if manifest.dataset not in SUITES:
        raise KeyError(f"no expectation suite for {manifest.dataset!r}")
    result = _validate(cfg, Catalog(cfg), manifest, previous, store_results=False, run_id=run_id, table=table)
    result.results_uri = result.report_uri = ""  # nothing stored: the summary names no file
    return result


def fingerprint(cfg: PipelineConfig, manifest: Manifest, previous: Manifest | None) -> str:
    """What a gate result depends on besides the data: the gate's code version (the suites it
    imports, the ``gates`` config), the partition, and the previous partition's version (row-count
    checks compare against it)."""
    code = step_code_version(registry.steps_of_job(NAME)[0], cfg)
    return derivation_version(code=code, dataset=manifest.dataset, partition=manifest.partition,
                              previous=previous.version if previous else None)


def _validate(cfg: PipelineConfig, catalog: Catalog, manifest: Manifest, previous: Manifest | None, *,
              store_results: bool, run_id: str, table=None) -> GateResult:
    started = time.perf_counter()
    dataset, value = manifest.dataset, manifest.ref.value
    results, metrics, not_validated = [], {}, None
    try:
        checks = build_checks(SuiteContext(cfg, dataset, value, manifest, previous))
        if table is None:
            table = catalog.read_table(dataset, value)
        results = run_checks(table, checks, examples=cfg.gates.examples, id_column=id_column(dataset))
        metrics = column_metrics(table)
    except Exception as exc:  # noqa: BLE001 - whatever stops validation is the gate's answer, not a crash
        # A value the gate cannot read or compare is not a failed check (exit 2, not 1); the
        # traceback goes to the lineage FAIL event, the reason to the summary and the stored result.
        log.debug("could not validate %s %s", dataset, manifest.partition, exc_info=True)
        not_validated = f"{type(exc).__name__}: {exc}"
        results = []
    result = GateResult(
        dataset=dataset,
        partition=manifest.partition,
        version=manifest.version,
        row_count=manifest.row_count or 0,
        checks=results,
        metrics=metrics,
        validated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        seconds=round(time.perf_counter() - started, 3),
        gx_version=importlib.metadata.version("great-expectations"),
        results_uri=store.results_uri(catalog, dataset, value, manifest.version),
        report_uri=store.report_uri(cfg, dataset, manifest.partition),
        run_id=run_id,
        fingerprint=fingerprint(cfg, manifest, previous),
        not_validated=not_validated,
    )
    if store_results:
        store.save_result(result)
        store.put_atomic(result.report_uri, report.render(result).encode())
    return result


def arguments(parser) -> None:
    parser.add_argument("--dataset", required=True, choices=sorted(SUITES), help="the dataset to validate")
    parser.add_argument("--version", help="version id of reference data (with --version, --ds is the run's date)")


def plan(ctx: StepContext) -> Plan:
    """The partition to validate (``--ds`` of a daily dataset, ``--version`` of reference data)
    and the partition before it (``Catalog.previous``)."""
    dataset = ctx.args.dataset
    key = ctx.cfg.dataset(dataset).partitioning
    value = ctx.args.ds if key == "ds" else ctx.args.version
    if value is None:
        raise LookupError(f"{dataset} is partitioned by {key}: use --{key}")
    manifest = ctx.catalog.require(dataset, value)
    previous = previous_partition(ctx.catalog, dataset, value)
    # The row-count checks compare against the previous date's partition, so it is an input: its
    # lineage says a re-committed earlier date can change this verdict. A reference version's
    # predecessor is only what it replaces (a fix's gate did not derive from the bad version).
    return Plan([manifest, *([previous] if previous and key == "ds" else [])], [], {"previous": previous})


def compute(ctx: StepContext) -> str:
    """Validate (or reuse a stored pass of the same version and fingerprint); refuse on a critical failure.

    A passed result stored for the same version and fingerprint is reused (a content-addressed
    skip: the same data, suite, config and previous partition give the same result; a backfill
    that left a partition unchanged does not validate it again) unless ``--force``."""
    manifest, previous = ctx.plan.inputs[0], ctx.plan.extra["previous"]
    dataset, value = manifest.dataset, manifest.ref.value
    stored = None if ctx.args.force else store.load_result(ctx.cfg, dataset, value)
    if (stored is not None and stored.success and stored.version == manifest.version
            and stored.fingerprint == fingerprint(ctx.cfg, manifest, previous)):
        ctx.run.skipped, ctx.run.reused = True, stored.results_uri
        attach(ctx.run, manifest.ref, stored)
        ctx.result = stored
        return stored.summary()
    result = _validate(ctx.cfg, ctx.catalog, manifest, previous, store_results=True, run_id=ctx.run_id)
    attach(ctx.run, manifest.ref, result)
    ctx.result = result
    if result.not_validated is not None:
        raise GateCouldNotValidate(result)
    if not result.success:
        raise GateFailed(result)
    return result.summary()


JOB = Job(NAME, compute, plan=plan, arguments=arguments, ds_required=False, integration="GREAT_EXPECTATIONS",
          skips=False, log_level=logging.WARNING)
run, main = JOB.run, JOB.main


def run_gate(cfg: PipelineConfig, dataset: str, value: str, *, parent: ParentRun | None = None,
             client: OpenLineageClient | None = None, nominal_date: str | None = None,
             force: bool = False) -> GateResult:
    """Validate as a pipeline step (the same run as ``python -m expectations.gate``), with its own
    lineage run; raises GateFailed on a critical failure, GateCouldNotValidate when it could not
    validate. ``nominal_date`` defaults to the
    partition date of a daily dataset."""
    key = cfg.dataset(dataset).partitioning
    argv = ["--dataset", dataset, *(["--ds", value] if key == "ds" else ["--version", value]),
            *(["--ds", nominal_date] if nominal_date and key != "ds" else []), *(["--force"] if force else [])]
    ctx = JOB.context(argv, cfg)
    ctx.parent = parent or ctx.parent
    return JOB.execute(ctx, emitter=LineageEmitter(cfg, client=client)).result


if __name__ == "__main__":
    JOB.exit()
