"""The statistics and drift pages of a partition.

    <data root>/<statistics.reports_dir>/<dataset>/ds=<ds>/index.html   (+ histograms.png)
    <data root>/<statistics.reports_dir>/<dataset>/ds=<ds>/drift.html   (+ drift.png)

Self-contained HTML (inline CSS, nothing executable, nothing fetched at view time); charts are
matplotlib PNGs next to the pages; each page also embeds its figures as JSON
(``<script type="application/json" id="data">``) for anything that reads it.
"""

from __future__ import annotations

import html
import io
import json
import math
import posixpath
from typing import Any

from expectations.store import put_atomic
from transforms import statistics as st
from transforms.drift import FeatureDrift
from user_pipeline.config import PipelineConfig
from user_pipeline.reports.paths import DRIFT_CHART, DRIFT_PAGE, HISTOGRAMS_CHART, STATISTICS_PAGE, statistics_dir

STYLE = """body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: .9em; } td, th { border: 1px solid #e5e7eb; padding: 3px 8px; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } tr.failure td { background: #fbe3e3; }
tr.warning td { background: #fff3d6; } .small { color: #666; font-size: .85em; }"""


def feature_rows(stats: st.DatasetFeatureStatisticsList) -> list[dict[str, Any]]:
    """One plain dict of figures per feature (the page's table and its embedded JSON)."""
    rows = []
    for name in st.feature_names(stats):
        f = st.feature(stats, name)
        c = st.common(f)
        row: dict[str, Any] = {"feature": name, "type": st.FeatureNameStatistics.Type.Name(f.type),
                               "count": c.num_non_missing, "missing": c.num_missing,
                               "distinct": st.custom_stat(f, "distinct")}
        if f.HasField("num_stats"):
            n = f.num_stats
            q = st.histogram(f, st.Histogram.QUANTILES)
            row.update(min=n.min, max=n.max, mean=n.mean, std=n.std_dev, median=n.median, zeros=n.num_zeros,
                       nan=st.histogram(f).num_nan,
                       quantiles=[b.low_value for b in q.buckets[:1]] + [b.high_value for b in q.buckets],
                       histogram=[[b.low_value, b.high_value, b.sample_count] for b in st.histogram(f).buckets])
        else:
            row.update(avg_length=f.string_stats.avg_length,
                       top_values=[[t.value, t.frequency] for t in f.string_stats.top_values])
        rows.append(row)
    return rows


def _script_json(value: Any) -> str:
    # Script content is raw text (entities are not decoded): escape only what could close the tag.
    return json.dumps(value).replace("<", "\\u003c")


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return html.escape(str(value))


def histograms_chart(rows: list[dict[str, Any]], columns: int = 4) -> bytes:
    """PNG: small multiples, a histogram per numeric feature and top values per categorical one."""
    import matplotlib

    matplotlib.use("Agg")  # files only: no display
    import matplotlib.pyplot as plt

    lines = max(1, math.ceil(len(rows) / columns))
    fig, axes = plt.subplots(lines, columns, figsize=(4 * columns, 2.6 * lines), squeeze=False)
    for ax, row in zip(axes.flat, rows, strict=False):
        if "histogram" in row:
            buckets = row["histogram"]
            ax.bar([b[0] for b in buckets], [b[2] for b in buckets], width=[max(b[1] - b[0], 1e-9) for b in buckets],
                   align="edge", color="#2563eb")
        else:
            top = row.get("top_values", [])[:10][::-1]
            ax.barh([str(v)[:18] for v, _ in top], [n for _, n in top], color="#16a34a")
            ax.tick_params(axis="y", labelsize=7)
        ax.set_title(row["feature"], fontsize=9)
    for ax in list(axes.flat)[len(rows):]:
        ax.axis("off")
    return _png(fig, plt)


