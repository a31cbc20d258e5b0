import math

import numpy as np
import pandas as pd
import pytest

from transforms.labels import sweep


# -- bookkeeping ---------------------------------------------------------------------------------
def test_grid_sorts_sizes_keeps_multiples_that_fit_and_lists_every_prefix():
    g = sweep.grid([500, 100, 250, 100], [3, 2], pool=1200)
    assert g.sizes == (100, 250, 500)
    assert g.multiples == (2, 3)
    assert g.more(100) == (2, 3)
    assert g.more(500) == (2,)  # 1,500 messages are more than the pool holds
    assert g.boundaries == (100, 200, 250, 300, 500, 750, 1000)


@pytest.mark.parametrize(("sizes", "multiples", "message"), [
    ([0, 10], [2], "positive"), ([100, 2000], [2], "exceeds the 1000 messages"), ([100], [1], "at least 2")])
def test_grid_refuses_sizes_and_multiples_it_cannot_run(sizes, multiples, message):
    with pytest.raises(ValueError, match=message):
        sweep.grid(sizes, multiples, pool=1000)


def test_geometric_sizes_are_log_spaced_and_end_at_the_largest():
    assert sweep.geometric_sizes(100, 800, 4) == [100, 200, 400, 800]
    assert sweep.geometric_sizes(500, 500, 4) == [500]


# -- noise ---------------------------------------------------------------------------------------
def test_every_prefix_of_the_sweep_holds_exactly_the_requested_noise():
    boundaries = (100, 200, 250, 300, 500, 750, 1000)
    flips = sweep.inject_noise(np.ones(1200), 0.12, boundaries, np.random.default_rng(1))
    for b in boundaries:
        assert flips[:b].sum() == round(0.12 * b)
    assert not flips[1000:].any()  # past the last training set nothing is touched


def test_class_conditional_noise_flips_spam_more_often_than_ham():
    rng = np.random.default_rng(3)
    is_spam = rng.random(4000) < 0.15
    weights = sweep.flip_weights("class_conditional", is_spam, np.zeros(4000, bool), np.zeros(4000, bool))
    flips = sweep.inject_noise(weights, 0.1, [4000], np.random.default_rng(4))
    assert flips.sum() == 400
    assert flips[is_spam].mean() > 2 * flips[~is_spam].mean()


def test_systematic_noise_calls_spam_looking_ham_spam_promotional_first():
    n = 1000
    is_spam = np.arange(n) % 5 == 0                      # 200 spam
    promotional = (np.arange(n) % 10 == 1)               # 100 promotional ham
    cue = promotional | (np.arange(n) % 10 == 3)         # + 100 ham with cues
    weights = sweep.flip_weights("systematic", is_spam, promotional, cue)
    flips = sweep.inject_noise(weights, 0.05, [n], np.random.default_rng(0))
    assert flips.sum() == 50
    assert not flips[is_spam].any() and not flips[~cue].any()  # never spam, never plain ham
    assert flips[promotional].sum() > 40  # 20x the weight: promotional ham goes first
    with pytest.raises(sweep.NoiseError, match="only 200 of them can be flipped"):
        sweep.inject_noise(weights, 0.25, [n], np.random.default_rng(0))


def test_spam_cues_and_unknown_kind():
    promotional, cue = sweep.spam_cues(["Get a free voucher", "see you at 5", "ok then", None])
    assert promotional.tolist() == [True, False, False, False]
    assert cue.tolist() == [False, True, False, False]
    with pytest.raises(sweep.NoiseError, match="unknown noise kind 'random'"):
        sweep.flip_weights("random", np.zeros(1, bool), np.zeros(1, bool), np.zeros(1, bool))


def test_noise_from_agreement_hand_computed():
    # 1 - 0.82 = 0.18 = 2e(1 - e) -> e = (1 - sqrt(0.64)) / 2 = 0.1
    assert sweep.noise_from_agreement(0.82) == pytest.approx(0.1)
    assert sweep.noise_from_agreement(1.0) == 0.0
    assert sweep.noise_from_agreement(0.4) == 0.5
    assert math.isnan(sweep.noise_from_agreement(float("nan")))


