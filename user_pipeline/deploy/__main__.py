"""``python -m user_pipeline.deploy up|run|status|down``: a real Airflow 3 deployment on loopback.

    up      start the services, print the UI's URL and login; in the foreground until Ctrl-C (then
            everything started is stopped), or --detach; --run-days N also runs N dates
    run     generate sample data for the N days ending today (UTC) and run them through the
            scheduler, after the model DAGs (--dates D ... for others, --no-generate to keep the data)
    status  the services' processes and Airflow's health report
    down    stop every process the deployment started
    repair  upstream fixes (spam_labels, id_pairs, raw_drop), each committed through its DAG, the
            pin moved, then `lineage backfill --fixed` through the scheduler and `lineage check
            --strict`; prints what each backfill ran against what it had to (user_pipeline.deploy.repairs)
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time

from user_pipeline.airflow_api import AirflowApi
from user_pipeline.config import load_config
from user_pipeline.deploy import deployment as dep
from user_pipeline.deploy.airflow_api import default_dates, run_pipeline


def run_dates(deployment: dep.Deployment, dates: list[str], generate: bool = True,
              users_per_day: int | None = None) -> bool:
    """Generate (unless told not to) and run ``dates``; True when every run succeeded."""
    cfg = load_config(deployment.config_path)
    if generate:
        from user_pipeline.datagen.generate import generate as generate_data

        print(f"generating sample data for {dates[0]}..{dates[-1]} under {cfg.data_root}", flush=True)
        generate_data(cfg, start_date=dates[0], days=len(dates), users_per_day=users_per_day)
    api = AirflowApi(deployment.api_url, deployment.username, deployment.password())
    results = run_pipeline(api, cfg, dates, say=lambda line: print(line, flush=True))
    return all(r.state == "success" for r in results) and len(results) == 2 + len(dates)


def announce(deployment: dep.Deployment) -> None:
    print(f"Airflow UI   {deployment.api_url}   login: {deployment.username} / {deployment.password()}")
    print(f"lineage      {deployment.lineage_url}   (store {deployment.lineage_store})")
    print(f"executor     {dep.EXECUTORS[deployment.executor]}"
          + (f" with workers {', '.join(deployment.workers)}" if deployment.workers else ""))
    print(f"logs         {deployment.state_dir}/logs/<service>.log; stop: python -m user_pipeline.deploy down",
          flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", help="the pipeline config (default: $PIPELINE_CONFIG or conf/pipeline.yaml)")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the deployment")
    up.add_argument("--executor", choices=sorted(dep.EXECUTORS), default="local")
    up.add_argument("--workers", type=int, default=2, help="Celery workers (--executor celery)")
    up.add_argument("--metadata-db", help="Airflow's metadata database (SQLAlchemy URL; default SQLite, "
                                          "LocalExecutor only)")
    up.add_argument("--broker-url", help="Celery broker (default: a redis-server started on loopback)")
    up.add_argument("--api-port", type=int, default=8080)
    up.add_argument("--lineage-port", type=int, help="default: lineage.serve.port of the config")
    up.add_argument("--lineage-store", help="the lineage service's store (default: lineage.store_url)")
    up.add_argument("--detach", action="store_true", help="return once healthy; stop with `down`")
    up.add_argument("--run-days", type=int, default=0, help="then run this many dates ending today")
    up.add_argument("--users-per-day", type=int)
    run = sub.add_parser("run", help="run dates through the scheduler")
    run.add_argument("--days", type=int, default=2)
    run.add_argument("--dates", nargs="+", help="these dates instead (YYYY-MM-DD, in order)")
    run.add_argument("--no-generate", action="store_true", help="use the raw data already there")
    run.add_argument("--users-per-day", type=int)
    repair = sub.add_parser("repair", help="fix upstream datasets and backfill through the scheduler")
    repair.add_argument("fixes", nargs="+", choices=("spam_labels", "id_pairs", "raw_drop"))
    repair.add_argument("--ds", help="raw_drop: the date whose partner drop is re-sent (default: the last run)")
    sub.add_parser("status", help="the services and Airflow's health")
    sub.add_parser("down", help="stop everything the deployment started")
    args = parser.parse_args(argv)

    try:
        if args.command == "up":
            return _up(args)
        if args.command == "repair":
            from user_pipeline.deploy import repairs

            return repairs.main(args.fixes, args.config, args.ds)
        deployment = dep.load(args.config)
        if deployment is None:
            print("no deployment is recorded for this data root (python -m user_pipeline.deploy up)", file=sys.stderr)
            return 1
        if args.command == "run":
            ok = run_dates(deployment, args.dates or default_dates(args.days), not args.no_generate,
                           args.users_per_day)
            return 0 if ok else 1
        if args.command == "status":
            alive = deployment.alive()
            for name, up_ in alive.items():
                print(f"{name:14} pid {deployment.services[name]:>7}  {'running' if up_ else 'NOT RUNNING'}")
            if alive.get("api-server"):
                print(json.dumps(dep.airflow_health(deployment), indent=2))
                announce(deployment)
            return 0 if all(alive.values()) else 1
        killed = dep.stop(deployment)
        print("stopped" + (f" (killed after the grace period: {', '.join(killed)})" if killed else ""))
        return 0
    except dep.DeploymentError as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 1


def _up(args: argparse.Namespace) -> int:
    options = dep.Options(config=args.config, executor=args.executor, workers=args.workers,
                          metadata_db=args.metadata_db, broker_url=args.broker_url, api_port=args.api_port,
                          lineage_port=args.lineage_port, lineage_store=args.lineage_store)
    print(f"starting Airflow ({dep.EXECUTORS[args.executor]}), the lineage service"
          + (", Redis and Celery workers" if args.executor == "celery" else "") + " ...", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the deployment as Ctrl-C does
    deployment = dep.start(options)  # stops what it started if it fails or is interrupted
    ok = True
    try:
        announce(deployment)
        if args.run_days:
            ok = run_dates(deployment, default_dates(args.run_days), users_per_day=args.users_per_day)
        if args.detach:
            return 0 if ok else 1
        print("running; Ctrl-C stops everything", flush=True)
        while True:
            time.sleep(5)
            dead = [name for name, up_ in deployment.alive().items() if not up_]
            if dead:
                print(f"deploy: {', '.join(dead)} stopped: stopping the rest (logs: {deployment.state_dir}/logs)",
                      file=sys.stderr)
                return 1
    except KeyboardInterrupt:
        return 0 if ok else 1
    finally:
        if not args.detach:
            print("stopping ...", flush=True)
            dep.stop(deployment)
            print("stopped", flush=True)


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    sys.exit(main())
