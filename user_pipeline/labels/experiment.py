"""The data-centric experiment: hold the spam model fixed, change only the labels.

    python -m user_pipeline.labels.experiment [--labels-version v1] [--repeats 5] [--config ...]

On the same held-out messages, with the spam filter's text model and settings unchanged:

(a) noisy labels: the labels version as it is, on half of its messages;
(b) cleaned labels: the same half, after accepting every correction confident learning
    suggests (found with cross-validation inside that half only);
(c) twice as many noisy labels: all the messages of the version;
(d) gold labels on the same half (oracle, when ``ground_truth/spam_labels_gold.parquet``
    exists): the ceiling cleaning could reach; not available in production.

Halves are drawn by a salted stable hash of the normalised text (duplicates stay together),
``--repeats`` times with different salts; the table shows the mean and standard deviation of
held-out precision, recall, F1 (threshold 0.5), ROC-AUC and average precision, the share of
training labels that disagree with gold (when known), and how many labels cleaning changed.
Printed, and saved as ``<data_root>/reports/labels/experiment_<version>.csv`` and ``.md``.

Across training sizes, noise rates and kinds, with confidence intervals: ``user_pipeline.labels.sweep``;
for a labels version's own noise: ``user_pipeline.labels.clean_or_collect``.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
from collections.abc import Sequence

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lineage.catalog import Catalog
from transforms.labels import apply_corrections, resolve_labels, top_k_corrections, validate_labels
from transforms.spam import text_scores
from user_pipeline.config import PipelineConfig, load_config
from user_pipeline.labels.common import write_report
from user_pipeline.labels.noise import detect
from user_pipeline.training.spam_filter import evaluation_metrics, fit_text_model, load_holdout, load_labels

log = logging.getLogger("user_pipeline.labels.experiment")
GOLD = "ground_truth/spam_labels_gold.parquet"
METRICS = ("precision", "recall", "f1", "roc_auc", "average_precision")


def halves(labels: pd.DataFrame, salt: str) -> np.ndarray:
    """Boolean per label row: is its message in the first half (by salted hash of its text)?"""
    key = labels["text"].astype(str).str.strip().str.lower()
    digest = key.map(lambda t: int.from_bytes(hashlib.sha256(f"{salt}\0{t}".encode()).digest()[:8], "big"))
    return (digest % 2 == 0).to_numpy()


def arm(name: str, labels: pd.DataFrame, holdout: pd.DataFrame, cfg: PipelineConfig,
        gold: pd.Series | None, changed: int = 0) -> dict:
    """Fit the fixed model on ``labels`` (resolved per message) and evaluate on the holdout."""
    resolved = resolve_labels(labels)
    model = fit_text_model(resolved["text"], resolved["label"], cfg)
    metrics = evaluation_metrics(holdout["label"], text_scores(model, holdout["text"]), 0.5)
    noise = (float((resolved["label"].to_numpy() != gold.loc[resolved["message_id"]].to_numpy()).mean())
             if gold is not None else float("nan"))
    return {"arm": name, "messages": len(resolved), "label_noise": noise, "labels_changed": changed,
            **{m: metrics[m] for m in METRICS}}


def run_once(labels: pd.DataFrame, holdout: pd.DataFrame, cfg: PipelineConfig, gold: pd.Series | None,
             salt: str) -> list[dict]:
    """The arms of the module docstring for one split."""
    half = labels[halves(labels, salt)].reset_index(drop=True)
    candidates, _ = detect(half, cfg)
    corrections = top_k_corrections(candidates.to_pandas(), candidates.num_rows)
    cleaned = validate_labels(apply_corrections(pa.Table.from_pandas(half, preserve_index=False), corrections)) \
        if len(corrections) else half
    rows = [
        arm("(a) noisy labels", half, holdout, cfg, gold),
        arm("(b) cleaned by the detector", cleaned, holdout, cfg, gold, changed=len(corrections)),
        arm("(c) twice as many noisy labels", labels, holdout, cfg, gold),
    ]
    if gold is not None:
        oracle = half.assign(label=gold.loc[half["message_id"]].to_numpy())
        rows.append(arm("(d) gold labels (oracle)", oracle, holdout, cfg, gold))
    return rows


def summarise(rows: list[dict]) -> pd.DataFrame:
    """Mean and standard deviation per arm over the repeats."""
    frame = pd.DataFrame(rows)
    columns = ["messages", "label_noise", "labels_changed", *METRICS]
    mean = frame.groupby("arm", sort=True)[columns].mean()
    std = frame.groupby("arm", sort=True)[list(METRICS)].std(ddof=1).add_suffix("_std")
    return mean.join(std).reset_index()


def to_markdown(table: pd.DataFrame, version: str, repeats: int) -> str:
    lines = [f"# Hold the model fixed, change the labels: reference.spam_labels version={version}",
             "", f"Held-out metrics, mean ± sd over {repeats} random halvings (threshold 0.5).", "",
             "| arm | messages | label noise | labels changed | precision | recall | F1 | ROC-AUC | AP |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in table.itertuples():
        cells = [f"{getattr(r, m):.3f} ± {getattr(r, m + '_std'):.3f}" for m in METRICS]
        noise = "" if np.isnan(r.label_noise) else f"{r.label_noise:.3f}"
        lines.append(f"| {r.arm} | {r.messages:.0f} | {noise} | {r.labels_changed:.0f} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def load_gold(catalog: Catalog) -> pd.Series | None:
    """Gold label per message id, if the generator's ground truth is there."""
    fs, path = fsspec.core.url_to_fs(f"{catalog.root}/{GOLD}")
    if not fs.exists(path):
        return None
    with fs.open(path, "rb") as fh:
        frame = pq.read_table(fh, columns=["message_id", "gold_label"]).to_pandas()
    return frame.set_index("message_id")["gold_label"]


def run(argv: Sequence[str] | None = None) -> pd.DataFrame:
    """Run the experiment, print and save the table; returns it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels-version", help="reference.spam_labels version (default: spam.labels_version)")
    parser.add_argument("--repeats", type=int, default=5, help="random halvings to average over")
    parser.add_argument("--holdout", help="held-out messages Parquet (default: <data_root>/ground_truth/...)")
    parser.add_argument("--config", help="pipeline YAML (default: $PIPELINE_CONFIG or conf/pipeline.yaml)")
    args = parser.parse_args(argv)
    cfg = load_config(args.config)
    catalog = Catalog(cfg)
    version = args.labels_version or cfg.spam.labels_version
    _, labels = load_labels(catalog, version)
    holdout, _ = load_holdout(catalog, args.holdout)
    gold = load_gold(catalog)
    rows = []
    for repeat in range(args.repeats):
        rows += run_once(labels, holdout, cfg, gold, salt=f"experiment.{repeat}")
    table = summarise(rows)
    markdown = to_markdown(table, version, args.repeats)
    print(markdown)
    write_report(catalog, f"experiment_{version}.csv", table.to_csv(index=False).encode())
    uri = write_report(catalog, f"experiment_{version}.md", markdown.encode())
    print(f"saved: {uri} (and .csv)")
    return table


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    run()
