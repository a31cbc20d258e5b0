"""The run report: one page per date of the daily pipeline, linking everything a person checks.

    python -m user_pipeline.reports.run_report --ds 2026-01-02 [--config ...] [lineage parent options]
    -> <data root>/<run_report.reports_dir>/ds=<ds>/index.html   (+ rows.png)

For every daily dataset: the committed version, rows and what changed against the previous
partition (rows, whether the content version moved), its gate result and page, its statistics and
drift pages; the split report of the features; the worst slices of the evaluation; and the lineage
of the date's artifacts drawn from their manifests (each manifest names its producing run and the
input versions it read), so the page needs neither the lineage store nor the network. A step
that did not commit is listed as missing, which is why the DAG runs this task whatever happened
upstream.

It writes a report, not a dataset, but its lineage run names as inputs every version the page
shows (the date's partitions and the previous ones it compares them with). That is what brings
the page into a backfill: a plan includes every task that read a version it recomputes
(``lineage.backfill.planner``), so the report of each touched date (and of the date after it,
whose comparison changes) is rewritten after the recomputed steps, and never names a superseded
version.
"""

from __future__ import annotations

import html
import io
import json
import logging
import os
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from expectations.results import COULD_NOT_VALIDATE
from expectations.store import load_result, put_atomic
from expectations.store import report_uri as gate_page
from lineage import graph_render
from lineage.catalog import Catalog, Manifest
from lineage.emit import ParentRun
from lineage.queries import Artifact, Edge, LineageGraph, Node, Run
from user_pipeline.config import PipelineConfig
from user_pipeline.labels.common import clean_or_collect_page, clean_or_collect_summary, report_uri, sweep_page
from user_pipeline.reports import evaluation, paths
from user_pipeline.steps.harness import Job, Plan, StepContext

NAME = "user_pipeline.reports.run_report"
log = logging.getLogger(NAME)

REPORTS_DIR = "reports/runs"
PAGE, CHART = "index.html", "rows.png"


@dataclass
class DatasetStatus:
    """One daily dataset on the report's date."""

    dataset: str
    manifest: Manifest | None
    previous: Manifest | None
    gate: str | None  # GateResult.verdict: passed | warnings | failed | could not validate; None: not gated
    gate_page: str | None
    statistics_page: str | None
    drift_page: str | None

    @property
    def rows_change(self) -> float | None:
        """Relative change of the row count against the previous partition."""
        if not (self.manifest and self.previous and self.previous.row_count):
            return None
        return (self.manifest.row_count or 0) / self.previous.row_count - 1.0


def report_dir(cfg: PipelineConfig, ds: str) -> str:
    """Folder of the run report of a date."""
    return f"{cfg.data_root}/{REPORTS_DIR}/ds={ds}"


def _existing(uri: str) -> str | None:
    return uri if "://" in uri or os.path.exists(uri) else None


def collect(cfg: PipelineConfig, ds: str) -> list[DatasetStatus]:
    """The status of every daily dataset on ``ds``, in config order."""
    catalog = Catalog(cfg)
    out = []
    for dataset, spec in cfg.datasets.items():
        if spec.partitioning != "ds":
            continue
        manifest = catalog.manifest(dataset, ds)
        gate = load_result(cfg, dataset, ds) if manifest else None
        verdict = gate.verdict if gate is not None else None
        stats_dir = paths.statistics_dir(cfg, dataset, f"ds={ds}")
        out.append(DatasetStatus(
            dataset, manifest, catalog.previous(dataset, ds) if manifest else None, verdict,
            _existing(gate_page(cfg, dataset, f"ds={ds}")) if gate else None,
            _existing(f"{stats_dir}/{paths.STATISTICS_PAGE}"), _existing(f"{stats_dir}/{paths.DRIFT_PAGE}"),
        ))
    return out


