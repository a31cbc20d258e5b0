"""FEBRL1 and FEBRL4: our ID-merge beside recordlinkage and Splink, in one run, as JSON lines.

    python -m bench.id_merge_side_by_side [--baselines-python /work/baselines-venv/bin/python]
        [--febrl-dir DIR]

Each tool runs in its own process (``bench.id_merge_febrl`` here, ``bench/id_merge_baselines.py``
in the baselines environment, which holds recordlinkage and Splink: they cannot be installed into
ours), one after the other so they do not compete for the cores. ``process_seconds`` is the whole
process as measured from outside (start-up included); ``wall_seconds`` is the tool's own work.
Without the baselines interpreter only our rows are printed, with a note.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bench.febrl_data import febrl_dir

HERE = Path(__file__).resolve().parent
KEYS = ("precision", "recall", "f1", "pair_completeness", "cluster_precision", "cluster_recall",
        "candidate_pairs", "wall_seconds", "train_seconds", "import_seconds")


def _run(command: list[str]) -> dict:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=HERE.parent)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-500:]}
    result = json.loads(done.stdout[done.stdout.index("{"):])
    return {**{k: result[k] for k in KEYS if k in result}, "process_seconds": round(elapsed, 3)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baselines-python", default="/work/baselines-venv/bin/python")
    parser.add_argument("--febrl-dir")
    args = parser.parse_args(argv)
    folder = febrl_dir(args.febrl_dir)
    cases = {"FEBRL1": ["--csv", f"{folder}/dataset1.csv"],
             "FEBRL4": ["--csv", f"{folder}/dataset4a.csv", "--csv-b", f"{folder}/dataset4b.csv"]}
    have_baselines = Path(args.baselines_python).exists()
    for name, files in cases.items():
        rows = {"ours": _run([sys.executable, "-m", "bench.id_merge_febrl", *files, "--febrl-dir", folder])}
        if have_baselines:
            for tool in ("recordlinkage", "splink"):
                # -P: the script's folder (bench/, which has a statistics.py) must not shadow the
                # standard library's statistics module, which Splink imports.
                rows[tool] = _run([args.baselines_python, "-P", str(HERE / "id_merge_baselines.py"), "--tool", tool,
                                   *files])
        else:
            rows["note"] = f"{args.baselines_python} not found: see bench/id_merge_baselines.py to create it"
        print(json.dumps({"dataset": name, **rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