# -- summaries -----------------------------------------------------------------------------------
def test_t_interval_hand_computed():
    # mean 2, sd 1, sem 1/sqrt(3); t(0.975, 2 df) = 4.302653
    mean, low, high = sweep.t_interval([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert low == pytest.approx(2 - 4.302653 / math.sqrt(3), abs=1e-6)
    assert high == pytest.approx(2 + 4.302653 / math.sqrt(3), abs=1e-6)
    assert sweep.t_interval([0.5])[0] == 0.5 and math.isnan(sweep.t_interval([0.5])[1])


def runs_frame(rows):
    return pd.DataFrame([{"kind": "uniform", "rate": 0.12, "size": 100, "train_messages": 100, "measured_noise": 0.12,
                          "labels_changed": 0, **r} for r in rows])


def test_summarise_and_paired_gain_per_cell():
    runs = runs_frame([{"seed": 0, "arm": "noisy", "f1": 0.80}, {"seed": 1, "arm": "noisy", "f1": 0.84},
                       {"seed": 0, "arm": "cleaned by review", "f1": 0.83, "labels_changed": 9},
                       {"seed": 1, "arm": "cleaned by review", "f1": 0.89, "labels_changed": 11}])
    summary = sweep.summarise(runs).set_index("arm")
    assert summary.loc["noisy", "f1"] == pytest.approx(0.82)
    assert summary.loc["cleaned by review", "labels_changed"] == 10
    assert summary.loc["noisy", "seeds"] == 2
    gain = sweep.paired_gain(runs, "cleaned by review", "noisy")
    assert len(gain) == 1
    assert gain["gain"].iloc[0] == pytest.approx(0.04)  # (0.03 + 0.05) / 2
    assert gain["gain_low"].iloc[0] < 0.04 < gain["gain_high"].iloc[0]
    assert sweep.paired_gain(runs, "cleaned by review", "2x noisy").empty


# -- cleaning N ≈ collecting M -------------------------------------------------------------------
def test_equivalent_size_hand_computed():
    sizes, curve = [100, 200, 400], [0.80, 0.86, 0.90]
    # 0.83 is half-way from 0.80 (n=100) to 0.86 (n=200): half-way in log size, 100 * 2**0.5.
    assert sweep.equivalent_size(sizes, curve, 0.83, start=100) == pytest.approx(100 * 2 ** 0.5)
    assert sweep.equivalent_size(sizes, curve, 0.86, start=100) == pytest.approx(200)
    assert sweep.equivalent_size(sizes, curve, 0.88, start=200) == pytest.approx(200 * 2 ** 0.5)
    assert sweep.equivalent_size(sizes, curve, 0.95, start=100) == math.inf   # never reached: not extrapolated
    assert sweep.equivalent_size(sizes, curve, 0.70, start=100) == 100        # already there: no more labels
    assert sweep.equivalent_size(sizes, curve, 0.83, start=200) == 200        # smaller sets do not count
    # More noisy labels that make it worse (systematic noise) never reach the cleaned F1.
    assert sweep.equivalent_size(sizes, [0.80, 0.78, 0.75], 0.82, start=100) == math.inf
    # A dip: the first crossing from the start up counts (0.85 at 200 > 0.84 at 400).
    assert sweep.equivalent_size(sizes, [0.80, 0.85, 0.84], 0.845, start=100) == pytest.approx(100 * 2 ** 0.9)
    with pytest.raises(ValueError, match="size 150 is not a size"):
        sweep.equivalent_size(sizes, curve, 0.83, start=150)


def test_equivalent_labels_hand_computed_and_its_interval():
    noisy = pd.DataFrame([[0.80, 0.86, 0.90]] * 4, columns=[100, 200, 400])
    cleaned = pd.Series([0.83] * 4)
    e = sweep.equivalent_labels(noisy, cleaned, 100, labels_changed=pd.Series([10, 12, 14, 12]))
    assert e.equivalent == pytest.approx(141.421, abs=1e-3)
    assert e.more == pytest.approx(41.421, abs=1e-3)
    assert e.multiple == pytest.approx(1.41421, abs=1e-5)
    assert (e.low, e.high) == (pytest.approx(e.equivalent), pytest.approx(e.equivalent))  # no spread, no width
    assert e.labels_changed == 12 and e.seeds == 4 and e.noisy_f1 == pytest.approx(0.80)

    # Seeds that disagree: the point is the mean curves' crossing; the interval brackets it.
    noisy = pd.DataFrame([[0.78, 0.85, 0.90], [0.82, 0.87, 0.90]], columns=[100, 200, 400])
    cleaned = pd.Series([0.82, 0.84])
    e = sweep.equivalent_labels(noisy, cleaned, 100)
    assert e.equivalent == pytest.approx(sweep.equivalent_size([100, 200, 400], [0.80, 0.86, 0.90], 0.83, 100))
    assert e.low <= e.equivalent <= e.high
    with pytest.raises(ValueError, match="size 150 is not a size"):
        sweep.equivalent_labels(noisy, cleaned, 150)
