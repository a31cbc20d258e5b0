"""Fix an upstream dataset: commit a corrected version of a reference dataset or of a raw drop.

    python -m user_pipeline.fix --dataset reference.id_pairs --file pairs.parquet --new-version v2 [--replaces v1]
    python -m user_pipeline.fix --dataset raw.users_partner --ds 2026-01-02 --file users_partner.csv
        [--reason TEXT] [--airflow-url URL [--airflow-user USER]] [--config ...] [lineage parent options]

The upstream datasets are those the pipeline reads and no step of it computes
(``registry.upstream_datasets``: the raw drops and the reference data). A fix

- reads the version it replaces: for ``version=`` data ``--replaces`` (default: the config pin
  of the steps that read it, e.g. ``id_merge.pairs_version``), committed under the new id
  ``--new-version`` (versions are immutable: the same id with other content is refused, with the
  same content it is a no-op); for a daily drop the committed partition of ``--ds``, replaced in
  place;
- takes the corrected content from ``--file``: a tabular dataset (``transforms.schema``) from
  Parquet or CSV with exactly its declared columns, a raw drop as the files given (bytes as they
  are, versioned by their bytes, read by ingest like any drop);
- is gated before it commits: the dataset's Great Expectations suite (if it has one) validates the
  staged partition; a raw drop of a users source is read as ingest reads it (``drop_gate``: every
  file decodes in the source's declared encoding and has the header its format requires, and
  the drop holds records); a failed check commits nothing (exit 1, the reason);
- commits atomically with its manifest (``replaces`` in its extra) and records one OpenLineage
  run: the old version as input, the new one as output, and a ``replaces`` run facet
  (``lineage.naming.ReplacesRunFacet``), so the lineage store knows the run as the fix of that
  version, not as something derived from it.

Run by its DAG (``fix_<dataset>``, ``dags/upstream_fix.py``), the task's outlet emits the dataset's
asset event naming the new version: the DAGs scheduled on it (``id_matcher``, ``spam_filter``)
then train a candidate on that version for review before the config pin moves. Run by hand, the
command creates the same event through Airflow 3's REST API with ``--airflow-url`` (token in
``$AIRFLOW_API_TOKEN``, or ``--airflow-user`` with ``$AIRFLOW_API_PASSWORD``), after the commit
(``post_asset_event``); an event that cannot be sent ends the command with exit code 1, the commit
standing (the same command again reuses it and sends the event). Without ``--airflow-url`` it
says that no event was sent. Then ``lineage backfill --fixed DATASET@VERSION`` plans the
recomputation of what the replaced version fed. ``user_pipeline.labels.fix`` is the same fix
with the corrected labels computed from reviews.
"""

from __future__ import annotations

import argparse
import logging
import os
import posixpath
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from lineage.catalog import Manifest, StagedPartition
from lineage.naming import ReplacesRunFacet
from transforms.ingest import SourceFormat, drop_file_check, source_of
from transforms.schema import declared_schema
from user_pipeline.config import PipelineConfig
from user_pipeline.steps.assets import asset_name, asset_uri, fix_event_extra
from user_pipeline.steps.code import config_part
from user_pipeline.steps.harness import Job, Outcome, Plan, StepContext, StepCouldNotRun, StepRefused
from user_pipeline.steps.registry import fix_dag, steps, upstream_datasets

NAME = "user_pipeline.fix"  # registry.FIX_JOB
log = logging.getLogger(NAME)


class FixError(StepRefused):
    """The fix cannot be made as asked (a file that does not hold the dataset, a bad version id):
    exit code 1, the reason on stderr, nothing committed."""


def arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, help="the upstream dataset to fix, e.g. reference.id_pairs")
    parser.add_argument("--file", action="append", required=True,
                        help="the corrected content (repeat for a raw drop of several files)")
    parser.add_argument("--new-version", help="version id of the corrected version (version= datasets)")
    parser.add_argument("--replaces", help="version id replaced (version= datasets; default: its config pin)")
    parser.add_argument("--reason", default="", help="why: recorded in the manifest and the lineage")
    airflow_arguments(parser)


def airflow_arguments(parser: argparse.ArgumentParser) -> None:
    """``--airflow-url`` and ``--airflow-user``: where the fix's asset event is sent (``announce``)."""
    parser.add_argument("--airflow-url", help="after the commit, create the dataset's asset event through this "
                        "Airflow's REST API, as the fix DAG's outlet would (token: $AIRFLOW_API_TOKEN)")
    parser.add_argument("--airflow-user", help="with --airflow-url: user a token is asked for (password: "
                        "$AIRFLOW_API_PASSWORD)")


