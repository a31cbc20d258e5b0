"""Benchmark: the gate of every gated dataset on a 1M-row partition.

    python -m bench.gates [--rows 1000000] [--users 2000] [--cli]

``bench_gates(cfg)`` generates one small day pair (datagen, the ingest job, the cleaning rules),
tiles each dataset to ``rows`` rows with unique ids (two partitions per dataset, so the
row-count check has a previous partition), commits them under ``<data root>/bench/gates`` (its
own data root: real partitions are never touched), and times ``validate_partition`` on each
(read, validate, metrics, JSON and HTML written). With ``cli=True`` it also times the command
line, ``python -m expectations.gate``, as the DAG would run it: a fresh process that imports
Great Expectations (about 6 s here) and Beam (through ``lineage.emit``, about 1 s) and emits
its lineage.

``synthetic_features`` builds ``features.users_transformed`` rows without TensorFlow: the same
labelling and split as the preprocess job (``transforms.training_set``), and z-scores,
missing flags and vocabulary indices computed with numpy the way the ``preprocessing_fn``
defines them. Tests use it too.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lineage.catalog import Catalog, Manifest, Producer
from transforms import features, splits, training_set
from transforms.clean import clean_users
from transforms.id_merge import as_singletons
from transforms.schema import USERS_TRANSFORMED
from user_pipeline.config import PipelineConfig, load_config

DAYS = ("2030-01-01", "2030-01-02")       # bench partitions: far from any real date
VERSIONS = ("bench-1", "bench-2")         # reference data versions
PRODUCER = Producer("bench.gates", "bench")
GATED = ("staging.users_ingested", "curated.users_clean", "features.users_transformed", "raw.job_outcomes",
         "reference.spam_labels", "reference.id_pairs")


def synthetic_features(users: pa.Table, outcomes: pa.Table, *, cfg: PipelineConfig, ds: str) -> pa.Table:
    """``features.users_transformed`` rows for labelled ``users`` (clean rows) without TensorFlow."""
    labelled, _ = training_set.attach_labels(users, training_set.latest_outcomes(outcomes))
    settings = cfg.preprocess
    assignments = splits.assign(None, labelled, fractions=settings.split_fractions, salt=settings.split_salt,
                                stratify_by=settings.stratify_by, ds=ds)
    table = splits.apply(labelled, assignments)
    train = (table.column(features.SPLIT_COLUMN).to_numpy(zero_copy_only=False) == splits.TRAIN)
    columns: dict[str, Any] = {
        features.ID_COLUMN: table.column(features.ID_COLUMN),
        features.SPLIT_COLUMN: table.column(features.SPLIT_COLUMN),
    }
    numeric = {name: pc.cast(table.column(name), pa.float64()).to_numpy(zero_copy_only=False)
               for name in features.NUMERIC_FEATURES}
    text = table.column(features.TEXT_FEATURE)
    numeric[features.TEXT_LENGTH] = pc.cast(pc.utf8_length(text), pa.float64()).to_numpy(zero_copy_only=False)
    for name, values in numeric.items():
        present = ~np.isnan(values)
        z, missing = _zscore(values, present, train)
        columns[features.zscore_name(name)] = pa.array(z, pa.float32())
        columns[features.missing_name(name)] = pa.array(missing, pa.int64())
    for name in features.CATEGORICAL_FEATURES:
        values = pc.fill_null(table.column(name), features.MISSING_CATEGORY).to_numpy(zero_copy_only=False)
        columns[features.index_name(name)] = pa.array(_vocabulary_index(values, train, name), pa.int64())
    columns[features.LABEL] = table.column(features.LABEL)
    return pa.table(columns).select(USERS_TRANSFORMED.names).cast(USERS_TRANSFORMED)


def _zscore(values: np.ndarray, present: np.ndarray, train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scaled with the train split's present values; missing rows get 0 (the imputed mean)."""
    analysed = values[present & train]
    mean = analysed.mean() if analysed.size else 0.0
    std = analysed.std() if analysed.size else 0.0
    z = (values - mean) / (std if std > 0 else 1.0)
    return np.where(present, z, 0.0), (~present).astype(np.int64)


def _vocabulary_index(values: np.ndarray, train: np.ndarray, name: str) -> np.ndarray:
    """Rank in the train split's top-k by frequency; other values go to an OOV bucket."""
    top_k = features.CATEGORICAL_TOP_K[name]
    found, counts = np.unique(values[train], return_counts=True)
    order = np.lexsort((found, -counts))[:top_k]
    vocabulary = {value: rank for rank, value in enumerate(found[order])}
    oov = [top_k + sum(map(ord, str(v))) % features.NUM_OOV_BUCKETS for v in values]
    return np.array([vocabulary.get(v, o) for v, o in zip(values, oov, strict=True)], dtype=np.int64)


