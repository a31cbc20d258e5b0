"""Where the ID-merge's false positives come from, on generated users with known person ids.

    python -m bench.id_merge_errors [--users 200000] [--linkage average|single]

In one process, in memory (``transforms.id_merge.resolve``: the steps ``beam_jobs.id_merge`` wires):
train the matcher on ``reference.id_pairs`` (``id_merge.model``), generate one day of de-spammed
users (``user_pipeline.datagen.merge_sample``, seed 17 as ``bench.id_merge_scale``), merge, and print JSON lines:
pairwise precision/recall/F1; false-positive pairs split into direct links (the matcher accepted
the pair itself) and transitive ones (put together through other records); and, for the false and
(a sample of) the true accepted links, the share agreeing on each field (``null`` = a side missing).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date

import numpy as np
import pandas as pd

DAY = "2026-01-02"
FIELDS = ("first_jw", "last_jw", "dob_exact", "email_exact", "phone_tail_match", "postcode_exact")


def within_pairs(labels: np.ndarray) -> np.ndarray:
    """All pairs ``(i, j)``, ``i < j``, of record positions sharing a label."""
    from transforms.id_merge import block_pairs

    groups = pd.Series(np.arange(len(labels))).groupby(np.asarray(labels)).apply(np.asarray)
    found = [np.stack(block_pairs(g), axis=1) for g in groups if len(g) > 1]
    return np.concatenate(found) if found else np.empty((0, 2), dtype=np.int64)


def profile(features: pd.DataFrame) -> dict:
    """Per field: share of links agreeing exactly, disagreeing, and with a side missing."""
    out = {"links": len(features)}
    for name in FIELDS:
        column = features[name]
        out[name] = {"equal": round(float((column == 1).mean()), 3), "missing": round(float(column.isna().mean()), 3)}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--linkage", choices=("average", "single"), help="default: id_merge.cluster_linkage")
    args = parser.parse_args(argv)
    import transforms.id_merge as im
    from user_pipeline.config import load_config
    from user_pipeline.datagen import reference
    from user_pipeline.datagen.merge_sample import staged_users
    from user_pipeline.training.id_matcher import fit_matcher

    cfg = load_config()
    pairs_table = reference.id_pairs(cfg.datagen.seed).to_pandas()
    matcher, _ = fit_matcher(im.pair_features(pairs_table), pairs_table["is_match"].to_numpy(), cfg.id_merge.model)
    table, persons = staged_users(17, date.fromisoformat(DAY), args.users)
    records, person = table.to_pandas(), persons.to_numpy()
    started = time.perf_counter()
    result, pairs, scores = im.resolve(records, matcher, max_block_size=cfg.id_merge.max_block_size,
                                       max_cluster_size=cfg.id_merge.max_cluster_size,
                                       linkage=args.linkage or cfg.id_merge.cluster_linkage)
    seconds = time.perf_counter() - started
    found, truth = within_pairs(result.canonical_id), within_pairs(person)
    same = person[found[:, 0]] == person[found[:, 1]]
    tp = int(same.sum())
    precision, recall = tp / max(len(found), 1), tp / max(len(truth), 1)
    accepted = scores >= matcher.threshold
    true_candidate = person[pairs[:, 0]] == person[pairs[:, 1]]
    false_links = pairs[accepted & ~true_candidate]
    key = np.int64(len(records))
    direct = np.isin(found[~same, 0] * key + found[~same, 1], false_links[:, 0] * key + false_links[:, 1])
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    print(json.dumps({"users": args.users, "records": len(records), "seconds": round(seconds, 1),
                      "threshold": round(matcher.threshold, 4), "precision": round(precision, 5),
                      "recall": round(recall, 5), "f1": round(f1, 5),
                      "false_pairs": int((~same).sum()), "false_direct": int(direct.sum()),
                      "false_transitive": int((~direct).sum()), "missed_pairs": len(truth) - tp,
                      "true_not_candidates": len(truth) - int(true_candidate.sum()),
                      "true_candidates_rejected": int((~accepted & true_candidate).sum()),
                      "loose_clusters_split": result.loose_clusters_split}))
    norm = im.normalise(records)
    true_links = pairs[accepted & true_candidate]
    sample = true_links[np.random.default_rng(0).choice(len(true_links), min(len(true_links), 50_000), replace=False)]
    print(json.dumps({"false_links": profile(im.compare(norm, false_links)),
                      "true_links": profile(im.compare(norm, sample))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
