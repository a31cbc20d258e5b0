"""The backfill story, end to end on the embedded default (``make demo-backfill``):

1. run the pipeline for several dates with spam labels v1, which hold labelling errors;
2. fix the labels: accept the top label-noise candidates as a new version, through Airflow (the
   ``spam_labels_fix`` DAG); its asset event on ``reference.spam_labels`` triggers the
   ``spam_filter`` DAG, which retrains on the new version;
3. the reviewed config change: pin ``spam.labels_version`` to the new version;
4. ask what the bad version poisoned (``lineage impact``) and print the plan (``--dry-run``);
5. run the backfill through Airflow and show that nothing current derives from v1 any more.

Every step is the command a user would type, run as a child process and echoed, so the story
can be replayed by hand. The config with the new pin is written under the data root
(``demo/pipeline.<version>.yaml``); the checked-in config is never edited.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import yaml
from rich.console import Console

from lineage.catalog import Catalog
from user_pipeline.config import load_config

console = Console(width=120)
LABELS = "reference.spam_labels"


def _run(cmd: list[str], env: dict[str, str], *, allow_fail: bool = False) -> int:
    shown = " ".join(shlex.quote(c) for c in cmd).replace(sys.executable, "python")
    console.rule(f"$ {shown}", style="cyan", align="left")
    done = subprocess.run(cmd, env=env, check=False)
    if done.returncode != 0 and not allow_fail:
        raise SystemExit(f"failed ({done.returncode}): {shown}")
    return done.returncode


def pinned_config(source: str, data_root: str, labels_version: str) -> Path:
    """A copy of the config with ``spam.labels_version`` pinned (the reviewed config change)."""
    raw = yaml.safe_load(Path(source).read_text())
    raw["data_root"] = data_root
    raw["spam"]["labels_version"] = labels_version
    path = Path(data_root) / "demo" / f"pipeline.{labels_version}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--users-per-day", type=int)
    parser.add_argument("--accept-top", type=int, default=60, help="label-noise candidates accepted as the fix")
    parser.add_argument("--new-version", default="v2", help="version id of the fixed labels")
    parser.add_argument("--skip-pipeline", action="store_true", help="the dates were already run (make demo)")
    args = parser.parse_args(argv)

    cfg = load_config(args.config)
    if "://" in cfg.data_root:
        raise SystemExit("the demo writes its config under a local data root")
    env = {**os.environ, "PIPELINE_CONFIG": cfg.source_path, "PIPELINE_DATA_ROOT": cfg.data_root}
    py = sys.executable
    old = cfg.spam.labels_version
    if args.new_version == old:
        raise SystemExit(f"--new-version must differ from the pinned labels version {old}")

    console.print(f"[bold]1. the pipeline on {args.days} dates with {LABELS} version={old}[/bold]")
    if not args.skip_pipeline:
        extra = ["--users-per-day", str(args.users_per_day)] if args.users_per_day else []
        _run([py, "-m", "user_pipeline.runner.local", "--days", str(args.days), *extra], env)
    bad = Catalog(cfg).require(LABELS, old)

    console.print(f"[bold]2. the fix: accept the {args.accept_top} most likely mislabelled examples; the "
                  "asset event retrains the spam filter[/bold]")
    conf = json.dumps({"new_version": args.new_version, "labels_version": old, "accept_top": args.accept_top})
    _run([py, "-m", "user_pipeline.runner.local", "--trigger", "spam_labels_fix", "--conf", conf], env)

    console.print(f"[bold]3. the reviewed config change: spam.labels_version: {args.new_version}[/bold]")
    fixed = pinned_config(cfg.source_path, cfg.data_root, args.new_version)
    console.print(f"config: {fixed}")
    env = {**env, "PIPELINE_CONFIG": str(fixed)}

    console.print(f"[bold]4. what did {LABELS}@{bad.version} (version={old}) poison?[/bold]")
    lineage = [py, "-m", "user_pipeline.runner.lineage_command"]
    report = Path(cfg.data_root) / "reports" / "lineage" / f"impact-{LABELS}-{old}.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    _run([*lineage, "impact", f"{LABELS}@{bad.version}", "--html", str(report)], env)
    _run([*lineage, "backfill", "--fixed", LABELS, "--dry-run"], env)

    console.print("[bold]5. the backfill, through Airflow, then the check[/bold]")
    code = _run([*lineage, "backfill", "--fixed", LABELS], env, allow_fail=True)
    _run([*lineage, "impact", f"{LABELS}@{bad.version}"], env)
    console.print(f"impact picture: {report}")
    if code != 0:
        console.print("the backfill did not complete: see its report above", style="red")
    return code


if __name__ == "__main__":
    sys.exit(main())