def tile(table: pa.Table, rows: int, id_columns: tuple[str, ...]) -> pa.Table:
    """``table`` repeated to ``rows`` rows; copy k of an id gets the suffix ``~k`` (ids stay unique)."""
    copies = -(-rows // max(table.num_rows, 1))
    tiled = pa.concat_tables([table] * copies).slice(0, rows).combine_chunks()
    copy_number = pa.array((np.arange(rows) // table.num_rows).astype(str))
    for name in id_columns:
        ids = pc.binary_join_element_wise(tiled.column(name), copy_number, "~")
        tiled = tiled.set_column(tiled.schema.get_field_index(name), name, ids)
    return tiled


def build_partitions(cfg: PipelineConfig, rows: int, users: int = 2000) -> dict[str, list[Manifest]]:
    """Two ``rows``-row partitions of every gated dataset under ``cfg.data_root`` (built once, then read)."""
    from user_pipeline.datagen.generate import generate

    catalog = Catalog(cfg)
    wanted = {dataset: (VERSIONS if dataset.startswith("reference.") else DAYS) for dataset in GATED}
    found = {dataset: [catalog.manifest(dataset, value) for value in values] for dataset, values in wanted.items()}
    if all(m is not None and m.row_count == rows for ms in found.values() for m in ms):
        return found  # built by an earlier run: read, not rebuilt
    with contextlib.redirect_stdout(io.StringIO()):
        generate(cfg, DAYS[0], len(DAYS), users_per_day=users)
    out: dict[str, list[Manifest]] = {}

    def commit(dataset: str, value: str, table: pa.Table, extra: dict | None = None) -> None:
        out.setdefault(dataset, []).append(
            catalog.write_table(dataset, value, table, producer=PRODUCER, inputs=[], code_version="bench",
                                extra=extra))

    for day in DAYS:
        _run_job("beam_jobs.ingest", day, cfg)
        staged = catalog.read_table("staging.users_ingested", day)
        cleaned = clean_users(as_singletons(staged, run_id="bench"), ds=day, run_id="bench", cfg=cfg.clean)
        outcomes = catalog.read_table("raw.job_outcomes", day)
        transformed = synthetic_features(cleaned, outcomes, cfg=cfg, ds=day)
        lines = catalog.require("staging.users_ingested", day).extra["lines_read"]
        commit("staging.users_ingested", day, tile(staged, rows, ("source_record_id",)),
               extra={"lines_read": round(lines * rows / staged.num_rows)})
        commit("curated.users_clean", day, tile(cleaned, rows, ("source_record_id", "canonical_id")))
        commit("features.users_transformed", day, tile(transformed, rows, (features.ID_COLUMN,)))
        commit("raw.job_outcomes", day, tile(outcomes, rows, ("source_record_id",)))
    for version in VERSIONS:
        for dataset, key in (("reference.spam_labels", "message_id"), ("reference.id_pairs", "pair_id")):
            commit(dataset, version, tile(catalog.read_table(dataset, "v1"), rows, (key,)))
    return out


def bench_gates(cfg: PipelineConfig, rows: int = 1_000_000, *, users: int = 2000,
                cli: bool = False) -> list[dict[str, Any]]:
    """Time the gate of every gated dataset on a ``rows``-row partition.

    Returns one dict per dataset: rows, checks, seconds (``validate_partition`` in this process:
    read, validate, metrics, results stored), rows_per_s, passed, and with ``cli`` also
    cli_seconds (``python -m expectations.gate`` in a fresh process, imports and lineage included).
    """
    from expectations.gate import validate_partition

    bench_cfg = cfg.model_copy(update={"data_root": f"{cfg.data_root}/bench/gates"})
    partitions = build_partitions(bench_cfg, rows, users)
    results = []
    for dataset, manifests in partitions.items():
        value = manifests[-1].ref.value
        started = time.perf_counter()
        result = validate_partition(bench_cfg, dataset, value)
        seconds = time.perf_counter() - started
        row = {"dataset": dataset, "partition": manifests[-1].partition, "rows": result.row_count,
               "checks": len(result.checks), "seconds": round(seconds, 2),
               "rows_per_s": round(result.row_count / seconds), "passed": result.success}
        if cli:
            row["cli_seconds"] = round(_time_cli(bench_cfg, dataset, manifests[-1]), 2)
        results.append(row)
    return results


def _child_env(cfg: PipelineConfig) -> dict[str, str]:
    """The environment of a job run for ``cfg``: its config file, with its data root."""
    env = {**os.environ, "PIPELINE_DATA_ROOT": cfg.data_root}
    if cfg.source_path:
        env["PIPELINE_CONFIG"] = cfg.source_path
    return env


def _run_job(module: str, day: str, cfg: PipelineConfig) -> None:
    done = subprocess.run([sys.executable, "-m", module, "--ds", day], env=_child_env(cfg),
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{module} --ds {day} failed: {done.stderr[-2000:]}")


def _time_cli(cfg: PipelineConfig, dataset: str, manifest: Manifest) -> float:
    key, value = manifest.partition.split("=", 1)
    started = time.perf_counter()
    # --force: validate_partition just stored a result for this version, which the gate would reuse.
    subprocess.run([sys.executable, "-m", "expectations.gate", "--dataset", dataset, f"--{key}", value, "--force"],
                   env=_child_env(cfg), check=False, capture_output=True)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=2000, help="generated users the rows are tiled from")
    parser.add_argument("--cli", action="store_true", help="also time the command line in a fresh process")
    parser.add_argument("--config")
    args = parser.parse_args(argv)
    results = bench_gates(load_config(args.config), args.rows, users=args.users, cli=args.cli)
    print(f"{'dataset':30} {'rows':>9} {'checks':>6} {'seconds':>8} {'rows/s':>10} {'cli s':>6}  passed")
    for r in results:
        print(f"{r['dataset']:30} {r['rows']:>9} {r['checks']:>6} {r['seconds']:>8.2f} {r['rows_per_s']:>10,} "
              f"{r.get('cli_seconds', float('nan')):>6.1f}  {r['passed']}")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
