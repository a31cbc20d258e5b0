"""A reviewed fix of ``reference.spam_labels``: apply decisions and commit a new labels version.

    python -m user_pipeline.labels.fix --labels-version v1 --reviews reviewed.csv --new-version v2
    python -m user_pipeline.labels.fix --labels-version v1 --accept-top 50 --new-version v2
    python -m user_pipeline.labels.fix --labels-version v1 --decisions --new-version v2

``--reviews``: a UTF-8 CSV with ``message_id``, ``labeler_id``, ``corrected_label`` (``ham`` /
``spam``; blank = the label is confirmed as it is) and optional ``reviewer``, ``note``; any row
of the labels version may be corrected, not only the candidates of ``user_pipeline.labels.noise``.
``--accept-top K`` takes the suggested label of the K best-ranked candidates without review (for
experiments). ``--decisions`` takes the decisions of the review page
(``reference.spam_label_decisions`` version=<labels version>, ``user_pipeline.labels.review``;
the latest decision per message applies to each of its label rows), which is then an input of
the run and of the new version, so the lineage shows which reviews produced it. The changed rows
are committed as ``reference.spam_label_corrections`` version=<new version>, then
``reference.spam_labels`` version=<new version> (same schema and rows, corrected labels) with
inputs: the old labels, the reviews and the corrections. That commit is the upstream fix: bump
``spam.labels_version``, retrain (``user_pipeline.training.spam_filter``) and backfill de-spam.
Versions are immutable: an existing new version with other content is an error.

This is ``user_pipeline.fix`` (gate, one commit, lineage naming the replaced version) with the
corrected labels computed from reviews instead of read from a file; ``python -m user_pipeline.fix
--dataset reference.spam_labels --file labels.parquet --new-version v2`` commits labels corrected elsewhere.
"""

from __future__ import annotations

import argparse
import logging

import pyarrow as pa

from transforms.labels import (
    LabelError,
    apply_corrections,
    reviewed_corrections,
    top_k_corrections,
    validate_labels,
)
from transforms.labels.review_queue import decisions_to_reviews
from transforms.schema import CORRECTIONS
from user_pipeline.fix import airflow_arguments, announce, commit_fix, replaced_partition
from user_pipeline.labels.common import LABELS, label_arguments, read_reviews_csv
from user_pipeline.labels.noise import REVIEWS
from user_pipeline.steps.harness import Job, Plan, StepContext

NAME = "user_pipeline.labels.fix"
DECISIONS = "reference.spam_label_decisions"
CORRECTIONS_DATASET = "reference.spam_label_corrections"
log = logging.getLogger(NAME)


def arguments(parser: argparse.ArgumentParser) -> None:
    label_arguments(parser)
    parser.add_argument("--new-version", required=True, help="version id of the corrected labels")
    decision = parser.add_mutually_exclusive_group(required=True)
    decision.add_argument("--reviews", help="reviewed CSV (message_id, labeler_id, corrected_label[, reviewer, note])")
    decision.add_argument("--accept-top", type=int, help="accept the suggested label of the K best candidates")
    decision.add_argument("--decisions", action="store_true",
                          help=f"the review page's decisions ({DECISIONS} version=<labels version>)")
    airflow_arguments(parser)


def plan(ctx: StepContext) -> Plan:
    """The labels version and its review candidates (which must be of those very labels)."""
    args = ctx.args
    if args.accept_top is not None and args.accept_top < 1:
        raise SystemExit("--accept-top must be at least 1")
    labels, _ = replaced_partition(ctx, LABELS, args.labels_version, args.new_version)
    version = labels.ref.value
    reviews = ctx.catalog.manifest(REVIEWS, version)
    if reviews is None or reviews.inputs != [labels.ref.to_json()]:
        raise FileNotFoundError(f"no {REVIEWS} version={version} for the committed labels: run "
                                f"python -m user_pipeline.labels.noise --labels-version {version} first")
    inputs = [labels, reviews]
    if args.decisions:
        decided = ctx.catalog.manifest(DECISIONS, version)
        if decided is None:
            raise FileNotFoundError(f"no {DECISIONS} version={version}: review the labels first "
                                    f"(python -m user_pipeline.labels.review --labels-version {version})")
        inputs.append(decided)
    return Plan(inputs, [(CORRECTIONS_DATASET, args.new_version), (LABELS, args.new_version)])


def compute(ctx: StepContext) -> str:
    """Apply reviewed corrections (or the top K) and commit the new labels version as the fix of
    the old one (``user_pipeline.fix.commit_fix``).

    Not a content-addressed skip on inputs: the same new version with exactly these labels is
    reused, the same version with other labels is refused (versions are immutable)."""
    args = ctx.args
    labels_manifest, _, *decided = ctx.plan.inputs
    version = labels_manifest.ref.value
    raw = ctx.catalog.read_table(LABELS, version)
    labels = validate_labels(raw)
    if decided:
        decisions = ctx.catalog.read_table(DECISIONS, version).to_pandas()
        corrections = reviewed_corrections(decisions_to_reviews(decisions, labels), labels,
                                           f"review-page:{decided[0].version}")
    elif args.reviews:
        decided_by = f"review:{args.reviews.rsplit('/', 1)[-1]}"
        corrections = reviewed_corrections(read_reviews_csv(args.reviews), labels, decided_by)
    else:
        candidates = ctx.catalog.read_table(REVIEWS, version).to_pandas()
        corrections = top_k_corrections(candidates, args.accept_top)
    if corrections.empty:
        raise LabelError("the decisions change no label: nothing to commit")
    fixed = apply_corrections(raw, corrections)
    validate_labels(fixed)  # the new version must pass the same checks as any labels version
    corrections_table = pa.Table.from_pandas(corrections, schema=CORRECTIONS, preserve_index=False)

    summary = {"derived_from": version, "corrections": len(corrections),
               "decided_by": corrections["decided_by"].iloc[0],
               "changes": {f"{a}->{b}": int(n) for (a, b), n in
                           corrections.groupby(["old_label", "new_label"]).size().items()}}
    corrections_sealed = ctx.seal_table(CORRECTIONS_DATASET, args.new_version, corrections_table, extra=summary)
    labels_sealed = ctx.seal_table(LABELS, args.new_version, fixed, inputs=[*ctx.inputs, corrections_sealed[1].ref],
                                   extra={"source": labels_manifest.extra.get("source"), **summary})
    # The fix of any upstream dataset (gate, one commit with its corrections, lineage naming the
    # version it replaces); the labels are never visible without their corrections.
    done = commit_fix(ctx, labels_manifest, labels_sealed, corrections_sealed,
                      reason=f"{len(corrections)} label(s) corrected ({summary['decided_by']})")
    if ctx.run.skipped:
        return done
    return (f"{done}: {len(corrections)} label(s) corrected ({summary['changes']}); next: set "
            f"spam.labels_version: {args.new_version}, then "
            f"python -m user_pipeline.training.spam_filter --labels-version {args.new_version}")


# Run by hand, --airflow-url sends the labels' asset event as the fix DAG's outlet would.
JOB = Job(NAME, compute, plan=plan, arguments=arguments, ds_required=False, integration="PYTHON", skips=False,
          after_commit=announce)
run, main = JOB.run, JOB.main

if __name__ == "__main__":
    JOB.exit()
