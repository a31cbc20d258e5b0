from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from transforms.schema import STAGED_USERS
from transforms.spam import (
    MAX_TEXT_CHARS,
    SPAM_QUARANTINE,
    account_signals,
    build_text_model,
    burst_keys,
    combine_scores,
    count_keys,
    in_burst,
    is_disposable_email,
    is_spam,
    link_phone_density,
    normalise_text,
    profile_completeness,
    split_spam,
    text_scores,
)
from user_pipeline.config import SpamConfig, SpamModelConfig, SpamSignalsConfig
from user_pipeline.datagen import reference

SIGNALS = SpamSignalsConfig()


@pytest.fixture(scope="module")
def model():
    """The text model fitted on a slice of the real SMS collection (gold labels)."""
    sms = reference.load_sms()
    sample = pd.concat([sms[sms.gold_label == "spam"].head(150), sms[sms.gold_label == "ham"].head(450)])
    fitted = build_text_model(SpamModelConfig())
    fitted.fit(sample["text"].tolist(), (sample["gold_label"] == "spam").astype(int).to_numpy())
    return fitted


def users(n: int, **columns) -> pa.Table:
    """``n`` ordinary staged users; ``columns`` replace whole columns."""
    data = {
        "source_record_id": [f"web:W{i:06d}" for i in range(n)], "source": ["web"] * n,
        "first_name": ["Ann"] * n, "last_name": ["Lee"] * n, "email": [f"ann{i}@example.com" for i in range(n)],
        "phone": ["+447700900123"] * n, "date_of_birth": [date(1990, 1, 2)] * n, "country": ["GB"] * n,
        "postcode": ["AB1 2CD"] * n, "signup_date": [date(2026, 1, 1)] * n, "signup_ts": [None] * n,
        "signup_channel": ["organic"] * n,
        "employment_status": ["employed"] * n, "tenure_months": [12] * n, "job_page_views_7d": [3] * n,
        "applications_30d": [1] * n, "resume_updated_days_ago": [30] * n, "last_login_days_ago": [2] * n,
        "profile_text": ["Nurse in Leeds. Keen cyclist."] * n, "ds": ["2026-01-01"] * n, "ingest_run_id": ["r"] * n,
    }
    data.update(columns)
    return pa.Table.from_pydict(data, schema=STAGED_USERS)


# -- text ---------------------------------------------------------------------------------------
def test_normalise_text_folds_width_case_and_digits_and_keeps_other_scripts():
    assert normalise_text("ＦＲＥＥ Call 0906 170 1461!") == "free call 0000 000 0000!"
    assert normalise_text("Привет 👋 免费") == "привет 👋 免费"
    assert normalise_text(None) == "" and normalise_text("") == ""
    assert len(normalise_text("x" * 10**6)) == MAX_TEXT_CHARS
    assert normalise_text("bad \udcff byte") == "bad ? byte"  # a lone surrogate (undecodable byte)


def test_text_scores_handle_missing_empty_huge_emoji_and_non_latin_texts(model):
    texts = [None, "", "   ", "WINNER!! Claim your £1000 prize now, call 09061701461", "Nurse in Leeds.",
             "🎉🎉🎉", "Привет, как дела?", "免费 领取", "free " * 200_000, "bad \udcff byte"]
    scores = text_scores(model, texts)
    assert scores.shape == (len(texts),) and np.isfinite(scores).all()
    assert scores[:3].tolist() == [0.0, 0.0, 0.0]  # no text: no evidence
    assert scores[3] > 0.9 > 0.5 > scores[4]


# -- signals ------------------------------------------------------------------------------------
def test_disposable_email_matches_domains_and_subdomains_case_insensitively():
    emails = pd.Series(["a@mailinator.com", "B@Sub.YopMail.com ", "c@example.com", None, "no-at-sign",
                        "d@notmailinator.com"])
    assert is_disposable_email(emails).tolist() == [True, True, False, False, False, False]


def test_link_phone_density_counts_links_and_numbers_per_word():
    texts = pd.Series(["call 09061701461 now", "visit www.win.com or http://x.co/a", "Nurse in Leeds.", None,
                       "text WIN to 80086 for 4 free ringtones"])
    density = link_phone_density(texts)
    np.testing.assert_allclose(density, [1 / 3, 2 / 4, 0, 0, 1 / 8])


