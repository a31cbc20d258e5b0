"""Benchmark: repair after three upstream fixes, on the embedded runner and through a real scheduler.

    python -m bench.backfill [--days 2] [--users-per-day 700] [--fixes spam_labels id_pairs raw_drop]
                             [--no-deployment] [--data-root /tmp/bench-backfill]

Runs the pipeline for ``--days`` dates twice: with the embedded runner (``dag.test``), and on a
real Airflow 3 deployment (``user_pipeline.deploy``: api-server, scheduler, dag-processor,
triggerer, LocalExecutor on SQLite). On each, the fixes of ``user_pipeline.deploy.repairs`` in
turn: the corrected version committed through its DAG (the asset event trains a candidate), the
pin moved, then ``lineage backfill --fixed`` and ``lineage check --strict``. Per fix it counts

- **minimal**: planned tasks whose job read other input versions in the backfill than in its
  previous run of that task (anything else would reproduce its previous result);
- **planned** (from lineage) and **executed** (recomputed, not a content-addressed skip);
- **Airflow clear**: what clearing the first affected task of every affected DAG run with
  "downstream" re-runs, with Airflow alone (no lineage, no content-addressed skip);

and the backfill's wall time on both. Figures come from one run on one machine: compare ratios
within it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lineage.catalog import Catalog
from user_pipeline.config import load_config
from user_pipeline.deploy import repairs

console = Console(width=150)


def _small_config(root: Path, users_per_day: int, days: int) -> Path:
    """The checked-in config with a data root of its own and the preprocessing window of the run."""
    import yaml

    from user_pipeline.config import REPO_ROOT

    raw = yaml.safe_load((REPO_ROOT / "conf" / "pipeline.yaml").read_text())
    raw["data_root"] = str(root / "data")
    raw["datagen"]["users_per_day"] = users_per_day
    raw["preprocess"]["window_days"] = days
    path = root / "pipeline.yaml"
    root.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def embedded(root: Path, args: argparse.Namespace, env: dict[str, str]) -> tuple[float, list[repairs.Outcome]]:
    """The dates, then the fixes, through ``dag.test``."""
    config = _small_config(root, args.users_per_day, args.days)
    env = {**env, "PIPELINE_CONFIG": str(config)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "user_pipeline.runner.local", "--days", str(args.days)], env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the embedded pipeline failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    seconds = time.perf_counter() - started
    driver = repairs.EmbeddedDriver(env)
    return seconds, _fixes(args.fixes, driver, str(config), env, root)


def deployed(root: Path, args: argparse.Namespace, env: dict[str, str]) -> tuple[float, list[repairs.Outcome]]:
    """The dates, then the fixes, through a deployment's scheduler (stopped afterwards)."""
    from user_pipeline.airflow_api import AirflowApi
    from user_pipeline.datagen.generate import generate
    from user_pipeline.deploy import deployment as dep
    from user_pipeline.deploy.airflow_api import default_dates, run_pipeline

    config = _small_config(root, args.users_per_day, args.days)
    deployment = dep.start(dep.Options(config=str(config), api_port=_free_port(), lineage_port=_free_port()))
    try:
        cfg = load_config(deployment.config_path)
        dates = default_dates(args.days)
        generate(cfg, start_date=dates[0], days=len(dates), users_per_day=args.users_per_day)
        api = AirflowApi(deployment.api_url, deployment.username, deployment.password())
        started = time.perf_counter()
        results = run_pipeline(api, cfg, dates, say=lambda _: None)
        seconds = time.perf_counter() - started
        if any(r.state != "success" for r in results):
            raise SystemExit(f"the deployment's runs failed: {results}")
        driver = repairs.DeploymentDriver(api, deployment.api_url, deployment.username)
        env = {**env, "PIPELINE_CONFIG": deployment.config_path, "AIRFLOW_API_PASSWORD": deployment.password()}
        return seconds, _fixes(args.fixes, driver, deployment.config_path, env, root)
    finally:
        dep.stop(deployment)


def _fixes(names: list[str], driver: repairs.Driver, config: str, env: dict[str, str],
           root: Path) -> list[repairs.Outcome]:
    outcomes = []
    for name in names:
        cfg = load_config(config)
        ds = Catalog(cfg).committed(repairs.PARTNER)[-1]
        outcome = repairs.repair(repairs.prepare(name, cfg, root / "fixes", ds), driver, config, env)
        console.print(json.dumps(outcome.summary()), highlight=False)
        outcomes.append(outcome)
    return outcomes


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--users-per-day", type=int, default=700)
    parser.add_argument("--fixes", nargs="+", choices=repairs.FIXES, default=list(repairs.FIXES))
    parser.add_argument("--no-deployment", action="store_true", help="the embedded runner only")
    parser.add_argument("--data-root", help="default: a fresh temporary folder")
    args = parser.parse_args(argv)

    root = Path(args.data_root or tempfile.mkdtemp(prefix="bench-backfill-"))
    # Each runner gets a config of its own (data root inside it): nothing of the caller's may override it.
    for key in [k for k in os.environ if k.startswith(("OPENLINEAGE", "AIRFLOW", "PIPELINE"))]:
        del os.environ[key]
    env = dict(os.environ)
    console.print(f"{root}: {args.days} dates x {args.users_per_day} users; fixes {', '.join(args.fixes)}")
    runs = {"embedded": embedded(root / "embedded", args, env)}
    if not args.no_deployment:
        runs["scheduler"] = deployed(root / "deployed", args, env)

    table = Table(title=f"repair after each fix: {args.days} dates x {args.users_per_day} users")
    for column in ("fix", "runner", "minimal", "planned", "executed", "skipped", "Airflow clear",
                   "executed ÷ minimal", "clear ÷ minimal", "fix + candidate s", "backfill s", "complete, check"):
        table.add_column(column)
    for runner, (_, outcomes) in runs.items():
        for o in outcomes:
            s = o.summary()
            minimal = max(s["needed"], 1)
            table.add_row(o.fix, runner, str(s["needed"]), str(s["planned"]), str(s["executed"]), str(s["skipped"]),
                          str(s["clear_downstream"]), f"{s['executed'] / minimal:.2f}",
                          f"{s['clear_downstream'] / minimal:.2f}", f"{s['commit_s']:.0f}", f"{s['backfill_s']:.0f}",
                          f"{s['complete']}, exit {s['check_strict']}")
    console.print(table)
    for runner, (seconds, _) in runs.items():
        console.print(f"{runner}: the model DAGs and {args.days} dates in {seconds:.0f} s", highlight=False)
    if "scheduler" in runs:
        ratios = [d.backfill_seconds / e.backfill_seconds for e, d in zip(runs["embedded"][1], runs["scheduler"][1],
                                                                             strict=True) if e.backfill_seconds]
        console.print(f"backfill wall time, scheduler ÷ embedded: {', '.join(f'{r:.2f}' for r in ratios)}")
    ok = all(o.exit_code == 0 and o.check_exit_code == 0 for _, outcomes in runs.values() for o in outcomes)
    return 0 if ok else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