def lineage_graph(catalog: Catalog, manifests: Sequence[Manifest]) -> LineageGraph:
    """The date's artifacts, the runs that wrote them and the versions those runs read."""
    artifacts: dict[str, Artifact] = {}
    runs: dict[str, Run] = {}
    edges: set[Edge] = set()

    def artifact(dataset: str, partition: str, version: str, seed: bool) -> Artifact:
        node = Node(dataset, partition, version)
        if node.key not in artifacts:
            artifacts[node.key] = Artifact(dataset, partition, version, depth=0 if seed else 1,
                                           status="current", external=False, seed=seed)
        return artifacts[node.key]

    for manifest in manifests:
        wrote = artifact(manifest.dataset, manifest.partition, manifest.version, True)
        producer = manifest.producer
        parent = producer.get("parent") or {}
        run = runs.setdefault(producer["run_id"], Run(
            producer["run_id"], producer["job"], "COMPLETE", True, manifest.committed_at, manifest.committed_at,
            None, parent.get("dag_run_id"), None, parent.get("logical_date"), parent.get("try_number"),
            None, None, False, None))
        edges.add(Edge(run.key, wrote.key, "wrote"))
        for ref in manifest.inputs:
            read = artifact(ref["dataset"], ref["partition"], ref["version"], False)
            edges.add(Edge(read.key, run.key, "read"))
    seeds = [a.node for a in artifacts.values() if a.seed]
    return LineageGraph("run", seeds, list(artifacts.values()), list(runs.values()), sorted(
        edges, key=lambda e: (e.source, e.target)), depth=1, truncated=False)


def rows_chart(statuses: Sequence[DatasetStatus]) -> bytes:
    """PNG: rows per committed dataset on the date next to the previous partition's."""
    import matplotlib

    matplotlib.use("Agg")  # files only
    import matplotlib.pyplot as plt

    shown = [s for s in statuses if s.manifest][::-1]
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(shown) + 1.2))
    y = range(len(shown))
    ax.barh([i + 0.2 for i in y], [s.manifest.row_count or 0 for s in shown], height=0.4, label="this date",
            color="#2563eb")
    ax.barh([i - 0.2 for i in y], [(s.previous.row_count or 0) if s.previous else 0 for s in shown], height=0.4,
            label="previous partition", color="#9ca3af")
    ax.set_yticks(list(y), [s.dataset for s in shown], fontsize=8)
    ax.set_xlabel("rows")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def _link(uri: str | None, text: str) -> str:
    return f'<a href="{html.escape(uri)}">{html.escape(text)}</a>' if uri else "–"


def labels_section(cfg: PipelineConfig) -> str:
    """Links to the label reports of the pinned labels version ("clean or collect" and the noise
    sweep, user_pipeline.labels), with the clean-or-collect headlines when they were computed."""
    catalog, version = Catalog(cfg), cfg.spam.labels_version
    page = _existing(report_uri(catalog, clean_or_collect_page(version)))
    summary = catalog.fs_path(report_uri(catalog, clean_or_collect_summary(version)))
    headlines = json.loads(catalog.fs.cat_file(summary))["headlines"] if catalog.fs.exists(summary) else []
    items = "".join(f"<li>{html.escape(h)}</li>" for h in headlines)
    return (f"<p>reference.spam_labels version={html.escape(version)}: "
            f"{_link(page, 'clean or collect?') if page else 'clean or collect? not computed'} "
            f"(<code>python -m user_pipeline.labels.clean_or_collect</code>), "
            f"{_link(_existing(report_uri(catalog, sweep_page(version))), 'label-noise sweep')}</p>"
            f"{f'<ul>{items}</ul>' if items else ''}")


