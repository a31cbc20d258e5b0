"""Error analysis by metadata: a model's metrics per slice, worst slices first (pure).

A slice is the rows sharing one value of one metadata column (``source=partner``,
``country=DE``); nulls are a slice of their own ("(null)"), so rows with missing metadata are
not hidden. Metrics are scikit-learn's, at the decision threshold: count, positives, accuracy,
precision, recall, ROC-AUC (None when the slice has one class only), log loss. The error gap is the
slice's error rate minus the error rate of all rows; slices with fewer than ``min_rows`` rows
are kept but ranked after the others (their rates are mostly noise).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sklearn import metrics as skm

from transforms.schema import SLICE_METRICS

ALL = "(all)"
NULL = "(null)"


def metrics(y_true: np.ndarray, probability: np.ndarray, threshold: float = 0.5) -> dict[str, float | int | None]:
    """The slice metrics of one set of rows (labels 0/1, predicted probabilities)."""
    rows = len(y_true)
    if rows == 0:
        return {"rows": 0, "positives": 0, "positive_rate": None, "accuracy": None, "precision": None,
                "recall": None, "roc_auc": None, "log_loss": None, "error_rate": None}
    predicted = (probability >= threshold).astype(np.int64)
    accuracy = float(skm.accuracy_score(y_true, predicted))
    return {
        "rows": int(rows),
        "positives": int(y_true.sum()),
        "positive_rate": float(y_true.mean()),
        "accuracy": accuracy,
        "precision": float(skm.precision_score(y_true, predicted, zero_division=0)),
        "recall": float(skm.recall_score(y_true, predicted, zero_division=0)),
        "roc_auc": float(skm.roc_auc_score(y_true, probability)) if len(np.unique(y_true)) == 2 else None,
        "log_loss": float(skm.log_loss(y_true, np.clip(probability, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "error_rate": 1.0 - accuracy,
    }


def slice_metrics(table: pa.Table, *, label: str, probability: str, slice_columns: Sequence[str],
                  split_column: str | None = None, threshold: float = 0.5, min_rows: int = 30) -> pa.Table:
    """Metrics per split (or all rows when ``split_column`` is None) and per slice of each column.

    Rows come back ranked: per split, the whole split first, then the slices by error gap (worst
    first), small slices last. Raises ValueError naming a missing column.
    """
    for name in (label, probability, *slice_columns, *([split_column] if split_column else [])):
        if name not in table.column_names:
            raise ValueError(f"slice metrics need column {name!r}; the table has {table.column_names}")
    y = table.column(label).to_numpy(zero_copy_only=False).astype(np.int64)
    p = table.column(probability).to_numpy(zero_copy_only=False).astype(np.float64)
    splits = (table.column(split_column).to_numpy(zero_copy_only=False) if split_column
              else np.full(table.num_rows, ALL, dtype=object))
    rows = []
    for split in sorted(set(splits.tolist())):
        in_split = splits == split
        overall = metrics(y[in_split], p[in_split], threshold)
        rows.append({"split": split, "slice_column": ALL, "slice_value": ALL, **overall, "error_gap": 0.0,
                     "small": overall["rows"] < min_rows})
        ranked = []
        for column in slice_columns:
            values = pc.fill_null(pc.cast(table.column(column), pa.string()), NULL).to_numpy(zero_copy_only=False)
            for value in sorted(set(values[in_split].tolist())):
                mine = in_split & (values == value)
                found = metrics(y[mine], p[mine], threshold)
                ranked.append({"split": split, "slice_column": column, "slice_value": value, **found,
                               "error_gap": found["error_rate"] - overall["error_rate"],
                               "small": found["rows"] < min_rows})
        ranked.sort(key=lambda r: (r["small"], -r["error_gap"], r["slice_column"], r["slice_value"]))
        rows += ranked
    return pa.Table.from_pylist(rows, schema=SLICE_METRICS)


def worst(table: pa.Table, split: str, n: int = 5) -> list[dict]:
    """The ``n`` worst slices of ``split`` that are not small (the error-analysis headline)."""
    chosen = table.filter(pc.and_(pc.and_(pc.equal(table.column("split"), split),
                                          pc.invert(table.column("small"))),
                                  pc.not_equal(table.column("slice_column"), ALL)))
    return chosen.slice(0, n).to_pylist()