def drift_chart(drifts: list[FeatureDrift]) -> bytes:
    """PNG: each feature's drift as a share of its threshold (above 1 fired)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.3 * len(drifts) + 1.2))
    drifts = drifts[::-1]  # barh draws bottom-up: keep the table's order top-down
    ratios = [d.value / d.threshold if d.threshold else 0.0 for d in drifts]
    colors = ["#dc2626" if d.fired and d.severity == "failure" else "#f0a000" if d.fired else "#2563eb"
              for d in drifts]
    ax.barh([f"{d.feature} ({d.metric})" for d in drifts], ratios, color=colors)
    ax.axvline(1.0, color="#111827", linewidth=0.8)
    ax.set_xlabel("distance / threshold")
    ax.tick_params(axis="y", labelsize=8)
    return _png(fig, plt)


def _png(fig: Any, plt: Any) -> bytes:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()


def statistics_page(dataset: str, partition: str, version: str, stats: st.DatasetFeatureStatisticsList) -> str:
    """The statistics page of one partition."""
    rows = feature_rows(stats)
    head = ("<tr><th>feature</th><th>type</th><th>count</th><th>missing</th><th>distinct</th><th>min</th>"
            "<th>max</th><th>mean</th><th>std</th><th>median</th><th>top values</th></tr>")
    body = []
    for r in rows:
        top = ", ".join(f"{html.escape(str(v))} ({n})" for v, n in r.get("top_values", [])[:5])
        body.append(f'<tr><td>{_fmt(r["feature"])}</td><td>{r["type"]}</td>'
                    + "".join(f'<td class="num">{_fmt(r.get(k))}</td>'
                              for k in ("count", "missing", "distinct", "min", "max", "mean", "std", "median"))
                    + f"<td>{top}</td></tr>")
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Statistics {html.escape(dataset)} {html.escape(partition)}</title><style>{STYLE}</style></head><body>
<h1>Statistics: {html.escape(dataset)} {html.escape(partition)}</h1>
<p>Content version <code>{html.escape(version)}</code>, {stats.datasets[0].num_examples} rows.
Machine-readable: the tensorflow_metadata <code>DatasetFeatureStatisticsList</code> committed with the
statistics dataset. <a href="{DRIFT_PAGE}">Drift</a></p>
<table id="features">{head}{"".join(body)}</table>
<h2>Distributions</h2><img src="{HISTOGRAMS_CHART}" alt="histograms and top values per feature" style="max-width:100%">
<script type="application/json" id="data">{_script_json(rows)}</script>
</body></html>"""


def drift_page(dataset: str, partition: str, reference: str, drifts: list[FeatureDrift]) -> str:
    """The drift page: every compared feature, fired ones marked with their severity."""
    head = ("<tr><th>feature</th><th>kind</th><th>metric</th><th>value</th><th>threshold</th><th>PSI</th>"
            "<th>severity</th><th>result</th><th>largest difference at</th></tr>")
    body = []
    for d in drifts:
        css = d.severity if d.fired else ""
        body.append(f'<tr class="{css}"><td>{_fmt(d.feature)}</td><td>{d.kind}</td><td>{d.metric}</td>'
                    f'<td class="num">{_fmt(d.value)}</td><td class="num">{_fmt(d.threshold)}</td>'
                    f'<td class="num">{_fmt(d.psi)}</td><td>{d.severity}</td>'
                    f'<td>{"DRIFT" if d.fired else "ok"}</td><td>{_fmt(d.detail)}</td></tr>')
    fired = [d for d in drifts if d.fired]
    summary = (f"{len(fired)} of {len(drifts)} features above threshold"
               if reference else "no reference partition: nothing compared")
    chart = f'<img src="{DRIFT_CHART}" alt="drift per feature" style="max-width:100%">' if drifts else ""
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Drift {html.escape(dataset)} {html.escape(partition)}</title><style>{STYLE}</style></head><body>
<h1>Drift: {html.escape(dataset)} {html.escape(partition)}</h1>
<p>Reference: <code id="reference">{html.escape(reference or "none")}</code>. <span id="summary">{summary}</span>.</p>
<p class="small">L-infinity distance (categorical) and Jensen-Shannon divergence, base 2 (numeric), as TFDV
defines them; PSI alongside. Thresholds and severities: <code>drift:</code> in the pipeline config.</p>
{chart}<table id="drift">{head}{"".join(body)}</table>
<script type="application/json" id="data">{_script_json([d.to_json() for d in drifts])}</script>
</body></html>"""


def write(cfg: PipelineConfig, dataset: str, partition: str, version: str,
          stats: st.DatasetFeatureStatisticsList, reference: str, drifts: list[FeatureDrift]) -> dict[str, str]:
    """Write both pages and their charts; returns the pages' URIs."""
    folder = statistics_dir(cfg, dataset, partition)
    put_atomic(posixpath.join(folder, HISTOGRAMS_CHART), histograms_chart(feature_rows(stats)))
    if drifts:
        put_atomic(posixpath.join(folder, DRIFT_CHART), drift_chart(drifts))
    pages = {"statistics": posixpath.join(folder, STATISTICS_PAGE), "drift": posixpath.join(folder, DRIFT_PAGE)}
    put_atomic(pages["statistics"], statistics_page(dataset, partition, version, stats).encode())
    put_atomic(pages["drift"], drift_page(dataset, partition, reference, drifts).encode())
    return pages