def render(cfg: PipelineConfig, ds: str, statuses: Sequence[DatasetStatus], parent: ParentRun | None = None) -> str:
    """The page (self-contained but for the chart PNG next to it and links to the other pages)."""
    catalog = Catalog(cfg)
    committed = [s.manifest for s in statuses if s.manifest]
    rows = []
    for s in statuses:
        m = s.manifest
        change = f"{s.rows_change:+.1%}" if s.rows_change is not None else "–"
        moved = "–" if not (m and s.previous) else "same" if m.version == s.previous.version else "changed"
        css = "missing" if m is None else (s.gate or "").replace(" ", "-")
        rows.append(
            f"<tr class='{css}'><td>{html.escape(s.dataset)}</td>"
            f"<td><code>{html.escape(m.version) if m else 'not committed'}</code></td>"
            f"<td>{m.row_count if m else '–'}</td><td>{change}</td><td>{moved}</td>"
            f"<td>{_link(s.gate_page, s.gate) if s.gate else '–'}</td>"
            f"<td>{_link(s.statistics_page, 'statistics')} {_link(s.drift_page, 'drift')}</td></tr>")
    features = next((m for m in committed if m.dataset == "features.users_transformed"), None)
    split_rows = ""
    if features and features.extra.get("split_report"):
        for name, split in features.extra["split_report"]["splits"].items():
            rate = split["positive_rate"]
            split_rows += (f"<tr><td>{name}</td><td>{split['rows']}</td>"
                           f"<td>{'–' if rate is None else f'{rate:.3f}'}</td>"
                           f"<td>{'yes' if split['within_tolerance'] else 'NO'}</td></tr>")
    slices = next((m for m in committed if m.dataset == "evaluation.job_seeker_slices"), None)
    slice_rows = ""
    if slices:
        for split, worst in slices.extra.get("worst", {}).items():
            for w in worst[:3]:
                slice_rows += (f"<tr><td>{split}</td><td>{html.escape(str(w['slice_column']))}="
                               f"{html.escape(str(w['slice_value']))}</td><td>{w['rows']}</td>"
                               f"<td>{w['error_gap']:+.3f}</td></tr>")
    who = f"DAG run <code>{html.escape(parent.dag_run_id)}</code>" if parent and parent.dag_run_id else "date"
    failed = [s.dataset for s in statuses if s.gate == "failed"]
    not_validated = [s.dataset for s in statuses if s.gate == COULD_NOT_VALIDATE]
    missing = [s.dataset for s in statuses if s.manifest is None]
    data = {"ds": ds, "datasets": {s.dataset: {"version": s.manifest.version if s.manifest else None,
                                               "rows": s.manifest.row_count if s.manifest else None,
                                               "rows_change": s.rows_change, "gate": s.gate} for s in statuses}}
    embedded = json.dumps(data).replace("</", "<\\/")  # a string value can't close the script element
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Run report ds={html.escape(ds)}</title>
<style>body{{font-family:sans-serif;margin:1.5em}} td,th{{padding:2px 8px;border-bottom:1px solid #e5e7eb}}
tr.failed,tr.could-not-validate{{background:#fee2e2}}
tr.warnings{{background:#fef9c3}} tr.missing{{color:#9ca3af}}</style></head><body>
<h1>Run report: ds={html.escape(ds)}</h1>
<p>{who}: {len(committed)} datasets committed, {len(missing)} not committed, gates failed: {
        html.escape(', '.join(failed)) or 'none'}{
        f", gates that could not validate: {html.escape(', '.join(not_validated))}" if not_validated else ''}.</p>
<h2>Datasets</h2>
<table><tr><th>dataset</th><th>version</th><th>rows</th><th>rows vs previous</th><th>content vs previous</th>
<th>gate</th><th>statistics</th></tr>
{''.join(rows)}</table>
<img src="{CHART}" alt="rows per dataset, this date and the previous partition">
<h2>Splits</h2>
<table><tr><th>split</th><th>rows</th><th>positive rate</th><th>within tolerance</th></tr>{split_rows}</table>
<h2>Worst slices</h2>
<p>{_link(_existing(f"{evaluation.report_dir(cfg, ds)}/index.html"), "error analysis page")}</p>
<table><tr><th>split</th><th>slice</th><th>rows</th><th>error gap</th></tr>{slice_rows}</table>
<h2>Labels</h2>
{labels_section(cfg)}
<h2>Lineage of this date's artifacts</h2>
{graph_render.to_svg(lineage_graph(catalog, committed)) if committed else '<p>nothing committed</p>'}
<script type="application/json" id="data">{embedded}</script>
</body></html>"""


def write(cfg: PipelineConfig, ds: str, parent: ParentRun | None = None,
          statuses: Sequence[DatasetStatus] | None = None) -> str:
    """Write the page and its chart (of ``statuses``, by default collected now); returns the page's location."""
    statuses = collect(cfg, ds) if statuses is None else statuses
    folder = report_dir(cfg, ds)
    put_atomic(posixpath.join(folder, CHART), rows_chart(statuses))
    page = posixpath.join(folder, PAGE)
    put_atomic(page, render(cfg, ds, statuses, parent).encode())
    return page


def plan(ctx: StepContext) -> Plan:
    """Reads what the page shows: every committed daily partition of ``--ds`` and the previous
    partition it is compared with (a dataset not committed reads nothing); commits nothing."""
    statuses = collect(ctx.cfg, ctx.ds)
    shown = [m for s in statuses for m in (s.manifest, s.previous) if m is not None]
    return Plan(shown, [], extra={"statuses": statuses})


def compute(ctx: StepContext) -> str:
    """Write the date's page from what the plan read; its location is the task's answer."""
    return write(ctx.cfg, ctx.ds, ctx.parent, ctx.plan.extra["statuses"])


JOB = Job(NAME, compute, plan=plan, integration="PYTHON")
run, main = JOB.run, JOB.main

if __name__ == "__main__":
    JOB.exit()
