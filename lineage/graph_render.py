"""Pictures of a lineage graph: Graphviz DOT, Mermaid, and a self-contained HTML page.

The HTML page draws the graph itself as inline SVG (a layered left-to-right layout computed
here), with inline CSS and no script: it opens offline, from a file, anywhere. DOT and Mermaid
are text for tools that render them (``dot -Tsvg``, a Markdown viewer with Mermaid).

Colours: seeds (the version asked about) red, current artifacts amber (in an impact: still to
recompute), superseded grey, external inputs (no recorded run committed them) dashed, runs blue
(failed red, without a terminal event dotted).
"""

from __future__ import annotations

import html
from collections import defaultdict, deque
from dataclasses import dataclass

from lineage.queries import Artifact, LineageGraph, Run

NODE_W, NODE_H, H_GAP, V_GAP, MARGIN = 240, 58, 70, 18, 20
MAX_SVG_NODES = 1500  # beyond this a picture is not readable; the tables still list everything

STYLE = {  # class -> (fill, stroke, dash)
    "seed": ("#fecaca", "#b91c1c", ""),
    "current": ("#fde68a", "#b45309", ""),
    "superseded": ("#e5e7eb", "#6b7280", "4 3"),
    "external": ("#ffffff", "#374151", "6 3"),
    "run": ("#dbeafe", "#1d4ed8", ""),
    "failed": ("#fee2e2", "#dc2626", ""),
    "incomplete": ("#f3f4f6", "#1d4ed8", "2 2"),
}


@dataclass(frozen=True)
class _Item:
    key: str
    lines: tuple[str, ...]
    css: str
    is_run: bool
    title: str


def _short(value: str | None, n: int) -> str:
    value = value or ""
    return value if len(value) <= n else value[: n - 1] + "…"


def _artifact_class(a: Artifact) -> str:
    if a.seed:
        return "seed"
    if a.external:
        return "external"
    return a.status


def _run_class(r: Run) -> str:
    if r.state in ("FAIL", "ABORT"):
        return "failed"
    return "run" if r.terminal else "incomplete"


def _items(graph: LineageGraph) -> list[_Item]:
    items = []
    for a in graph.artifacts:
        state = "external" if a.external else a.status
        items.append(_Item(
            a.key, (a.dataset, a.partition or "-", f"{_short(a.version, 16)}  {state}"), _artifact_class(a), False,
            f"{a.dataset}@{a.version} [{a.partition}]\nstatus: {state}\ncommitted: {a.committed_at or '-'}\n"
            f"rows: {a.row_count if a.row_count is not None else '-'}\nproduced by: {', '.join(a.producers) or '-'}",
        ))
    for r in graph.runs:
        when = (r.logical_date or "")[:10] or "no date"
        task = f"{r.dag_id}.{r.task_id}" if r.dag_id and r.task_id else "outside Airflow"
        skip = " (skipped)" if r.skipped else ""
        items.append(_Item(
            r.key, (r.job, f"{when}  {task}", f"{r.run_id[:13]}…  {r.state}{skip}"), _run_class(r), True,
            f"run {r.run_id}\njob: {r.job}\nstate: {r.state}{skip}\nstarted: {r.start_time}\n"
            f"ended: {r.end_time or '-'}\n"
            f"DAG run: {r.dag_id or '-'} {r.dag_run_id or ''}\ntask: {r.task_id or '-'}\n"
            f"logical date: {r.logical_date or '-'}" + (f"\nerror: {r.error}" if r.error else ""),
        ))
    return items


# -- text formats --------------------------------------------------------------------------------
def to_dot(graph: LineageGraph) -> str:
    """Graphviz DOT of the graph (``dot -Tsvg``)."""
    ids = {item.key: f"n{i}" for i, item in enumerate(_items(graph))}
    out = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica", fontsize=10];',
           f'  label="{_dot_escape(_caption(graph))}"; labelloc=t;']
    for item in _items(graph):
        fill, stroke, dash = STYLE[item.css]
        style = "filled" + (",dashed" if dash else "") + ("" if item.is_run else ",rounded")
        shape = "ellipse" if item.is_run else "box"
        label = "\\n".join(_dot_escape(line) for line in item.lines)
        out.append(f'  {ids[item.key]} [label="{label}", shape={shape}, style="{style}", '
                   f'fillcolor="{fill}", color="{stroke}", tooltip="{_dot_escape(item.title)}"];')
    for edge in graph.edges:
        if edge.source in ids and edge.target in ids:
            out.append(f"  {ids[edge.source]} -> {ids[edge.target]};")
    out.append("}")
    return "\n".join(out) + "\n"


