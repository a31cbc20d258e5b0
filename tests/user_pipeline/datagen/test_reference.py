"""Reference data: spam labels from the packaged SMS collection, labelled ID pairs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from rapidfuzz import fuzz

import user_pipeline.datagen as datagen
from user_pipeline.config import REPO_ROOT, load_config
from user_pipeline.datagen import reference


def test_sms_collection_is_read_from_the_configured_copy_not_the_package():
    package = Path(datagen.__file__).resolve().parent
    assert not list(package.rglob("*.tsv")), "the SMS Spam Collection must not be committed in the project"
    assert reference.sms_path() == (REPO_ROOT.parent / "shared" / "data" / "sms_spam_collection.tsv").resolve()
    sms = reference.load_sms()
    assert len(sms) == 5574
    assert sms["gold_label"].value_counts().to_dict() == {"ham": 4827, "spam": 747}


def test_a_missing_sms_collection_names_the_dataset_and_the_setting(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"dataset 228, CC BY 4\.0.*datagen\.sms_path"):
        reference.load_sms(tmp_path / "absent.tsv")
    assert load_config(datagen={"sms_path": "/elsewhere/sms.tsv"}).datagen.sms_path == "/elsewhere/sms.tsv"


def test_spam_labels_are_labelled_by_several_labelers(three_days):
    labels = three_days.table("reference.spam_labels", "v1")
    assert list(labels.columns) == ["message_id", "text", "label", "labeler_id", "is_double_labelled", "spec_version"]
    assert set(labels["spec_version"]) == {"v1"}
    assert set(three_days.written["reference.spam_label_spec"]) == set(reference.LABEL_SPECS)
    assert set(labels["label"]) == {"ham", "spam"}
    assert labels["labeler_id"].nunique() in (3, 4)
    per_message = labels.groupby("message_id").agg(n=("labeler_id", "nunique"), rows=("labeler_id", "size"),
                                                   double=("is_double_labelled", "first"))
    assert (per_message["n"] == per_message["rows"]).all()
    assert (per_message.loc[per_message["double"], "n"] == 2).all()
    assert (per_message.loc[~per_message["double"], "n"] == 1).all()
    promotional = reference.load_sms().set_index("message_id").loc[per_message.index, "is_promotional"]
    assert 0.07 < per_message.loc[~promotional.to_numpy(), "double"].mean() < 0.13
    assert 0.5 < per_message.loc[promotional.to_numpy(), "double"].mean() < 0.7
    # Texts are the real messages of the collection.
    sms = reference.load_sms().set_index("message_id")
    assert (labels["text"].to_numpy() == sms.loc[labels["message_id"], "text"].to_numpy()).all()


def test_biased_labeler_calls_promotional_ham_spam(three_days):
    labels = three_days.table("reference.spam_labels", "v1")
    gold = reference.load_sms().set_index("message_id")
    labels = labels.join(gold[["gold_label", "is_promotional"]], on="message_id")
    promo_ham = labels[(labels["gold_label"] == "ham") & labels["is_promotional"]]
    disagreement = (promo_ham["label"] != promo_ham["gold_label"]).groupby(promo_ham["labeler_id"]).mean()
    biased = disagreement.pop(reference.BIASED_LABELER)
    assert biased > 0.4
    assert disagreement.max() < 0.15
    # Elsewhere every labeler agrees with the gold label about 97% of the time.
    rest = labels[~((labels["gold_label"] == "ham") & labels["is_promotional"])]
    agreement = (rest["label"] == rest["gold_label"]).groupby(rest["labeler_id"]).mean()
    assert agreement.between(0.94, 0.995).all()


def test_no_held_out_message_is_in_spam_labels(three_days):
    labels = three_days.table("reference.spam_labels", "v1")
    holdout = pq.read_table(three_days.written["ground_truth"]["spam_holdout"]).to_pandas()
    assert not set(holdout["message_id"]) & set(labels["message_id"])
    # Repeated texts never straddle the split either.
    assert not set(holdout["text"].str.strip().str.lower()) & set(labels["text"].str.strip().str.lower())
    sms = reference.load_sms()
    assert 0.17 < len(holdout) / len(sms) < 0.23
    assert set(holdout["label"]) == {"ham", "spam"}
    assert set(holdout["message_id"]) | set(labels["message_id"]) == set(sms["message_id"])


def test_spam_accounts_carry_sms_spam_text(three_days):
    truth = three_days.truth("2026-01-01")
    spam_ids = set(truth.loc[truth["is_spam"] & (truth["source"] == "mobile"), "source_record_id"])
    import json

    bios = [obj.get("bio") for obj in map(json.loads, three_days.raw("raw.users_mobile", "2026-01-01")
                                          .decode("utf-8").splitlines())
            if isinstance(obj, dict) and f"mobile:{obj.get('uid')}" in spam_ids]
    spam_texts = set(reference.spam_texts())
    assert bios and sum(b in spam_texts for b in bios if b) >= 0.8 * len(bios)


def _pairs(three_days) -> pd.DataFrame:
    return three_days.table("reference.id_pairs", "v1")


def test_id_pairs_have_both_classes_and_the_documented_columns(three_days):
    pairs = _pairs(three_days)
    fields = ["first_name", "last_name", "email", "phone", "date_of_birth", "postcode"]
    assert list(pairs.columns) == ["pair_id", *[f"left_{f}" for f in fields], *[f"right_{f}" for f in fields],
                                   "is_match"]
    assert 1800 <= len(pairs) <= 2200
    assert set(pairs["is_match"]) == {0, 1}
    assert 0.35 < pairs["is_match"].mean() < 0.45
    assert pairs["left_date_of_birth"].dropna().str.fullmatch(r"\d{4}-\d\d-\d\d").all()


def test_matches_are_closer_than_non_matches(three_days):
    pairs = _pairs(three_days).fillna("")
    name = pairs.apply(lambda r: fuzz.ratio(f"{r.left_first_name} {r.left_last_name}",
                                            f"{r.right_first_name} {r.right_last_name}"), axis=1)
    by_class = name.groupby(pairs["is_match"]).mean()
    assert by_class[1] > by_class[0] + 20
    # Hard negatives: different people who share a surname or a postcode.
    others = pairs[pairs["is_match"] == 0]
    same_surname = others["left_last_name"].str.lower() == others["right_last_name"].str.lower()
    same_postcode = (others["left_postcode"].str.replace(" ", "").str.upper()
                     == others["right_postcode"].str.replace(" ", "").str.upper()) & (others["left_postcode"] != "")
    assert same_surname.mean() > 0.2 and same_postcode.mean() > 0.15
