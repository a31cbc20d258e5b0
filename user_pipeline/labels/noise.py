"""Label-noise detection (confident learning) and reviewed fixes of ``reference.spam_labels``.

Detect: rank the label rows most likely wrong and commit them for review::

    python -m user_pipeline.labels.noise --labels-version v1 [--config ...] [--force]

Out-of-fold P(spam) per message from the spam filter's own text model (``spam.cv_folds``
stratified folds, grouped by text so duplicates never straddle a fold), then confident learning
on every label row (``transforms.labels.confident_learning``). Commits
``reference.spam_label_reviews`` version=<labels version> (``transforms.labels.REVIEWS``, ranked,
best candidate first) and writes ``<data_root>/reports/labels/spam_label_reviews_<version>.csv``,
a template with an empty ``corrected_label`` column for reviewers.

Fix: apply decisions and commit a new labels version::

    python -m user_pipeline.labels.noise --fix --labels-version v1 --reviews reviewed.csv --new-version v2
    python -m user_pipeline.labels.noise --fix --labels-version v1 --accept-top 50 --new-version v2

``--reviews``: a UTF-8 CSV with ``message_id``, ``labeler_id``, ``corrected_label`` (``ham`` /
``spam``; blank = the label is confirmed as it is) and optional ``reviewer``, ``note``; any row
of the labels version may be corrected, not only the candidates. ``--accept-top K`` takes the
suggested label of the K best-ranked candidates without review (for experiments). The changed
rows are committed as ``reference.spam_label_corrections`` version=<new version>, then
``reference.spam_labels`` version=<new version> (same schema and rows, corrected labels) with
inputs: the old labels, the reviews and the corrections. That commit is the upstream fix: bump
``spam.labels_version``, retrain (``user_pipeline.training.spam_filter``) and backfill de-spam. Versions are
immutable: an existing new version with other content is an error.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

import transforms.labels
import transforms.spam
from lineage.catalog import Catalog, Manifest, Producer
from lineage.emit import ParentRun, step_run
from lineage.versioning import code_version, table_version
from transforms.labels import (
    CORRECTIONS,
    LabelError,
    apply_corrections,
    resolve_labels,
    review_candidates,
    reviewed_corrections,
    top_k_corrections,
    validate_labels,
)
from user_pipeline.config import PipelineConfig, load_config
from user_pipeline.labels.common import label_parser, read_reviews_csv, write_report
from user_pipeline.training.spam_filter import LABELS, cross_validated_probability, load_labels

JOB = "user_pipeline.labels.noise"
REVIEWS = "reference.spam_label_reviews"
CORRECTIONS_DATASET = "reference.spam_label_corrections"
log = logging.getLogger(JOB)


def detect(labels: pd.DataFrame, cfg: PipelineConfig) -> tuple[pa.Table, pd.DataFrame]:
    """Ranked review candidates (``REVIEWS``) of validated labels, and the resolved labels."""
    resolved = resolve_labels(labels)
    probability = cross_validated_probability(resolved["text"], resolved["label"], cfg)
    return review_candidates(labels, resolved, probability), resolved


def _code(cfg: PipelineConfig) -> str:
    return code_version(transforms.labels, transforms.spam, sys.modules[__name__],
                        config={"model": cfg.spam.model.model_dump(), "cv_folds": cfg.spam.cv_folds})


def run_detect(args, cfg: PipelineConfig) -> Manifest:
    """Commit the review candidates of one labels version (skip when up to date)."""
    catalog = Catalog(cfg)
    version = args.labels_version or cfg.spam.labels_version
    labels_manifest = catalog.require(LABELS, version)
    inputs = [labels_manifest.ref]
    code = _code(cfg)
    parent = ParentRun.from_args(args)
    with step_run(cfg, JOB, inputs, parent=parent, nominal_date=args.ds) as step:
        reused = None if args.force else catalog.reusable([(REVIEWS, version)], inputs, code)
        if reused:
            existing = reused[0]
            step.skipped = True
            step.add_output(existing)
            print(f"{REVIEWS} version={version}: unchanged ({existing.row_count} candidates)")
            return existing
        _, labels = load_labels(catalog, version)
        candidates, _ = detect(labels, cfg)
        frame = candidates.to_pandas()
        per_labeler = frame["labeler_id"].value_counts().to_dict()
        rows_per_labeler = labels["labeler_id"].value_counts()
        extra = {
            "label_rows": len(labels), "candidates": len(frame),
            "candidates_per_labeler": {k: int(v) for k, v in per_labeler.items()},
            "candidate_rate_per_labeler": {k: round(per_labeler.get(k, 0) / int(n), 4)
                                           for k, n in rows_per_labeler.items()},
            "given_to_suggested": {f"{a}->{b}": int(n) for (a, b), n in
                                   frame.groupby(["given_label", "suggested_label"]).size().items()},
            "cv_folds": cfg.spam.cv_folds,
        }
        manifest = catalog.write_table(REVIEWS, version, candidates, producer=Producer.of(step.run_id, JOB, parent),
                                       inputs=inputs, code_version=code, extra=extra)
        step.add_output(manifest)
        uri = write_report(catalog, f"spam_label_reviews_{version}.csv", frame.to_csv(index=False).encode())
        print(f"{REVIEWS} version={version}: {len(frame)} of {len(labels)} label rows look mislabelled "
              f"(per labeler: {extra['candidate_rate_per_labeler']}); review template: {uri}")
        for r in frame.head(10).itertuples():
            print(f"  #{r.rank} {r.message_id} {r.labeler_id}: {r.given_label} -> {r.suggested_label} "
                  f"(p given {r.self_confidence:.3f}) {r.text[:80]!r}")
        return manifest


def run_fix(args, cfg: PipelineConfig) -> Manifest:
    """Apply reviewed corrections (or the top K) and commit the new labels version."""
    if not args.new_version:
        raise SystemExit("--fix needs --new-version")
    if (args.reviews is None) == (args.accept_top is None):
        raise SystemExit("--fix needs exactly one of --reviews FILE or --accept-top K")
    catalog = Catalog(cfg)
    version = args.labels_version or cfg.spam.labels_version
    if args.new_version == version:
        raise SystemExit(f"--new-version must differ from the labels version {version!r}")
    labels_manifest = catalog.require(LABELS, version)
    reviews_manifest = catalog.manifest(REVIEWS, version)
    if reviews_manifest is None or reviews_manifest.inputs != [labels_manifest.ref.to_json()]:
        raise FileNotFoundError(f"no {REVIEWS} version={version} for the committed labels: run "
                                f"python -m user_pipeline.labels.noise --labels-version {version} first")
    inputs = [labels_manifest.ref, reviews_manifest.ref]
    code = _code(cfg)
    parent = ParentRun.from_args(args)
    with step_run(cfg, JOB, inputs, parent=parent, nominal_date=args.ds) as step:
        raw = catalog.read_table(LABELS, version)
        labels = validate_labels(raw)
        if args.reviews:
            decided_by = f"review:{args.reviews.rsplit('/', 1)[-1]}"
            corrections = reviewed_corrections(read_reviews_csv(args.reviews), labels, decided_by)
        else:
            if args.accept_top < 1:
                raise SystemExit("--accept-top must be at least 1")
            candidates = catalog.read_table(REVIEWS, version).to_pandas()
            corrections = top_k_corrections(candidates, args.accept_top)
        if corrections.empty:
            raise LabelError("the decisions change no label: nothing to commit")
        fixed = apply_corrections(raw, corrections)
        validate_labels(fixed)  # the new version must pass the same checks as any labels version
        corrections_table = pa.Table.from_pandas(corrections, schema=CORRECTIONS, preserve_index=False)

        existing = catalog.manifest(LABELS, args.new_version)
        if existing is not None:
            if existing.version == table_version(fixed):
                print(f"{LABELS} version={args.new_version} already holds exactly these labels: nothing to do")
                step.skipped = True
                step.add_output(existing)
                return existing
            raise FileExistsError(f"{LABELS} version={args.new_version} exists with other labels; "
                                  "versions are immutable: choose a new --new-version")

        producer = Producer.of(step.run_id, JOB, parent)
        summary = {"derived_from": version, "corrections": len(corrections),
                   "decided_by": corrections["decided_by"].iloc[0],
                   "changes": {f"{a}->{b}": int(n) for (a, b), n in
                               corrections.groupby(["old_label", "new_label"]).size().items()}}
        corrections_manifest = catalog.write_table(CORRECTIONS_DATASET, args.new_version, corrections_table,
                                                   producer=producer, inputs=inputs, code_version=code,
                                                   extra=summary)
        manifest = catalog.write_table(LABELS, args.new_version, fixed, producer=producer,
                                       inputs=[*inputs, corrections_manifest.ref], code_version=code,
                                       extra={"source": labels_manifest.extra.get("source"), **summary})
        step.add_output(corrections_manifest)
        step.add_output(manifest)
        print(f"{LABELS} version={args.new_version}: {len(corrections)} label(s) corrected from version={version} "
              f"({summary['changes']}); next: set spam.labels_version: {args.new_version}, then "
              f"python -m user_pipeline.training.spam_filter --labels-version {args.new_version}")
        return manifest


def parser():
    parser = label_parser(__doc__.splitlines()[0])
    parser.add_argument("--fix", action="store_true", help="apply decisions and commit --new-version")
    parser.add_argument("--reviews", help="reviewed CSV (message_id, labeler_id, corrected_label[, reviewer, note])")
    parser.add_argument("--accept-top", type=int, help="accept the suggested label of the K best candidates")
    parser.add_argument("--new-version", help="version id of the corrected labels (with --fix)")
    return parser


def run(argv: Sequence[str] | None = None) -> Manifest:
    """Detect (default) or fix (``--fix``)."""
    args = parser().parse_args(argv)
    cfg = load_config(args.config)
    return run_fix(args, cfg) if args.fix else run_detect(args, cfg)


def precision_at_k(ranked_keys: Sequence, wrong: set, k: int) -> float:
    """Share of the first ``k`` ranked candidates that are truly wrong (nan for k = 0)."""
    top = list(ranked_keys)[:k]
    return float(np.mean([key in wrong for key in top])) if top else float("nan")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run()
