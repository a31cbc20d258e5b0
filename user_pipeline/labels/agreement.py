"""Labeler consistency of a spam labels version -> ``reference.spam_label_agreement`` + an HTML report.

    python -m user_pipeline.labels.agreement --labels-version v1 [--compare-with v0] [--config ...] [--force]
        [lineage parent options]

From the messages labelled more than once: observed agreement, specific agreement per class,
Cohen's kappa and the confusion of every labeler pair, Krippendorff's alpha (and Fleiss' kappa
when every such message has the same number of labels), each labeler's agreement and kappa
with the others, and the messages they disagree on; from all labels, the Dawid-Skene estimates
of each labeler's confusion matrix and accuracy, each message's posterior label and the
expected accuracy of the set (``transforms.labels.labelers``); the label spec the labels name
(``spec_version``; the latest if several), per class its text and the disagreements each item
leaves unsettled (``transforms.labels.spec``); and, beside the labels version committed last
before this one under an earlier spec (or ``--compare-with``), agreement before and after the
revision; classes, labelers and pairs below
``spam.min_agreement`` are flagged (measures: ``transforms.labels``).

Commits ``reference.spam_label_agreement`` version=<labels version> (one long table,
``transforms.schema.AGREEMENT_STATS``) and writes
``<data_root>/reports/labels/spam_label_agreement_<version>.html``.
"""

from __future__ import annotations

import html
import logging

import pandas as pd

from lineage.catalog import Catalog, Manifest
from transforms.labels import AgreementReport, agreement_report
from transforms.labels.spec import validate_spec
from user_pipeline.labels.common import LABELS, clean_or_collect_page, label_arguments, write_report
from user_pipeline.steps.harness import Job, Plan, StepContext
from user_pipeline.training.spam_filter import load_labels

NAME = "user_pipeline.labels.agreement"
AGREEMENT = "reference.spam_label_agreement"
SPEC = "reference.spam_label_spec"
log = logging.getLogger(NAME)


def arguments(parser) -> None:
    """``--labels-version`` and ``--compare-with``."""
    label_arguments(parser)
    parser.add_argument("--compare-with", help="labels version under an earlier spec to compare with "
                        "(default: the one committed last before this one whose spec differs)")


def spec_version_of(catalog: Catalog, version: str) -> str | None:
    """The label spec a labels version was labelled under (the latest it names; None: none)."""
    table = catalog.read_table(LABELS, version)
    if "spec_version" not in table.column_names:
        return None
    versions = sorted({v for v in table.column("spec_version").to_pylist() if v})
    return versions[-1] if versions else None


def plan(ctx: StepContext) -> Plan:
    """Read the labels version, the spec it names (when committed) and the round to compare with."""
    labels = ctx.catalog.require(LABELS, ctx.args.labels_version or ctx.cfg.spam.labels_version)
    version = labels.ref.value
    spec_version = spec_version_of(ctx.catalog, version)
    inputs = [labels]
    spec = ctx.catalog.manifest(SPEC, spec_version) if spec_version else None
    if spec is not None:
        inputs.append(spec)
    before = _before(ctx.catalog, labels, spec_version, ctx.args.compare_with)
    if before is not None:
        inputs.append(before)
        before_spec = ctx.catalog.manifest(SPEC, spec_version_of(ctx.catalog, before.ref.value) or "")
        if before_spec is not None:
            inputs.append(before_spec)
    return Plan(inputs, [(AGREEMENT, version)],
                extra={"spec": spec, "before": before, "before_spec": before_spec if before is not None else None})


def _before(catalog: Catalog, labels: Manifest, spec_version: str | None, asked: str | None) -> Manifest | None:
    if asked:
        return catalog.require(LABELS, asked)
    if spec_version is None:
        return None
    earlier = catalog.previous(LABELS, labels.ref.value)
    while earlier is not None:
        if spec_version_of(catalog, earlier.ref.value) not in (None, spec_version):
            return earlier
        earlier = catalog.previous(LABELS, earlier.ref.value)
    return None


