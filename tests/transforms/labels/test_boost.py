"""Choosing what to label next, and reading labels needed off a learning curve."""

import math

import numpy as np
import pandas as pd
import pytest

from transforms.labels import boost


def rng():
    return np.random.default_rng(0)


def test_uncertainty_picks_the_probabilities_closest_to_a_half():
    available = np.array([10, 11, 12, 13, 14])
    probability = np.array([0.9, 0.45, 0.1, 0.62, 0.02])
    chosen = boost.select(boost.UNCERTAINTY, available, probability, np.zeros(5), 2, rng())
    assert chosen.tolist() == [11, 13]


def test_doubt_adds_to_uncertainty_and_breaks_its_ties():
    available = np.array([5, 6, 7, 8])
    probability = np.array([0.4, 0.6, 0.5, 0.99])
    doubt = np.array([0.0, 0.2, 0.0, 0.9])
    # scores: 0.8, 0.8 + 0.2 = 1.0, 1.0, 0.02 + 0.9 = 0.92: positions 6 and 7 tie, the larger doubt goes first
    assert boost.select(boost.DISAGREEMENT, available, probability, doubt, 3, rng()).tolist() == [6, 7, 8]
    # the model alone prefers the message at p = 0.5 and ignores the labelers
    assert boost.select(boost.UNCERTAINTY, available, probability, doubt, 3, rng()).tolist() == [7, 5, 6]


def test_full_ties_go_to_the_earlier_position_in_the_seed_order():
    available = np.array([30, 4, 17])
    same = np.full(3, 0.3)
    assert boost.select(boost.UNCERTAINTY, available, same, np.zeros(3), 2, rng()).tolist() == [30, 4]
    assert boost.select(boost.DISAGREEMENT, available, same, np.full(3, 0.5), 3, rng()).tolist() == [30, 4, 17]


@pytest.mark.parametrize("strategy", boost.STRATEGIES)
def test_batches_are_exact_and_no_message_is_chosen_twice(strategy):
    generator = np.random.default_rng(3)
    probability = generator.random(23)
    doubt = generator.random(23)
    labelled = np.zeros(23, dtype=bool)
    sizes, chosen_all = [], []
    while not labelled.all():
        available = np.flatnonzero(~labelled)
        chosen = boost.select(strategy, available, probability[available], doubt[available], 5, generator)
        assert not labelled[chosen].any()
        labelled[chosen] = True
        sizes.append(len(chosen))
        chosen_all += chosen.tolist()
    assert sizes == [5, 5, 5, 5, 3]
    assert sorted(chosen_all) == list(range(23))


def test_random_choice_is_a_function_of_the_generator_seed():
    available = np.arange(100)
    first = boost.select(boost.RANDOM, available, np.zeros(100), np.zeros(100), 10, np.random.default_rng(7))
    again = boost.select(boost.RANDOM, available, np.zeros(100), np.zeros(100), 10, np.random.default_rng(7))
    other = boost.select(boost.RANDOM, available, np.zeros(100), np.zeros(100), 10, np.random.default_rng(8))
    assert first.tolist() == again.tolist() != other.tolist()
    assert len(set(first.tolist())) == 10


def test_bad_selections_are_refused():
    with pytest.raises(ValueError, match="unknown strategy"):
        boost.select("loudest", np.arange(3), np.zeros(3), np.zeros(3), 1, rng())
    with pytest.raises(ValueError, match="available twice"):
        boost.select(boost.RANDOM, np.array([1, 1]), np.zeros(2), np.zeros(2), 1, rng())
    with pytest.raises(ValueError, match="one probability"):
        boost.select(boost.UNCERTAINTY, np.arange(3), np.zeros(2), np.zeros(3), 1, rng())


def test_doubt_of_a_posterior():
    assert boost.doubt(np.array([1.0, 0.75, 0.5])).tolist() == [0.0, 0.5, 1.0]
    assert boost.uncertainty(np.array([0.5, 0.25, 1.0])).tolist() == [1.0, 0.5, 0.0]


def test_the_seed_set_is_stratified_and_reproducible():
    is_spam = np.arange(100) % 5 == 0  # 20% spam
    chosen = boost.seed_set(is_spam, 10, seed=1)
    assert len(set(chosen.tolist())) == 10 and int(is_spam[chosen].sum()) == 2
    assert chosen.tolist() == boost.seed_set(is_spam, 10, seed=1).tolist()
    with pytest.raises(ValueError, match="two messages of each class"):
        boost.seed_set(np.array([True] + [False] * 9), 4, seed=1)


def test_labels_needed_on_a_hand_computed_curve():
    labels, f1 = [100, 200, 400], [0.6, 0.7, 0.9]
    # 0.8 is halfway from 0.7 to 0.9: halfway between 200 and 400 in log(labels), 200 * sqrt(2)
    assert boost.labels_needed(labels, f1, 0.8) == pytest.approx(200 * math.sqrt(2))
    assert boost.labels_needed(labels, f1, 0.9) == 400
    assert boost.labels_needed(labels, f1, 0.5) == 100
    assert boost.labels_needed(labels, f1, 0.95) == math.inf


def test_needed_summary_over_seeds():
    curves = pd.DataFrame(
        [(seed, "random", n, f) for seed in range(3) for n, f in zip([100, 200, 400], [0.6, 0.7, 0.9], strict=True)]
        + [(seed, "uncertainty", n, f) for seed, curve in enumerate([[0.6, 0.9, 0.9], [0.6, 0.9, 0.9], [0.9, 0.9, 0.9]])
           for n, f in zip([100, 200, 400], curve, strict=True)]
        + [(seed, "uncertainty+disagreement", n, f) for seed in range(3)
           for n, f in zip([100, 200, 400], [0.6, 0.7, 0.8 if seed == 2 else 0.9], strict=True)],
        columns=["seed", "strategy", "labels", "f1"])
    needed = boost.needed_per_seed(curves, pd.Series(0.9, index=range(3)))
    assert needed.pivot(index="seed", columns="strategy", values="needed").to_dict("list") == {
        "random": [400.0, 400.0, 400.0], "uncertainty": [200.0, 200.0, 100.0],
        "uncertainty+disagreement": [400.0, 400.0, math.inf]}
    summary = boost.needed_summary(needed).set_index("strategy")
    assert summary.loc["random", ["reached", "needed", "saved"]].tolist() == [3, 400.0, 0.0]
    mean = summary.loc["uncertainty"]
    assert (mean.reached, mean.needed, mean.saved) == (3, pytest.approx(500 / 3), pytest.approx(700 / 3))
    assert mean.needed_low < mean.needed < mean.needed_high
    not_everywhere = summary.loc["uncertainty+disagreement"]
    assert not_everywhere.reached == 2 and math.isnan(not_everywhere.needed) and math.isnan(not_everywhere.saved)


def test_savings_against_another_baseline_are_paired_by_seed():
    needed = pd.DataFrame({"seed": [0, 1, 0, 1], "strategy": ["random", "random", "uncertainty", "uncertainty"],
                           "needed": [400.0, 500.0, 200.0, 250.0]})
    versus = boost.needed_summary(needed, baseline="uncertainty").set_index("strategy")
    assert versus.loc["random", "saved"] == pytest.approx(-225.0)
    assert versus.loc["uncertainty", "saved"] == 0.0
