"""The label spec (``reference.spam_label_spec``): checking it, and what it leaves unsettled.

A spec version is one row per item (``transforms.schema.LABEL_SPEC``): per class a definition,
decision rules, positive and negative examples and known edge cases. A rule or edge case may
name the messages it is about by a regex (``pattern``); an edge case names the rule that decides
it (``settled_by``) or none (still open). A revision is a new version; every label row names the
version it was labelled under (``spec_version`` of ``reference.spam_labels``).

**What a spec leaves unsettled** (``spec_coverage``): each disagreement is attributed to the first
edge case, then rule, whose pattern its text matches (else to no item); per item, how many
disagreements fall under it, and whether the spec settles it. **Before and after a revision**
(``compare_rounds``): the headline agreement, each labeler's estimated accuracy and the
disagreements per spec item, of a labels version under the earlier spec beside one under the later.
"""

from __future__ import annotations

import re

import pandas as pd
import pyarrow as pa

from transforms.labels.validate import CLASSES, LabelError, format_examples

KINDS = ("definition", "rule", "positive_example", "negative_example", "edge_case")
NO_ITEM = "(no spec item)"


def validate_spec(table: pa.Table | pd.DataFrame) -> pd.DataFrame:
    """A spec version as a frame; a clear error for an unknown class or kind, a duplicated item,
    a pattern that is not a regex, an edge case settled by something that is not a rule of it."""
    frame = table.to_pandas() if isinstance(table, pa.Table) else table.copy()
    problems = []
    for column, allowed in (("label", CLASSES), ("kind", KINDS)):
        bad = ~frame[column].isin(allowed)
        if bad.any():
            problems.append(f"{column} not one of {list(allowed)}: {format_examples(frame.loc[bad, column])}")
    if frame["item_id"].duplicated().any():
        problems.append(f"duplicated item_id: {format_examples(frame.loc[frame['item_id'].duplicated(), 'item_id'])}")
    for item, pattern in frame.loc[frame["pattern"].notna(), ["item_id", "pattern"]].itertuples(index=False):
        try:
            re.compile(pattern)
        except re.error as exc:
            problems.append(f"{item}: pattern is not a regex ({exc})")
    rules = set(frame.loc[frame["kind"] == "rule", "item_id"])
    settled = frame["settled_by"].notna()
    wrong = settled & ((frame["kind"] != "edge_case") | ~frame["settled_by"].isin(rules))
    if wrong.any():
        problems.append("settled_by must name a rule of the spec, on edge cases only: "
                        + format_examples(frame.loc[wrong, "item_id"]))
    if problems:
        raise LabelError("label spec: " + "; ".join(problems))
    return frame.reset_index(drop=True)


def attribute(spec: pd.DataFrame, texts: pd.Series) -> pd.Series:
    """Per text, the spec item it falls under: the first edge case, then rule, whose pattern matches."""
    out = pd.Series(NO_ITEM, index=texts.index, dtype=object)
    open_ = pd.Series(True, index=texts.index)
    ordered = pd.concat([spec[spec["kind"] == "edge_case"], spec[spec["kind"] == "rule"]])
    for item, pattern in ordered.loc[ordered["pattern"].notna(), ["item_id", "pattern"]].itertuples(index=False):
        hit = open_ & texts.astype(str).str.contains(pattern, regex=True)
        out[hit] = item
        open_ &= ~hit
    return out


def spec_coverage(spec: pd.DataFrame, disagreements: pd.DataFrame) -> pd.DataFrame:
    """Per spec item (and ``NO_ITEM``): class, kind, text, settled_by, and the disagreements
    attributed to it (``disagreements``: the ``message_id, text, labels`` of the report)."""
    under = attribute(spec, disagreements["text"]) if len(disagreements) else pd.Series(dtype=object)
    counts = under.value_counts()
    frame = spec[["item_id", "label", "kind", "text", "settled_by"]].copy()
    frame["settled"] = frame["kind"].ne("edge_case") | frame["settled_by"].notna()
    frame["disagreements"] = frame["item_id"].map(counts).fillna(0).astype(int)
    rest = {"item_id": NO_ITEM, "label": None, "kind": None, "text": "no rule or edge case of the spec names it",
            "settled_by": None, "settled": False, "disagreements": int(counts.get(NO_ITEM, 0))}
    return pd.concat([frame, pd.DataFrame([rest])], ignore_index=True)


def compare_rounds(before: dict, after: dict) -> pd.DataFrame:
    """``metric, before, after, change`` from two rounds' figures (``round_figures``), the
    metrics of either round (a missing one is nan)."""
    metrics = list(dict.fromkeys([*before, *after]))
    frame = pd.DataFrame({"metric": metrics, "before": [before.get(m) for m in metrics],
                          "after": [after.get(m) for m in metrics]})
    frame[["before", "after"]] = frame[["before", "after"]].astype(float)
    frame["change"] = frame["after"] - frame["before"]
    return frame


def round_figures(overall: dict, labelers: pd.DataFrame, coverage: pd.DataFrame | None) -> dict[str, float]:
    """The figures of one labels round that ``compare_rounds`` sets side by side."""
    out = {k: overall[k] for k in ("observed_agreement", "krippendorff_alpha", "messages_in_disagreement",
                                   "expected_accuracy") if overall.get(k) is not None}
    out.update({f"estimated_accuracy {r.labeler_id}": r.accuracy for r in labelers.itertuples()})
    if coverage is not None:
        out.update({f"disagreements under {r.item_id}": r.disagreements for r in coverage.itertuples()
                    if r.kind in ("edge_case", "rule") or r.item_id == NO_ITEM})
    return out