def pinned_version(cfg: PipelineConfig, dataset: str) -> str | None:
    """The version of a ``version=`` dataset the config pins (the ``version_pin`` of the steps that read it)."""
    pins = {s.version_pin for s in steps() if s.version_pin and dataset in s.reads}
    values = {str(config_part(cfg, (pin,))[pin]) for pin in pins}
    return values.pop() if len(values) == 1 else None


def replaced_partition(ctx: StepContext, dataset: str, replaces: str | None,
                       new_version: str | None) -> tuple[Manifest, str]:
    """The committed version a fix of ``dataset`` replaces, and the partition value it commits:
    ``(version=<replaces>, <new_version>)`` for reference data, ``(ds=<--ds>, --ds)`` for a drop."""
    if dataset not in upstream_datasets():
        raise LookupError(f"{dataset} is not an upstream dataset (it is computed by a step: re-run or backfill "
                          f"that step instead); upstream datasets: {', '.join(upstream_datasets())}")
    if ctx.catalog.partition_key(dataset) == "ds":
        if not ctx.ds:
            raise FixError(f"{dataset} is daily: give --ds, the date whose drop the fix replaces")
        if new_version or replaces:
            raise FixError(f"a drop of {dataset} is replaced in place (its date): no --new-version or --replaces")
        replaced = ctx.catalog.manifest(dataset, ctx.ds)
        if replaced is None:
            raise FileNotFoundError(f"{dataset} has no committed drop for ds={ctx.ds}: nothing to fix (a new drop "
                                    "is committed as it arrives)")
        return replaced, ctx.ds
    replaces = replaces or pinned_version(ctx.cfg, dataset)
    if not replaces:
        raise FixError(f"give --replaces: no config pin names the version of {dataset} in use")
    if not new_version:
        raise FixError(f"give --new-version: the id of the corrected {dataset} (versions are immutable)")
    if new_version == replaces:
        raise FixError(f"--new-version must differ from the version it replaces ({replaces!r})")
    return ctx.catalog.require(dataset, replaces), new_version


def plan(ctx: StepContext) -> Plan:
    """Input: the replaced version; output: the corrected partition."""
    args = ctx.args
    replaced, value = replaced_partition(ctx, args.dataset, args.replaces, args.new_version)
    missing = [f for f in args.file if not Path(f).is_file()]
    if missing:
        raise FileNotFoundError(f"no such file: {', '.join(missing)}")
    return Plan([replaced], [(args.dataset, value)])


