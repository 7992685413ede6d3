"""Ranking metrics agree with scikit-learn and with hand-worked cases."""

import numpy as np
import pytest
from sklearn.metrics import ndcg_score, top_k_accuracy_score

from jobclass.evaluation.metrics import (
    evaluate_scores,
    expected_calibration_error,
    per_major_group,
    ranking_metrics,
    true_label_ranks,
)


@pytest.fixture
def random_scores():
    rng = np.random.default_rng(0)
    scores = rng.random((400, 30))
    y = rng.integers(0, 30, 400)
    y[:30] = np.arange(30)  # every label present, as sklearn requires
    return scores, y


@pytest.mark.parametrize("k", [1, 5, 10])
def test_accuracy_matches_sklearn(random_scores, k):
    scores, y = random_scores
    ours = ranking_metrics(true_label_ranks(scores, y))[f"acc@{k}"]
    assert ours == pytest.approx(top_k_accuracy_score(y, scores, k=k, labels=np.arange(30)))


@pytest.mark.parametrize("k", [1, 5, 10])
def test_ndcg_matches_sklearn(random_scores, k):
    scores, y = random_scores
    truth = np.zeros_like(scores)
    truth[np.arange(len(y)), y] = 1
    assert ranking_metrics(true_label_ranks(scores, y))[f"ndcg@{k}"] == pytest.approx(ndcg_score(truth, scores, k=k))


def test_a_tie_counts_against_the_true_label():
    """A code tied with the true one ranks above it: a model that gives every code the same score
    (a collapsed encoder) gets nothing, not a hit on every row."""
    flat = np.full((4, 6), 1 / 6, dtype=np.float32)
    y = np.array([0, 2, 3, 5])
    assert ranking_metrics(true_label_ranks(flat, y))["acc@5"] == 0.0
    assert ranking_metrics(true_label_ranks(flat, y))["mrr@10"] == pytest.approx(1 / 6)  # each true code is 6th of 6
    scores = np.array([[0.4, 0.4, 0.2], [0.5, 0.3, 0.2]])
    assert list(true_label_ranks(scores, np.array([0, 0]))) == [1, 0]


@pytest.mark.parametrize(
    ("ranks", "metric", "expected"),
    [
        ([0, 1, 2, 10], "acc@1", 0.25),
        ([0, 1, 2, 10], "acc@5", 0.75),
        ([0, 1, 2, 10], "precision@5", 0.15),
        ([0, 1, 2, 10], "recall@10", 0.75),
        ([0, 1, 2, 10], "mrr@10", (1 + 1 / 2 + 1 / 3) / 4),
        ([0, 1, 2, 10], "mrr@1", 0.25),
    ],
)
def test_hand_worked_cases(ranks, metric, expected):
    assert ranking_metrics(np.array(ranks))[metric] == pytest.approx(expected)


def test_coarse_accuracies_and_group_table():
    codes = ["11-1011.00", "11-1011.03", "15-1252.00", "15-1253.00"]
    scores = np.array([[0.1, 0.9, 0, 0], [0, 0, 0.2, 0.8], [0, 0, 1.0, 0]])
    y = np.array([0, 2, 2])
    metrics = evaluate_scores(scores, y, codes)
    assert metrics["acc@1"] == pytest.approx(1 / 3)
    assert metrics["soc6_acc@1"] == pytest.approx(2 / 3)  # 11-1011.03 shares 11-1011 with the truth
    assert metrics["major_acc@1"] == pytest.approx(1.0)
    table = per_major_group(scores, y, codes).set_index("major_group")
    assert table.loc["15", "n"] == 2 and table.loc["15", "acc@1"] == pytest.approx(0.5)
    assert table.loc["11", "name"] == "Management"


def test_ece_is_zero_when_calibrated_and_large_when_not():
    assert expected_calibration_error(np.array([1.0, 1.0]), np.array([True, True])) == pytest.approx(0.0)
    assert expected_calibration_error(np.array([0.95] * 10), np.array([False] * 10)) == pytest.approx(0.95)
