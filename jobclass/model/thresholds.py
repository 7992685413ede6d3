"""Choosing an acceptance threshold on scored, labelled rows: the one rule that the model's review
threshold (:mod:`jobclass.training.calibration`, fitted at training time), the memory's score
(:mod:`jobclass.memory.scorer`) and the model's threshold refitted on reviewed postings
(:mod:`jobclass.memory.model_threshold`) all use.
"""

from __future__ import annotations

import numpy as np


def wilson_lower(right: np.ndarray, n: np.ndarray, z: float) -> np.ndarray:
    """The Wilson score interval's lower bound of a precision ``right / n`` (``z``: its normal quantile)."""
    n = np.asarray(n, dtype=float)
    p = np.asarray(right, dtype=float) / n
    centre = p + z * z / (2 * n)
    spread = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def lowest_threshold_at_precision(
    scores: np.ndarray, correct: np.ndarray, precision: float, min_accepted: int = 1, z: float = 0.0
) -> float | None:
    """The lowest score ``t`` such that the rows scoring at least ``t`` (at least ``min_accepted`` of
    them) are right at ``precision`` or better; None when no such ``t`` exists. With ``z`` > 0 the
    precision must be reached by the Wilson lower bound (one-sided, ``z``), not only by the share.
    Rows with equal scores are judged together: a threshold accepts all of them or none (a cut
    inside a tie would check a part of the rows that ``score >= t`` accepts)."""
    scores, correct = np.asarray(scores, dtype=float), np.asarray(correct, dtype=bool)
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    n = np.arange(1, len(order) + 1)
    right = np.cumsum(correct[order])
    running = wilson_lower(right, n, z) if z > 0 else right / n
    last_of_tie = np.r_[ranked[1:] != ranked[:-1], True] if len(ranked) else np.zeros(0, dtype=bool)
    ok = np.flatnonzero((running >= precision) & (n >= min_accepted) & last_of_tie)
    return float(ranked[ok[-1]]) if len(ok) else None
