"""The error-analysis page: the job-seeker model per metadata slice, worst slices first.

    <data root>/<evaluation.reports_dir>/ds=<ds>/index.html   (+ error_gaps.png)

Self-contained HTML (inline CSS, nothing executable, nothing fetched at view time); the chart is a
PNG rendered with matplotlib next to the page; the slice table is also embedded as JSON
(``<script type="application/json" id="data">``) for anything that reads the page.
"""

from __future__ import annotations

import html
import io
import json
import posixpath

import pyarrow as pa

from expectations.store import put_atomic
from lineage.catalog import Manifest
from user_pipeline.config import PipelineConfig

CHART = "error_gaps.png"


def report_dir(cfg: PipelineConfig, ds: str) -> str:
    """Folder of the error-analysis page of a date."""
    return f"{cfg.data_root}/{cfg.evaluation.reports_dir}/ds={ds}"


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return html.escape(str(value))


def error_gap_chart(table: pa.Table, splits: tuple[str, ...] = ("dev", "test"), top: int = 12) -> bytes:
    """PNG: per split, the error gap of the largest slices that are not small, worst on top."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, nothing interactive
    import matplotlib.pyplot as plt

    rows = [r for r in table.to_pylist() if r["slice_column"] != "(all)" and not r["small"]]
    fig, axes = plt.subplots(1, len(splits), figsize=(6 * len(splits), 0.35 * top + 1.5), squeeze=False)
    for ax, split in zip(axes[0], splits, strict=True):
        mine = [r for r in rows if r["split"] == split][:top][::-1]
        labels = [f"{r['slice_column']}={r['slice_value']} (n={r['rows']})" for r in mine]
        gaps = [r["error_gap"] for r in mine]
        ax.barh(labels, gaps, color=["#dc2626" if g > 0 else "#16a34a" for g in gaps])
        ax.axvline(0, color="#111827", linewidth=0.8)
        ax.set_title(f"{split}: error rate minus the split's")
        ax.tick_params(axis="y", labelsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return buffer.getvalue()


def page(ds: str, table: pa.Table, manifest: Manifest) -> str:
    """The HTML page of one evaluation (the slice table, worst first, and the chart)."""
    extra = manifest.extra
    head = ("<tr><th>split</th><th>slice</th><th>rows</th><th>positives</th><th>accuracy</th><th>precision</th>"
            "<th>recall</th><th>ROC-AUC</th><th>log loss</th><th>error gap</th></tr>")
    body = []
    for r in table.to_pylist():
        name = "all rows" if r["slice_column"] == "(all)" else f"{r['slice_column']}={r['slice_value']}"
        css = "all" if r["slice_column"] == "(all)" else ("small" if r["small"] else
                                                          ("worse" if r["error_gap"] > 0 else "better"))
        body.append(
            f'<tr class="{css}"><td>{_fmt(r["split"])}</td><td>{_fmt(name)}</td><td>{r["rows"]}</td>'
            f'<td>{r["positives"]}</td><td>{_fmt(r["accuracy"])}</td><td>{_fmt(r["precision"])}</td>'
            f'<td>{_fmt(r["recall"])}</td><td>{_fmt(r["roc_auc"])}</td><td>{_fmt(r["log_loss"])}</td>'
            f'<td class="gap">{_fmt(r["error_gap"])}</td></tr>')
    worst = "".join(
        f"<li>{html.escape(split)}: " + (", ".join(
            f"{html.escape(w['slice_column'])}={html.escape(w['slice_value'])} ({w['error_gap']:+.3f})"
            for w in found) or "no slice above the minimum size") + "</li>"
        for split, found in extra.get("worst", {}).items())
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Error analysis ds={html.escape(ds)}</title>
<style>body {{ font-family: system-ui, sans-serif; margin: 1.5em; }} table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #e5e7eb; padding: 3px 8px; text-align: left; }} tr.all td {{ font-weight: 600; }}
tr.worse td.gap {{ color: #b91c1c; }} tr.better td.gap {{ color: #15803d; }} tr.small td {{ color: #9ca3af; }}</style>
</head><body><h1>Error analysis: models.job_seeker on ds={html.escape(ds)}</h1>
<p>Model version <code>{html.escape(str(extra.get("model_version")))}</code>, scored through the serving export
at threshold {extra.get("threshold")}; slices by {html.escape(", ".join(extra.get("slice_by", [])))}.
Dataset <code>{html.escape(manifest.dataset)}@{html.escape(manifest.version)}</code>.</p>
<h2>Worst slices</h2><ul id="worst">{worst}</ul>
<img src="{CHART}" alt="error gap per slice" style="max-width: 100%">
<h2>All slices</h2><table id="slices">{head}{"".join(body)}</table>
<script type="application/json" id="data">{html.escape(json.dumps(table.to_pylist()))}</script>
</body></html>"""


def write(cfg: PipelineConfig, ds: str, table: pa.Table, manifest: Manifest) -> str:
    """Write the page and its chart; returns the page's URI."""
    folder = report_dir(cfg, ds)
    put_atomic(posixpath.join(folder, CHART), error_gap_chart(table))
    uri = posixpath.join(folder, "index.html")
    put_atomic(uri, page(ds, table, manifest).encode())
    return uri