def render_html(report: AgreementReport, labels_version: str, labels_content_version: str) -> str:
    """A self-contained HTML page of the report (tables, flags, disagreements)."""

    def table(frame: pd.DataFrame, flag_column: str | None = "below_min_agreement") -> str:
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns if c != flag_column)
        rows = []
        for record in frame.to_dict("records"):
            flagged = bool(flag_column and record.get(flag_column))
            cells = "".join(f"<td>{_fmt(v)}</td>" for k, v in record.items() if k != flag_column)
            rows.append(f"<tr class='{'flag' if flagged else ''}'>{cells}</tr>")
        return f"<table><tr>{head}</tr>{''.join(rows)}</table>"

    overall = pd.DataFrame([{"measure": k, "value": v} for k, v in report.overall.items()])
    flags = "".join(f"<li>{html.escape(f)}</li>" for f in report.flags) or "<li>none</li>"
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>Spam label agreement {html.escape(labels_version)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:70em}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}} tr.flag{{background:#fdd}}</style>
</head><body>
<h1>Spam label agreement: reference.spam_labels version={html.escape(labels_version)}</h1>
<p>Content version {html.escape(labels_content_version)}. Flag threshold <code>spam.min_agreement</code> =
{report.min_agreement}: applied to Cohen's kappa (pairs, each labeler against the others) and to
specific agreement (classes). Flagged rows are shaded.</p>
<h2>Flags</h2><ul>{flags}</ul>
<h2>Overall (messages with two or more labels)</h2>{table(overall, None)}
<h2>Per class</h2>{table(report.classes)}
{_spec_html(report, table)}
{_comparison_html(report, table)}
<h2>Per labeler (against the leave-one-out majority of the other labels)</h2>{table(report.labelers)}
<h2>Per labeler pair (Cohen's kappa; confusion a_X_b_Y = a said X where b said Y)</h2>{table(report.pairs)}
<h2>Labeler performance and label confidence (Dawid&ndash;Skene, no gold labels)</h2>
<p>Each labeler's confusion matrix (p_X_Y: the chance they say Y when the message is X) and expected accuracy
on their own labels; the error cell where they differ most from the others, with its z-test (shaded: singled
out). Expected accuracy of the labels resolved by the posterior: {_fmt(report.model.expected_accuracy)} over
{len(report.model.messages)} messages ({report.model.iterations} EM iterations{'' if report.model.converged
else ', not converged'}).</p>
{table(report.model.labelers, "outlier")}
<h3>Least confident messages (lowest posterior of their most likely class)</h3>
{table(_least_confident(report), None)}
<p id=clean-or-collect>What cleaning these labels is worth in more noisy labels, with the noise rate of the model
above: <a href="{html.escape(clean_or_collect_page(labels_version))}">clean or collect?</a> (written by
<code>python -m user_pipeline.labels.clean_or_collect --labels-version {html.escape(labels_version)}</code>).</p>
<h2>Disagreements ({len(report.disagreements)})</h2>{table(report.disagreements, None)}
</body></html>"""


def _spec_html(report: AgreementReport, table) -> str:
    """Per class, the spec's text and the disagreements each item leaves (shaded: an open edge case)."""
    if report.coverage is None:
        return (f"<h2>Label spec</h2><p>The labels name no committed spec version "
                f"({html.escape(str(report.spec_version))}).</p>")
    coverage = report.coverage.assign(open=~report.coverage["settled"]).drop(columns="settled")
    parts = [f"<h2>Label spec {html.escape(str(report.spec_version))}: what it says per class and the "
             "disagreements it did not settle</h2><p>Each disagreement is attributed to the first edge case, then "
             "rule, whose pattern its text matches. Shaded: an edge case the spec leaves open.</p>"]
    for label, rows in coverage.groupby(coverage["label"].fillna("(none)"), sort=False):
        parts.append(f"<h3>{html.escape(label)}</h3>{table(rows.drop(columns='label'), 'open')}")
    return "".join(parts)


def _comparison_html(report: AgreementReport, table) -> str:
    if report.comparison is None:
        return "<h2>Before and after a spec revision</h2><p>No labels version under an earlier spec.</p>"
    return (f"<h2>Before and after the spec revision: labels version={html.escape(str(report.before_version))} "
            f"against this one</h2>{table(report.comparison, None)}")


def _least_confident(report: AgreementReport, limit: int = 20) -> pd.DataFrame:
    """The ``limit`` messages whose posterior label is least certain, with their labels."""
    labels = report.disagreements.set_index("message_id")["labels"]
    low = report.model.messages.nsmallest(limit, "confidence")
    return low.assign(labels=[labels.get(m, "") for m in low["message_id"]])


def _fmt(value) -> str:
    if isinstance(value, float):
        return "" if pd.isna(value) else f"{value:.4f}"
    return html.escape("" if value is None else str(value))


def compute(ctx: StepContext) -> str:
    """Compute, commit and render the agreement of one labels version."""
    labels_manifest = ctx.plan.inputs[0]
    version = labels_manifest.ref.value
    _, labels = load_labels(ctx.catalog, version)
    min_agreement = ctx.cfg.spam.min_agreement
    spec, before, before_spec = (ctx.plan.extra[k] for k in ("spec", "before", "before_spec"))
    earlier = None
    if before is not None:
        _, before_labels = load_labels(ctx.catalog, before.ref.value)
        earlier = (before.ref.value, agreement_report(before_labels, min_agreement, _spec(ctx.catalog, before_spec)))
    report = agreement_report(labels, min_agreement, _spec(ctx.catalog, spec), earlier)
    extra = {"overall": report.overall, "flags": report.flags, "min_agreement": min_agreement,
             "spec_version": report.spec_version, "compared_with": report.before_version}
    ctx.write_table(AGREEMENT, version, report.to_table(), extra=extra)
    uri = write_report(ctx.catalog, f"spam_label_agreement_{version}.html",
                       render_html(report, version, labels_manifest.version).encode())
    return _print_summary(report, version, uri)


def _spec(catalog: Catalog, manifest: Manifest | None):
    return validate_spec(catalog.read_table(SPEC, manifest.ref.value)) if manifest is not None else None


def _print_summary(report: AgreementReport, version: str, uri: str) -> str:
    """Print the figures; returns the headline (the last line the task returns)."""
    o = report.overall
    headline = (f"reference.spam_labels version={version}: {o['messages']} messages, "
                f"{o['messages_multi_labelled']} labelled more than once, {o['messages_in_disagreement']} in "
                f"disagreement; flags: {'; '.join(report.flags) or 'none'}; report: {uri}")
    if o["messages_multi_labelled"] == 0:
        print("  no message is labelled twice: agreement cannot be measured")
        return headline
    print(f"  observed agreement {o['observed_agreement']:.3f}, Krippendorff's alpha {o['krippendorff_alpha']:.3f}"
          + (f", Fleiss' kappa {o['fleiss_kappa']:.3f}" if o["fleiss_kappa"] is not None else ""))
    for r in report.pairs.itertuples():
        print(f"  {r.labeler_a} ~ {r.labeler_b}: kappa {r.cohen_kappa:.3f} on {r.n} messages")
    for r in report.labelers.itertuples():
        print(f"  {r.labeler_id}: agreement with others {r.agreement_with_others:.3f}, "
              f"kappa {r.kappa_with_others:.3f} ({r.n_compared} compared; said spam where others said ham "
              f"{r.spam_where_others_ham}, the reverse {r.ham_where_others_spam}), spam share {r.spam_share:.3f} "
              f"(z {r.spam_share_z:+.2f}, p {r.spam_share_p:.3f} against the other labelers)")
    for r in report.model.labelers.itertuples():
        print(f"  {r.labeler_id}: estimated accuracy {r.accuracy:.3f} (Dawid-Skene); {r.worst_error} rate "
              f"{r.error_rate:.3f} against {r.others_error_rate:.3f} for the others (z {r.z:+.2f})"
              + (" <- singled out" if r.outlier else ""))
    print(f"  expected accuracy of the labels resolved by the posterior: {report.model.expected_accuracy:.3f}")
    for r in report.classes.itertuples():
        print(f"  class {r.label}: specific agreement {r.specific_agreement:.3f} ({r.labels} labels)")
    if report.coverage is not None:
        for r in report.coverage[report.coverage["disagreements"] > 0].itertuples():
            print(f"  spec {report.spec_version} {r.item_id}: {r.disagreements} disagreements"
                  + ("" if r.settled else " (open)"))
    if report.comparison is not None:
        for r in report.comparison.itertuples():
            print(f"  {r.metric}: {r.before:.4g} under labels {report.before_version} -> {r.after:.4g} here")
    print("  flags: " + ("; ".join(report.flags) or "none"))
    return headline


JOB = Job(NAME, compute, plan=plan, arguments=arguments, ds_required=False,
          integration="PYTHON")
run, main = JOB.run, JOB.main

if __name__ == "__main__":
    JOB.exit()