def read_table_file(path: str, schema: pa.Schema) -> pa.Table:
    """A Parquet or CSV file as a table of exactly ``schema`` (columns in its order, its types);
    FixError naming what differs otherwise."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    try:
        if path.endswith(".parquet"):
            table = pq.read_table(path)
        else:
            table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
                column_types={f.name: f.type for f in schema}, strings_can_be_null=False))
    except (pa.ArrowInvalid, OSError) as exc:
        raise FixError(f"{path}: not a readable Parquet or CSV file of the dataset: {exc}") from None
    missing = [n for n in schema.names if n not in table.column_names]
    extra = [n for n in table.column_names if n not in schema.names]
    if missing or extra:
        raise FixError(f"{path}: columns differ from the dataset's: missing {missing}, not declared {extra}")
    try:
        return table.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise FixError(f"{path}: a column does not convert to its declared type: {exc}") from None


def stage_files(ctx: StepContext, dataset: str, value: str, files: Sequence[str]) -> tuple[StagedPartition, Manifest]:
    """Stage and seal the corrected content: a declared table, or the files of a drop as they are."""
    schema = declared_schema(dataset)
    if schema is not None:
        if len(files) != 1:
            raise FixError(f"{dataset} is one table: give one --file")
        return ctx.seal_table(dataset, value, read_table_file(files[0], schema))
    names = [posixpath.basename(f) for f in files]
    if len(set(names)) != len(names):
        raise FixError(f"the files of a drop need distinct names: {names}")
    staged = ctx.stage(dataset, value)
    for source, name in zip(files, names, strict=True):
        with open(source, "rb") as src, ctx.catalog.fs.open(ctx.catalog.fs_path(staged.path(name)), "wb") as out:
            out.write(src.read())
    return staged, ctx.seal(staged)


def _discard(ctx: StepContext, *staged: StagedPartition) -> None:
    """Remove what this run staged and will not commit (it would only wait for the next commit's cleanup)."""
    for partition in staged:
        path = ctx.catalog.fs_path(partition.dir_uri)
        if ctx.catalog.fs.exists(path):
            ctx.catalog.fs.rm(path, recursive=True)


def drop_gate(ctx: StepContext, fmt: SourceFormat, staged: StagedPartition) -> str:
    """What can be checked of a staged raw drop before ingest reads it, as ingest reads it
    (``transforms.ingest.drop_file_check``): every file decodes in the source's declared encoding
    and has the header its format requires, and the drop holds at least one record. Raises
    StepRefused naming each problem; returns a note for the summary."""
    names = ctx.catalog.staged_files(staged)
    records, problems = 0, []
    for name in names:
        with ctx.catalog.fs.open(ctx.catalog.fs_path(f"{staged.partition_uri}/{name}"), "rb") as fh:
            count, problem = drop_file_check(fmt, fh.read())
        records += count
        if problem:
            problems.append(f"{posixpath.basename(name)}: {problem}")
    if not problems and not records:
        problems.append(f"no record in {len(names)} file(s): ingest would read nothing of this drop")
    if problems:
        raise StepRefused(f"fix not committed: DROP REFUSED ({fmt.name} drop, declared {fmt.encoding}): "
                          + "; ".join(problems))
    return f"drop readable as ingest reads it: {records} records in {len(names)} file(s), {fmt.encoding}"


def gate(ctx: StepContext, replaced: Manifest, staged: StagedPartition, manifest: Manifest) -> str:
    """Validate the staged partition before anything is committed: with its dataset's suite, or a
    raw drop of a users source with ``drop_gate``; raises StepRefused (a critical check failed) or
    StepCouldNotRun; returns a note for the summary."""
    from expectations.suites import SUITES

    source = source_of(manifest.dataset)
    if source is not None:
        return drop_gate(ctx, source, staged)
    if manifest.dataset not in SUITES:
        return "no expectation suite"
    from expectations.gate import validate_staged

    # The row-count checks compare with the previous partition: the replaced version for
    # reference data, the date before for a drop (what the daily gate compares it with).
    previous = (replaced if manifest.ref.key == "version"
                else ctx.catalog.previous(manifest.dataset, manifest.ref.value))
    result = validate_staged(ctx.cfg, manifest, ctx.catalog.read_staged(staged), previous, run_id=ctx.run_id)
    if result.not_validated is not None:
        raise StepCouldNotRun(f"fix not committed: {result.summary()}")
    if not result.success:
        raise StepRefused(f"fix not committed: {result.summary()}")
    return f"gate {result.verdict}"


def commit_fix(ctx: StepContext, replaced: Manifest, main: tuple[StagedPartition, Manifest],
               *companions: tuple[StagedPartition, Manifest], reason: str = "") -> str:
    """Commit a sealed corrected version of an upstream dataset that replaces ``replaced``, with the
    partitions committed with it (``companions``, e.g. the reviewed corrections of labels), in one
    commit, after its gate. A version id already holding exactly this content is reused (the run is
    a skip); with other content it is refused (versions are immutable). Returns the summary."""
    staged, manifest = main
    dataset, value = manifest.dataset, manifest.ref.value
    existing = ctx.catalog.manifest(dataset, value)
    if existing is not None and existing.version == manifest.version:
        _discard(ctx, staged, *(s for s, _ in companions))
        ctx.run.skipped = True
        ctx.output(existing)
        return f"{dataset} {existing.partition} already holds exactly this content ({existing.version}): nothing to do"
    if existing is not None and existing.version != replaced.version:
        _discard(ctx, staged, *(s for s, _ in companions))
        raise FileExistsError(f"{dataset} {existing.partition} exists with other content; versions are immutable: "
                              "choose a new --new-version")
    try:
        checked = gate(ctx, replaced, staged, manifest)
    except (StepRefused, StepCouldNotRun):
        _discard(ctx, staged, *(s for s, _ in companions))
        raise
    manifest.extra["replaces"] = {"partition": replaced.partition, "version": replaced.version,
                                  **({"reason": reason} if reason else {})}
    ctx.run.run_facets["replaces"] = ReplacesRunFacet(
        dataset=dataset, partition=manifest.partition, version=manifest.version, replaces=replaced.version,
        replacesPartition=replaced.partition, reason=reason)
    # One commit: the corrected version is never visible without what was committed with it.
    ctx.publish_together(main, *companions)
    return (f"{dataset} {manifest.partition}@{manifest.version} replaces {replaced.partition}@{replaced.version} "
            f"({checked}); next: lineage backfill --fixed {dataset}@{label(manifest)}")


def label(manifest: Manifest) -> str:
    """The label users know a committed partition by: ``v2`` (a version), ``ds=2026-01-02`` (a date)."""
    return manifest.ref.value if manifest.ref.key == "version" else manifest.partition


def compute(ctx: StepContext) -> str:
    """Stage the given file(s) as the corrected version and commit it as the fix of the replaced one."""
    (replaced,) = ctx.plan.inputs
    ((dataset, value),) = ctx.plan.outputs
    return commit_fix(ctx, replaced, stage_files(ctx, dataset, value, ctx.args.file), reason=ctx.args.reason)


class AirflowEventError(RuntimeError):
    """Airflow did not create the asset event: the call, its status and Airflow's answer."""


def post_asset_event(url: str, dataset: str, extra: dict, *, token: str | None = None, username: str | None = None,
                     password: str | None = None, timeout_s: float = 60.0) -> dict:
    """Create an event on ``dataset``'s asset through Airflow 3's REST API, as a task's outlet
    would: the asset's id looked up by its URI and name (``GET /api/v2/assets``; the pattern
    there is a substring search, so the answer is filtered exactly), then ``POST
    /api/v2/assets/events`` with ``asset_id`` and ``extra``. Authorised by ``token``, or by one
    asked of ``/auth/token`` for ``username`` (the convention of ``lineage backfill
    --airflow-url``). Returns the event Airflow created; AirflowEventError otherwise."""
    from user_pipeline.airflow_api import AirflowApi, AirflowApiError

    name, uri = asset_name(dataset), asset_uri(dataset)
    try:
        with AirflowApi(url, username, password, token=token, timeout_s=timeout_s) as api:
            found = api.call("GET", "/api/v2/assets", params={"uri_pattern": uri, "limit": 100})
            ids = [a["id"] for a in found.get("assets", []) if a.get("uri") == uri and a.get("name") == name]
            if not ids:
                raise AirflowEventError(f"Airflow at {url} has no asset {name} ({uri}): is the DAG that declares "
                                        f"it ({fix_dag(dataset)}) loaded there?")
            return api.call("POST", "/api/v2/assets/events", json={"asset_id": ids[0], "extra": extra})
    except AirflowApiError as exc:
        raise AirflowEventError(str(exc)) from exc


def announce(ctx: StepContext, outcome: Outcome) -> str | None:
    """After the commit (or its reuse): the dataset's asset event through Airflow's REST API with
    ``--airflow-url``; run by its DAG, nothing (the task's outlet emits it); by hand without
    ``--airflow-url``, the line saying that no event was sent and how to send one."""
    fixed = outcome.output
    where = f"{fixed.dataset} {fixed.partition}"
    if ctx.args.airflow_url:
        extra = fix_event_extra(ctx.cfg, fixed.dataset, fixed.ref.value)
        event = post_asset_event(ctx.args.airflow_url, fixed.dataset, extra,
                                 token=os.environ.get("AIRFLOW_API_TOKEN"), username=ctx.args.airflow_user,
                                 password=os.environ.get("AIRFLOW_API_PASSWORD"))
        return f"asset event {event.get('id')} of {where} created in Airflow at {ctx.args.airflow_url}"
    if ctx.parent is not None:
        return None
    return (f"no Airflow asset event sent for {where}: DAGs scheduled on {fixed.dataset} will not train on it; "
            "send it by running the same command with --airflow-url URL (the commit is reused), or fix through "
            f"the {fix_dag(fixed.dataset)} DAG")


# Not a content-addressed skip on inputs: the output's content is the file, not a function of the
# input; commit_fix reuses a version that already holds it.
JOB = Job(NAME, compute, plan=plan, arguments=arguments, ds_required=False, integration="PYTHON", skips=False,
          after_commit=announce)
run, main = JOB.run, JOB.main

if __name__ == "__main__":
    JOB.exit()
