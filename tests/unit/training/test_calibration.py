"""The review threshold and its cross-validated estimate."""

from __future__ import annotations

import numpy as np
import pytest

from jobclass.training.calibration import choose_review_threshold, cross_validated_review, validation_review_threshold


def _scores(n: int = 2000, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Top-1 scores whose chance of being right equals the score (a calibrated model)."""
    rng = np.random.default_rng(seed)
    top = rng.uniform(0.05, 1.0, n)
    return top, rng.uniform(size=n) < top


def test_the_threshold_reaches_the_precision_on_what_it_accepts():
    top, correct = _scores()
    threshold = choose_review_threshold(top, correct, 0.9)
    assert 0.7 < threshold < 0.9
    assert correct[top >= threshold].mean() >= 0.9


def test_an_unreachable_precision_accepts_nothing():
    top = np.array([0.9, 0.8, 0.7])
    assert choose_review_threshold(top, np.zeros(3, dtype=bool), 0.9) == 1.0


def test_cross_validation_counts_only_held_out_rows():
    top, correct = _scores()
    estimate = cross_validated_review(top, correct, precision=0.9, folds=5)
    assert len(estimate.thresholds) == 5
    assert 0.1 < estimate.accept_share < 0.35
    assert estimate.precision == pytest.approx(0.9, abs=0.04)
    assert estimate.lenient_precision == estimate.precision  # no lenient labels given


def test_cross_validation_on_noise_accepts_little_and_says_so():
    rng = np.random.default_rng(3)
    top, correct = rng.uniform(size=500), rng.uniform(size=500) < 0.3  # scores carry no signal
    estimate = cross_validated_review(top, correct, precision=0.9)
    assert estimate.accept_share < 0.05 or estimate.precision < 0.9


def test_the_validation_threshold_reads_the_top_score_and_whether_it_is_right():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.45, 0.55]])
    y = np.array([0, 1, 1, 1])  # the third row's top-1 is wrong
    threshold = validation_review_threshold(probs, y, 0.9)
    assert threshold == choose_review_threshold(probs.max(axis=1), probs.argmax(axis=1) == y, 0.9) == 0.8
