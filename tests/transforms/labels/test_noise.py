import numpy as np

from transforms.labels import confident_learning


# -- confident learning -------------------------------------------------------------------------
def test_confident_learning_hand_computed():
    given = np.array([0, 0, 0, 1, 1, 1])
    p_spam = np.array([0.1, 0.2, 0.9, 0.8, 0.7, 0.2])
    found = confident_learning(given, np.column_stack([1 - p_spam, p_spam]))
    # t_ham = mean(0.9, 0.8, 0.1) = 0.6; t_spam = mean(0.8, 0.7, 0.2) = 0.5667.
    np.testing.assert_allclose(found.thresholds, [0.6, (0.8 + 0.7 + 0.2) / 3])
    # Row 2 (ham, p_spam 0.9) is confidently spam; row 5 (spam, p_ham 0.8) confidently ham.
    np.testing.assert_array_equal(found.confident_joint, [[2, 1], [1, 2]])
    assert found.issues.tolist() == [2, 5]  # by self-confidence: 0.1, then 0.2


def test_confident_learning_with_no_example_of_a_class():
    found = confident_learning(np.zeros(3, dtype=int), np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]]))
    assert found.issues.tolist() == []  # no threshold for spam: nothing is confidently spam
    assert found.thresholds[1] > 1 and found.suggested.tolist() == [0, -1, 0]


def test_confident_learning_of_no_rows():
    found = confident_learning(np.zeros(0, dtype=int), np.zeros((0, 2)))
    assert found.issues.tolist() == [] and found.confident_joint.tolist() == [[0, 0], [0, 0]]