def _dot_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_mermaid(graph: LineageGraph) -> str:
    """Mermaid flowchart text of the graph."""
    items = _items(graph)
    ids = {item.key: f"n{i}" for i, item in enumerate(items)}
    out = ["flowchart LR"]
    for item in items:
        label = "<br/>".join(_mermaid_escape(line) for line in item.lines)
        shape = f'(["{label}"])' if item.is_run else f'["{label}"]'
        out.append(f"  {ids[item.key]}{shape}:::{item.css}")
    for edge in graph.edges:
        if edge.source in ids and edge.target in ids:
            out.append(f"  {ids[edge.source]} --> {ids[edge.target]}")
    for css, (fill, stroke, dash) in STYLE.items():
        extra = f",stroke-dasharray:{dash}" if dash else ""
        out.append(f"  classDef {css} fill:{fill},stroke:{stroke}{extra}")
    return "\n".join(out) + "\n"


def _mermaid_escape(text: str) -> str:
    return html.escape(text).replace('"', "#quot;")


def _caption(graph: LineageGraph) -> str:
    seeds = ", ".join(str(s) for s in graph.seeds[:3]) + (" …" if len(graph.seeds) > 3 else "")
    when = f" as of {graph.as_of}" if graph.as_of else ""
    return f"{graph.query} of {seeds}{when}"


# -- layout and SVG ------------------------------------------------------------------------------
def layout(keys: list[str], edges: list[tuple[str, str]]) -> dict[str, tuple[float, float]]:
    """Top-left corner of every node: layers by longest path from the sources (left to right),
    order within a layer by a few barycentre sweeps (fewer crossings)."""
    succ: dict[str, list[str]] = defaultdict(list)
    pred: dict[str, list[str]] = defaultdict(list)
    indegree = {k: 0 for k in keys}
    for s, t in edges:
        if s in indegree and t in indegree and s != t:
            succ[s].append(t)
            pred[t].append(s)
            indegree[t] += 1
    layer = {k: 0 for k in keys}
    queue = deque(sorted(k for k, d in indegree.items() if d == 0))
    seen = 0
    while queue:
        node = queue.popleft()
        seen += 1
        for nxt in succ[node]:
            layer[nxt] = max(layer[nxt], layer[node] + 1)
            indegree[nxt] -= 1
            if indegree[nxt] == 0:
                queue.append(nxt)
    if seen < len(keys):  # a cycle: park what is left after the rest
        top = max(layer.values(), default=0) + 1
        for k, d in indegree.items():
            if d > 0:
                layer[k] = top
    layers: dict[int, list[str]] = defaultdict(list)
    for k in sorted(keys):
        layers[layer[k]].append(k)
    position = {k: i for members in layers.values() for i, k in enumerate(members)}
    order = sorted(layers)
    for sweep in range(4):
        for number in order if sweep % 2 == 0 else reversed(order):
            members = layers[number]
            near = pred if sweep % 2 == 0 else succ

            def barycentre(k: str, near: dict[str, list[str]] = near) -> float:
                found = [position[n] for n in near[k]]
                return sum(found) / len(found) if found else position[k]

            members.sort(key=barycentre)
            for i, k in enumerate(members):
                position[k] = i
    tallest = max((len(m) for m in layers.values()), default=0)
    coords = {}
    for number, members in layers.items():
        offset = (tallest - len(members)) * (NODE_H + V_GAP) / 2
        for i, k in enumerate(members):
            coords[k] = (MARGIN + number * (NODE_W + H_GAP), MARGIN + offset + i * (NODE_H + V_GAP))
    return coords


