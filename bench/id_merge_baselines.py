"""FEBRL baselines: recordlinkage (union of blocking keys + compare + ECM) and Splink (DuckDB).

Runs in its own environment, never in the project's (recordlinkage declares pandas<3)::

    python3.11 -m venv /work/baselines-venv
    /work/baselines-venv/bin/pip install recordlinkage==0.16 splink==5.0.0 duckdb==2.0.1
    /work/baselines-venv/bin/python bench/id_merge_baselines.py --tool recordlinkage --csv A [--csv-b B]

Standalone on purpose (imports nothing of the project). Prints the same JSON keys as
``bench.id_merge_febrl`` for the pairwise metrics: precision, recall, f1, pair_completeness
(share of true pairs among the blocked candidates) and wall_seconds (read + block + train +
predict); ``import_seconds`` is the start-up of importing the tool. Pairs are the tool's
predicted links (no clustering), ground truth is ``rec-<n>``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

STARTED = time.perf_counter()
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

COLUMNS = ["given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode", "state",
           "date_of_birth", "soc_sec_id"]


def read(path: str) -> pd.DataFrame:
    frame = pd.read_csv(path, dtype=str, skipinitialspace=True, keep_default_na=False)
    frame.columns = [c.strip() for c in frame.columns]
    frame = frame.apply(lambda s: s.str.strip()).replace("", None)
    frame["entity"] = frame["rec_id"].str.split("-").str[1]
    return frame.set_index("rec_id")


def true_pairs(a: pd.DataFrame, b: pd.DataFrame | None) -> set[tuple[str, str]]:
    if b is not None:
        merged = a.reset_index().merge(b.reset_index(), on="entity")
        return set(zip(merged["rec_id_x"], merged["rec_id_y"], strict=True))
    out = set()
    for ids in a.reset_index().groupby("entity")["rec_id"].apply(sorted):
        out.update((x, y) for k, x in enumerate(ids) for y in ids[k + 1:])
    return out


def norm(pairs, linkage: bool) -> set[tuple[str, str]]:
    return {(x, y) if linkage or x < y else (y, x) for x, y in pairs}


def run_recordlinkage(a: pd.DataFrame, b: pd.DataFrame | None):
    import recordlinkage

    imported = time.perf_counter()
    indexer = recordlinkage.Index()
    for key in ("given_name", "surname", "postcode", "date_of_birth", "soc_sec_id"):
        indexer.block(key)
    candidates = indexer.index(a) if b is None else indexer.index(a, b)
    compare = recordlinkage.Compare()
    compare.string("given_name", "given_name", method="jarowinkler", threshold=0.85, label="given_name")
    compare.string("surname", "surname", method="jarowinkler", threshold=0.85, label="surname")
    compare.exact("date_of_birth", "date_of_birth", label="date_of_birth")
    compare.exact("suburb", "suburb", label="suburb")
    compare.exact("state", "state", label="state")
    compare.string("address_1", "address_1", method="levenshtein", threshold=0.85, label="address_1")
    compare.exact("soc_sec_id", "soc_sec_id", label="soc_sec_id")
    compare.exact("postcode", "postcode", label="postcode")
    features = compare.compute(candidates, a) if b is None else compare.compute(candidates, a, b)
    links = recordlinkage.ECMClassifier(binarize=0.5).fit_predict(features)
    return candidates, links, imported


def run_splink(a: pd.DataFrame, b: pd.DataFrame | None):
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    imported = time.perf_counter()
    frames = [a.reset_index().rename(columns={"rec_id": "unique_id"})]
    if b is not None:
        frames.append(b.reset_index().rename(columns={"rec_id": "unique_id"}))
    frames = [f.drop(columns=["entity"]) for f in frames]
    rules = [block_on(k) for k in ("given_name", "surname", "postcode", "date_of_birth", "soc_sec_id")]
    settings = SettingsCreator(
        link_type="link_only" if b is not None else "dedupe_only",
        comparisons=[
            cl.NameComparison("given_name"), cl.NameComparison("surname"),
            cl.LevenshteinAtThresholds("date_of_birth", [1, 2]), cl.LevenshteinAtThresholds("soc_sec_id", [1, 2]),
            cl.LevenshteinAtThresholds("postcode", [1]), cl.ExactMatch("street_number"),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.8]), cl.JaroWinklerAtThresholds("suburb", [0.9]),
            cl.ExactMatch("state"),
        ],
        blocking_rules_to_generate_predictions=rules,
        retain_matching_columns=False,
    )
    db = DuckDBAPI()
    tables = [db.register(f, table_name=f"febrl_{i}") for i, f in enumerate(frames)]
    linker = Linker(tables if len(tables) > 1 else tables[0], settings, log_level=40)
    deterministic = ["l.soc_sec_id = r.soc_sec_id", "l.given_name = r.given_name and l.surname = r.surname"]
    linker.training.estimate_probability_two_random_records_match(deterministic, recall=0.8)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("surname"))
    predictions = linker.inference.predict(threshold_match_probability=0.5).as_pandas_dataframe()
    links = list(zip(predictions["unique_id_l"], predictions["unique_id_r"], strict=True))
    # Splink does not return the candidate set it scored under a threshold: count blocked pairs.
    all_pairs = linker.inference.predict().as_pandas_dataframe()
    candidates = list(zip(all_pairs["unique_id_l"], all_pairs["unique_id_r"], strict=True))
    return candidates, links, imported


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tool", choices=("recordlinkage", "splink"), required=True)
    parser.add_argument("--csv", required=True)
    parser.add_argument("--csv-b")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    a = read(args.csv)
    b = read(args.csv_b) if args.csv_b else None
    candidates, links, imported = (run_recordlinkage if args.tool == "recordlinkage" else run_splink)(a, b)
    wall = time.perf_counter() - began
    linkage = b is not None
    truth = true_pairs(a, b)
    found = norm(links if isinstance(links, list) else list(links), linkage)
    blocked = norm(candidates if isinstance(candidates, list) else list(candidates), linkage)
    tp = len(truth & found)
    precision = tp / len(found) if found else 0.0
    recall = tp / len(truth) if truth else 0.0
    print(json.dumps({
        "tool": args.tool, "csv": args.csv, "csv_b": args.csv_b, "precision": precision, "recall": recall,
        "f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "pair_completeness": len(truth & blocked) / len(truth), "candidate_pairs": len(blocked),
        "true_pairs": len(truth), "predicted_pairs": len(found),
        "wall_seconds": round(wall, 3), "import_seconds": round(imported - began, 3),
        "process_seconds": round(time.perf_counter() - STARTED, 3),
    }, indent=2))
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
