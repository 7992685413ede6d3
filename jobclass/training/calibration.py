"""The review threshold: the top-1 score above which a prediction is accepted without a human.

The threshold is fitted so that accepted predictions are right at a target precision. On real
postings it is fitted on the hand-coded real-postings benchmark; the figures we report for it come
from k-fold cross-validation (fit on k-1 folds, count the held-out fold), never from the rows it was
fitted on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

TARGET_AUTO_ACCEPT_PRECISION = 0.90


def choose_review_threshold(top: np.ndarray, correct: np.ndarray, precision: float = TARGET_AUTO_ACCEPT_PRECISION) -> float:
    """The lowest top-1 score whose accepted share (every row scoring at least as high) still
    reaches ``precision``; 1.0 (accept nothing) when no share does."""
    order = np.argsort(-top, kind="stable")
    running = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    ok = np.flatnonzero(running >= precision)
    return float(top[order][ok[-1]]) if len(ok) else 1.0


def sharpen(probs: np.ndarray, temperature: float) -> np.ndarray:
    """``probs`` raised to ``temperature`` and renormalised: a logit scale applied after the fact."""
    logp = temperature * np.log(np.clip(probs, 1e-30, None))
    logp -= logp.max(axis=1, keepdims=True)
    out = np.exp(logp)
    return out / out.sum(axis=1, keepdims=True)


def fit_temperature(probs: np.ndarray, y: np.ndarray) -> float:
    """The logit scale in [0.25, 4] that minimises the negative log-likelihood of ``y``."""
    from scipy.optimize import minimize_scalar

    def nll(t: float) -> float:
        return float(-np.log(np.clip(sharpen(probs, t)[np.arange(len(y)), y], 1e-30, None)).mean())

    return float(minimize_scalar(nll, bounds=(0.25, 4.0), method="bounded").x)


@dataclass(frozen=True)
class ReviewEstimate:
    """Cross-validated auto-accept figures of a review threshold fitted on labelled rows."""

    folds: int
    precision_target: float
    accept_share: float  # held-out rows accepted, pooled over the folds
    precision: float  # of the accepted held-out rows, the share whose top-1 is the code
    lenient_precision: float  # ... whose top-1 is the code or an also-defensible code
    thresholds: tuple[float, ...]  # fitted on each fold's training rows
    threshold_all: float  # fitted on every row: the one a model would ship

    def as_dict(self) -> dict:
        return asdict(self)


def cross_validated_review(
    top: np.ndarray,
    correct: np.ndarray,
    lenient: np.ndarray | None = None,
    precision: float = TARGET_AUTO_ACCEPT_PRECISION,
    folds: int = 5,
    seed: int = 0,
) -> ReviewEstimate:
    """Fit the threshold on k-1 folds, accept the held-out fold's rows at or above it, pool."""
    lenient = correct if lenient is None else lenient
    fold_of = np.random.default_rng(seed).permutation(len(top)) % folds
    accepted = np.zeros(len(top), dtype=bool)
    thresholds = []
    for k in range(folds):
        held = fold_of == k
        threshold = choose_review_threshold(top[~held], correct[~held], precision)
        thresholds.append(threshold)
        accepted[held] = top[held] >= threshold
    n = max(int(accepted.sum()), 1)
    return ReviewEstimate(
        folds=folds,
        precision_target=precision,
        accept_share=float(accepted.mean()),
        precision=float(correct[accepted].sum() / n) if accepted.any() else float("nan"),
        lenient_precision=float(lenient[accepted].sum() / n) if accepted.any() else float("nan"),
        thresholds=tuple(thresholds),
        threshold_all=choose_review_threshold(top, correct, precision),
    )
