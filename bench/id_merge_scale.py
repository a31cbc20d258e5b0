"""ID-merge at scale: the Beam job on generated users (~15% duplicates), wall time and peak memory.

    python -m bench.id_merge_scale [--users 100000 1000000] [--data-root DIR]

For each size, in a fresh process: generate one day of de-spammed users with known person ids
(``user_pipeline.datagen.merge_sample``), commit it under a scratch data root, and time ``beam_jobs.id_merge``
on it (the matcher is trained once, before, from ``reference.id_pairs``). Prints one JSON line
per size: records, wall_seconds of the job (start-up of the pipeline included), peak RSS of the
process (MiB), and pairwise precision/recall/F1 against the person ids.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date

DAY = "2026-01-02"


def one_size(users: int, data_root: str, duplicate_rate: float = 0.15) -> dict:
    """Generate, commit and merge ``users`` records under ``data_root`` (runs in its own process)."""
    os.environ["PIPELINE_DATA_ROOT"] = data_root
    import pandas as pd

    import beam_jobs.id_merge as job
    from lineage.catalog import Catalog, Producer
    from user_pipeline.config import load_config
    from user_pipeline.datagen.merge_sample import staged_users, true_pairs

    cfg = load_config()
    catalog = Catalog(cfg)
    table, persons = staged_users(17, date.fromisoformat(DAY), users, duplicate_rate=duplicate_rate)
    catalog.write_table(job.SOURCE, DAY, table, producer=Producer("bench", "bench-scale"), inputs=[],
                        code_version="bench")
    started = time.perf_counter()
    job.run(["--ds", DAY, "--force"])
    wall = time.perf_counter() - started
    id_map = catalog.read_table(job.ID_MAP_DATASET, DAY, columns=["source_record_id", "canonical_id"]).to_pandas()
    ids = id_map.set_index("source_record_id").loc[table.column("source_record_id").to_pylist(), "canonical_id"]
    truth, found = true_pairs(persons), true_pairs(pd.Series(ids.to_numpy()))
    tp = len(truth & found)
    precision, recall = tp / max(len(found), 1), tp / max(len(truth), 1)
    return {"users": users, "records": table.num_rows, "duplicate_records": int(len(persons) - persons.nunique()),
            "wall_seconds": round(wall, 2),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "precision": round(precision, 5), "recall": round(recall, 5),
            "f1": round(2 * precision * recall / max(precision + recall, 1e-12), 5)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--data-root", help="scratch data root (default: a temporary folder)")
    # The generator's rate is per person across sources and days: at 0.15 about 6.5% of one day's
    # records repeat a person seen that day; 0.4 gives about 15% (measured).
    parser.add_argument("--duplicate-rate", type=float, default=0.15)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: run one size here
    args = parser.parse_args(argv)
    root = args.data_root or tempfile.mkdtemp(prefix="id_merge_scale_")
    if args.one:
        print(json.dumps(one_size(args.one, root, args.duplicate_rate)))
        return 0
    env = {**os.environ, "PIPELINE_DATA_ROOT": root}
    import user_pipeline.datagen.reference
    from lineage.catalog import Catalog, Producer
    from user_pipeline.config import load_config

    cfg = load_config(data_root=root)
    Catalog(cfg).write_table("reference.id_pairs", cfg.id_merge.pairs_version,
                             user_pipeline.datagen.reference.id_pairs(cfg.datagen.seed),
                             producer=Producer("bench", "bench-scale"),
                             inputs=[], code_version="bench")
    subprocess.run([sys.executable, "-m", "user_pipeline.training.id_matcher"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    for users in args.users:
        done = subprocess.run([sys.executable, "-m", "bench.id_merge_scale", "--one", str(users), "--data-root", root,
                               "--duplicate-rate", str(args.duplicate_rate)],
                              env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(json.dumps({"users": users, "error": done.stderr.strip()[-800:]}))
            continue
        print(done.stdout.strip().splitlines()[-1], flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
