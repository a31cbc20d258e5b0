"""The web pages of ``lineage serve``: a dataset search, a dataset's versions, the graph of an
artifact (server-rendered SVG, no script, nothing fetched at view time) and a run's details.
The ``*_html`` functions only render; the router fetches what they show."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import HTMLResponse

from lineage import graph_render, queries
from lineage.service.api import graph_for
from lineage.service.paths import segment
from lineage.store import LineageStore


def pages_router(store: LineageStore) -> APIRouter:
    """The HTML pages over ``store``."""
    router = APIRouter()

    @router.get("/", response_class=HTMLResponse)
    def home(q: str = "") -> str:
        with store.connect() as conn:
            names = [n for n in queries.known_datasets(conn) if q.lower() in n.lower()]
        return home_html(names, q)

    @router.get("/versions/{dataset:segment}", response_class=HTMLResponse)
    def versions_page(dataset: str) -> str:
        return versions_html(dataset, queries.versions(store, dataset))

    @router.get("/view", response_class=HTMLResponse)
    def view(artifact: str, query: str = "impact", depth: int = Query(queries.DEFAULT_DEPTH, ge=0, le=100)) -> str:
        if query not in ("impact", "upstream", "downstream"):
            raise HTTPException(400, "query is impact, upstream or downstream")
        graph = graph_for(store, query, artifact, depth, None)
        page = graph_render.to_html(graph)
        links = "".join(f"<li><a href='/runs/{html.escape(segment(r.run_id))}'>{html.escape(r.job)} "
                        f"{html.escape(r.logical_date or '')}</a></li>" for r in graph.runs)
        return page.replace("</body>", f"<h2>Run details</h2><ul id='runs'>{links}</ul><p><a href='/'>home</a></p>"
                                       "</body>")

    @router.get("/runs/{run_id:segment}", response_class=HTMLResponse)
    def run_page(run_id: str) -> str:
        return page_html(f"run {run_id}", run_details_html(queries.run_details(store, run_id)))

    return router


def view_link(artifact: str, query: str) -> str:
    """The link (HTML-escaped) to the ``query`` graph of ``artifact``: any name, ``/`` and ``&`` too."""
    return html.escape("/view?" + urlencode({"artifact": artifact, "query": query}))


def home_html(names: list[str], q: str) -> str:
    """The home page: the dataset search and the datasets matching ``q``."""
    rows = "".join(
        f"<li><a href='/versions/{html.escape(segment(n))}'>{html.escape(n)}</a></li>" for n in names)
    return page_html("lineage", f"""
<form action="/" method="get"><input name="q" value="{html.escape(q)}" placeholder="dataset name">
<button>search</button></form>
<form action="/view" method="get"><input name="artifact" size="50" placeholder="DATASET@VERSION">
<select name="query"><option>impact</option><option>upstream</option><option>downstream</option></select>
<button>show</button></form>
<h2>Datasets{f' matching “{html.escape(q)}”' if q else ''} ({len(names)})</h2><ul id="datasets">{rows}</ul>""")


def versions_html(dataset: str, versions: list[queries.VersionInfo]) -> str:
    """A dataset's versions per partition, current or superseded, with links to their graphs."""
    rows = "".join(
        f"<tr class='{'current' if v.current else 'superseded'}'><td>{html.escape(v.partition)}</td>"
        f"<td><code>{html.escape(v.version)}</code></td><td>{'current' if v.current else 'superseded'}</td>"
        f"<td>{html.escape(v.last_committed or v.first_read or '')}</td>"
        f"<td><a href='{view_link(f'{dataset}@{v.version}', 'impact')}'>impact</a> "
        f"<a href='{view_link(f'{dataset}@{v.version}', 'upstream')}'>upstream</a>"
        f"</td></tr>" for v in versions)
    return page_html(dataset, f"<table><tr><th>partition</th><th>version</th><th>status</th><th>committed</th>"
                              f"<th></th></tr>{rows}</table>")


def run_details_html(details: queries.RunDetails) -> str:
    """A run: job, state, Airflow DAG run and task, inputs and outputs with versions, and the gate
    results (``dataQualityAssertions``) its events carried on its inputs."""
    run, ins, outs, assertions = details.run, details.inputs, details.outputs, details.assertions

    def link(row: Any) -> str:
        artifact = f"{row['dataset']}@{row['version']}"
        return (f"<tr><td><a href='{view_link(artifact, 'upstream')}'>{html.escape(row['dataset'])}"
                f"</a></td><td>{html.escape(row['partition'])}</td><td><code>{html.escape(row['version'])}</code></td></tr>")

    gate_rows = "".join(
        f"<tr class='{'ok' if a.get('success') else 'failed'}'><td>{html.escape(str(d))}</td>"
        f"<td>{html.escape(str(a.get('assertion')))}</td><td>{html.escape(str(a.get('column') or ''))}</td>"
        f"<td>{'pass' if a.get('success') else 'FAIL'}</td><td>{html.escape(str(a.get('severity') or ''))}</td></tr>"
        for d, a in assertions)
    gates = ('<table id="gates"><tr><th>dataset</th><th>assertion</th><th>column</th><th>result</th>'
             f"<th>severity</th></tr>{gate_rows}</table>" if assertions else "<p>none carried by this run</p>")
    return f"""
<table id="run">
<tr><th>job</th><td>{html.escape(run.job)}</td></tr>
<tr><th>state</th><td>{html.escape(run.state)}{' (content-addressed skip)' if run.skipped else ''}</td></tr>
<tr><th>DAG / task</th><td>{html.escape(run.dag_id or '-')} / {html.escape(run.task_id or '-')}</td></tr>
<tr><th>DAG run</th><td>{html.escape(run.dag_run_id or '-')}</td></tr>
<tr><th>logical date</th><td>{html.escape(run.logical_date or '-')}</td></tr>
<tr><th>started / ended</th><td>{html.escape(run.start_time)} / {html.escape(run.end_time or '-')}</td></tr>
{f"<tr><th>error</th><td>{html.escape(run.error)}</td></tr>" if run.error else ''}
</table>
<h2>Inputs</h2><table id="inputs"><tr><th>dataset</th><th>partition</th><th>version</th></tr>
{''.join(link(r) for r in ins)}</table>
<h2>Outputs</h2><table id="outputs"><tr><th>dataset</th><th>partition</th><th>version</th></tr>
{''.join(link(r) for r in outs)}</table>
<h2>Gate results</h2>
{gates}"""


def page_html(title: str, body: str) -> str:
    """A whole page: ``body`` under the heading ``title``, with the shared style."""
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body {{ font-family: system-ui, sans-serif; margin: 1.5em; }} table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #e5e7eb; padding: 3px 8px; text-align: left; }} tr.superseded td {{ color: #6b7280; }}
tr.current td {{ background: #fffbeb; }} tr.failed td {{ background: #fef2f2; }}</style></head>
<body><h1>{html.escape(title)}</h1>{body}<p><a href="/">home</a></p></body></html>"""
