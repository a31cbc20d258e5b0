"""The same work as each Beam step, as a plain single-process pandas script.

Each function reads the same committed inputs, calls the same pure step logic where there is
one (so the comparison measures the framework, not different code), and writes Parquet to a
scratch folder. The TFT step is compared with the equivalent analysis in pandas (means,
standard deviations, vocabularies, then the transform).
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lineage.catalog import Catalog
from transforms.clean import clean_users
from transforms.ingest import SOURCES, check_encoding, parse_records, records_of
from user_pipeline.config import PipelineConfig


def ingest(cfg: PipelineConfig, ds: str, out: Path) -> int:
    """Read every source file whole, parse it with the same mapping, write users + dead letters."""
    catalog = Catalog(cfg)
    users, dead = [], []
    for fmt in SOURCES.values():
        for uri in catalog.files(fmt.dataset, ds):
            data = Path(uri).read_bytes()
            decoding = check_encoding(fmt.encoding, [data])
            text = data.decode(decoding.encoding, errors="backslashreplace" if decoding.problem else "strict")
            header, problem, records = records_of(fmt, io.StringIO(text, newline=""))
            u, d = parse_records(fmt, header, list(records), ds=ds, run_id="pandas", source_file=uri,
                                 problem=decoding.problem or problem)
            users.append(u)
            dead.append(d)
    table = pa.concat_tables(users)
    pq.write_table(table, out / "users.parquet")
    pq.write_table(pa.concat_tables(dead), out / "dead.parquet")
    return table.num_rows


def clean(cfg: PipelineConfig, ds: str, out: Path) -> int:
    """Read the merged partition (clean's input), apply the same cleaning rules, write Parquet."""
    table = Catalog(cfg).read_table("staging.users_merged", ds)
    cleaned = clean_users(table, ds=ds, run_id="pandas", cfg=cfg.clean)
    pq.write_table(cleaned, out / "clean.parquet")
    return cleaned.num_rows


def preprocess(cfg: PipelineConfig, ds: str, out: Path, numeric: list[str], categorical: list[str]) -> int:
    """Join with labels, impute + z-score numeric columns, index categorical ones by vocabulary."""
    catalog = Catalog(cfg)
    users = catalog.read_table("curated.users_clean", ds).to_pandas()
    labels = catalog.read_table("raw.job_outcomes", ds).to_pandas()
    frame = users.merge(labels, on="source_record_id", how="inner")
    features = pd.DataFrame({"source_record_id": frame["source_record_id"], "label": frame["looking_for_job"]})
    for column in numeric:
        values = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        mean, std = values.mean(), values.std(ddof=0)
        features[f"{column}_missing"] = values.isna().astype("int64")
        features[column] = ((values.fillna(mean) - mean) / (std or 1.0)).astype("float32")
    for column in categorical:
        vocab = frame[column].value_counts().index.tolist()
        features[column] = frame[column].map({v: i for i, v in enumerate(vocab)}).fillna(len(vocab)).astype("int64")
    buf = io.BytesIO()
    features.to_parquet(buf)
    (out / "features.parquet").write_bytes(buf.getvalue())
    return len(features)


def train(out: Path) -> int:
    """Fit a logistic regression on the baseline's features (the model the job fits in Keras)."""
    from sklearn.linear_model import LogisticRegression

    features = pd.read_parquet(out / "features.parquet")
    x = features.drop(columns=["source_record_id", "label"]).to_numpy(dtype="float32")
    LogisticRegression(max_iter=200).fit(x, features["label"].to_numpy())
    return len(features)


def despam(cfg: PipelineConfig, ds: str, out: Path) -> int:
    """Score the ingested users with the same spam filter and rule, in one process."""
    from transforms.spam import BURST_TIME_COLUMN, burst_keys, count_keys, split_spam
    from user_pipeline.steps.models import SPAM_FILTER, load_model_file, model_file_uri

    catalog = Catalog(cfg)
    manifest = SPAM_FILTER.resolve(catalog, cfg)
    model = load_model_file(model_file_uri(catalog, manifest))
    table = catalog.read_table("staging.users_ingested", ds)
    frame = table.select([BURST_TIME_COLUMN, "signup_channel"]).to_pandas()
    bursts = count_keys(burst_keys(frame[BURST_TIME_COLUMN], frame["signup_channel"]))  # as the job does
    kept, quarantined = split_spam(table, model, manifest.version, cfg.spam, bursts)
    pq.write_table(kept, out / "despammed.parquet")
    pq.write_table(quarantined, out / "quarantine.parquet")
    return table.num_rows
