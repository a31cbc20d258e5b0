"""``lineage``: ingest OpenLineage logs and ask version-aware questions (docs/architecture.md#purpose, #lineage).

    lineage ingest [FILE ...] [--from-start]           the configured log by default
    lineage upstream ARTIFACT[@VERSION]                where it came from (latest version if none)
    lineage downstream DATASET[@VERSION]               what was derived from it (all versions if none)
    lineage impact DATASET@VERSION [--html out.html]   what read that version, transitively; current or superseded
    lineage versions DATASET                           every version per partition, current or not
    lineage as-of TIME [--dataset D]                   the store as it stood then
    lineage check [--strict] [--as-of TIME]            incomplete/failed runs, conflicts, lines set aside, external
                                                       inputs
    lineage serve [--host H] [--port P] [--allow-host NAME] [--allow-origin NAME]
                                                       the HTTP service: producers post events, people browse
    lineage backfill DATASET@BAD_VERSION [--dry-run]   plan, then recompute through Airflow (or: --fixed
                                                       DATASET[@FIXED_VERSION])

DATASET is an OpenLineage dataset: its name (``curated.users_clean``) when one namespace holds that
name, else ``NAMESPACE/NAME`` (``s3://bucket/raw/events``, ``postgres://db:5432/shop.public.orders``),
or the name with ``--namespace NAMESPACE``. ``@VERSION`` follows the last ``@`` (a version never
holds ``/``); a name with an ``@`` of its own ends with ``@VERSION`` or a bare ``@``
(``lineage.queries.model.parse_artifact``).

Every query first ingests the configured log (``--no-ingest`` skips it); ``--as-of TIME``
answers from the events up to then; ``--depth`` bounds traversals (default 20). Output is a
table, ``--json`` for machines, ``--format dot|mermaid`` for pictures. Exit codes: 0 done,
1 ``check --strict`` found problems or a backfill did not complete, 2 unknown
dataset/version or bad usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from lineage import graph_render, queries
from lineage.backfill import BackfillExecutor
from lineage.cli.backfill_command import backfill_command
from lineage.cli.listings import as_of_command, check_command, versions_command
from lineage.cli.output import print_json
from lineage.queries import DEFAULT_DEPTH, LineageGraph, LineageLookupError
from lineage.store import IngestReport, LineageStore, LineageUsageError


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", help="pipeline config (default: $PIPELINE_CONFIG or conf/pipeline.yaml)")
    common.add_argument("--store", help="SQLAlchemy URL of the store (default: lineage.store_url of the config)")
    common.add_argument("--json", action="store_true", help="print JSON instead of tables")
    query = argparse.ArgumentParser(add_help=False)
    query.add_argument("--no-ingest", action="store_true", help="do not ingest the configured log first")
    query.add_argument("--as-of", help="only events with eventTime <= this ISO time (UTC if no zone)")
    named = argparse.ArgumentParser(add_help=False)
    named.add_argument("--namespace", help="the OpenLineage namespace of the dataset (its name is then taken verbatim)")
    graph = argparse.ArgumentParser(add_help=False)
    graph.add_argument("--depth", type=int, default=DEFAULT_DEPTH, help="maximum run hops (default %(default)s)")
    graph.add_argument("--partition", help="only this partition of the dataset, e.g. ds=2026-01-01")
    graph.add_argument("--format", choices=["table", "json", "dot", "mermaid"], default="table")
    graph.add_argument("--html", metavar="FILE", help="also write the graph as a self-contained HTML page")

    parser = argparse.ArgumentParser(prog="lineage", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("ingest", parents=[common], help="ingest JSONL files of OpenLineage events")
    p.add_argument("files", nargs="*", help="JSONL files (default: the configured log)")
    p.add_argument("--from-start", action="store_true", help="read whole files again (idempotent)")
    p = sub.add_parser("upstream", parents=[common, query, graph, named], help="provenance of an artifact version")
    p.add_argument("artifact", metavar="ARTIFACT[@VERSION]")
    p = sub.add_parser("downstream", parents=[common, query, graph, named],
                       help="what was derived from a dataset (version)")
    p.add_argument("artifact", metavar="DATASET[@VERSION]")
    p = sub.add_parser("impact", parents=[common, query, graph, named], help="what a (bad) version affected")
    p.add_argument("artifact", metavar="DATASET@VERSION")
    p = sub.add_parser("versions", parents=[common, query, named], help="every version of a dataset per partition")
    p.add_argument("dataset")
    p = sub.add_parser("as-of", parents=[common, query, named], help="the store as it stood at a time")
    p.add_argument("time")
    p.add_argument("--dataset", help="also list the version of each of its slots current then")
    p = sub.add_parser("check", parents=[common, query], help="consistency of the recorded lineage")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 on conflicting terminal events or lines set aside (malformed, unstorable)")
    p = sub.add_parser("backfill", parents=[common, query], help="plan the recomputation after an upstream fix")
    p.add_argument("artifact", nargs="?", metavar="DATASET@BAD_VERSION")
    p.add_argument("--fixed", metavar="DATASET[@FIXED_VERSION]",
                   help="DATASET was fixed: plan from every version of it older than the current one of its "
                        "partition; with @FIXED_VERSION (the good version: a content version or its label, v2, "
                        "ds=2026-01-02; a label names the version committed in that partition), from the versions "
                        "it replaced: those before it in its partition and those its fix replaced (the manifest's "
                        "and the lineage run's replaces), transitively")
    p.add_argument("--dry-run", action="store_true", help="print the plan, run nothing")
    p.add_argument("--airflow-url", help="run through a running Airflow's REST API (default: embedded dag.test)")
    p.add_argument("--airflow-user", help="with --airflow-url: user for a token (password: $AIRFLOW_API_PASSWORD; "
                   "or give a token in $AIRFLOW_API_TOKEN)")
    p.add_argument("--depth", type=int, default=DEFAULT_DEPTH)
    p.add_argument("--partition", help="only this partition of the bad dataset")
    p.add_argument("--no-catalog", action="store_true",
                   help="with --fixed: ignore the committed manifests (and what they replace), use lineage alone")
    p = sub.add_parser("serve", parents=[common], help="HTTP service: OpenLineage endpoint, queries, web pages")
    p.add_argument("--host", help="default: lineage.serve.host of the config (127.0.0.1)")
    p.add_argument("--port", type=int, help="default: lineage.serve.port of the config")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer requests whose Host is NAME (beside lineage.serve.allowed_hosts); repeatable")
    p.add_argument("--allow-origin", action="append", default=[], metavar="NAME",
                   help="also accept writes from browser pages of host NAME (lineage.serve.allowed_origins)")
    return parser


def main(argv: Sequence[str] | None = None, executor: BackfillExecutor | None = None) -> int:
    """Run the ``lineage`` command; returns the exit code. ``executor`` runs backfill plans (the
    pipeline's console script passes Airflow's); without one, ``backfill`` needs ``--dry-run``."""
    args = _parser().parse_args(argv)
    # markup=False: partitions print as "[ds=...]", which rich would take for markup tags.
    console = Console(width=None if sys.stdout.isatty() else 160, markup=False)
    err = Console(stderr=True, width=None if sys.stderr.isatty() else 160, markup=False)
    try:
        if args.command == "backfill" and not args.dry_run and executor is None:
            raise LineageUsageError(
                "this lineage command cannot execute a backfill (it was started without an executor): give "
                "--dry-run for the plan, or run the pipeline's `lineage` console script "
                "(python -m user_pipeline.runner.lineage_command), which executes it through Airflow")
        if args.command == "backfill" and args.as_of:
            # A plan is made against the lineage as it is now: one made as of the past would
            # re-run tasks whose outputs were re-derived since.
            raise LineageUsageError("backfill plans from the lineage as it is now: --as-of is not supported")
        cfg = _config(args)
        store = LineageStore(args.store) if args.store else LineageStore.from_config(cfg)
        if args.command == "ingest":
            return _ingest(store, cfg, args, console)
        if args.command == "serve":
            from lineage.service import serve

            if cfg is None:
                raise LineageUsageError("lineage serve needs the pipeline config (--config)")
            serve(cfg, store, args.host, args.port, args.allow_host, args.allow_origin)
            return 0
        if not getattr(args, "no_ingest", False) and cfg is not None:
            for report in store.ingest_files(cfg.openlineage_log_paths()):
                _note_ingest(report, err)
        if args.command == "backfill":
            return backfill_command(store, cfg, args, console, executor)
        return _COMMANDS[args.command](store, cfg, args, console)
    except LineageLookupError as exc:
        err.print(f"lineage: {exc.args[0]}", style="red")
        return 2
    except LineageUsageError as exc:  # a bad --as-of, a store URL that cannot work
        err.print(f"lineage: {exc}", style="red")
        return 2


def _config(args: argparse.Namespace) -> Any:
    from user_pipeline.config import load_config

    try:
        return load_config(args.config)
    except FileNotFoundError:
        if args.store:  # a store given by URL needs no pipeline config (no log to ingest)
            return None
        raise


# -- ingest ----------------------------------------------------------------------------------------
def _note_ingest(report: IngestReport, err: Console) -> None:
    if report.restarted:
        err.print(f"{report.path}: read again from the start: {report.restarted}", style="yellow")
    for issue in report.issues[:20]:
        err.print(str(issue), style="yellow")
    if len(report.issues) > 20:
        err.print(f"... and {len(report.issues) - 20} more (lineage check)", style="yellow")


def _ingest(store: LineageStore, cfg: Any, args: argparse.Namespace, console: Console) -> int:
    files = args.files or (cfg.openlineage_log_paths() if cfg is not None else [])
    if not files:
        raise LineageUsageError("no file given and no file transport configured")
    missing = [f for f in files if not Path(f).exists()]
    reports = [store.ingest_file(f, from_start=args.from_start) for f in files]
    if args.json:
        print_json(console, {"files": [r.to_json() for r in reports], "missing": missing, "store": store.counts()})
        return 0
    table = Table(title="ingest")
    for column in ("file", "lines", "new events", "already stored", "of those, seen elsewhere", "set aside", "note"):
        table.add_column(column)
    for r in reports:
        note = "missing" if r.path in {os.path.abspath(m) for m in missing} else r.restarted
        note += " (unterminated last line left for later)" if r.pending_tail else ""
        table.add_row(r.path, str(r.lines), str(r.events_new), str(r.events_known), str(r.duplicates),
                      str(len(r.issues)), note)
    console.print(table)
    for r in reports:
        for issue in r.issues:
            console.print(str(issue), style="yellow")
    counts = store.counts()
    console.print(f"store: {counts['events']} events, {counts['runs']} runs, {counts['run_inputs']} inputs, "
                  f"{counts['run_outputs']} outputs")
    return 0


# -- graph queries -----------------------------------------------------------------------------------
def _graph_command(kind: str):
    def run(store: LineageStore, cfg: Any, args: argparse.Namespace, console: Console) -> int:
        dataset, version = queries.parse_artifact(args.artifact)
        common = {"partition": args.partition, "depth": args.depth, "as_of": args.as_of, "namespace": args.namespace}
        if kind == "impact":
            if version is None:
                raise LineageLookupError(f"impact needs a version: {dataset}@VERSION (see: lineage versions {dataset})")
            graph = queries.impact(store, dataset, version, **common)
        elif kind == "upstream":
            graph = queries.upstream(store, dataset, version, **common)
        else:
            graph = queries.downstream(store, dataset, version, **common)
        if args.html:
            Path(args.html).write_text(graph_render.to_html(graph), encoding="utf-8")
        fmt = "json" if args.json else args.format
        if fmt == "json":
            print_json(console, graph.to_json())
        elif fmt == "dot":
            sys.stdout.write(graph_render.to_dot(graph))
        elif fmt == "mermaid":
            sys.stdout.write(graph_render.to_mermaid(graph))
        else:
            _print_graph(graph, console)
            if args.html:
                console.print(f"wrote {args.html}")
        return 0

    return run


def _print_graph(graph: LineageGraph, console: Console) -> None:
    affected = graph.affected()
    current = [a for a in affected if a.status == "current" and not a.external]
    superseded = [a for a in affected if a.status == "superseded"]
    seeds = ", ".join(str(s) for s in graph.seeds[:5]) + (f" (+{len(graph.seeds) - 5})" if len(graph.seeds) > 5 else "")
    when = f" as of {graph.as_of}" if graph.as_of else ""
    console.print(f"{graph.query} of {seeds}{when}: {len(affected)} artifacts "
                  f"({len(current)} current, {len(superseded)} superseded), {len(graph.runs)} runs")
    if graph.truncated:
        console.print(f"cut at depth {graph.depth}: more lies beyond (--depth)", style="yellow")
    producers = {r.run_id: r for r in graph.runs}
    # The namespace is a column only when the answer spans several (our own graph has one).
    spaces = len({a.namespace for a in graph.artifacts}) > 1
    table = Table(title="artifacts")
    for column in ("depth", *(("namespace",) if spaces else ()), "dataset", "partition", "version", "status",
                   "produced by", "replaced by"):
        # Names and versions are what users copy into the next command: folded, never cut.
        table.add_column(column, overflow="fold" if column in ("namespace", "dataset", "version") else "ellipsis")
    for a in graph.artifacts:
        status = ("seed, " if a.seed else "") + ("external" if a.external else a.status)
        style = "yellow" if a.status == "current" and not a.seed and not a.external else (
            "dim" if a.status == "superseded" else "")
        made = [producers[p] for p in a.producers if p in producers]
        by = ", ".join(f"{r.job} {(r.logical_date or '')[:10]}" for r in made[:2]) or (
            f"{len(a.producers)} run(s)" if a.producers else "-")
        table.add_row(str(a.depth), *((a.namespace,) if spaces else ()), a.dataset, a.partition, a.version, status, by,
                      ", ".join(a.replaced_by), style=style)
    console.print(table)
    table = Table(title="runs")
    for column in ("depth", "job", "state", "DAG", "task", "logical date", "DAG run", "run id"):
        table.add_column(column, overflow="fold" if column in ("job", "run id") else "ellipsis")
    for r in graph.runs:
        state = r.state + (" (skipped)" if r.skipped else "") + ("" if r.terminal else " (no terminal event)")
        job = r.job + (" (read by time)" if r.inferred_reads else "")
        task = (r.task_id or "-") + (" (its parent's)" if r.airflow_from == "parent" else "")
        table.add_row(str(r.depth), job, state, r.dag_id or "-", task, r.logical_date or "-",
                      r.dag_run_id or "-", r.run_id, style="red" if r.state in ("FAIL", "ABORT") else "")
    console.print(table)


_COMMANDS = {
    "upstream": _graph_command("upstream"),
    "downstream": _graph_command("downstream"),
    "impact": _graph_command("impact"),
    "versions": versions_command,
    "as-of": as_of_command,
    "check": check_command,
}
