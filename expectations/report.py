"""The gate result as one self-contained HTML page (inline CSS, no scripts, nothing fetched)."""

from __future__ import annotations

from html import escape
from typing import Any

from expectations.results import CRITICAL, WARNING, CheckResult, GateResult, short_value

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.verdict { padding: .6em 1em; border-radius: 4px; display: inline-block; font-weight: bold; }
.pass { background: #e3f4e3; color: #1d5e1d; } .fail { background: #fbe3e3; color: #8a1c1c; }
.warn { background: #fff3d6; color: #7a5600; }
table { border-collapse: collapse; margin-top: .6em; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .3em .5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.critical td:first-child { border-left: 4px solid #c62828; }
tr.warning td:first-child { border-left: 4px solid #f0a000; }
tr.info td:first-child { border-left: 4px solid #7a8ca0; }
code { font-size: .85em; } .small { color: #666; font-size: .85em; }
"""


def render(result: GateResult) -> str:
    """The report page of one gate result."""
    verdict = "PASSED" if result.success else "FAILED"
    css = "pass" if result.success else "fail"
    if result.success and result.warnings:  # info-level findings do not change the verdict
        verdict, css = "PASSED with warnings", "warn"
    if result.not_validated is not None:
        verdict = "COULD NOT VALIDATE"
    failed = [c for c in result.checks if not c.success]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>Gate {escape(result.dataset)} {escape(result.partition)}: {verdict}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Gate: {escape(result.dataset)} {escape(result.partition)}</h1>",
        f'<p><span class="verdict {css}">{verdict}</span> '
        f"{len(result.critical_failures)} critical failure(s), {len(result.warnings)} warning(s), "
        f"{len(result.checks)} checks</p>",
        "<table>",
        _row_pairs([
            ("content version", result.version), ("rows", result.row_count),
            ("validated at", result.validated_at), ("took", f"{result.seconds:.2f} s"),
            ("Great Expectations", result.gx_version), ("results (JSON)", result.results_uri),
        ]),
        "</table>",
    ]
    if result.not_validated is not None:
        parts.append(f"<h2>Could not validate</h2><p>{escape(result.not_validated)}</p>"
                     '<p class="small">No check was judged: the partition holds what the gate cannot read or '
                     "compare. Fix the step that produced it (or the gate), then re-run both.</p>")
    if failed:
        parts += ["<h2>Failed checks</h2>", _checks_table(sorted(failed, key=_failure_order))]
        parts.append('<p class="small">A failed <b>critical</b> check fails the gate and stops the pipeline '
                     "for this partition; warnings are recorded. Thresholds and severities are in the "
                     f"<code>gates:</code> section of the pipeline config "
                     f"(<code>gates.overrides.{escape(result.dataset)}.&lt;check&gt;</code>).</p>")
    parts += ["<h2>All checks</h2>", _checks_table(result.checks)]
    parts += ["<h2>Column metrics</h2>", _metrics_table(result.metrics), "</body></html>"]
    return "\n".join(parts)


def _failure_order(check: CheckResult) -> tuple[int, str]:
    """Critical first, then warnings, then info."""
    return ({CRITICAL: 0, WARNING: 1}.get(check.severity, 2), check.name)


def _row_pairs(pairs: list[tuple[str, Any]]) -> str:
    return "\n".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in pairs)


def _checks_table(checks: list[CheckResult]) -> str:
    head = ("<tr><th>result</th><th>severity</th><th>check</th><th>column</th><th>expected</th>"
            "<th>observed</th><th>unexpected</th><th>%</th><th>examples</th></tr>")
    rows = [head]
    for check in checks:
        status = "pass" if check.success else "FAIL"
        css = "" if check.success else check.severity
        examples = ", ".join(short_value(v) for v in check.examples)
        if check.example_ids:
            examples += (" " if examples else "") + "rows: " + ", ".join(str(v) for v in check.example_ids)
        observed = check.observed_text
        percent = "" if check.unexpected_percent is None else f"{check.unexpected_percent:.2f}"
        count = "" if check.unexpected_count is None else str(check.unexpected_count)
        rows.append(
            f'<tr class="{css}"><td>{status}</td><td>{escape(check.severity)}</td>'
            f"<td><code>{escape(check.name)}</code></td><td>{escape(check.column or '(table)')}</td>"
            f"<td>{escape(check.expected)}</td><td>{escape(observed)}</td>"
            f'<td class="num">{count}</td><td class="num">{percent}</td><td>{escape(examples)}</td></tr>'
        )
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def _metrics_table(metrics: dict[str, Any]) -> str:
    rows = ["<tr><th>column</th><th>nulls</th><th>distinct</th><th>min</th><th>max</th></tr>"]
    for name, m in (metrics.get("columnMetrics") or {}).items():
        rows.append(
            f"<tr><td>{escape(name)}</td><td class='num'>{m.get('nullCount', '')}</td>"
            f"<td class='num'>{m.get('distinctCount', '')}</td>"
            f"<td class='num'>{escape(short_value(m['min'])) if 'min' in m else ''}</td>"
            f"<td class='num'>{escape(short_value(m['max'])) if 'max' in m else ''}</td></tr>"
        )
    return f"<p>{metrics.get('rowCount', 0)} rows</p><table>\n" + "\n".join(rows) + "\n</table>"