def test_profile_completeness_counts_blank_strings_as_missing():
    frame = users(2, phone=[None, "  "], tenure_months=[None, 5], profile_text=[None, "hi"]).to_pandas()
    np.testing.assert_allclose(profile_completeness(frame), [8 / 11, 10 / 11])


def test_bursts_are_counted_over_every_batch():
    minute = pd.Timestamp("2026-01-01T10:15:00")
    times = pd.Series([minute + pd.Timedelta(seconds=s) for s in (1, 20, 40)] + [minute + pd.Timedelta(hours=1), None])
    channels = pd.Series(["web", "web", "web", "web", "web"])
    keys = burst_keys(times, channels)
    assert keys.iloc[0] == "2026-01-01T10:15|web" and pd.isna(keys.iloc[4])
    # Two batches of the same partition: counts add up before the threshold applies.
    counts = count_keys(keys.iloc[:2]) + count_keys(keys.iloc[2:])
    assert in_burst(keys, counts, min_signups=3).tolist() == [True, True, True, False, False]


def test_account_signals_on_a_spam_account_and_an_ordinary_one():
    table = users(2, email=["x@mailinator.com", "ann@example.com"], job_page_views_7d=[900, 3],
                  profile_text=["call 09061701461 now", "Nurse in Leeds."], phone=[None, "+44"],
                  tenure_months=[None, 1], resume_updated_days_ago=[None, 3])
    signals = account_signals(table.to_pandas(), SIGNALS, burst_counts=None)
    assert signals.iloc[0].to_dict() == {"signup_burst": False, "disposable_email": True, "link_phone_density": True,
                                         "incomplete_profile": True, "implausible_activity": True}
    assert not signals.iloc[1].any()


# -- the score rule -----------------------------------------------------------------------------
def test_combine_scores_is_a_noisy_or_with_the_configured_weights():
    signals = pd.DataFrame({"signup_burst": [False, False, False], "disposable_email": [True, False, True],
                            "link_phone_density": [False] * 3, "incomplete_profile": [False] * 3,
                            "implausible_activity": [True, False, True]})
    weights = SpamConfig().signal_weights
    score = combine_scores(np.array([0.5, 0.4, 0.0]), signals, weights)
    # 1 - 0.5 * 0.65 * 0.65; text alone; two strong signals and no text: 1 - 0.65 * 0.65.
    np.testing.assert_allclose(score, [0.78875, 0.4, 0.5775])
    with pytest.raises(ValueError, match="unknown signals"):
        combine_scores(np.zeros(3), signals, {"moon_phase": 0.5})


def test_text_alone_must_reach_the_text_only_threshold():
    cfg = SpamConfig()
    signals = pd.DataFrame({"disposable_email": [False, False, True]})
    decided = is_spam(np.array([0.7, 0.85, 0.6]), np.array([0.7, 0.85, 0.4]), signals, cfg)
    assert decided.tolist() == [False, True, True]


def test_split_spam_puts_every_row_in_exactly_one_output_with_its_reason(model):
    table = users(
        4,
        email=["ann@example.com", "zz@guerrillamail.com", "bo@example.com", "x@mailinator.com"],
        job_page_views_7d=[3, 2000, 5, 4000],
        profile_text=["Nurse in Leeds.", "URGENT! You have won a £2000 prize. Call 09061701461 to claim", "", None],
    )
    kept, quarantined = split_spam(table, model, "m-1", SpamConfig())
    assert kept.schema == STAGED_USERS and quarantined.schema == SPAM_QUARANTINE
    assert kept.num_rows + quarantined.num_rows == 4
    assert kept.column("source_record_id").to_pylist() == ["web:W000000", "web:W000002"]
    rows = quarantined.to_pylist()
    assert [r["source_record_id"] for r in rows] == ["web:W000001", "web:W000003"]
    assert rows[0]["spam_model_version"] == "m-1" and rows[0]["spam_score"] > 0.9
    assert "disposable_email" in rows[0]["spam_signals"] and "implausible_activity" in rows[0]["spam_signals"]
    assert rows[1]["text_score"] == 0.0 and rows[1]["spam_reason"].startswith("score 0.577 = text 0.000 + ")
    # The original values travel unchanged into the quarantine.
    assert rows[0]["profile_text"] == table.column("profile_text")[1].as_py()


def test_split_spam_on_an_empty_batch(model):
    kept, quarantined = split_spam(users(0), model, "m", SpamConfig())
    assert (kept.num_rows, quarantined.num_rows) == (0, 0) and quarantined.schema == SPAM_QUARANTINE
