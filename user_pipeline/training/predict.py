"""Score raw user records with a committed serving model.

    python -m user_pipeline.training.predict (--model-version V | --ds D) --input records.jsonl|.parquet
                               [--output scores.parquet] [--config ...]

Records are ``curated.users_clean``-shaped; missing columns or values are nulls (the transform
imputes them). ``--ds D`` means the model this code and config train from the committed features
of D (the version ``user_pipeline.training.train --ds D`` produces), so it never guesses a "latest" model.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq
import tensorflow as tf

from lineage.catalog import Catalog
from transforms.tft_inputs import conform_users, encode_examples
from user_pipeline.config import PipelineConfig, load_config
from user_pipeline.steps import models

BATCH_ROWS = 10_000


def predict(model_dir: str, table: pa.Table) -> pa.Table:
    """``source_record_id`` and ``probability`` for each record of ``table``, via ``serving_default``."""
    users = conform_users(table)
    score = tf.saved_model.load(model_dir).signatures["serving_default"]
    probabilities = [np.zeros(0, dtype=np.float32)]
    for start in range(0, users.num_rows, BATCH_ROWS):
        examples = encode_examples(users.slice(start, BATCH_ROWS))
        probabilities.append(score(examples=tf.constant(examples, dtype=tf.string))["probability"].numpy())
    return pa.table(
        {
            "source_record_id": users.column("source_record_id"),
            "probability": pa.array(np.concatenate(probabilities), pa.float32()),
        }
    )


def model_dir_for(cfg: PipelineConfig, *, model_version: str | None = None, ds: str | None = None) -> str:
    """The committed model folder of ``model_version``, or of the model this code trains for ``ds``."""
    catalog = Catalog(cfg)
    version = model_version or models.job_seeker_for(catalog, cfg, ds).version
    return models.committed_dir(catalog, models.JOB_SEEKER, version)


def read_records(path: str) -> pa.Table:
    """Records from JSON lines (``.jsonl``/``.json``) or Parquet."""
    if path.endswith((".jsonl", ".json")):
        return pa_json.read_json(path)
    return pq.read_table(path)


def main(argv: Sequence[str] | None = None) -> pa.Table:
    """The command line; returns the scores it wrote or printed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--model-version", help="models.job_seeker version")
    which.add_argument("--ds", help="use the model trained (by this code) on the features of this date")
    parser.add_argument("--input", required=True, help="records, .jsonl or .parquet")
    parser.add_argument("--output", help="write scores as Parquet here (default: print CSV to stdout)")
    parser.add_argument("--config", help="pipeline YAML (default: $PIPELINE_CONFIG or conf/pipeline.yaml)")
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    scores = predict(model_dir_for(cfg, model_version=args.model_version, ds=args.ds), read_records(args.input))
    if args.output:
        pq.write_table(scores, args.output)
    else:
        sys.stdout.write("source_record_id,probability\n")
        for record_id, probability in zip(
            scores.column("source_record_id").to_pylist(), scores.column("probability").to_pylist(), strict=True
        ):
            sys.stdout.write(f"{record_id if record_id is not None else ''},{probability:.6f}\n")
    return scores


if __name__ == "__main__":
    main()
