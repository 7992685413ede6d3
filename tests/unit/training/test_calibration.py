"""The review threshold and its cross-validated estimate."""

from __future__ import annotations

import numpy as np
import pytest

from jobclass.training.calibration import choose_review_threshold, cross_validated_review, fit_temperature, sharpen


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


def test_temperature_recovers_the_scale_that_made_the_data():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3000, 6)) * 2
    true_probs = sharpen(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), 1.0)
    y = np.array([rng.choice(6, p=p) for p in true_probs])
    flat = sharpen(true_probs, 0.5)  # under-confident by a factor of 2
    assert fit_temperature(flat, y) == pytest.approx(2.0, rel=0.15)
    np.testing.assert_array_equal(flat.argmax(axis=1), true_probs.argmax(axis=1))
