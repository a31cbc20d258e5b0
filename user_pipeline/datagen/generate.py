"""Generate the deterministic sample data: raw user drops, job outcomes, reference data, ground truth.

    python -m user_pipeline.datagen.generate [--config PATH] [--data-root URI] [--start-date 2026-01-01] [--days 3]
        [--users-per-day N] [--seed S] [--bad-drop KIND [--bad-drop-date YYYY-MM-DD]]
        [--reference-version v1] [--spec-version v1]

Defaults come from the ``datagen:`` section of the config; flags override. Per date it commits
``raw.users_web``, ``raw.users_mobile``, ``raw.users_partner`` (one raw file each, formats in
``user_pipeline.datagen.sources``) and ``raw.job_outcomes`` (Parquet, ``transforms.schema.JOB_OUTCOMES``), and
writes ground truth (not a pipeline dataset) to ``<data_root>/ground_truth/ds=<date>/records.parquet``.
Once per call it commits ``reference.spam_labels`` (labelled under the label spec
``--spec-version``) and ``reference.id_pairs`` at ``version=<reference version>``, and every
``reference.spam_label_spec`` version the generator knows (each skipped when already committed
by the same code and settings)
and writes ``ground_truth/spam_holdout.parquet`` and ``ground_truth/spam_labels_gold.parquet``.

Day D's data depends only on (seed, D, sizes and rates), never on the range it was generated in.

``--bad-drop KIND`` breaks the web drop of one date (default: the last date) on purpose, for
gate tests; ``KIND`` is one of ``user_pipeline.datagen.sources.BAD_DROPS`` (the help lists what each does).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lineage.catalog import Catalog, Manifest, Producer
from lineage.versioning import code_version
from transforms.schema import JOB_OUTCOMES
from user_pipeline.config import PipelineConfig, load_config
from user_pipeline.datagen import reference
from user_pipeline.datagen.people import SOURCES
from user_pipeline.datagen.records import DayParams, day_records, ground_truth
from user_pipeline.datagen.sources import BAD_DROPS, FILE_NAMES, render_source

JOB = "user_pipeline.datagen.generate"
PACKAGE_DIR = Path(__file__).resolve().parent
RAW_DATASETS = {"web": "raw.users_web", "mobile": "raw.users_mobile", "partner": "raw.users_partner"}
OUTCOMES = "raw.job_outcomes"
SPAM_LABELS = "reference.spam_labels"
LABEL_SPEC = "reference.spam_label_spec"
ID_PAIRS = "reference.id_pairs"
GROUND_TRUTH_DIR = "ground_truth"


def generate(
    cfg: PipelineConfig,
    start_date: str,
    days: int,
    users_per_day: int | None = None,
    seed: int | None = None,
    bad_drop: str | None = None,
    reference_version: str = "v1",
    *,
    bad_drop_date: str | None = None,
    spec_version: str = "v1",
) -> dict[str, dict[str, Any]]:
    """Generate and commit ``days`` days of sample data from ``start_date``, plus reference data.

    Returns ``{dataset: {partition value: Manifest}}`` for every dataset committed (or found
    unchanged), plus ``"ground_truth": {name: uri}`` for the ground-truth files written
    (``name`` is a date, ``spam_holdout`` or ``spam_labels_gold``).
    """
    settings = cfg.datagen
    seed = settings.seed if seed is None else seed
    params = DayParams(users_per_day or settings.users_per_day, settings.duplicate_rate,
                       settings.spam_rate, settings.malformed_rate)
    start = date.fromisoformat(start_date)
    dates = [start + timedelta(days=i) for i in range(days)]
    if bad_drop is not None:
        if bad_drop not in BAD_DROPS:
            raise ValueError(f"unknown bad drop {bad_drop!r}; one of {sorted(BAD_DROPS)}")
        broken_day = date.fromisoformat(bad_drop_date) if bad_drop_date else dates[-1]
        if broken_day not in dates:
            raise ValueError(f"bad drop date {broken_day} is not among the dates generated")
    cat = Catalog(cfg)
    producer = Producer(job=JOB, run_id=str(uuid.uuid4()))
    written: dict[str, dict[str, Any]] = {GROUND_TRUTH_DIR: {}}

    sms = reference.sms_path(cfg.datagen.sms_path)
    written.update(_write_reference(cat, producer, seed, reference_version, written[GROUND_TRUTH_DIR], sms,
                                    spec_version))
    spam_texts = reference.spam_texts(sms)
    for day in dates:
        kind = bad_drop if bad_drop is not None and day == broken_day else None
        started = time.perf_counter()
        for dataset, partitions in _write_day(cat, producer, seed, params, day, spam_texts, kind,
                                              written[GROUND_TRUTH_DIR]).items():
            written.setdefault(dataset, {}).update(partitions)
        print(f"{day}: generated in {time.perf_counter() - started:.1f}s")
    return written


def _daily_code_version(seed: int, params: DayParams, **more: Any) -> str:
    return code_version(str(PACKAGE_DIR), config={"seed": seed, **params.__dict__, **more})


def _write_day(cat: Catalog, producer: Producer, seed: int, params: DayParams, day: date,
               spam_texts: list[str], bad_drop: str | None, truth_files: dict[str, str]) -> dict:
    ds = day.isoformat()
    records = day_records(seed, day, params, spam_texts)
    out: dict[str, dict[str, Manifest]] = {}
    code = _daily_code_version(seed, params)
    for source in SOURCES:
        rows = records[records["source"] == source]
        kind = bad_drop if source == "web" else None
        payload = render_source(source, rows, day, seed, kind)
        manifest = _write_raw_file(cat, RAW_DATASETS[source], ds, FILE_NAMES[source], payload, producer,
                                   _daily_code_version(seed, params, bad_drop=kind) if kind else code)
        out[RAW_DATASETS[source]] = {ds: manifest}
        lines = payload.count(b"\n") - (source != "mobile")  # CSV files have a header line
        _summary(manifest, f"{lines} records" + (f", broken on purpose: {kind}" if kind else ""))

    if bad_drop == "empty":  # the web records were never delivered: no truth, no outcomes
        records = records[records["source"] != "web"]
    truth = ground_truth(records)
    observed = truth[truth["looking_for_job_observed"].notna()].sort_values("source_record_id")
    outcomes = pa.table({
        "source_record_id": observed["source_record_id"].astype(str).tolist(),
        "looking_for_job": observed["looking_for_job_observed"].astype("int64").to_numpy(),
        "observed_date": pa.array([day] * len(observed), pa.date32()),
    }, schema=JOB_OUTCOMES)
    manifest = cat.write_table(OUTCOMES, ds, outcomes, producer=producer, inputs=[], code_version=code)
    out[OUTCOMES] = {ds: manifest}
    _summary(manifest, f"positive rate {observed['looking_for_job_observed'].mean():.3f}")

    base = f"{cat.root}/{GROUND_TRUTH_DIR}/ds={ds}"
    truth_files[ds] = _write_parquet(cat, f"{base}/records.parquet",
                                     pa.Table.from_pandas(truth, preserve_index=False))
    if bad_drop:
        _write_bytes(cat, f"{base}/bad_drop.json", json.dumps(
            {"source": "web", "dataset": RAW_DATASETS["web"], "kind": bad_drop,
             "description": BAD_DROPS[bad_drop]}, indent=2).encode())
    elif cat.fs.exists(cat.fs_path(f"{base}/bad_drop.json")):  # a re-run repaired the date
        cat.fs.rm(cat.fs_path(f"{base}/bad_drop.json"))
    print(f"ground truth ds={ds}: {len(truth)} records, {int(truth['is_spam'].sum())} spam, "
          f"{int(truth['is_malformed'].sum())} malformed, {int(truth['is_duplicate'].sum())} second records"
          f" -> {truth_files[ds]}")
    return out


def _write_reference(cat: Catalog, producer: Producer, seed: int, version: str,
                     truth_files: dict[str, str], sms: Path, spec_version: str) -> dict[str, dict[str, Manifest]]:
    sms_digest = hashlib.sha256(sms.read_bytes()).hexdigest()[:16]
    code = code_version(str(PACKAGE_DIR), config={"seed": seed, "sms": sms_digest})
    labels_code = code_version(str(PACKAGE_DIR), config={"seed": seed, "sms": sms_digest, "spec": spec_version})
    extra = {"source": "UCI SMS Spam Collection v.1 (Almeida & Gómez Hidalgo), CC BY 4.0",
             "biased_labeler": reference.BIASED_LABELER}
    out: dict[str, dict[str, Manifest]] = {}
    builds = [(SPAM_LABELS, version, lambda: reference.spam_labels(seed, sms, spec_version), extra, labels_code),
              (ID_PAIRS, version, lambda: reference.id_pairs(seed), {}, code)]
    builds += [(LABEL_SPEC, v, lambda v=v: reference.spam_label_spec(v), {}, code) for v in reference.LABEL_SPECS]
    for dataset, value, build, more, code_of in builds:
        existing = cat.manifest(dataset, value)
        if existing is not None and existing.code_version == code_of:
            out.setdefault(dataset, {})[value] = existing
            _summary(existing, "unchanged, kept")
            continue
        manifest = cat.write_table(dataset, value, build(), producer=producer, inputs=[],
                                   code_version=code_of, extra=more)
        out.setdefault(dataset, {})[value] = manifest
        _summary(manifest, "")
    root = f"{cat.root}/{GROUND_TRUTH_DIR}"
    truth_files["spam_holdout"] = _write_parquet(cat, f"{root}/spam_holdout.parquet", reference.spam_holdout(sms))
    truth_files["spam_labels_gold"] = _write_parquet(cat, f"{root}/spam_labels_gold.parquet",
                                                     reference.spam_gold(sms))
    return out


def _write_raw_file(cat: Catalog, dataset: str, ds: str, name: str, payload: bytes, producer: Producer,
                    code: str) -> Manifest:
    staged = cat.stage(dataset, ds, producer.run_id)
    with cat.fs.open(cat.fs_path(staged.path(name)), "wb") as fh:
        fh.write(payload)
    return cat.commit(staged, producer=producer, inputs=[], code_version=code,
                      extra={"bytes": len(payload)})


def _write_bytes(cat: Catalog, uri: str, payload: bytes) -> str:
    path = cat.fs_path(uri)
    cat.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with cat.fs.open(path, "wb") as fh:
        fh.write(payload)
    return uri


def _write_parquet(cat: Catalog, uri: str, table: pa.Table) -> str:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return _write_bytes(cat, uri, buf.getvalue())


def _summary(manifest: Manifest, note: str) -> None:
    rows = f"{manifest.row_count} rows, " if manifest.row_count is not None else ""
    print(f"{manifest.dataset} {manifest.partition}: {rows}version {manifest.version}"
          + (f" ({note})" if note else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="bad drops:\n" + "\n".join(f"  {k}: {v}" for k, v in BAD_DROPS.items()))
    parser.add_argument("--config", help="pipeline YAML (default: $PIPELINE_CONFIG or conf/pipeline.yaml)")
    parser.add_argument("--data-root", help="override the config's data root")
    parser.add_argument("--start-date", help="first ds (default: datagen.start_date)")
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--users-per-day", type=int, help="records per day across sources")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--bad-drop", choices=sorted(BAD_DROPS))
    parser.add_argument("--bad-drop-date", help="the date whose web drop is broken (default: the last)")
    parser.add_argument("--reference-version", default="v1", help="version id of the reference data")
    parser.add_argument("--spec-version", default="v1", help="reference.spam_label_spec version the labels follow")
    args = parser.parse_args(argv)
    overrides = {"data_root": args.data_root} if args.data_root else {}
    cfg = load_config(args.config, **overrides)
    started = time.perf_counter()
    generate(cfg, args.start_date or cfg.datagen.start_date, args.days, users_per_day=args.users_per_day,
             seed=args.seed, bad_drop=args.bad_drop, reference_version=args.reference_version,
             spec_version=args.spec_version,
             bad_drop_date=args.bad_drop_date)
    print(f"done in {time.perf_counter() - started:.1f}s under {cfg.data_root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