def to_svg(graph: LineageGraph) -> str:
    """The graph as an inline SVG element (no external references)."""
    items = _items(graph)
    note = ""
    if len(items) > MAX_SVG_NODES:
        keep = {a.key for a in sorted(graph.artifacts, key=lambda a: a.depth)[: MAX_SVG_NODES // 2]}
        keep |= {r.key for r in sorted(graph.runs, key=lambda r: r.depth)[: MAX_SVG_NODES // 2]}
        items = [i for i in items if i.key in keep]
        note = f"picture limited to the {len(items)} nodes nearest the seeds; the tables list everything"
    edges = [(e.source, e.target) for e in graph.edges]
    coords = layout([i.key for i in items], edges)
    width = max((x for x, _ in coords.values()), default=0) + NODE_W + MARGIN
    height = max((y for _, y in coords.values()), default=0) + NODE_H + MARGIN
    out = [f'<svg class="lineage" width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
           'role="img">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#6b7280"/></marker></defs>']
    for source, target in edges:
        if source in coords and target in coords:
            (x1, y1), (x2, y2) = coords[source], coords[target]
            x1, y1, y2 = x1 + NODE_W, y1 + NODE_H / 2, y2 + NODE_H / 2
            bend = max(30.0, (x2 - x1) / 2)
            out.append(f'<path d="M {x1:.1f} {y1:.1f} C {x1 + bend:.1f} {y1:.1f}, {x2 - bend:.1f} {y2:.1f}, '
                       f'{x2:.1f} {y2:.1f}" fill="none" stroke="#9ca3af" stroke-width="1.2" '
                       'marker-end="url(#arrow)"/>')
    for item in items:
        x, y = coords[item.key]
        fill, stroke, dash = STYLE[item.css]
        radius = NODE_H / 2 if item.is_run else 6
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<g class="node {item.css}"><title>{html.escape(item.title)}</title>'
                   f'<rect x="{x:.1f}" y="{y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="{radius:.0f}" '
                   f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"{dashed}/>')
        for number, line in enumerate(item.lines):
            weight = ' font-weight="600"' if number == 0 else ""
            out.append(f'<text x="{x + NODE_W / 2:.1f}" y="{y + 17 + number * 15:.1f}" text-anchor="middle" '
                       f'font-size="11"{weight}>{html.escape(_short(line, 38))}</text>')
        out.append("</g>")
    out.append("</svg>")
    if note:
        out.append(f'<p class="note">{html.escape(note)}</p>')
    return "\n".join(out)


def to_html(graph: LineageGraph, title: str | None = None) -> str:
    """A self-contained HTML page: summary, legend, the SVG picture, tables of artifacts and runs.
    No script, no stylesheet or font from elsewhere: it renders offline."""
    title = title or _caption(graph)
    current = [a for a in graph.affected() if a.status == "current" and not a.external]
    superseded = [a for a in graph.affected() if a.status == "superseded"]
    rows_a = "\n".join(
        f"<tr class='{_artifact_class(a)}'><td>{html.escape(a.dataset)}</td><td>{html.escape(a.partition)}</td>"
        f"<td><code>{html.escape(a.version)}</code></td><td>{'seed' if a.seed else ''} "
        f"{'external' if a.external else html.escape(a.status)}</td><td>{a.depth}</td>"
        f"<td>{html.escape(', '.join(a.replaced_by))}</td><td>{html.escape(a.committed_at or '')}</td></tr>"
        for a in graph.artifacts)
    rows_r = "\n".join(
        f"<tr class='{_run_class(r)}'><td>{html.escape(r.job)}</td><td>{html.escape(r.state)}"
        f"{' (skipped)' if r.skipped else ''}</td><td>{html.escape(r.dag_id or '')}</td>"
        f"<td>{html.escape(r.task_id or '')}</td><td>{html.escape(r.logical_date or '')}</td>"
        f"<td>{html.escape(r.dag_run_id or '')}</td><td><code>{html.escape(r.run_id)}</code></td></tr>"
        for r in graph.runs)
    legend = "".join(
        f'<span class="key" style="background:{fill};border:1.5px {"dashed" if dash else "solid"} {stroke}">'
        f"{name}</span>" for name, (fill, stroke, dash) in STYLE.items())
    summary = (f"{len(graph.artifacts)} artifacts ({len(current)} current, {len(superseded)} superseded, "
               f"{sum(a.external for a in graph.artifacts)} external), {len(graph.runs)} runs, depth ≤ {graph.depth}"
               + (" — <strong>cut at the depth limit</strong>" if graph.truncated else ""))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 1.5em; color: #111827; }}
.graph {{ overflow: auto; border: 1px solid #e5e7eb; padding: 4px; max-height: 80vh; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 13px; }}
td, th {{ border: 1px solid #e5e7eb; padding: 3px 8px; text-align: left; }}
tr.current td {{ background: #fffbeb; }} tr.superseded td {{ color: #6b7280; }}
tr.failed td {{ background: #fef2f2; }} tr.seed td {{ background: #fef2f2; font-weight: 600; }}
.key {{ display: inline-block; padding: 2px 8px; margin-right: 6px; border-radius: 4px; font-size: 12px; }}
.note {{ color: #6b7280; }}
</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p>{summary}</p>
<p>{legend}</p>
<div class="graph">
{to_svg(graph)}
</div>
<h2>Artifacts</h2>
<table><tr><th>dataset</th><th>partition</th><th>version</th><th>status</th><th>depth</th><th>replaced by</th>
<th>committed</th></tr>
{rows_a}
</table>
<h2>Runs</h2>
<table><tr><th>job</th><th>state</th><th>DAG</th><th>task</th><th>logical date</th><th>DAG run</th><th>run id</th></tr>
{rows_r}
</table>
</body></html>
"""
